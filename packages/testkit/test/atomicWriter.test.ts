import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeAtomicVolume } from '../src/index.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});
async function volumeDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'atomic-writer-'));
  dirs.push(dir);
  return path.join(dir, 'vol');
}

describe('writeAtomicVolume lays a volume out as kubelet does', () => {
  it('..data links to a timestamped directory, and each key links through ..data', async () => {
    const dir = await volumeDir();
    const { written, dataDir } = await writeAtomicVolume(dir, { 'tls.crt': 'C1', 'tls.key': 'K1' });
    expect(written).toBe(true);
    expect(dataDir).toMatch(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\w+$/);
    expect(await fs.readlink(path.join(dir, '..data'))).toBe(dataDir);
    expect(await fs.readlink(path.join(dir, 'tls.crt'))).toBe('..data/tls.crt');
    expect(await fs.readFile(path.join(dir, 'tls.key'), 'utf8')).toBe('K1');
    expect((await fs.readdir(dir)).sort()).toEqual([dataDir, '..data', 'tls.crt', 'tls.key'].sort());
  });

  it('removes the old directory and names that left the payload, and skips an unchanged payload', async () => {
    const dir = await volumeDir();
    const first = await writeAtomicVolume(dir, { 'tls.crt': 'C1', 'tls.key': 'K1', 'ca.crt': 'A1' });
    const second = await writeAtomicVolume(dir, { 'tls.crt': 'C2', 'tls.key': 'K2' });
    const entries = await fs.readdir(dir);
    expect(entries).not.toContain(first.dataDir);
    expect(entries).not.toContain('ca.crt');
    expect(entries).not.toContain('..data_tmp');
    expect(await fs.readFile(path.join(dir, 'tls.crt'), 'utf8')).toBe('C2');
    const third = await writeAtomicVolume(dir, { 'tls.crt': 'C2', 'tls.key': 'K2' });
    expect(third).toMatchObject({ written: false, dataDir: second.dataDir });
  });

  it.each(['../escape', '/absolute', '..hidden', 'a//b', ''])('refuses the path %j', async (key) => {
    await expect(writeAtomicVolume(await volumeDir(), { [key]: 'x' })).rejects.toThrow(/invalid volume path/);
    await expect(writeAtomicVolume(await volumeDir(), { [key]: 'x' })).rejects.toMatchObject({ name: 'TestkitError', code: 'E_USAGE' });
  });

  it('never shows a reader a half-written revision', async () => {
    const dir = await volumeDir();
    const revision = (n: number) => {
      const crt = `cert ${n} ${'x'.repeat(4096)}`;
      return { 'tls.crt': crt, 'tls.key': createHash('sha256').update(crt).digest('hex') };
    };
    await writeAtomicVolume(dir, revision(0));
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        // As serving-cert reads: resolve ..data once, read every file from there.
        const target = await fs.readlink(path.join(dir, '..data'));
        try {
          const crt = await fs.readFile(path.join(dir, target, 'tls.crt'), 'utf8');
          const key = await fs.readFile(path.join(dir, target, 'tls.key'), 'utf8');
          expect(key).toBe(createHash('sha256').update(crt).digest('hex'));
          reads += 1;
        } catch (error) {
          // The writer removed that revision between readlink and read: read again.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    })();
    for (let n = 1; n <= 100; n += 1) await writeAtomicVolume(dir, revision(n));
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(10);
    expect(await fs.readFile(path.join(dir, 'tls.crt'), 'utf8')).toBe(revision(100)['tls.crt']);
  });
});

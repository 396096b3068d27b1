// The synchronous read of a Secret volume on tmpfs: it must read exactly what the asynchronous
// reader reads, and hand every layout it cannot read without a possible block (links, other
// devices, no ..data) back to the asynchronous reader. Real files on the machine's tmpfs.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { filesSource } from '../src/sources/files/filesSource.js';
import { readRevisionSync, tmpfsFolderOf, type TmpfsFolder } from '../src/sources/files/tmpfsReads.js';

const SHM = '/dev/shm';
const onTmpfs = await tmpfsFolderOf(SHM).then((folder) => folder !== undefined);
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

/** A kubelet-style volume on tmpfs: ..data -> ..rev, files in ..rev, links to ..data/key. */
async function volume(files: Record<string, string>): Promise<{ dir: string; folder: TmpfsFolder; revision: string }> {
  const dir = await fs.mkdtemp(path.join(SHM, 'tmpfs-reads-'));
  dirs.push(dir);
  const revision = path.join(dir, '..rev_1');
  await fs.mkdir(revision);
  for (const [key, text] of Object.entries(files)) {
    await fs.writeFile(path.join(revision, key), text);
    await fs.symlink(`..data/${key}`, path.join(dir, key));
  }
  await fs.symlink('..rev_1', path.join(dir, '..data'));
  return { dir, folder: (await tmpfsFolderOf(dir))!, revision };
}

const KEYS = ['tls.crt', 'tls.key', 'ca.crt'];

describe.skipIf(!onTmpfs)('synchronous reads on tmpfs', () => {
  it('reads the revision ..data points at, the same bytes as the asynchronous reader', async () => {
    const { dir, folder } = await volume({ 'tls.crt': 'cert', 'tls.key': 'key' });
    expect(folder).toBeDefined();
    const read = readRevisionSync(folder, KEYS, 1024, 'files x');
    expect(read).toEqual({ kind: 'read', files: { 'tls.crt': Buffer.from('cert'), 'tls.key': Buffer.from('key'), 'ca.crt': undefined } });
    const options = { dir, keys: KEYS, requiredKeys: ['tls.crt', 'tls.key'], maxBytes: 1024, pollIntervalMs: 60_000, logger: silentLogger };
    const signal = new AbortController().signal;
    expect(await filesSource(options).read(signal)).toEqual(await filesSource({ ...options, syncTmpfsReads: false }).read(signal));
  });

  it('hands other layouts to the asynchronous reader: no ..data, a file that is a link, ..data pointing elsewhere', async () => {
    const plain = await fs.mkdtemp(path.join(SHM, 'tmpfs-reads-'));
    dirs.push(plain);
    await fs.writeFile(path.join(plain, 'tls.crt'), 'cert');
    expect(readRevisionSync((await tmpfsFolderOf(plain))!, KEYS, 1024, 'files x')).toEqual({ kind: 'not-kubelet' });

    const linked = await volume({ 'tls.crt': 'cert' });
    await fs.symlink(path.join(plain, 'tls.crt'), path.join(linked.revision, 'tls.key'));
    expect(readRevisionSync(linked.folder, KEYS, 1024, 'files x')).toEqual({ kind: 'not-kubelet' });

    // A folder behind a link: the link may be re-pointed at any time, so every read resolves it.
    const behindLink = `${linked.dir}-link`;
    await fs.symlink(linked.dir, behindLink);
    dirs.push(behindLink);
    expect(await tmpfsFolderOf(behindLink)).toBeUndefined();

    const away = await volume({ 'tls.crt': 'cert' });
    await fs.rm(path.join(away.dir, '..data'));
    await fs.symlink(plain, path.join(away.dir, '..data'));
    expect(readRevisionSync(away.folder, KEYS, 1024, 'files x')).toEqual({ kind: 'not-kubelet' });
  });

  it('says when ..data points at a directory kubelet already removed (a swap under way)', async () => {
    const { folder, revision } = await volume({ 'tls.crt': 'cert' });
    await fs.rm(revision, { recursive: true });
    expect(readRevisionSync(folder, KEYS, 1024, 'files x')).toEqual({ kind: 'vanished', base: revision });
  });

  it('refuses a FIFO without blocking, and a file over the bound without reading it', async () => {
    const { dir, folder, revision } = await volume({ 'tls.crt': 'cert' });
    execFileSync('mkfifo', [path.join(revision, 'tls.key')]);
    expect(() => readRevisionSync(folder, KEYS, 1024, 'files x')).toThrow(expect.objectContaining({ code: 'E_IO', message: expect.stringContaining('FIFO') }) as Error);
    const source = filesSource({ dir, keys: KEYS, requiredKeys: ['tls.crt'], maxBytes: 1024, pollIntervalMs: 60_000, logger: silentLogger });
    await expect(source.read(new AbortController().signal)).rejects.toMatchObject({ code: 'E_IO' });

    await fs.rm(path.join(revision, 'tls.key'));
    await fs.writeFile(path.join(revision, 'tls.key'), Buffer.alloc(4096, 'a'));
    expect(() => readRevisionSync(folder, KEYS, 1024, 'files x')).toThrow(expect.objectContaining({ code: 'E_TOO_LARGE' }) as Error);
  });

  it('is not used off tmpfs', async () => {
    const disk = await fs.mkdtemp(path.join(process.cwd(), '.tmpfs-reads-'));
    dirs.push(disk);
    const type = execFileSync('stat', ['-f', '-c', '%T', disk]).toString().trim();
    expect(await tmpfsFolderOf(disk)).toEqual(type === 'tmpfs' ? expect.anything() : undefined);
  });
});

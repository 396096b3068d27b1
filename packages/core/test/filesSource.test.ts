import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { filesSource } from '../src/sources/files/filesSource.js';
import { bounded } from '../src/sources/files/readRegularFile.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

async function source(pollIntervalMs: number) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'files-source-'));
  dirs.push(dir);
  await fs.writeFile(path.join(dir, 'tls.crt'), 'x');
  return { dir, source: filesSource({ dir, keys: ['tls.crt'], requiredKeys: ['tls.crt'], maxBytes: 1024, pollIntervalMs, logger: silentLogger }) };
}

describe('filesSource', () => {
  it('asks for a re-read every pollIntervalMs, with no file event at all (a lost inotify event)', async () => {
    for (const interval of [100, 60_000]) {
      const { source: files } = await source(interval);
      const abort = new AbortController();
      let calls = 0;
      const stopped = files.watch(() => (calls += 1), abort.signal);
      if (interval === 100) {
        await expect.poll(() => calls, { timeout: 5_000, interval: 20 }).toBeGreaterThanOrEqual(4); // timers slip on a loaded machine
      } else {
        await new Promise((resolve) => setTimeout(resolve, 550));
        expect(calls, `${calls} re-reads with a ${interval} ms interval`).toBe(0);
      }
      abort.abort();
      await stopped;
    }
  });

  it('refuses a file over the size bound without reading it whole', async () => {
    const { dir, source: files } = await source(60_000);
    await fs.writeFile(path.join(dir, 'tls.crt'), Buffer.alloc(4096, 'a'));
    await expect(files.read(new AbortController().signal)).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
  });
});

describe('bounded reads', () => {
  const never = new Promise<never>(() => undefined);
  it('a read that never returns is refused with E_IO after its bound', async () => {
    await expect(bounded(never, 50, new AbortController().signal, 'tls.crt', 'files /x')).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining('took more than 50 ms') as string });
  });
  it('a read that never returns lets go at once when the source stops (close())', async () => {
    const abort = new AbortController();
    const read = bounded(never, 60_000, abort.signal, 'tls.crt', 'files /x');
    abort.abort();
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });
  });
});

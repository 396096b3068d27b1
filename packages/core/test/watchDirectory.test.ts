// What the files source's directory watch reacts to: kubelet's atomic rename of ..data, at once
// and with nothing else happening in the folder; not the scaffolding written before it; and one
// settle re-read after each burst. Real folders, real kernel events.
import { mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { watchDirectory } from '../src/sources/files/watchDirectory.js';
import { holdThreadPool } from './holdThreadPool.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()!();
});

async function watched() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'watch-directory-'));
  await fs.mkdir(path.join(dir, '..rev_1'));
  await fs.symlink('..rev_1', path.join(dir, '..data'));
  const calls: number[] = [];
  const abort = new AbortController();
  // No periodic re-read within the test: every call comes from an event or the settle re-read.
  const stopped = watchDirectory(dir, () => calls.push(performance.now()), 600_000, silentLogger, abort.signal);
  stops.push(async () => {
    abort.abort();
    await stopped;
    await fs.rm(dir, { recursive: true, force: true });
  });
  // The watch is installed asynchronously, later on a loaded machine: swap ..data to the same
  // revision until that is seen, let the settle re-read pass, and start each test from no calls.
  for (let probe = 0; calls.length === 0; probe += 1) {
    if (probe === 40) throw new Error('the watch was not installed within 8 s');
    await fs.symlink('..rev_1', path.join(dir, '..data_tmp'));
    await fs.rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await sleep(200);
  }
  await sleep(200);
  calls.length = 0;
  return { dir, calls };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(check: () => boolean, boundMs = 2_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('not within the bound');
    await sleep(5);
  }
}

/** kubelet's swap, synchronously (no call into the held thread pool): a new revision renamed over ..data. */
function swapSync(dir: string, revision: string): void {
  mkdirSync(path.join(dir, revision));
  symlinkSync(revision, path.join(dir, '..data_tmp'));
  renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
}

describe('watchDirectory', () => {
  it('ignores kubelet\'s scaffolding before the swap: a new revision directory and ..data_tmp', async () => {
    const { dir, calls } = await watched();
    await fs.mkdir(path.join(dir, '..rev_2'));
    await fs.writeFile(path.join(dir, '..rev_2', 'tls.crt'), 'new');
    await fs.symlink('..rev_2', path.join(dir, '..data_tmp'));
    await sleep(300);
    expect(calls).toHaveLength(0);
  });

  it('reacts to the rename of ..data_tmp over ..data alone, then re-reads once more after it settles', async () => {
    const { dir, calls } = await watched();
    await fs.mkdir(path.join(dir, '..rev_2'));
    await fs.symlink('..rev_2', path.join(dir, '..data_tmp'));
    await sleep(100);
    expect(calls).toHaveLength(0);
    await fs.rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await until(() => calls.length >= 1);
    await until(() => calls.length >= 2);
    await sleep(200);
    expect(calls).toHaveLength(2); // the event, then the settle re-read; nothing else happened
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(50); // past chokidar's 50 ms window
  });

  it('never stops following: a folder made later, then removed and made again, has its swaps noticed', async () => {
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'watch-directory-'));
    const dir = path.join(parent, 'certs'); // an optional volume not mounted yet
    const calls: number[] = [];
    const abort = new AbortController();
    const stopped = watchDirectory(dir, () => calls.push(performance.now()), 600_000, silentLogger, abort.signal);
    stops.push(async () => {
      abort.abort();
      await stopped;
      await fs.rm(parent, { recursive: true, force: true });
    });
    const swap = async (revision: string) => {
      await fs.mkdir(path.join(dir, revision));
      await fs.symlink(revision, path.join(dir, '..data_tmp'));
      await fs.rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    };
    for (let life = 0; life < 2; life += 1) {
      await sleep(100);
      await fs.mkdir(dir);
      await until(() => calls.length > 0); // it appeared
      await sleep(200); // its own watch is installed
      calls.length = 0;
      await swap('..rev_1');
      await until(() => calls.length > 0);
      await fs.rm(dir, { recursive: true });
      await sleep(200);
      calls.length = 0;
    }
  });

  it('never stops following: a folder removed and made again at once, before the watch could look, is watched anew', async () => {
    const { dir, calls } = await watched();
    // Both in one turn of the event loop: when the removal's event is handled, the path already
    // resolves to a folder again, but the kernel dropped the old folder's watch with it.
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    await sleep(300); // the re-watch is installed
    calls.length = 0;
    await fs.mkdir(path.join(dir, '..rev_2'));
    await fs.symlink('..rev_2', path.join(dir, '..data_tmp'));
    await fs.rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await until(() => calls.length > 0);
  });

  it('reacts to a file written in a plain folder (no ..data)', async () => {
    const { dir, calls } = await watched();
    await fs.writeFile(path.join(dir, 'tls.crt'), 'x');
    await until(() => calls.length >= 1);
  });

  it('never crashes the process: a folder gone between its resolution and its stat is waited for again, and followed once back', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    stops.push(() => {
      process.off('unhandledRejection', onRejection);
      return Promise.resolve();
    });
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'watch-directory-'));
    const dir = path.join(parent, 'certs'); // not there yet: its parent is watched for it
    const calls: number[] = [];
    const abort = new AbortController();
    const stopped = watchDirectory(dir, () => calls.push(performance.now()), 600_000, silentLogger, abort.signal);
    stops.push(async () => {
      abort.abort();
      await stopped;
      await fs.rm(parent, { recursive: true, force: true });
    });
    await sleep(100);
    const pool = await holdThreadPool((release) => stops.push(release));
    // The folder appears: the watcher resolves its path, and that call waits in the held pool.
    mkdirSync(dir);
    await sleep(100);
    // Queued behind the resolution, so the folder is gone after it and before the stat that follows it.
    const removed = fs.rmdir(dir);
    await pool.releaseOne();
    await removed;
    await pool.releaseAll();
    await sleep(200);
    expect(rejections).toEqual([]);

    // Back, and following: kubelet's swap in it is reported.
    calls.length = 0;
    await fs.mkdir(dir);
    await until(() => calls.length > 0); // it appeared
    await sleep(200); // the folder's own watch is installed
    calls.length = 0;
    swapSync(dir, '..rev_1');
    await until(() => calls.length > 0);
    expect(rejections).toEqual([]);
  });

  it('catches up after a watch is installed again: a swap made while the re-watch was delayed is reported at once', async () => {
    const { dir, calls } = await watched();
    const pool = await holdThreadPool((release) => stops.push(release));
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    // The removal is reported, and the settle re-read after it is done, while the re-watch waits.
    await sleep(300);
    expect(calls.length).toBeGreaterThan(0);
    swapSync(dir, '..rev_2');
    calls.length = 0;
    await pool.releaseAll();
    // Only a catch-up read after the re-watch can report it: no event comes, the poll is 10 minutes away.
    await until(() => calls.length > 0);
  });
});

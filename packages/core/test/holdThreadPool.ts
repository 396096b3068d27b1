import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** The held pool: release one thread (it takes the next call queued) or all of them. */
export interface HeldThreadPool {
  releaseOne(): Promise<void>;
  releaseAll(): Promise<void>;
}

/**
 * Holds every thread of libuv's pool (where `fs.promises` calls run, first in first out) in the
 * open of a FIFO until released: a file-system call made now waits, so a test can change the
 * folder before it runs, or queue a call of its own to run right after it. `cleanup` receives
 * what releases the rest and removes the FIFOs; the test runs it when it ends. Also used by
 * test/files (the same window, end to end).
 */
export async function holdThreadPool(cleanup: (release: () => Promise<void>) => void): Promise<HeldThreadPool> {
  const fifoDir = await fs.mkdtemp(path.join(os.tmpdir(), 'serving-cert-pool-'));
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const held = Array.from({ length: size }, (_, index) => {
    const fifo = path.join(fifoDir, `fifo-${index}`);
    execFileSync('mkfifo', [fifo]);
    return { fifo, opened: fs.open(fifo, 'r').then((handle) => handle.close()) };
  });
  let canaryDone = false;
  const canary = fs.stat(fifoDir).finally(() => (canaryDone = true));
  await new Promise((resolve) => setTimeout(resolve, 100));
  if (canaryDone) throw new Error(`the thread pool has more than ${size} threads: set UV_THREADPOOL_SIZE`);
  const release = async (count: number): Promise<void> => {
    for (const { fifo, opened } of held.splice(0, count)) {
      closeSync(openSync(fifo, 'w')); // the held open returns, its thread takes the next call queued
      await opened;
    }
  };
  cleanup(async () => {
    await release(held.length);
    await canary;
    await fs.rm(fifoDir, { recursive: true, force: true });
  });
  return { releaseOne: () => release(1), releaseAll: () => release(held.length) };
}

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { Logger } from '../../logger.js';

/**
 * chokidar drops a second `change` on the same path within 50 ms and never emits it later, so
 * one more read just past that window makes the last write win however fast writes come.
 */
const TRAILING_REREAD_MS = 60;

/**
 * Watches `dir` (depth 0) with chokidar, plus a trailing re-read after each burst of events and
 * a periodic re-read; settles once everything is released after `signal` aborts. While `dir`
 * does not exist (an optional volume, a directory made later), watches its parent for it to
 * appear. When `dir` is a symlink (or lies behind one), the real folder is watched, since a
 * watch on the link sees nothing of kubelet's swaps inside it, and the link itself is watched
 * too, so that pointing it elsewhere re-resolves at once (and the periodic re-read re-checks).
 */
export function watchDirectory(
  dir: string,
  onMaybeChanged: () => void,
  pollIntervalMs: number,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const link = path.resolve(dir);
  let watcher: FSWatcher | undefined;
  let watching: string | undefined; // the real folder watched, or 'parent'
  let trailing: NodeJS.Timeout | undefined;

  const changed = (): void => {
    if (signal.aborted) return;
    onMaybeChanged();
    clearTimeout(trailing);
    trailing = setTimeout(onMaybeChanged, TRAILING_REREAD_MS);
    trailing.unref();
  };

  const startOnce = async (): Promise<void> => {
    const real = await fs.realpath(dir).then((target) => (fs.stat(target).then((stats) => (stats.isDirectory() ? target : undefined))), () => undefined);
    const wanted = real ?? 'parent';
    if (signal.aborted || wanted === watching) return;
    const previous = watcher;
    const firstStart = watching === undefined;
    watching = wanted;
    // persistent: false, like an unref'd timer: the watch alone never keeps a process alive.
    const next = chokidarWatch(real ?? path.dirname(link), {
      depth: 0,
      ignoreInitial: true,
      persistent: false,
      followSymlinks: false,
      // No 100 ms hold on unlink events (meant for editors' atomic saves).
      atomic: false,
    });
    // Behind a link: also watch the link's folder, for the link being pointed elsewhere.
    if (real && real !== link) next.add(path.dirname(link));
    watcher = next;
    next.on('all', (event, changedPath) => {
      const changedAt = path.resolve(changedPath);
      if (real && real !== link && path.dirname(changedAt) === path.dirname(link) && changedAt !== real) {
        if (changedAt === link) void start().then(changed); // the link changed
        return; // a sibling of the link
      }
      // A new timestamped directory and ..data_tmp appear before the swap: reading then would
      // only read the old revision, and the real change would wait behind that read. The old
      // directory's removal comes after the swap, on a fresh path that chokidar's per-path
      // throttle never drops, so it stays a signal.
      if ((event === 'addDir' || event === 'add') && isSwapScaffolding(path.basename(changedAt))) return;
      if (!real) {
        if (changedAt === link) void start().then(changed);
        return;
      }
      if (event === 'unlinkDir' && changedAt === real) void start();
      changed();
    });
    next.on('error', (error) => logger.warn({ source: `files ${dir}`, error: String(error) }, `watching ${dir} failed; the periodic re-read goes on`));
    await previous?.close();
    // It may have appeared, or been re-pointed, between the check and the watch.
    if (!real || !firstStart) changed();
  };
  // One start at a time, so that two never race to install two watchers.
  let starting: Promise<void> = Promise.resolve();
  const start = (): Promise<void> => (starting = starting.then(startOnce, startOnce));

  const poll = setInterval(() => {
    void start();
    onMaybeChanged();
  }, pollIntervalMs);
  poll.unref();

  void start();
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      clearInterval(poll);
      clearTimeout(trailing);
      // Wait for a start under way, then close whatever watcher it left.
      void starting.then(() => watcher?.close()).then(resolve, resolve);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
}

function isSwapScaffolding(name: string): boolean {
  return name.startsWith('..') && name !== '..data';
}

import { watch as fsWatch, type FSWatcher } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../logger.js';

/**
 * The settle re-read: one more read just past 50 ms after each burst of events, so the last
 * write wins however fast writes come (chokidar, which this module used before, drops a second
 * `change` on the same path within 50 ms; any event source may coalesce a burst).
 */
const TRAILING_REREAD_MS = 60;

/**
 * Watches `dir` (its entries, not below) with the kernel's directory watch (inotify on Linux,
 * through `fs.watch`), plus a trailing re-read after each burst of events and a periodic
 * re-read; settles once everything is released after `signal` aborts.
 *
 * Every event is acted on as the kernel reports it, with no re-listing of the folder first:
 * kubelet's one atomic step, the rename of `..data_tmp` over `..data`, triggers a read at
 * once. The rest of kubelet's scaffolding (the new timestamped directory and `..data_tmp`
 * before the swap, the old directory's removal after it) is ignored: reading then would read
 * the old revision, or again the one just read. While `dir` does not exist (an optional volume,
 * a directory made later), its parent is watched for it to appear. When `dir` is a symlink (or
 * lies behind one), the real folder is watched, since a watch on the link sees nothing of
 * kubelet's swaps inside it, and the link's folder too, so that pointing the link elsewhere
 * re-resolves at once (and the periodic re-read re-checks).
 */
export function watchDirectory(
  dir: string,
  onMaybeChanged: () => void,
  pollIntervalMs: number,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const link = path.resolve(dir);
  let watchers: FSWatcher[] = [];
  let watching: string | undefined; // the real folder watched, 'parent', or undefined (none yet, or a watch lost)
  let started = false; // a first set of watchers was installed: every later one catches up on what it missed
  let trailing: NodeJS.Timeout | undefined;

  const changed = (): void => {
    if (signal.aborted) return;
    onMaybeChanged();
    clearTimeout(trailing);
    trailing = setTimeout(onMaybeChanged, TRAILING_REREAD_MS);
    trailing.unref();
  };

  const watchFolder = (folder: string, onEntry: (name: string | undefined) => void): FSWatcher | undefined => {
    try {
      // persistent: false, like an unref'd timer: the watch alone never keeps a process alive.
      const watcher = fsWatch(folder, { persistent: false }, (_event, name) => onEntry(name === null ? undefined : String(name)));
      watcher.on('error', (error) => {
        watching = undefined; // the next periodic re-read watches again
        logger.warn({ source: `files ${dir}`, error: String(error) }, `watching ${folder} failed; the periodic re-read goes on and watches it again`);
      });
      return watcher;
    } catch (error) {
      logger.warn({ source: `files ${dir}`, error: String(error) }, `cannot watch ${folder}; the periodic re-read goes on`);
      return undefined;
    }
  };

  // The link's own folder: only the link itself matters there (an unnamed event may be it).
  const onLinkFolder = (name: string | undefined): void => {
    if (name === undefined || name === path.basename(link)) void start().then(changed);
  };

  const startOnce = async (): Promise<void> => {
    const real = await realFolder(dir);
    const wanted = real ?? 'parent';
    if (signal.aborted || wanted === watching) return;
    const next: Array<FSWatcher | undefined> = [];
    if (real) {
      next.push(watchFolder(real, (name) => {
        // The watched folder itself removed, moved or unmounted (the event names it): the kernel
        // dropped its watch, so watch anew even if the path resolves to a folder here again.
        if (name === path.basename(real)) {
          watching = undefined;
          void start();
        }
        if (name !== undefined && isSwapScaffolding(name)) return;
        changed();
      }));
      if (real !== link) next.push(watchFolder(path.dirname(link), onLinkFolder));
    } else {
      next.push(watchFolder(path.dirname(link), onLinkFolder));
    }
    for (const watcher of watchers) watcher.close();
    watchers = next.filter((watcher) => watcher !== undefined);
    // A failed watch is tried again at the next periodic re-read.
    watching = watchers.length === next.length ? wanted : undefined;
    // It may have appeared, been re-pointed, or been swapped while no watch was in place (a watch
    // lost is installed again only after the folder was resolved anew).
    const catchUp = !real || started;
    started = true;
    if (catchUp) changed();
  };
  // One start at a time, so that two never race to install two sets of watchers. It never
  // rejects: it is called with `void`, where a rejection would end the process.
  let starting: Promise<void> = Promise.resolve();
  const start = (): Promise<void> => (starting = starting.then(startOnce).catch((error: unknown) => {
    watching = undefined;
    logger.warn({ source: `files ${dir}`, error: String(error) }, `watching ${dir} failed; the periodic re-read tries again`);
  }));

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
      // Wait for a start under way, then close whatever watchers it left.
      void starting.then(() => {
        for (const watcher of watchers) watcher.close();
        watchers = [];
      }).then(resolve, resolve);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
}

/** The real folder `dir` is, or undefined when it is none: absent, not a folder, or gone mid-way. */
async function realFolder(dir: string): Promise<string | undefined> {
  try {
    const real = await fs.realpath(dir);
    return (await fs.stat(real)).isDirectory() ? real : undefined;
  } catch {
    return undefined; // watched for through its parent, and re-checked at each periodic re-read
  }
}

/** kubelet's hidden entries other than `..data`: `..data_tmp` and the timestamped directories. */
function isSwapScaffolding(name: string): boolean {
  return name.startsWith('..') && name !== '..data';
}

import { constants, type FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { ServingCertError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { MaterialSource, SourceRead } from '../source.js';

/** Options of {@link filesSource}. */
export interface FilesSourceOptions {
  /** The mounted directory. */
  dir: string;
  /** File names to read, e.g. `['tls.crt', 'tls.key', 'ca.crt']`. */
  keys: readonly string[];
  /** A read succeeds only when at least these are present; else the volume counts as not filled yet. */
  requiredKeys: readonly string[];
  /** Files larger than this are refused without being read whole. */
  maxBytes: number;
  /** Re-read this often in case an event is lost. */
  pollIntervalMs: number;
  logger: Logger;
}

/**
 * chokidar drops a second `change` on the same path within 50 ms and never emits it later, so
 * one more read just past that window makes the last write win however fast writes come.
 */
const TRAILING_REREAD_MS = 60;

/** How often a read that raced kubelet's removal of the old directory is retried. */
const SWAP_RETRIES = 3;

/**
 * A mounted Secret volume (or any directory). Follows kubelet's AtomicWriter: every read
 * resolves `..data` to the timestamped directory it points at and reads all files from there,
 * so the files of one read always belong to one Secret revision.
 */
export function filesSource(options: FilesSourceOptions): MaterialSource {
  const { dir, logger } = options;
  const description = `files ${dir}`;
  let warnedNoDataLink = false;

  async function readOnce(): Promise<SourceRead> {
    let dataTarget: string | undefined;
    try {
      dataTarget = await fs.readlink(path.join(dir, '..data'));
    } catch (error) {
      if (!isNotFound(error) && errnoOf(error) !== 'EINVAL') throw ioError(description, '..data', error);
    }
    if (dataTarget === undefined) {
      try {
        await fs.stat(dir);
      } catch (error) {
        if (isNotFound(error)) return { present: false, reason: `directory ${dir} does not exist` };
        throw ioError(description, dir, error);
      }
      if (!warnedNoDataLink) {
        warnedNoDataLink = true;
        logger.info({ source: description, dir }, `${description} has no ..data link: not a Secret volume, or mounted with subPath, ` +
          'which kubelet never updates; reading the files as they are');
      }
    }
    const base = dataTarget === undefined ? dir : path.resolve(dir, dataTarget);
    // In parallel: each read is a few threadpool round trips, and on a busy event loop every
    // round trip waits its turn, so a sequence of them is what delays a rotation.
    const contents = await Promise.all(options.keys.map((key) => readBounded(path.join(base, key), options.maxBytes, description)));
    const files: Record<string, Buffer | undefined> = {};
    options.keys.forEach((key, index) => (files[key] = contents[index]));
    if (dataTarget !== undefined && options.keys.some((key) => files[key] === undefined) && !(await exists(base))) {
      // kubelet removed the directory we resolved before we read it all: a swap, not a gap.
      throw new SwapRace(base);
    }
    const missing = options.requiredKeys.filter((key) => files[key] === undefined);
    if (missing.length === options.requiredKeys.length) {
      return { present: false, reason: `${dir} holds no ${missing.join(' or ')} yet` };
    }
    return { present: true, files };
  }

  return {
    description,
    async read(signal) {
      for (let attempt = 0; ; attempt += 1) {
        signal.throwIfAborted();
        try {
          return await readOnce();
        } catch (error) {
          // kubelet deleted the directory we resolved between readlink and read: read again.
          if (error instanceof SwapRace && attempt < SWAP_RETRIES) continue;
          if (error instanceof SwapRace) throw ioError(description, error.file, 'it kept vanishing during reads');
          throw error;
        }
      }
    },
    watch(onMaybeChanged, signal) {
      return watchDirectory(dir, onMaybeChanged, options.pollIntervalMs, logger, signal);
    },
  };
}

class SwapRace extends Error {
  constructor(readonly file: string) {
    super(`${file} vanished during a read`);
  }
}

async function readBounded(file: string, maxBytes: number, description: string): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw ioError(description, path.basename(file), error);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new ServingCertError('E_TOO_LARGE',
        `${description}: ${path.basename(file)} is ${size} bytes, more than the bound of ${maxBytes}; it is not a certificate bundle`,
        { details: { source: description, file: path.basename(file), size } });
    }
    // One byte more than stat said reveals a file that grew meanwhile (a plain directory being
    // rewritten); its content then fails the gate or a later read gets it whole. A read that
    // returns less than asked is at the end of a regular file, so a small file costs one read.
    const buffer = Buffer.alloc(size + 1);
    let length = 0;
    while (length < buffer.length) {
      const requested = buffer.length - length;
      const { bytesRead } = await handle.read(buffer, length, requested, length);
      length += bytesRead;
      if (bytesRead < requested) break;
    }
    if (length > maxBytes) {
      throw new ServingCertError('E_TOO_LARGE', `${description}: ${path.basename(file)} is larger than the bound of ${maxBytes} bytes`,
        { details: { source: description, file: path.basename(file) } });
    }
    return Buffer.from(buffer.subarray(0, length));
  } catch (error) {
    if (error instanceof ServingCertError) throw error;
    throw ioError(description, path.basename(file), error);
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}

/**
 * Watches `dir` (depth 0) with chokidar, plus a trailing re-read after each burst of events and
 * a periodic re-read; settles once everything is released after `signal` aborts. While `dir` does not exist (an optional volume, a directory made later),
 * watches its parent for it to appear.
 */
function watchDirectory(
  dir: string,
  onMaybeChanged: () => void,
  pollIntervalMs: number,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  let watcher: FSWatcher | undefined;
  let watching: 'dir' | 'parent' | undefined;
  let trailing: NodeJS.Timeout | undefined;

  const changed = (): void => {
    if (signal.aborted) return;
    onMaybeChanged();
    clearTimeout(trailing);
    trailing = setTimeout(onMaybeChanged, TRAILING_REREAD_MS);
    trailing.unref();
  };

  const startOnce = async (): Promise<void> => {
    const present = await exists(dir);
    const wanted = present ? 'dir' : 'parent';
    if (signal.aborted || wanted === watching) return;
    const previous = watcher;
    watching = wanted;
    // persistent: false, like an unref'd timer: the watch alone never keeps a process alive.
    const next = chokidarWatch(present ? dir : path.dirname(dir), {
      depth: 0,
      ignoreInitial: true,
      persistent: false,
      followSymlinks: false,
      // No 100 ms hold on unlink events (meant for editors' atomic saves).
      atomic: false,
    });
    watcher = next;
    next.on('all', (event, changedPath) => {
      // A new timestamped directory and ..data_tmp appear before the swap: reading then would
      // only read the old revision, and the real change would wait behind that read. The old
      // directory's removal comes after the swap, on a fresh path that chokidar's per-path
      // throttle never drops, so it stays a signal.
      if ((event === 'addDir' || event === 'add') && isSwapScaffolding(path.basename(changedPath))) return;
      const isDir = path.resolve(changedPath) === path.resolve(dir);
      if (wanted === 'parent') {
        if (isDir) void start().then(changed);
        return;
      }
      if (event === 'unlinkDir' && isDir) void start();
      changed();
    });
    next.on('error', (error) => logger.warn({ source: `files ${dir}`, error: String(error) }, `watching ${dir} failed; the periodic re-read goes on`));
    await previous?.close();
    if (!present) changed(); // it may have appeared between the stat and the watch
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

function ioError(description: string, file: string, cause: unknown): ServingCertError {
  return new ServingCertError('E_IO', `${description}: cannot read ${file} (${errnoOf(cause) ?? String(cause)})`, {
    cause,
    details: { source: description, file },
  });
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isNotFound(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../logger.js';
import type { MaterialSource, SourceRead } from '../source.js';
import { bounded, errnoOf, ioError, isNotFound, readRegularFile } from './readRegularFile.js';
import { readRevisionSync, tmpfsFolderOf, type TmpfsFolder } from './tmpfsReads.js';
import { watchDirectory } from './watchDirectory.js';

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
  /**
   * Read a Secret volume on tmpfs synchronously (default true): no system call there can block,
   * and a rotation then waits for no threadpool round trip. False always reads asynchronously.
   */
  syncTmpfsReads?: boolean;
}

/** How often a read that raced kubelet's removal of the old directory is retried. */
const SWAP_RETRIES = 3;

/**
 * The bound of one read of the volume: a local or tmpfs volume answers in microseconds, so a
 * read still pending after this is stuck (a hung network mount); it is reported and retried.
 */
const READ_TIMEOUT_MS = 5_000;

/**
 * A mounted Secret volume (or any directory). Follows kubelet's AtomicWriter: every read
 * resolves `..data` to the timestamped directory it points at and reads all files from there,
 * so the files of one read always belong to one Secret revision.
 */
export function filesSource(options: FilesSourceOptions): MaterialSource {
  const { dir, logger } = options;
  const description = `files ${dir}`;
  let warnedNoDataLink = false;
  const tmpfs = tmpfsProbe(dir, options.syncTmpfsReads === false ? Infinity : options.pollIntervalMs);

  async function readOnce(): Promise<SourceRead> {
    const folder = await tmpfs.folder();
    if (folder) {
      const read = readRevisionSync(folder, options.keys, options.maxBytes, description);
      if (read.kind === 'vanished') throw new SwapRace(read.base);
      if (read.kind === 'read') return presentOrNot(read.files);
    }
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
    const contents = await Promise.all(options.keys.map((key) => readRegularFile(path.join(base, key), options.maxBytes, description)));
    const files: Record<string, Buffer | undefined> = {};
    options.keys.forEach((key, index) => (files[key] = contents[index]));
    if (dataTarget !== undefined && options.keys.some((key) => files[key] === undefined) && !(await exists(base))) {
      // kubelet removed the directory we resolved before we read it all: a swap, not a gap.
      throw new SwapRace(base);
    }
    return presentOrNot(files);
  }

  function presentOrNot(files: Record<string, Buffer | undefined>): SourceRead {
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
          return await bounded(readOnce(), READ_TIMEOUT_MS, signal, dir, description);
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

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}

/**
 * Whether `dir` lies on tmpfs, probed asynchronously at the first read and again in the
 * background once `recheckMs` have passed (a folder re-pointed elsewhere is then read
 * asynchronously again). Infinity: never probed, always asynchronous.
 */
function tmpfsProbe(dir: string, recheckMs: number) {
  let known: { folder: TmpfsFolder | undefined; at: number } | undefined;
  let probing: Promise<void> | undefined;
  const probe = (): Promise<void> => (probing ??= tmpfsFolderOf(dir).then((folder) => {
    known = { folder, at: performance.now() };
    probing = undefined;
  }));
  return {
    async folder(): Promise<TmpfsFolder | undefined> {
      if (recheckMs === Infinity) return undefined;
      if (!known) await probe();
      else if (performance.now() - known.at > recheckMs) void probe();
      return known?.folder;
    },
  };
}

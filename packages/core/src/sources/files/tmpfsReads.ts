import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ServingCertError } from '../../errors.js';
import { errnoOf, ioError, isNotFound, notRegular } from './readRegularFile.js';

/** statfs f_type of tmpfs (linux/magic.h): what kubelet backs Secret volumes with. */
const TMPFS_MAGIC = 0x01021994;

/** A folder found on tmpfs: its real path (no symlink in it) and its device. */
export interface TmpfsFolder {
  realDir: string;
  dev: number;
}

/**
 * `dir` when it is a real folder (no symlink on its path) on tmpfs, as kubelet mounts a Secret
 * volume; else undefined (also when it does not exist). A folder behind a link is left to the
 * asynchronous reader, which resolves the link on every read: the link may be re-pointed at
 * any time. Asynchronous: resolving a path may cross a hung network mount.
 */
export async function tmpfsFolderOf(dir: string): Promise<TmpfsFolder | undefined> {
  try {
    const realDir = await fs.realpath(dir);
    if (realDir !== path.resolve(dir)) return undefined;
    const [stats, fsStats] = await Promise.all([fs.stat(realDir), fs.statfs(realDir)]);
    return stats.isDirectory() && fsStats.type === TMPFS_MAGIC ? { realDir, dev: stats.dev } : undefined;
  } catch {
    return undefined;
  }
}

/** What {@link readRevisionSync} found. */
export type SyncRead =
  /** The files of the revision `..data` points at (undefined: the key is absent). */
  | { readonly kind: 'read'; readonly files: Record<string, Buffer | undefined> }
  /** `..data` points at a directory that is gone: kubelet removed it between two steps. */
  | { readonly kind: 'vanished'; readonly base: string }
  /** Not kubelet's layout on this tmpfs (no `..data`, a link, another device): read asynchronously. */
  | { readonly kind: 'not-kubelet' };

/**
 * Reads every key of kubelet's current revision synchronously, in one go on the event loop,
 * with no threadpool round trip. Only for a Secret volume's layout on tmpfs, where no system
 * call can block: `..data` must name a sibling directory on the same device, and each file is
 * opened without following links (O_NOFOLLOW) and without blocking (O_NONBLOCK), then checked
 * (fstat) to be a regular file of the same device within `maxBytes` before it is read. Anything
 * else is left to the asynchronous reader, which handles every layout.
 */
export function readRevisionSync(folder: TmpfsFolder, keys: readonly string[], maxBytes: number, description: string): SyncRead {
  let target: string;
  try {
    target = readlinkSync(path.join(folder.realDir, '..data'));
  } catch {
    return { kind: 'not-kubelet' };
  }
  if (target.includes('/') || target === '..' || target === '.') return { kind: 'not-kubelet' };
  const base = path.join(folder.realDir, target);
  let dirStats: Stats;
  try {
    dirStats = lstatSync(base);
  } catch (error) {
    if (isNotFound(error)) return { kind: 'vanished', base };
    throw ioError(description, target, error);
  }
  if (!dirStats.isDirectory() || dirStats.dev !== folder.dev) return { kind: 'not-kubelet' };
  const files: Record<string, Buffer | undefined> = {};
  for (const key of keys) {
    if (key.includes('/')) return { kind: 'not-kubelet' };
    const read = readFileSync(path.join(base, key), folder.dev, maxBytes, description);
    if (read === 'not-kubelet') return { kind: 'not-kubelet' };
    files[key] = read;
  }
  // A file missing because kubelet removed the whole revision meanwhile: a swap, not a gap.
  if (keys.some((key) => files[key] === undefined) && !existsSync(base)) return { kind: 'vanished', base };
  return { kind: 'read', files };
}

function readFileSync(file: string, dev: number, maxBytes: number, description: string): Buffer | undefined | 'not-kubelet' {
  const name = path.basename(file);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    if (errnoOf(error) === 'ELOOP') return 'not-kubelet'; // a symlink: the asynchronous reader follows it
    throw ioError(description, name, error);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw notRegular(description, file, stats);
    if (stats.dev !== dev) return 'not-kubelet';
    if (stats.size > maxBytes) {
      throw new ServingCertError('E_TOO_LARGE',
        `${description}: ${name} is ${stats.size} bytes, more than the bound of ${maxBytes}; it is not a certificate bundle`,
        { details: { source: description, file: name, size: stats.size } });
    }
    // One byte more than fstat said reveals a file that grew meanwhile, as in readRegularFile.
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    for (let bytesRead = -1; bytesRead !== 0 && length < buffer.length;) {
      bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
      length += bytesRead;
    }
    if (length > maxBytes) {
      throw new ServingCertError('E_TOO_LARGE', `${description}: ${name} is larger than the bound of ${maxBytes} bytes`,
        { details: { source: description, file: name } });
    }
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof ServingCertError) throw error;
    throw ioError(description, name, error);
  } finally {
    closeSync(fd);
  }
}

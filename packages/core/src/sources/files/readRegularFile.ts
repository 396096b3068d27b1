import { constants, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ServingCertError } from '../../errors.js';

/**
 * Reads one file of a mounted volume, refusing anything but a regular file: a FIFO would block
 * a thread of libuv's pool until someone writes to it, a socket cannot be read, a directory or
 * a device is no certificate. The type is checked on the path (stat follows kubelet's symlinks)
 * and again on the descriptor opened with O_NONBLOCK (fstat), so a swap in between cannot slip
 * a FIFO through. Files over `maxBytes` are refused without being read whole. Undefined when
 * the file does not exist.
 */
export async function readRegularFile(file: string, maxBytes: number, description: string): Promise<Buffer | undefined> {
  const name = path.basename(file);
  let stats: Stats;
  try {
    stats = await fs.stat(file);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw ioError(description, name, error);
  }
  if (!stats.isFile()) throw notRegular(description, file, stats);
  let handle: FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw ioError(description, name, error);
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw notRegular(description, file, opened);
    const { size } = opened;
    if (size > maxBytes) {
      throw new ServingCertError('E_TOO_LARGE',
        `${description}: ${name} is ${size} bytes, more than the bound of ${maxBytes}; it is not a certificate bundle`,
        { details: { source: description, file: name, size } });
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
      throw new ServingCertError('E_TOO_LARGE', `${description}: ${name} is larger than the bound of ${maxBytes} bytes`,
        { details: { source: description, file: name } });
    }
    return Buffer.from(buffer.subarray(0, length));
  } catch (error) {
    if (error instanceof ServingCertError) throw error;
    throw ioError(description, name, error);
  } finally {
    await handle.close();
  }
}

/**
 * Settles like `work`, but rejects with E_IO after `ms` (a read stuck on a hung mount, a device)
 * and at once when `signal` aborts, so that no read holds a refresh or a close() forever. The
 * stuck system call itself cannot be cancelled: it ends when the kernel returns.
 */
export function bounded<T>(work: Promise<T>, ms: number, signal: AbortSignal, what: string, description: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      done();
      reject(new ServingCertError('E_IO', `${description}: reading ${what} took more than ${ms} ms (a hung mount?); it is retried at the next change or re-read`,
        { details: { source: description, file: what } }));
    }, ms);
    timer.unref();
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then((value) => {
      done();
      resolve(value);
    }, (error: Error) => {
      done();
      reject(error);
    });
  });
}

export function notRegular(description: string, file: string, stats: Stats): ServingCertError {
  const type = typeOf(stats);
  return new ServingCertError('E_IO',
    `${description}: ${file} is ${type}, not a regular file; serving-cert reads only regular files (a Secret volume holds nothing else): ` +
    `put the PEM file there, or point the folder option at the mounted Secret`,
    { details: { source: description, file: path.basename(file), path: file, type } });
}

function typeOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

export function ioError(description: string, file: string, cause: unknown): ServingCertError {
  return new ServingCertError('E_IO', `${description}: cannot read ${file} (${errnoOf(cause) ?? String(cause)})`, {
    cause,
    details: { source: description, file },
  });
}

export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isNotFound(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

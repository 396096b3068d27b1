import { createHash } from 'node:crypto';
import { asServingCertError, type ServingCertError } from '../errors.js';
import type { MaterialSource, RawFiles } from '../sources/source.js';

/** What one read of an input came to. */
export type GatedRead<T> =
  /** The source has nothing yet (not a refusal: nothing was offered). */
  | { readonly outcome: 'absent'; readonly reason: string }
  /** The bytes served now: nothing to do. */
  | { readonly outcome: 'unchanged' }
  /**
   * Refused. `version` is the content hash of the refused bytes (undefined when no bytes were
   * read, such as an I/O failure); `known` when these bytes were refused before.
   */
  | { readonly outcome: 'refused'; readonly error: ServingCertError; readonly version: string | undefined; readonly known: boolean }
  /** Passed the gate. */
  | { readonly outcome: 'valid'; readonly value: T; readonly files: RawFiles; readonly version: string };

/** How long a refusal is remembered before the same bytes are validated again: validity windows move with time. */
export const REFUSAL_RECHECK_MS = 60_000;
/** How many refused versions are remembered per input (the oldest is forgotten first). */
const REMEMBERED = 16;

interface Refused {
  files: RawFiles;
  error: ServingCertError;
  recheckAt: number;
}

/**
 * One input's gate between its source and the live state: reads, skips the bytes served now,
 * and remembers refused versions by content hash, so that a re-read of refused bytes costs a
 * comparison (the last refused version) or a hash (an older one), never a second validation.
 */
export class VersionGate<T> {
  readonly #source: MaterialSource;
  readonly #validate: (files: RawFiles, now: Date) => T;
  readonly #recheckMs: number;
  readonly #refused = new Map<string, Refused>();
  #served: RawFiles | undefined;
  #lastRefused: { files: RawFiles; version: string } | undefined;

  constructor(source: MaterialSource, validate: (files: RawFiles, now: Date) => T, recheckMs = REFUSAL_RECHECK_MS) {
    this.#source = source;
    this.#validate = validate;
    this.#recheckMs = recheckMs;
  }

  async read(signal: AbortSignal): Promise<GatedRead<T>> {
    const description = this.#source.description;
    let files: RawFiles;
    try {
      const read = await this.#source.read(signal);
      if (!read.present) return { outcome: 'absent', reason: `${description}: ${read.reason}` };
      files = read.files;
    } catch (error) {
      return { outcome: 'refused', error: asServingCertError(error, description), version: undefined, known: false };
    }
    let version: string | undefined;
    try {
      if (this.#served && sameFiles(files, this.#served)) return { outcome: 'unchanged' };
      const now = Date.now();
      // Refusals are remembered by content hash. With none remembered, the hash waits until
      // something asks for it: a rotation runs on the thread that serves handshakes.
      if (this.#refused.size > 0) {
        // The periodic re-read of the last refused version is a byte comparison; another one a hash.
        version = this.#lastRefused && sameFiles(files, this.#lastRefused.files) ? this.#lastRefused.version : versionOf(files);
        const known = this.#refused.get(version);
        if (known && known.recheckAt > now) return { outcome: 'refused', error: known.error, version, known: true };
      }
      const value = this.#validate(files, new Date(now));
      let validVersion = version;
      return { outcome: 'valid', value, files, get version() { return (validVersion ??= versionOf(files)); } };
    } catch (error) {
      const refusal = asServingCertError(error, description);
      // A source that hands over something other than bytes is a bug: E_INTERNAL, not remembered.
      if (version === undefined) version = versionIfBytes(files);
      if (version !== undefined) this.refuse(files, version, refusal);
      return { outcome: 'refused', error: refusal, version, known: false };
    }
  }

  /** Remembers a refusal made after the gate (OpenSSL refusing the pair at install). */
  refuse(files: RawFiles, version: string, error: ServingCertError): void {
    this.#refused.delete(version);
    this.#refused.set(version, { files, error, recheckAt: Date.now() + this.#recheckMs });
    if (this.#refused.size > REMEMBERED) this.#refused.delete(this.#refused.keys().next().value!);
    this.#lastRefused = { files, version };
  }

  /** These bytes are served now: their re-reads are skipped. */
  served(files: RawFiles): void {
    this.#served = files;
  }
}

/** SHA-256 over each file's name and length-prefixed bytes: equal only for equal contents. */
export function versionOf(files: RawFiles): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(files).sort()) {
    const bytes = files[name];
    if (bytes === undefined) continue;
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}

/** {@link versionOf}, or undefined when a file is not bytes (a source's bug). */
function versionIfBytes(files: RawFiles): string | undefined {
  try {
    return versionOf(files);
  } catch {
    return undefined;
  }
}

function sameFiles(a: RawFiles, b: RawFiles): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const name of names) {
    const x = a[name];
    const y = b[name];
    if (x === undefined || y === undefined ? x !== y : !x.equals(y)) return false;
  }
  return true;
}

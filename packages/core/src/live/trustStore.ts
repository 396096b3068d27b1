import type { X509Certificate } from 'node:crypto';
import type { CertInfo, TrustState } from '../types.js';
import { certInfoOf } from '../x509/certInfo.js';

interface Entry {
  cert: X509Certificate;
  info: CertInfo;
  /** Which inputs currently name this CA ('caDir', 'secret'); empty once it is retired. */
  origins: Set<string>;
  retiredAt: number | undefined;
}

/** A CA no input names any more, as {@link TrustStore.retiredCas} lists it and a restart restores it. */
export interface RetiredCa {
  cert: X509Certificate;
  /** When it was last current (ms since the epoch). */
  retiredAt: number;
}

/** The input that carries the platform root CA (`service-root-ca`). */
export const PLATFORM_ORIGIN = 'caDir';

/**
 * Keeps old CAs after a rollover: leaves issued by the old CA stay in use until renewed, so a
 * peer presenting one must keep verifying. A retired CA is dropped when it expires or when
 * `graceMs` has passed since it was last current, whichever comes first. A restart restores
 * the retired CAs a {@link RetiredCa} list remembered (see live/trustMemory.ts).
 */
export class TrustStore {
  readonly #graceMs: number;
  readonly #entries = new Map<string, Entry>();
  #state: TrustState = { cas: [], pem: '', platform: [], retired: [] };
  #key = '';

  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  get state(): TrustState {
    return this.#state;
  }

  /** Sets the CAs one input names now. Returns true when the trusted set changed. */
  update(origin: string, certs: readonly X509Certificate[], now: Date): boolean {
    const seen = new Set<string>();
    for (const cert of certs) {
      seen.add(cert.fingerprint256);
      const entry = this.#entries.get(cert.fingerprint256);
      if (entry) {
        entry.origins.add(origin);
        entry.retiredAt = undefined;
      } else {
        this.#entries.set(cert.fingerprint256, { cert, info: certInfoOf(cert), origins: new Set([origin]), retiredAt: undefined });
      }
    }
    for (const [fingerprint, entry] of this.#entries) {
      if (seen.has(fingerprint) || !entry.origins.delete(origin)) continue;
      if (entry.origins.size === 0) entry.retiredAt = now.getTime();
    }
    this.prune(now);
    return this.#rebuild();
  }

  /**
   * Adds CAs that were retired before a restart, with the moment they retired: they stay for
   * what is left of their grace. A CA an input names now stays current. Returns true when the
   * trusted set changed.
   */
  restore(retired: readonly RetiredCa[], now: Date): boolean {
    for (const { cert, retiredAt } of retired) {
      if (this.#entries.has(cert.fingerprint256) || !Number.isFinite(retiredAt)) continue;
      this.#entries.set(cert.fingerprint256, { cert, info: certInfoOf(cert), origins: new Set(), retiredAt: Math.min(retiredAt, now.getTime()) });
    }
    this.prune(now);
    return this.#rebuild();
  }

  /** The CAs kept only for a rollover, to remember across a restart. */
  retiredCas(): RetiredCa[] {
    return [...this.#entries.values()].filter((entry) => entry.retiredAt !== undefined).map(({ cert, retiredAt }) => ({ cert, retiredAt: retiredAt! }));
  }

  /** Drops expired CAs and retired ones past their grace period. Returns true when the set changed. */
  prune(now: Date): boolean {
    let removed = false;
    for (const [fingerprint, entry] of this.#entries) {
      const expired = entry.info.notAfter.getTime() < now.getTime();
      const graceOver = entry.retiredAt !== undefined && entry.retiredAt + this.#graceMs <= now.getTime();
      if (expired || graceOver) {
        this.#entries.delete(fingerprint);
        removed = true;
      }
    }
    return removed && this.#rebuild();
  }

  /** When the next CA leaves the set, if any: the time to call {@link prune}. */
  nextChange(): Date | undefined {
    let next = Infinity;
    for (const entry of this.#entries.values()) {
      next = Math.min(next, entry.info.notAfter.getTime() + 1);
      if (entry.retiredAt !== undefined) next = Math.min(next, entry.retiredAt + this.#graceMs);
    }
    return Number.isFinite(next) ? new Date(next) : undefined;
  }

  #rebuild(): boolean {
    const entries = [...this.#entries.values()].sort((a, b) =>
      Number(a.retiredAt !== undefined) - Number(b.retiredAt !== undefined) ||
      b.info.notBefore.getTime() - a.info.notBefore.getTime());
    const pem = entries.map((entry) => entry.cert.toString()).join('');
    const platform = entries.filter((entry) => entry.origins.has(PLATFORM_ORIGIN)).map((entry) => entry.info);
    const retired = entries.filter((entry) => entry.retiredAt !== undefined).map((entry) => entry.info);
    // The roles are kept current, but only a new bundle is a change (servers and dispatchers
    // rebuild their contexts on it): a CA that retires without leaving the bundle is none.
    const key = [pem, ...platform.map((ca) => ca.fingerprint256), '|', ...retired.map((ca) => ca.fingerprint256)].join(',');
    if (key === this.#key) return false;
    this.#key = key;
    const changed = pem !== this.#state.pem;
    this.#state = Object.freeze({ cas: Object.freeze(entries.map((entry) => entry.info)), pem, platform: Object.freeze(platform), retired: Object.freeze(retired) });
    return changed;
  }
}

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

/**
 * Keeps old CAs after a rollover: leaves issued by the old CA stay in use until renewed, so a
 * peer presenting one must keep verifying. A retired CA is dropped when it expires or when
 * `graceMs` has passed since it was last current, whichever comes first.
 */
export class TrustStore {
  readonly #graceMs: number;
  readonly #entries = new Map<string, Entry>();
  #state: TrustState = { cas: [], pem: '' };

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
    if (pem === this.#state.pem) return false;
    this.#state = Object.freeze({ cas: Object.freeze(entries.map((entry) => entry.info)), pem });
    return true;
  }
}

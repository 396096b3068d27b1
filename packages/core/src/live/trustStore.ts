import type { X509Certificate } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { CertInfo, TrustState } from '../types.js';
import { certInfoOf, describeName } from '../x509/certInfo.js';
import { peerKeyOf } from '../x509/peerLeaves.js';
import { signatureVerifies } from '../x509/signatureCheck.js';
import { LeafHolds, MAX_TRACKED_PEERS, UNKNOWN_CA, type RetiredCaHold } from './leafHolds.js';

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
  /** What keeps it before its bound; a CA restored without one is held to its bound. */
  hold?: RetiredCaHold;
}

/**
 * Releasing a retired CA before its bound: once this service's own leaf and every peer leaf
 * seen on it have moved to a current CA, and `minHoldMs` has passed since it retired.
 */
export interface EarlyRelease {
  minHoldMs: number;
  logger: Logger;
  /** Told when a peer's CA changed: the holds are then remembered, and a release may be due. */
  onHoldsChanged: () => void;
}

/** The input that carries the platform root CA (`service-root-ca`). */
export const PLATFORM_ORIGIN = 'caDir';

/**
 * Keeps old CAs after a rollover: leaves issued by the old CA stay in use until renewed, so a
 * peer presenting one must keep verifying. A retired CA is dropped when it expires or when
 * `graceMs` has passed since it was last current, whichever comes first; with an
 * {@link EarlyRelease}, also once every leaf seen on it (this service's, and peers' that the
 * TLS layer verified) has moved off it. A restart restores the retired CAs, with the peers
 * still holding them, that a {@link RetiredCa} list remembered (see live/trustMemory.ts).
 */
export class TrustStore {
  readonly #graceMs: number;
  readonly #entries = new Map<string, Entry>();
  #state: TrustState = { cas: [], pem: '', platform: [], retired: [] };
  #key = '';
  readonly #release: EarlyRelease | undefined;
  readonly #holds = new LeafHolds();
  #ownLeaf: X509Certificate | undefined;

  constructor(graceMs: number, release?: EarlyRelease) {
    this.#graceMs = graceMs;
    this.#release = release;
  }

  get state(): TrustState {
    return this.#state;
  }

  /** Sets the CAs one input names now (and, from the serving Secret, the leaf served). Returns true when the trusted set changed. */
  update(origin: string, certs: readonly X509Certificate[], now: Date, ownLeaf?: X509Certificate): boolean {
    if (ownLeaf) this.#ownLeaf = ownLeaf;
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
    for (const { cert, retiredAt, hold } of retired) {
      const known = this.#entries.get(cert.fingerprint256);
      if ((known && known.retiredAt === undefined) || !Number.isFinite(retiredAt)) continue;
      if (!known) this.#entries.set(cert.fingerprint256, { cert, info: certInfoOf(cert), origins: new Set(), retiredAt: Math.min(retiredAt, now.getTime()) });
      this.#holds.restore(cert.fingerprint256, hold ?? { pending: [], untilBound: true });
    }
    this.prune(now);
    return this.#rebuild();
  }

  /** The CAs kept only for a rollover, to remember across a restart. */
  retiredCas(): RetiredCa[] {
    return [...this.#entries.values()].filter((entry) => entry.retiredAt !== undefined).map(({ cert, retiredAt }) => ({
      cert, retiredAt: retiredAt!, hold: this.#release ? this.#holds.holdOf(cert.fingerprint256) : { pending: [], untilBound: true },
    }));
  }

  /** A peer presented `leaf` and the TLS layer verified it: follows which CA that peer is on. */
  observePeer(leaf: X509Certificate): void {
    const key = this.#release && peerKeyOf(leaf);
    if (!key || this.#holds.known(key, leaf.fingerprint256)) return;
    const wasOverflowed = this.#holds.overflowed;
    if (!this.#holds.seen(key, leaf.fingerprint256, this.#signerOf(leaf))) return;
    if (!wasOverflowed && this.#holds.overflowed) {
      this.#release.logger.warn({ maxPeers: MAX_TRACKED_PEERS }, `more than ${MAX_TRACKED_PEERS} peers seen: no longer followed, and every retired CA is kept until its bound`);
    }
    this.#release.onHoldsChanged();
  }

  /** Drops expired CAs, retired ones past their grace period, and retired ones {@link EarlyRelease} lets go. Returns true when the set changed. */
  prune(now: Date): boolean {
    let removed = false;
    const ownCa = this.#ownLeaf && this.#signerOf(this.#ownLeaf);
    for (const [fingerprint, entry] of this.#entries) {
      const expired = entry.info.notAfter.getTime() < now.getTime();
      const graceOver = entry.retiredAt !== undefined && entry.retiredAt + this.#graceMs <= now.getTime();
      const early = !expired && !graceOver && this.#releasableAt(fingerprint, entry, ownCa) <= now.getTime();
      if (expired || graceOver || early) {
        this.#entries.delete(fingerprint);
        this.#holds.forget(fingerprint);
        removed = true;
      }
      if (early) {
        const subject = describeName(entry.info.subject);
        this.#release!.logger.info({ ca: fingerprint, subject, retiredAt: new Date(entry.retiredAt!).toISOString(), minHoldMs: this.#release!.minHoldMs },
          `released the retired CA ${subject} before its bound: this service's leaf and every peer leaf seen on it moved to a current CA, and the minimum hold passed`);
      }
    }
    return removed && this.#rebuild();
  }

  /** When the next CA leaves the set, if any: the time to call {@link prune}. */
  nextChange(): Date | undefined {
    let next = Infinity;
    const ownCa = this.#ownLeaf && this.#signerOf(this.#ownLeaf);
    for (const [fingerprint, entry] of this.#entries) {
      next = Math.min(next, entry.info.notAfter.getTime() + 1, this.#releasableAt(fingerprint, entry, ownCa));
      if (entry.retiredAt !== undefined) next = Math.min(next, entry.retiredAt + this.#graceMs);
    }
    return Number.isFinite(next) ? new Date(next) : undefined;
  }

  /**
   * When a retired CA may leave before its bound: never while this service's leaf is unknown
   * or signed by it (or by an unknown signer), while a peer last seen on it has not shown a
   * leaf of another CA, or when it is held to its bound; else once the minimum hold is over.
   */
  #releasableAt(fingerprint: string, entry: Entry, ownCa: string | undefined): number {
    if (!this.#release || entry.retiredAt === undefined || !ownCa || ownCa === fingerprint || ownCa === UNKNOWN_CA) return Infinity;
    if (this.#holds.untilBound(fingerprint) || this.#holds.pendingCount(fingerprint) > 0) return Infinity;
    return entry.retiredAt + this.#release.minHoldMs;
  }

  /** The trusted CA that signed `leaf`, by fingerprint; {@link UNKNOWN_CA} when none did directly. */
  #signerOf(leaf: X509Certificate): string {
    for (const [fingerprint, entry] of this.#entries) {
      if (leaf.checkIssued(entry.cert) && signatureVerifies(leaf, entry.cert)) return fingerprint;
    }
    return UNKNOWN_CA;
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

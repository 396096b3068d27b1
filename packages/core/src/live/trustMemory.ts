import { X509Certificate } from 'node:crypto';
import { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import { MAX_REMEMBERED_PENDING, type RetiredCaHold } from './leafHolds.js';
import type { RetiredCa, TrustStore } from './trustStore.js';

/**
 * Where the retired CAs of a rollover are remembered across a restart: the api source's
 * companion ConfigMap (kube/trustConfigMap.ts), or a small file in a folder the app gives
 * (live/trustStateFile.ts). Holds CA certificates and the names of the peers still on them: public, no key material.
 */
export interface TrustMemoryStore {
  /** For messages: "ConfigMap shop/web-tls-serving-cert-trust", "file /var/lib/app/serving-cert-trust.json". */
  readonly description: string;
  /** The remembered text, or undefined when nothing is remembered. Throws a ServingCertError. */
  load(): Promise<string | undefined>;
  /** Replaces the remembered text. Throws a ServingCertError. */
  save(text: string): Promise<void>;
}

const FORMAT_VERSION = 1;

/**
 * The stored form: `{ version: 1, retired: [{ retiredAt, pem, pending, untilBound }] }`, sorted,
 * so equal sets give equal text. `pending` names the peers (Services) still seen on that CA.
 */
export function encodeRetiredCas(retired: readonly RetiredCa[]): string {
  const entries = [...retired]
    .sort((a, b) => a.cert.fingerprint256.localeCompare(b.cert.fingerprint256))
    .map(({ cert, retiredAt, hold }) => ({ fingerprint256: cert.fingerprint256, retiredAt: new Date(retiredAt).toISOString(), pem: cert.toString(),
      ...(hold ? { pending: [...hold.pending].sort(), untilBound: hold.untilBound } : {}) }));
  return `${JSON.stringify({ version: FORMAT_VERSION, retired: entries }, null, 2)}\n`;
}

/** Reads {@link encodeRetiredCas}'s text; throws E_PARSE naming `description` when it is not that. */
export function decodeRetiredCas(text: string, description: string): RetiredCa[] {
  try {
    const parsed = JSON.parse(text) as { version?: unknown; retired?: Array<{ retiredAt?: unknown; pem?: unknown; pending?: unknown; untilBound?: unknown }> };
    if (parsed.version !== FORMAT_VERSION || !Array.isArray(parsed.retired)) throw new Error(`not version ${FORMAT_VERSION} with a retired list`);
    return parsed.retired.map((entry) => {
      const retiredAt = Date.parse(String(entry.retiredAt));
      if (typeof entry.pem !== 'string' || !Number.isFinite(retiredAt)) throw new Error('an entry lacks pem or retiredAt');
      const cert = new X509Certificate(entry.pem);
      if (!cert.ca) throw new Error(`${cert.fingerprint256} is not a CA certificate`);
      return { cert, retiredAt, hold: holdOf(entry.pending, entry.untilBound) };
    });
  } catch (error) {
    throw new ServingCertError('E_PARSE', `${description} does not hold serving-cert's trust state (${error instanceof Error ? error.message : String(error)}): ` +
      'it is ignored and rewritten at the next change; delete it if something else owns it', { cause: error, details: { source: description } });
  }
}

/** A remembered hold; one that is missing or malformed keeps the CA until its bound (never a release on doubt). */
function holdOf(pending: unknown, untilBound: unknown): RetiredCaHold {
  const keys: unknown[] = Array.isArray(pending) ? pending : [];
  const valid = Array.isArray(pending) && keys.length <= MAX_REMEMBERED_PENDING &&
    keys.every((key) => typeof key === 'string' && key.length > 0 && key.length <= 253);
  return valid ? { pending: keys as string[], untilBound: untilBound === true } : { pending: [], untilBound: true };
}

/**
 * Keeps a {@link TrustStore}'s retired CAs in a {@link TrustMemoryStore}: restores them once at
 * start, and writes them after each change (one write at a time, the last state wins, nothing
 * written when the text is the same). A failure is a warning, once per code: trust then lives
 * in memory only, as without a store.
 */
export class TrustMemory {
  readonly #store: TrustMemoryStore;
  readonly #logger: Logger;
  readonly #warned = new Set<string>();
  #saved: string = encodeRetiredCas([]);
  #wanted: string | undefined;
  #writing: Promise<void> | undefined;

  constructor(store: TrustMemoryStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Restores the remembered retired CAs into `trust` (those past their bound are dropped by it). Resolves with whether the trusted set changed. */
  async restore(trust: TrustStore, now: Date): Promise<boolean> {
    try {
      const text = await this.#store.load();
      if (text === undefined) return false;
      const retired = decodeRetiredCas(text, this.#store.description);
      this.#saved = text;
      const changed = trust.restore(retired, now);
      if (retired.length > 0) {
        this.#logger.info({ store: this.#store.description, cas: retired.map((ca) => ca.cert.fingerprint256),
          pendingPeers: retired.map((ca) => (ca.hold?.untilBound ? 'until bound' : ca.hold?.pending.length)) },
          `restored ${retired.length} retired CA(s) of a platform CA rollover from ${this.#store.description}`);
      }
      return changed;
    } catch (error) {
      this.#warn(error);
      return false;
    }
  }

  /** Remembers `retired` (the store's list after a change); settles once it is written or refused. */
  remember(retired: readonly RetiredCa[]): Promise<void> {
    this.#wanted = encodeRetiredCas(retired);
    this.#writing ??= (async () => {
      await Promise.resolve(); // the body runs after #writing is set, even when there is nothing to write
      try {
        while (this.#wanted !== undefined && this.#wanted !== this.#saved) {
          const text = this.#wanted;
          await this.#store.save(text);
          this.#saved = text;
        }
      } catch (error) {
        this.#warn(error);
      } finally {
        this.#writing = undefined;
      }
    })();
    return this.#writing;
  }

  /** Settles once the writes under way are done. */
  idle(): Promise<void> {
    return this.#writing ?? Promise.resolve();
  }

  #warn(error: unknown): void {
    const code = error instanceof ServingCertError ? error.code : 'E_IO';
    if (this.#warned.has(code)) return;
    this.#warned.add(code);
    this.#logger.warn({ store: this.#store.description, code },
      `cannot keep the trust state in ${this.#store.description}: ${error instanceof Error ? error.message : String(error)}. ` +
      'Retired CAs stay trusted in memory only: after a restart, peers still on a retired platform CA are refused until they are re-issued');
  }
}

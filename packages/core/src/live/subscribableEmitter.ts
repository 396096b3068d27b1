import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import { INTERNAL_PREPARE, INTERNAL_SUBSCRIBE, type CertificateState, type InternalPreparation, type InternalSubscriptions } from '../types.js';

/** How long a rotation waits for one preparer (e.g. a caBundle patch) before it goes on anyway. */
const PREPARE_BOUND_MS = 10_000;

type InternalEvent = 'rotate' | 'trust';

/**
 * The events of a live handle, in two tiers. serving-cert's own subscribers (dispatchers,
 * adapters) hear of a rotation or a trust change first, through {@link INTERNAL_SUBSCRIBE};
 * then each of the app's listeners, one by one: a listener that throws is logged and changes
 * nothing else (the swap is done, the other listeners still hear). Plain EventEmitter would stop
 * at the first throw and hand the exception to whoever emitted. `error` keeps EventEmitter's
 * semantics (the handle emits it only when someone listens).
 */
export class SubscribableEmitter extends EventEmitter implements InternalSubscriptions, InternalPreparation {
  readonly #logger: Logger;
  readonly #internal = new Map<InternalEvent, Set<() => void>>([['rotate', new Set()], ['trust', new Set()]]);
  readonly #preparers = new Set<(next: CertificateState) => Promise<void>>();

  constructor(logger: Logger) {
    super();
    this.#logger = logger;
  }

  [INTERNAL_SUBSCRIBE](event: InternalEvent, listener: () => void): () => void {
    const listeners = this.#internal.get(event);
    if (!listeners) throw new TypeError(`no internal event ${String(event)}`);
    const own = (): void => listener(); // a wrapper, so the same function may subscribe twice
    listeners.add(own);
    return () => listeners.delete(own);
  }

  [INTERNAL_PREPARE](prepare: (next: CertificateState) => Promise<void>): () => void {
    const own = (next: CertificateState): Promise<void> => prepare(next);
    this.#preparers.add(own);
    return () => this.#preparers.delete(own);
  }

  /** Awaits every preparer for `next`, each within its bound; a failure is logged, never thrown. Returns whether `signal` aborted meanwhile. */
  protected async prepared(next: CertificateState, signal: AbortSignal): Promise<boolean> {
    if (this.#preparers.size === 0) return signal.aborted; // the usual case: no await on a rotation
    await Promise.all([...this.#preparers].map(async (prepare) => {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PREPARE_BOUND_MS} ms`)), PREPARE_BOUND_MS);
      });
      try {
        await Promise.race([prepare(next), bound]);
      } catch (error) {
        this.#logger.error({ error: String(error), serial: next.info.serialNumber }, `preparing to serve serial ${next.info.serialNumber} failed; serving it anyway`);
      } finally {
        clearTimeout(timer);
      }
    }));
    return signal.aborted;
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const internal = this.#internal.get(event as InternalEvent);
    // 'error' without a listener keeps EventEmitter's throw; with listeners, each is isolated too
    // (the handle emits it from timers, where a throwing listener would end the process).
    if (!internal && !(event === 'error' && this.listenerCount('error') > 0)) return super.emit(event, ...args);
    for (const listener of [...(internal ?? [])]) this.#isolated(event, 'internal', () => listener());
    const listeners = this.rawListeners(event) as Array<(...values: unknown[]) => unknown>;
    for (const listener of listeners) this.#isolated(event, 'app', () => listener.apply(this, args));
    return listeners.length > 0;
  }

  /** Runs one listener; what it throws, or the promise it returns rejects with, is logged. */
  #isolated(event: string | symbol, tier: 'internal' | 'app', call: () => unknown): void {
    const report = (error: unknown): void => {
      const what = tier === 'app' ? `a '${String(event)}' listener of the app failed` : `serving-cert's own '${String(event)}' subscriber failed (a bug)`;
      this.#logger.error({ event: String(event), error: String(error), stack: (error as Error | undefined)?.stack },
        `${what}; the new material is in place and every other listener was told`);
    };
    try {
      const result = call();
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') (result as PromiseLike<unknown>).then(undefined, report);
    } catch (error) {
      report(error);
    }
  }
}

import { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LiveObserver } from './observer.js';
import type { Refusals } from './refusals.js';

/** How often a start retries while it waits, besides watch events. */
const START_RETRY_MS = 1_000;
/** How often a start says what it is waiting for. */
const PROGRESS_INTERVAL_MS = 10_000;
/** After this long, and as often again, a waiting start also says why, from what the environment shows. */
const DIAGNOSIS_INTERVAL_MS = 30_000;

/** What {@link StartWait} needs from the live certificate it starts. */
export interface StartWaitOptions {
  /** Reads and validates once; resolves true when a certificate is served. */
  attempt: () => Promise<boolean>;
  refusals: Refusals;
  /** What is waited for, for messages: the serving source's description. */
  description: string;
  timeoutMs: number;
  logger: Logger;
  /** Aborted by close() or the caller's signal. */
  stop: AbortSignal;
  /** The caller's own abort reason, for E_CLOSED. */
  callerSignal: AbortSignal | undefined;
  /** Says why a certificate is late, from what the environment shows. */
  diagnose?: (() => Promise<string | undefined>) | undefined;
  progressIntervalMs?: number | undefined;
  diagnosisIntervalMs?: number | undefined;
  /** Told of each progress line (Events: ServingCertWaiting). */
  observer?: LiveObserver | undefined;
}

/**
 * The wait for the first valid certificate: retries every second and on every watch event
 * ({@link wake}), logs what it waits for every 10 s with a diagnosis every 30 s, fails at once
 * on a refusal no wait can cure, and after `timeoutMs` rejects with E_TIMEOUT naming each reason.
 */
export class StartWait {
  readonly #options: StartWaitOptions;
  #wakeUp: (() => void) | undefined;

  constructor(options: StartWaitOptions) {
    this.#options = options;
  }

  /** A source said "maybe changed": retry now instead of at the next interval. */
  wake(): void {
    this.#wakeUp?.();
  }

  async run(): Promise<void> {
    const { attempt, refusals, stop, timeoutMs, logger } = this.#options;
    const progressMs = this.#options.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
    const diagnosisMs = this.#options.diagnosisIntervalMs ?? DIAGNOSIS_INTERVAL_MS;
    const started = Date.now();
    let lastProgress = started;
    let lastDiagnosis = started;
    for (;;) {
      if (await attempt()) return;
      if (refusals.fatal) throw refusals.fatal;
      if (stop.aborted) {
        throw new ServingCertError('E_CLOSED', `the start was aborted while waiting for ${this.#options.description}`,
          { cause: this.#options.callerSignal?.reason });
      }
      const waited = Date.now() - started;
      if (waited >= timeoutMs) throw await this.#timeoutError(waited);
      if (Date.now() - lastProgress >= progressMs) {
        lastProgress = Date.now();
        let diagnosis: string | undefined;
        if (Date.now() - lastDiagnosis >= diagnosisMs) {
          lastDiagnosis = Date.now();
          diagnosis = await this.#diagnosis();
        }
        logger.info({ source: this.#options.description, waitedSeconds: Math.round(waited / 1000), timeoutSeconds: Math.round(timeoutMs / 1000) },
          `waiting for a valid serving certificate: ${refusals.text()}${diagnosis ? `. ${diagnosis}` : ''}`);
        this.#options.observer?.waiting?.(refusals.text(), diagnosis);
      }
      await this.#sleep(Math.min(START_RETRY_MS, progressMs, timeoutMs - waited));
    }
  }

  /** Waits for a watch event, the abort or `ms`, whichever comes first. */
  #sleep(ms: number): Promise<void> {
    const { stop } = this.#options;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        stop.removeEventListener('abort', done);
        this.#wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#wakeUp = done;
      stop.addEventListener('abort', done, { once: true });
    });
  }

  async #diagnosis(): Promise<string | undefined> {
    try {
      return await this.#options.diagnose?.();
    } catch (error) {
      return `(the diagnosis itself failed: ${String(error)})`;
    }
  }

  async #timeoutError(waitedMs: number): Promise<ServingCertError> {
    const { refusals, description } = this.#options;
    const diagnosis = await this.#diagnosis();
    return new ServingCertError('E_TIMEOUT',
      `no valid serving certificate after ${Math.round(waitedMs / 1000)} s: ${refusals.text()}${diagnosis ? `. ${diagnosis}` : ''}`,
      { details: { source: description, reasons: Object.fromEntries(refusals.reasons), diagnosis } });
  }
}

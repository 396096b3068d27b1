import type { ServingCertError } from '../errors.js';

/** Refusals that waiting cannot cure: a start fails at once on them. */
const FATAL_AT_START = new Set(['E_FORBIDDEN', 'E_CONFIG', 'E_INTERNAL']);

/**
 * The bookkeeping of refused versions, per input ('serving', 'ca'): why each input has no good
 * material yet (the start's reasons), which refusal was last reported (so a re-read of the
 * same version is not reported again), and a refusal that ends a start at once.
 */
export class Refusals {
  readonly #pending = new Map<string, string>();
  readonly #lastReported = new Map<string, string>();
  #fatal: ServingCertError | undefined;

  /** An input has nothing to offer yet (not a refusal: nothing was offered). */
  waiting(input: string, reason: string): void {
    this.#pending.set(input, reason);
  }

  /** An input's material passed. */
  accepted(input: string): void {
    this.#pending.delete(input);
    this.#lastReported.delete(input);
  }

  /**
   * Records a refusal. Returns true when it should be reported: once there is a served
   * certificate, and not the same reason again for the same input.
   */
  refused(input: string, error: ServingCertError, started: boolean): boolean {
    this.#pending.set(input, error.message);
    if (!started) {
      // During the start, refusals are reasons to wait, not events; but no wait cures these.
      if (FATAL_AT_START.has(error.code)) this.#fatal ??= error;
      return false;
    }
    if (this.#lastReported.get(input) === error.message) return false;
    this.#lastReported.set(input, error.message);
    return true;
  }

  /** A refusal that no wait can cure, seen during the start. */
  get fatal(): ServingCertError | undefined {
    return this.#fatal;
  }

  /** What the start still waits for, one reason per input. */
  get reasons(): ReadonlyMap<string, string> {
    return this.#pending;
  }

  text(): string {
    return [...this.#pending.values()].join('; ') || 'nothing read yet';
  }
}

import type { ServingCertError } from '../errors.js';

/** Refusals that waiting cannot cure: a start fails at once on them. */
const FATAL_AT_START = new Set(['E_FORBIDDEN', 'E_CONFIG', 'E_INTERNAL']);
/** How many reported versions are remembered per input, so that none is reported twice. */
const REMEMBERED_REPORTS = 64;

/**
 * The bookkeeping of refused versions, per input ('serving', 'ca'): why each input has no good
 * material yet (the start's reasons, keyed by the input's source description), which refusals
 * were reported (one `error` event per distinct version and reason, never again for a re-read
 * of the same bytes), and a refusal that ends a start at once.
 */
export class Refusals {
  readonly #sources: ReadonlyMap<string, string>;
  readonly #pending = new Map<string, string>();
  /** Per input: keys `<content hash>:<code>` of reported versions, oldest first. */
  readonly #reportedVersions = new Map<string, Set<string>>();
  /** Per input: the message of the last reported refusal that had no bytes (absent, I/O). */
  readonly #reportedState = new Map<string, string>();
  #fatal: ServingCertError | undefined;

  /** `sources` maps each input to its source's description, which keys the start's reasons. */
  constructor(sources: ReadonlyMap<string, string>) {
    this.#sources = sources;
  }

  /** An input has nothing to offer yet (not a refusal: nothing was offered). */
  waiting(input: string, reason: string): void {
    this.#pending.set(input, reason);
  }

  /** An input's material passed. A later return of a byte-less failure is news again. */
  accepted(input: string): void {
    this.#pending.delete(input);
    this.#reportedState.delete(input);
  }

  /**
   * Records a refusal of `version` (a content hash; undefined when no bytes were read). Returns
   * true when it should be reported: once there is a served certificate, and never twice for
   * the same bytes and reason (or, without bytes, the same message in a row).
   */
  refused(input: string, error: ServingCertError, version: string | undefined, started: boolean): boolean {
    this.#pending.set(input, error.message);
    if (!started) {
      // During the start, refusals are reasons to wait, not events; but no wait cures these.
      if (FATAL_AT_START.has(error.code)) this.#fatal ??= error;
      return false;
    }
    if (version === undefined) {
      if (this.#reportedState.get(input) === error.message) return false;
      this.#reportedState.set(input, error.message);
      return true;
    }
    this.#reportedState.delete(input);
    let reported = this.#reportedVersions.get(input);
    if (!reported) this.#reportedVersions.set(input, (reported = new Set()));
    const key = `${version}:${error.code}`;
    if (reported.has(key)) return false;
    reported.add(key);
    if (reported.size > REMEMBERED_REPORTS) reported.delete(reported.values().next().value!);
    return true;
  }

  /** A refusal that no wait can cure, seen during the start. */
  get fatal(): ServingCertError | undefined {
    return this.#fatal;
  }

  /** What the start still waits for, one reason per input, keyed by the input's source description. */
  get reasons(): ReadonlyMap<string, string> {
    return new Map([...this.#pending].map(([input, reason]) => [this.#sources.get(input) ?? input, reason]));
  }

  text(): string {
    return [...this.#pending.values()].join('; ') || 'nothing read yet';
  }
}

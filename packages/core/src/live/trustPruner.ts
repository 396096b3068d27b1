import type { TrustStore } from './trustStore.js';

/** setTimeout holds at most 2^31-1 ms; a later deadline is simply re-armed then. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Drops CAs from a {@link TrustStore} when they expire or their grace period ends: one unref'd
 * timer for the next change, re-armed after each, silent once `stop` aborts.
 */
export class TrustPruner {
  readonly #trust: TrustStore;
  readonly #onChanged: () => void;
  readonly #stop: AbortSignal;
  #timer: NodeJS.Timeout | undefined;

  constructor(trust: TrustStore, onChanged: () => void, stop: AbortSignal) {
    this.#trust = trust;
    this.#onChanged = onChanged;
    this.#stop = stop;
  }

  /** Arms the timer for the next change of the store, replacing any earlier one. */
  schedule(): void {
    this.clear();
    const next = this.#trust.nextChange();
    if (!next || this.#stop.aborted) return;
    this.#timer = setTimeout(() => {
      if (this.#trust.prune(new Date())) this.#onChanged();
      else this.schedule();
    }, Math.min(Math.max(0, next.getTime() - Date.now()), MAX_DELAY_MS));
    this.#timer.unref();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

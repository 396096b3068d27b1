/**
 * Reads a refused input again once its refusal may have lapsed. Some refusals are cured by time
 * alone (a notBefore ahead of this clock, a CA not yet valid), but an input is read when its
 * source reports a change, and a Secret watched through the API changes only at its next
 * renewal: without this, a version refused for the clock would never be served, even after the
 * served certificate expired. One read per input and interval while it stays refused; the gate
 * re-validates the same bytes only once its own recheck time has come.
 */
export class RefusalRechecks {
  readonly #delayMs: number;
  readonly #timers = new Map<string, NodeJS.Timeout>();

  /** Stops every planned read when `signal` aborts (the handle closed). */
  constructor(delayMs: number, signal: AbortSignal) {
    this.#delayMs = delayMs;
    signal.addEventListener('abort', () => {
      for (const timer of this.#timers.values()) clearTimeout(timer);
      this.#timers.clear();
    }, { once: true });
  }

  /** Plans one read of `input` (`read` triggers its refresher), unless one is planned already. */
  schedule(input: string, read: () => void): void {
    if (this.#timers.has(input)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(input);
      read();
    }, this.#delayMs);
    timer.unref(); // never what keeps a process alive
    this.#timers.set(input, timer);
  }
}

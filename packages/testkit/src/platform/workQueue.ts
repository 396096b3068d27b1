/**
 * A keyed work queue, one item at a time, as controllers have: a key queued twice runs once,
 * a failed item is retried after a back-off, and `idle()` tells when nothing is left to do.
 */
export class WorkQueue {
  readonly #pending = new Map<string, () => Promise<void>>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  readonly #onError: (key: string, error: unknown) => void;
  #draining: Promise<void> | undefined;
  #stopped = false;

  constructor(onError: (key: string, error: unknown) => void) {
    this.#onError = onError;
  }

  add(key: string, work: () => Promise<void>): void {
    if (this.#stopped) return;
    this.#pending.set(key, work);
    this.#draining ??= this.#drain();
  }

  /** Resolves when no item is queued, running or waiting for a retry. */
  async idle(): Promise<void> {
    while (this.#draining || this.#retryTimers.size > 0) {
      if (this.#draining) await this.#draining;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.size > 0 && !this.#stopped) {
        const [key, work] = this.#pending.entries().next().value as [string, () => Promise<void>];
        this.#pending.delete(key);
        try {
          await work();
        } catch (error) {
          if (this.#stopped) return;
          this.#onError(key, error);
          const timer = setTimeout(() => {
            this.#retryTimers.delete(timer);
            if (!this.#pending.has(key)) this.add(key, work);
          }, 300);
          this.#retryTimers.add(timer);
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }
}

/**
 * Runs one refresh at a time. A trigger during a run schedules exactly one more run after it,
 * so a burst of events costs at most two reads and the last version written always wins. Each
 * run is told when the first trigger it answers came (`performance.now()`), for latency.
 */
export class Refresher {
  readonly #refresh: (triggeredAt: number) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #running: Promise<void> | undefined;
  #again = false;
  #firstTrigger: number | undefined;

  constructor(refresh: (triggeredAt: number) => Promise<void>, onError: (error: unknown) => void) {
    this.#refresh = refresh;
    this.#onError = onError;
  }

  /** Asks for a refresh; never throws, never waits. */
  readonly trigger = (): void => {
    this.#firstTrigger ??= performance.now();
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop();
  };

  /** Resolves when no refresh is running or queued. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        const triggeredAt = this.#firstTrigger ?? performance.now();
        this.#firstTrigger = undefined;
        try {
          await this.#refresh(triggeredAt);
        } catch (error) {
          this.#onError(error);
        }
      } while (this.#again);
    } finally {
      this.#running = undefined;
    }
  }
}

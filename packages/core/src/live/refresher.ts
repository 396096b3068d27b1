/**
 * Runs one refresh at a time. A trigger during a run schedules exactly one more run after it,
 * so a burst of events costs at most two reads and the last version written always wins.
 */
export class Refresher {
  readonly #refresh: () => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(refresh: () => Promise<void>, onError: (error: unknown) => void) {
    this.#refresh = refresh;
    this.#onError = onError;
  }

  /** Asks for a refresh; never throws, never waits. */
  readonly trigger = (): void => {
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
        try {
          await this.#refresh();
        } catch (error) {
          this.#onError(error);
        }
      } while (this.#again);
    } finally {
      this.#running = undefined;
    }
  }
}

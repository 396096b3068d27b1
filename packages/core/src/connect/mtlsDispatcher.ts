import { Agent, fetch as undiciFetch, type RequestInfo, type RequestInit, type Response } from 'undici';

/**
 * The undici Agent {@link createMtlsDispatcher} returns: it stops following the certificate
 * once closed or destroyed, and has a typed `fetch`.
 */
export class MtlsDispatcher extends Agent {
  readonly #detach: () => void;

  constructor(options: Agent.Options, detach: () => void) {
    super(options);
    this.#detach = detach;
  }

  /**
   * undici's `fetch` through this dispatcher. Node's global `fetch(url, { dispatcher })` works
   * at run time too, but does not type-check with `@types/node` (its RequestInit has no
   * `dispatcher` of undici 7's type): this does.
   */
  fetch(input: RequestInfo, init: Omit<RequestInit, 'dispatcher'> = {}): Promise<Response> {
    return undiciFetch(input, { ...init, dispatcher: this });
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#detach();
    return callback ? super.close(callback) : super.close();
  }

  override destroy(error?: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(errorOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    this.#detach();
    if (typeof errorOrCallback === 'function') return super.destroy(errorOrCallback);
    if (callback) return super.destroy(errorOrCallback ?? null, callback);
    return super.destroy(errorOrCallback ?? null);
  }
}

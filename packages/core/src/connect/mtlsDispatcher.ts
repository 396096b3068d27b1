import type * as Undici from 'undici';
import type { Agent, RequestInfo, RequestInit, Response } from 'undici';
import { loadUndici } from './loadUndici.js';

/**
 * The undici Agent {@link createMtlsDispatcher} returns: it stops following the certificate
 * once closed or destroyed, and has a typed `fetch`.
 */
export interface MtlsDispatcher extends Agent {
  /**
   * undici's `fetch` through this dispatcher. Node's global `fetch(url, { dispatcher })` works
   * at run time too, but does not type-check with `@types/node` (its RequestInit has no
   * `dispatcher` of undici 7's type): this does.
   */
  fetch(input: RequestInfo, init?: Omit<RequestInit, 'dispatcher'>): Promise<Response>;
}

type MtlsDispatcherClass = new (options: Agent.Options, detach: () => void) => MtlsDispatcher;
let mtlsDispatcherClass: MtlsDispatcherClass | undefined;

/** A new {@link MtlsDispatcher}; its class is defined when the first one is made, as undici loads then. */
export function newMtlsDispatcher(options: Agent.Options, detach: () => void): MtlsDispatcher {
  mtlsDispatcherClass ??= defineMtlsDispatcher(loadUndici());
  return new mtlsDispatcherClass(options, detach);
}

function defineMtlsDispatcher({ Agent, fetch: undiciFetch }: typeof Undici): MtlsDispatcherClass {
  return class MtlsDispatcher extends Agent {
    readonly #detach: () => void;

    constructor(options: Agent.Options, detach: () => void) {
      super(options);
      this.#detach = detach;
    }

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
  };
}

import type * as Undici from 'undici';
import type { Agent, Dispatcher, RequestInfo, RequestInit, Response } from 'undici';
import { loadUndici } from './loadUndici.js';
import { RETIRE_DEADLINE_MS, retirableAgent, retireAgent, type RetirableAgent } from './retireAgent.js';

/**
 * The undici Dispatcher {@link createMtlsDispatcher} returns: its requests go to a pool built
 * from the certificate's current material; after every rotation and trust change, to a new
 * one, while the previous pool's connections finish their requests and close. It stops
 * following the certificate once closed or destroyed, and has a typed `fetch`.
 */
export interface MtlsDispatcher extends Dispatcher {
  /** `true` once `close()` was called. */
  readonly closed: boolean;
  /** `true` once `destroy()` was called, or `close()` completed. */
  readonly destroyed: boolean;
  /** undici's stats of the current pool, by origin (connections being retired are not counted). */
  readonly stats: Agent['stats'];
  /**
   * undici's `fetch` through this dispatcher. Node's global `fetch(url, { dispatcher })` works
   * at run time too, but does not type-check with `@types/node` (its RequestInit has no
   * `dispatcher` of undici 7's type): this does.
   */
  fetch(input: RequestInfo, init?: Omit<RequestInit, 'dispatcher'>): Promise<Response>;
}

/** What the dispatcher's owner needs: the dispatcher, and the way to move it onto new material. */
export interface RenewableDispatcher {
  readonly dispatcher: MtlsDispatcher;
  /** New requests go to a new pool; the previous one is retired. Nothing once closed. */
  readonly renew: () => void;
}

type MtlsDispatcherClass = new (agentOptions: Agent.Options, detach: () => void, retireDeadlineMs: number) => MtlsDispatcher & { renew(): void };
let mtlsDispatcherClass: MtlsDispatcherClass | undefined;

/**
 * A new {@link MtlsDispatcher} whose pools are Agents with `agentOptions` (whose `connect`
 * uses the newest material); `detach` stops following the certificate. Its class is defined
 * when the first one is made, as undici loads then.
 */
export function newMtlsDispatcher(agentOptions: Agent.Options, detach: () => void, retireDeadlineMs = RETIRE_DEADLINE_MS): RenewableDispatcher {
  mtlsDispatcherClass ??= defineMtlsDispatcher(loadUndici());
  const dispatcher = new mtlsDispatcherClass(agentOptions, detach, retireDeadlineMs);
  return { dispatcher, renew: () => dispatcher.renew() };
}

const FORWARDED_EVENTS = ['connect', 'disconnect', 'connectionError', 'drain'] as const;
type Callback = (error: Error | null, data: null) => void;

function defineMtlsDispatcher({ Dispatcher: DispatcherClass, fetch: undiciFetch }: typeof Undici): MtlsDispatcherClass {
  return class MtlsDispatcher extends DispatcherClass {
    readonly #agentOptions: Agent.Options;
    readonly #detach: () => void;
    readonly #retireDeadlineMs: number;
    #current: RetirableAgent;
    /** Pools replaced by a newer one, until their last connection is gone. */
    readonly #retiring = new Map<RetirableAgent, Promise<void>>();
    #closed = false;
    #destroyed = false;

    constructor(agentOptions: Agent.Options, detach: () => void, retireDeadlineMs: number) {
      super();
      this.#agentOptions = agentOptions;
      this.#detach = detach;
      this.#retireDeadlineMs = retireDeadlineMs;
      this.#current = this.#newAgent();
    }

    get closed(): boolean {
      return this.#closed;
    }

    get destroyed(): boolean {
      return this.#destroyed;
    }

    get stats(): Agent['stats'] {
      return this.#current.agent.stats;
    }

    /** A new pool, whose events are this dispatcher's (with it first among the targets, as an Agent does). */
    #newAgent(): RetirableAgent {
      const retirable = retirableAgent(this.#agentOptions);
      for (const event of FORWARDED_EVENTS) {
        (retirable.agent as NodeJS.EventEmitter).on(event, (origin: unknown, targets: Dispatcher[], ...rest: unknown[]) => {
          (this as NodeJS.EventEmitter).emit(event, origin, [this, ...targets], ...rest);
        });
      }
      return retirable;
    }

    renew(): void {
      if (this.#closed || this.#destroyed) return;
      const previous = this.#current;
      this.#current = this.#newAgent();
      // A request that got `false` from the previous pool waits for its 'drain', still forwarded.
      this.#retiring.set(previous, retireAgent(previous, this.#retireDeadlineMs).then(() => {
        this.#retiring.delete(previous);
      }));
    }

    // Once closed (or destroyed), the current pool is too, and refuses the request as an Agent does.
    override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      return this.#current.agent.dispatch(options, handler);
    }

    fetch(input: RequestInfo, init: Omit<RequestInit, 'dispatcher'> = {}): Promise<Response> {
      return undiciFetch(input, { ...init, dispatcher: this });
    }

    override close(): Promise<void>;
    override close(callback: () => void): void;
    override close(callback?: () => void): Promise<void> | void {
      this.#detach();
      this.#closed = true;
      const closed = Promise.all([this.#current.agent.close(), ...this.#retiring.values()]).then(() => {
        this.#destroyed = true;
      });
      return settle(closed, callback);
    }

    override destroy(error?: Error | null): Promise<void>;
    override destroy(callback: () => void): void;
    override destroy(error: Error | null, callback: () => void): void;
    override destroy(errorOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
      this.#detach();
      this.#destroyed = true;
      const error = typeof errorOrCallback === 'function' ? null : errorOrCallback ?? null;
      const done = (typeof errorOrCallback === 'function' ? errorOrCallback : callback) as Callback | undefined;
      const agents = [this.#current, ...this.#retiring.keys()];
      return settle(Promise.all(agents.map((agent) => agent.destroy(error))).then(() => undefined), done);
    }
  };
}

/** undici's two forms: a promise, or a callback given `(error, null)`. */
function settle(result: Promise<void>, callback: Callback | undefined): Promise<void> | void {
  if (!callback) return result;
  result.then(() => callback(null, null), (error: Error) => callback(error, null));
}

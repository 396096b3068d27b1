import type { Agent, Dispatcher } from 'undici';
import { loadUndici } from './loadUndici.js';

/**
 * How long a retired pool may take to finish its requests in flight before its sockets are
 * destroyed: a rotation or a trust change must reach every connection in a bounded time, and a
 * hung request must not keep connections made with the old material (or verified under the
 * old trust) open forever. Long enough for any ordinary request or download: what is cut is a
 * stream still open after it (an event stream, a watch), which must reconnect as after any
 * connection loss. The old material was valid: there is no hurry that is worth a request.
 */
export const RETIRE_DEADLINE_MS = 5 * 60_000;

/** An undici Agent whose per-origin pools are known, so that it can be destroyed even once closing. */
export interface RetirableAgent {
  readonly agent: Agent;
  /**
   * Destroys the agent and every pool it made. undici's Agent forgets its pools as soon as
   * `close()` begins, after which its own `destroy()` reaches none of them.
   */
  destroy(error?: Error | null): Promise<void>;
}

/** A new {@link RetirableAgent} with `options` (its `factory`, if any, still makes the pools). */
export function retirableAgent(options: Agent.Options): RetirableAgent {
  const { Agent, Client, Pool } = loadUndici();
  const pools = new Set<Dispatcher>();
  const makePool = (origin: string | URL, poolOptions: object): Dispatcher => {
    if (options.factory) return options.factory(origin, poolOptions);
    return (poolOptions as { connections?: number }).connections === 1 ? new Client(origin, poolOptions) : new Pool(origin, poolOptions); // undici's default
  };
  const agent = new Agent({
    ...options,
    factory: (origin, poolOptions) => {
      // The agent drops a pool whose connections all closed and makes a new one on the next request.
      for (const pool of pools) if ((pool as Partial<Agent>).destroyed) pools.delete(pool);
      const pool = makePool(origin, poolOptions);
      pools.add(pool);
      return pool;
    },
  });
  return {
    agent,
    destroy: async (error = null) => {
      await Promise.all([agent.destroy(error), ...[...pools].map((pool) => pool.destroy(error))]);
    },
  };
}

/**
 * Retires a pool replaced by one with newer material: no new request reaches it (its owner
 * dispatches elsewhere), its requests in flight finish, then its sockets close; whatever is
 * still open after `deadlineMs` is destroyed. Resolves once it is gone; never rejects.
 */
export function retireAgent(retired: RetirableAgent, deadlineMs = RETIRE_DEADLINE_MS): Promise<void> {
  return new Promise((resolve) => {
    const gone = (): void => {
      clearTimeout(deadline);
      resolve();
    };
    // unref'd: a deadline alone must not keep the process alive (open sockets still do).
    const deadline = setTimeout(() => void retired.destroy().then(gone, gone), deadlineMs).unref();
    retired.agent.close().then(gone, gone);
  });
}

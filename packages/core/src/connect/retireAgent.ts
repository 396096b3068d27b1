import type { Dispatcher } from 'undici';

/**
 * How long a retired pool may take to finish its requests in flight before its sockets are
 * destroyed: a rotation or a trust change must reach every connection in a bounded time, and a
 * hung request must not keep connections made with the old material (or verified under the
 * old trust) open forever.
 */
export const RETIRE_DEADLINE_MS = 30_000;

/**
 * Retires a pool replaced by one with newer material: no new request reaches it (its owner
 * dispatches elsewhere), its requests in flight finish, then its sockets close; whatever is
 * still open after `deadlineMs` is destroyed. Resolves once it is gone; never rejects.
 */
export function retireAgent(agent: Dispatcher, deadlineMs = RETIRE_DEADLINE_MS): Promise<void> {
  return new Promise((resolve) => {
    const gone = (): void => {
      clearTimeout(deadline);
      resolve();
    };
    // unref'd: a deadline alone must not keep the process alive (open sockets still do).
    const deadline = setTimeout(() => void agent.destroy().then(gone, gone), deadlineMs).unref();
    agent.close().then(gone, gone);
  });
}

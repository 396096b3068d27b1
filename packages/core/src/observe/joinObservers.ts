import type { LiveObserver } from '../live/observer.js';

/**
 * One observer that tells each of `observers` in turn. One that throws is logged through
 * `onError` and the others still hear: instrumentation never breaks serving.
 */
export function joinObservers(observers: ReadonlyArray<LiveObserver | undefined>, onError: (error: unknown) => void): LiveObserver | undefined {
  const list = observers.filter((observer): observer is LiveObserver => observer !== undefined);
  if (list.length === 0) return undefined;
  const each = <K extends keyof LiveObserver>(key: K) => (...args: Parameters<Required<LiveObserver>[K]>): void => {
    for (const observer of list) {
      try {
        (observer[key] as ((...a: typeof args) => void) | undefined)?.(...args);
      } catch (error) {
        onError(error);
      }
    }
  };
  return { served: each('served'), refused: each('refused'), trustChanged: each('trustChanged'), waiting: each('waiting'), closed: each('closed') };
}

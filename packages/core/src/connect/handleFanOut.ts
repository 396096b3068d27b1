import { followCertificate, type ServingCert } from '../types.js';

interface FanOut {
  readonly listeners: Set<() => void>;
  readonly stop: Array<() => void>;
}

/** One fan-out per handle: the handle sees one 'rotate' and one 'trust' listener, however many dispatchers follow it. */
const fanOuts = new WeakMap<ServingCert, FanOut>();

/**
 * Calls `listener` after every rotation and trust change of `cert`, through one subscription
 * per handle shared by all its dispatchers, so that a service with 1,000 peers adds two
 * listeners to the handle, not 2,000 (and no MaxListenersExceededWarning). The subscription
 * ends with the last listener. Returns the function that removes `listener`.
 *
 * The one place connect/ subscribes to the handle: a different delivery (e.g. internal
 * subscribers told before the application's listeners) changes this module only.
 */
export function followMaterialChanges(cert: ServingCert, listener: () => void): () => void {
  let fanOut = fanOuts.get(cert);
  if (!fanOut) {
    const listeners = new Set<() => void>();
    const notify = (): void => {
      // Every listener hears of the change even if one throws; the first failure then goes
      // back to the handle, which logs it as an unexpected error.
      let failure: Error | undefined;
      for (const each of [...listeners]) {
        try {
          each();
        } catch (error) {
          failure ??= error instanceof Error ? error : new Error(String(error));
        }
      }
      if (failure) throw failure;
    };
    // Internal subscriptions: told before, and apart from, the app's own listeners, so that a
    // throwing app listener cannot leave dispatchers on the old certificate.
    fanOut = { listeners, stop: [followCertificate(cert, 'rotate', notify), followCertificate(cert, 'trust', notify)] };
    fanOuts.set(cert, fanOut);
  }
  const own = fanOut;
  own.listeners.add(listener);
  return () => {
    if (!own.listeners.delete(listener) || own.listeners.size > 0) return;
    for (const stop of own.stop) stop();
    if (fanOuts.get(cert) === own) fanOuts.delete(cert);
  };
}

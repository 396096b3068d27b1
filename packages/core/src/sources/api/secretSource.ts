import type { MaterialSource } from '../source.js';
import type { SecretWatcher } from './secretWatcher.js';

/**
 * A Secret read and kept live through the Kubernetes API (the `api` source): no mount needed,
 * and rotations arrive in milliseconds instead of kubelet's minute. `release` ends this source's
 * use of the watcher when its watch ends: by default it stops the watcher.
 */
export function secretSource(watcher: SecretWatcher, keys: readonly string[], requiredKeys: readonly string[], release: () => Promise<void> = () => watcher.stop()): MaterialSource {
  return {
    description: watcher.description,
    async read() {
      const state = await watcher.current();
      if (!state.exists) return { present: false, reason: `${watcher.description} does not exist yet` };
      const data = state.secret.data ?? {};
      const files: Record<string, Buffer | undefined> = {};
      for (const key of keys) files[key] = data[key] === undefined ? undefined : Buffer.from(data[key], 'base64');
      if (requiredKeys.every((key) => files[key] === undefined)) {
        return { present: false, reason: `${watcher.description} has no ${requiredKeys.join(' or ')} yet` };
      }
      return { present: true, files };
    },
    async watch(onMaybeChanged, signal) {
      const off = watcher.onChange(onMaybeChanged);
      watcher.start();
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      off();
      await release(); // stops the watcher, or lets go of this handle's share of it
    },
  };
}

// One watcher per Secret per process, however many handles read it: handles started with the
// same KubeConfig object that read the same Secret (the namespace's service-root-ca, above all)
// share one list and one watch on the API server, the way kubelet shares a Secret's watch
// among the pods of its node. The watcher stops when the last handle lets go.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ClusterAccess } from '../../kube/clusterAccess.js';
import type { Logger } from '../../logger.js';
import { SecretWatcher } from './secretWatcher.js';

type ReconnectReason = 'expired' | 'relist' | 'failed';

/** What {@link acquireSecretWatcher} needs: the watcher's own options. */
export interface SharedWatcherOptions {
  access: ClusterAccess;
  namespace: string;
  name: string;
  watchTimeoutSeconds: number;
  logger: Logger;
  onReconnect?: ((reason: ReconnectReason) => void) | undefined;
}

/** A handle's share of a watcher: release it once, when the handle stops reading. */
export interface WatcherLease {
  readonly watcher: SecretWatcher;
  release(): Promise<void>;
}

interface Entry {
  watcher: SecretWatcher;
  users: number;
  reconnectListeners: Set<(reason: ReconnectReason) => void>;
}

/**
 * Keyed by the KubeConfig object itself, never by what it says: only handles given the very same
 * configuration (so the same identity and RBAC) share; an in-cluster handle builds its own
 * configuration and so keeps its own watchers.
 */
const watchers = new WeakMap<KubeConfig, Map<string, Entry>>();

/** The shared watcher of a Secret for this KubeConfig, created on first use; counted until released. */
export function acquireSecretWatcher(options: SharedWatcherOptions): WatcherLease {
  const { access, namespace, name, watchTimeoutSeconds, logger, onReconnect } = options;
  const config = access.kubeConfig;
  let byKey = watchers.get(config);
  if (!byKey) watchers.set(config, (byKey = new Map<string, Entry>()));
  const key = `${namespace}/${name}/${watchTimeoutSeconds}`;
  let entry = byKey.get(key);
  if (!entry) {
    const reconnectListeners = new Set<(reason: ReconnectReason) => void>();
    const watcher = new SecretWatcher({
      access, namespace, name, logger, watchTimeoutSeconds,
      onReconnect: (reason) => reconnectListeners.forEach((listener) => listener(reason)),
    });
    entry = { watcher, users: 0, reconnectListeners };
    byKey.set(key, entry);
  }
  const shared = entry;
  shared.users += 1;
  // Each handle hears of reconnects for its own metrics, as if the watcher were its alone.
  const listener = onReconnect ? (reason: ReconnectReason) => onReconnect(reason) : undefined;
  if (listener) shared.reconnectListeners.add(listener);
  let released = false;
  return {
    watcher: shared.watcher,
    async release() {
      if (released) return;
      released = true;
      if (listener) shared.reconnectListeners.delete(listener);
      shared.users -= 1;
      if (shared.users > 0) return;
      // The last user: a later handle starts a fresh watcher (a stopped one cannot restart).
      if (byKey.get(key) === shared) byKey.delete(key);
      await shared.watcher.stop();
    },
  };
}

/** How many handles share the watcher of a Secret for this KubeConfig (0 when none): for tests. */
export function sharedWatcherUsers(config: KubeConfig, namespace: string, name: string, watchTimeoutSeconds: number): number {
  return watchers.get(config)?.get(`${namespace}/${name}/${watchTimeoutSeconds}`)?.users ?? 0;
}

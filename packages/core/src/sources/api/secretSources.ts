import type { ClusterAccess } from '../../kube/clusterAccess.js';
import type { Logger } from '../../logger.js';
import { CA_KEYS, SERVING_KEYS } from '../../options/platformNames.js';
import type { MaterialSources } from '../source.js';
import { secretSource } from './secretSource.js';
import type { SecretWatcher } from './secretWatcher.js';
import { acquireSecretWatcher } from './sharedSecretWatchers.js';

/** What {@link secretSources} watches. */
export interface SecretSourcesOptions {
  access: ClusterAccess;
  namespace: string;
  secretName: string;
  caSecretName: string;
  watchTimeoutSeconds: number;
  logger: Logger;
  onReconnect?: ((reason: string) => void) | undefined;
}

/**
 * The `api` source: the serving Secret and service-root-ca through the API, one watcher each,
 * shared with the other handles of this process started with the same KubeConfig object (see
 * sharedSecretWatchers.ts). `caWatcher` also answers the diagnosis ("is there a
 * service-root-ca at all?").
 */
export function secretSources(options: SecretSourcesOptions): MaterialSources & { caWatcher: SecretWatcher } {
  const { access, namespace, logger, watchTimeoutSeconds, onReconnect } = options;
  const lease = (name: string) => acquireSecretWatcher({ access, namespace, name, logger, watchTimeoutSeconds, onReconnect });
  const serving = lease(options.secretName);
  const ca = lease(options.caSecretName);
  return {
    serving: secretSource(serving.watcher, SERVING_KEYS.keys, SERVING_KEYS.required, () => serving.release()),
    ca: secretSource(ca.watcher, CA_KEYS.keys, CA_KEYS.required, () => ca.release()),
    caWatcher: ca.watcher,
    release: async () => {
      await Promise.all([serving.release(), ca.release()]);
    },
  };
}

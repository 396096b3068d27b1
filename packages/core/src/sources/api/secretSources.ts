import type { ClusterAccess } from '../../kube/clusterAccess.js';
import type { Logger } from '../../logger.js';
import { CA_KEYS, SERVING_KEYS } from '../../options/platformNames.js';
import type { MaterialSources } from '../source.js';
import { secretSource } from './secretSource.js';
import { SecretWatcher } from './secretWatcher.js';

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
 * The `api` source: the serving Secret and service-root-ca through the API, one watcher each.
 * `caWatcher` also answers the diagnosis ("is there a service-root-ca at all?").
 */
export function secretSources(options: SecretSourcesOptions): MaterialSources & { caWatcher: SecretWatcher } {
  const { access, namespace, logger, watchTimeoutSeconds, onReconnect } = options;
  const watch = (name: string): SecretWatcher => new SecretWatcher({ access, namespace, name, logger, watchTimeoutSeconds, onReconnect });
  const caWatcher = watch(options.caSecretName);
  return {
    serving: secretSource(watch(options.secretName), SERVING_KEYS.keys, SERVING_KEYS.required),
    ca: secretSource(caWatcher, CA_KEYS.keys, CA_KEYS.required),
    caWatcher,
  };
}

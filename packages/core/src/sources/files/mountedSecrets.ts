import type { Logger } from '../../logger.js';
import { CA_KEYS, SERVING_KEYS } from '../../options/platformNames.js';
import { DEFAULT_MAX_BYTES } from '../../options/limits.js';
import type { MaterialSource, MaterialSources } from '../source.js';
import { filesSource } from './filesSource.js';

/** How the mounted Secrets are read. */
export interface MountedSecretsOptions {
  /** How often to re-read in case an event was lost. */
  pollIntervalMs: number;
  logger: Logger;
}

/** The serving Secret mounted at `certDir` (tls.crt, tls.key, ca.crt) and service-root-ca at `caDir` (ca.crt). */
export function mountedSecrets(certDir: string, caDir: string | undefined, options: MountedSecretsOptions): MaterialSources {
  return {
    serving: mountedServingSecret(certDir, options),
    ca: caDir === undefined ? undefined : filesSource({ dir: caDir, keys: CA_KEYS.keys, requiredKeys: CA_KEYS.required, maxBytes: DEFAULT_MAX_BYTES, ...options }),
  };
}

/** The serving Secret mounted at `dir`. */
export function mountedServingSecret(dir: string, options: MountedSecretsOptions): MaterialSource {
  return filesSource({ dir, keys: SERVING_KEYS.keys, requiredKeys: SERVING_KEYS.required, maxBytes: DEFAULT_MAX_BYTES, ...options });
}

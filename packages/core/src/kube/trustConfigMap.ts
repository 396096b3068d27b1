import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ServingCertError } from '../errors.js';
import { PLATFORM } from '../options/platformNames.js';
import { apiError, statusOf } from './apiErrors.js';
import type { ClusterAccess } from './clusterAccess.js';
import { apiClient } from './apiClient.js';

/** The key of the companion ConfigMap that holds the trust state. */
export const TRUST_STATE_KEY = 'trust.json';

/** The companion ConfigMap of a serving Secret: `<secret>-serving-cert-trust`, in its namespace. */
export function trustConfigMapNameOf(secretName: string): string {
  return `${secretName}-serving-cert-trust`;
}

/**
 * The api source's trust memory: a ConfigMap of serving-cert's own beside the serving Secret,
 * written by server-side apply (field manager serving-cert) only when the set of retired CAs
 * changes. It holds CA certificates, which are public: a ConfigMap, not a Secret. Neither the
 * platform's Secrets nor cert-manager's objects are written. Every replica of the service
 * writes the same content. Needs get and patch (and create, for the first write) on that one
 * ConfigMap by resourceNames: deploy/app-rbac.yaml.
 */
export function trustConfigMap(access: ClusterAccess, namespace: string, secretName: string): { description: string; load(): Promise<string | undefined>; save(text: string): Promise<void> } {
  const name = trustConfigMapNameOf(secretName);
  const description = `ConfigMap ${namespace}/${name}`;
  const op = { resource: 'configmaps', namespace, name } as const;
  return {
    description,
    async load() {
      try {
        const map = await apiClient(access.kubeConfig, CoreV1Api).readNamespacedConfigMap({ namespace, name });
        return map.data?.[TRUST_STATE_KEY];
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw apiError(error, { ...op, verb: 'get' });
      }
    },
    async save(text) {
      try {
        await apiClient(access.kubeConfig, CoreV1Api).patchNamespacedConfigMap({
          namespace, name, fieldManager: PLATFORM.fieldManager, force: true,
          body: {
            apiVersion: 'v1', kind: 'ConfigMap',
            metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'serving-cert' },
              annotations: { 'serving-cert.dev/purpose': `retired platform CAs still trusted by the users of Secret ${secretName} (CA certificates and peer Service names only)` } },
            data: { [TRUST_STATE_KEY]: text },
          },
        }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
      } catch (error) {
        const failure = apiError(error, { ...op, verb: 'patch' });
        if (failure.code !== 'E_FORBIDDEN') throw failure;
        throw new ServingCertError('E_FORBIDDEN', `${failure.message}; the first write also needs create on it (the serving-cert Role of deploy/app-rbac.yaml grants get, patch and create on ${name})`,
          { cause: error, details: failure.details });
      }
    },
  };
}

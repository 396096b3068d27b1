import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import { defaultSecretNameOf, PLATFORM } from '../options/platformNames.js';
import { apiError, statusOf } from './apiErrors.js';
import type { ClusterAccess } from './clusterAccess.js';
import { apiClient } from './apiClient.js';

const SERVING_CERT_ANNOTATION = PLATFORM.annotation;

const MAX_CONFLICT_RETRIES = 5;

/**
 * Makes sure the Service carries the serving-cert annotation and returns the Secret name it
 * names. An annotation already there wins; an explicit, different `secretName` is a conflict,
 * never an overwrite. Otherwise only that annotation is set, by a merge patch that carries the
 * resourceVersion it read (a concurrent change answers 409, and the read is done again), so
 * every other field and annotation stays as it was.
 */
export async function ensureServiceAnnotation(
  access: ClusterAccess,
  target: { namespace: string; serviceName: string; secretName: string | undefined },
  logger: Logger,
): Promise<string> {
  const { namespace, serviceName } = target;
  for (let attempt = 0; ; attempt += 1) {
    const core = apiClient(access.kubeConfig, CoreV1Api);
    let service;
    try {
      service = await core.readNamespacedService({ namespace, name: serviceName });
    } catch (error) {
      const failure = apiError(error, { verb: 'get', resource: 'services', namespace, name: serviceName });
      if (failure.code === 'E_NOT_FOUND') {
        throw new ServingCertError('E_NOT_FOUND',
          `Service ${serviceName} does not exist in namespace ${namespace}: create it first, or pass the serviceName and ` +
          'namespace of the Service that fronts this process (SERVING_CERT_SERVICE, POD_NAMESPACE)',
          { cause: error, details: failure.details });
      }
      throw failure;
    }
    const existing = service.metadata?.annotations?.[SERVING_CERT_ANNOTATION];
    if (existing) {
      if (target.secretName && target.secretName !== existing) {
        throw new ServingCertError('E_CONFLICT',
          `Service ${namespace}/${serviceName} already asks for Secret "${existing}" (annotation ${SERVING_CERT_ANNOTATION}), ` +
          `but the secretName option says "${target.secretName}". serving-cert does not overwrite it: drop the option, ` +
          'or change the annotation yourself', { details: { namespace, serviceName, annotated: existing, requested: target.secretName } });
      }
      return existing;
    }
    const secretName = target.secretName ?? defaultSecretNameOf(serviceName);
    try {
      await core.patchNamespacedService(
        {
          namespace,
          name: serviceName,
          fieldManager: PLATFORM.fieldManager,
          body: { metadata: { resourceVersion: service.metadata?.resourceVersion, annotations: { [SERVING_CERT_ANNOTATION]: secretName } } },
        },
        // client-node 1.x sends JSON-patch unless told otherwise; this body is a merge patch.
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      logger.info({ namespace, service: serviceName, secretName }, `annotated Service ${namespace}/${serviceName} with ${SERVING_CERT_ANNOTATION}=${secretName}`);
      return secretName;
    } catch (error) {
      if (statusOf(error) === 409 && attempt < MAX_CONFLICT_RETRIES) continue;
      throw apiError(error, { verb: 'patch', resource: 'services', namespace, name: serviceName });
    }
  }
}

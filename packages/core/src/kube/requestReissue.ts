import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ServingCertError } from '../errors.js';
import { certificateNameOf, PLATFORM } from '../options/platformNames.js';
import { apiError, statusOf } from './apiErrors.js';
import type { ClusterAccess } from './clusterAccess.js';
import type { Condition } from './conditions.js';
import { apiClient } from './apiClient.js';

const CERTIFICATES = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const;
const MAX_CONFLICT_RETRIES = 5;

/** The annotation cert-manager puts on every Secret it writes: the Certificate that owns it. */
export const CERTIFICATE_NAME_ANNOTATION = 'cert-manager.io/certificate-name';

/** The optional rule that lets a service ask for its own re-issue (deploy/app-rbac.yaml, Role serving-cert-renew). */
export function renewRuleOf(certificateName: string): string {
  return `{ apiGroups: ["cert-manager.io"], resources: ["certificates/status"], resourceNames: ["${certificateName}"], verbs: ["get", "patch"] }`;
}

interface Certificate {
  metadata?: { resourceVersion?: string; generation?: number };
  spec?: { secretName?: string };
  status?: { conditions?: Condition[] };
}

/** What {@link requestReissue} did. */
export interface ReissueRequest {
  certificate: string;
  /** false when cert-manager was already issuing (the condition was there: nothing written). */
  requested: boolean;
}

/**
 * Asks cert-manager to re-issue the Certificate that writes `secretName`, as `cmctl renew` does:
 * its status gets the condition Issuing=True, reason ManuallyTriggered; cert-manager's trigger
 * controller then issues a new leaf from the issuer's current CA and removes the condition.
 * The Certificate is the one the Secret's cert-manager.io/certificate-name annotation names
 * (else `<service>-cert`, as the platform policy names it), and must have
 * spec.secretName = `secretName`. Needs get and patch on that one certificates/status.
 */
export async function requestReissue(access: ClusterAccess, target: { namespace: string; secretName: string; serviceName: string | undefined }): Promise<ReissueRequest> {
  const { namespace, secretName } = target;
  const name = await certificateNameFor(access, target);
  const custom = apiClient(access.kubeConfig, CustomObjectsApi);
  const op = { resource: 'certificates/status.cert-manager.io', namespace, name } as const;
  for (let attempt = 0; ; attempt += 1) {
    let certificate: Certificate;
    try {
      certificate = await custom.getNamespacedCustomObjectStatus({ ...CERTIFICATES, namespace, name }) as Certificate;
    } catch (error) {
      throw withRule(apiError(error, { ...op, verb: 'get' }), name);
    }
    if (certificate.spec?.secretName !== secretName) {
      throw new ServingCertError('E_CONFLICT', `Certificate ${namespace}/${name} writes Secret "${certificate.spec?.secretName ?? ''}", not "${secretName}": ` +
        `serving-cert does not know which Certificate issues ${secretName}; re-issue it yourself (cmctl renew)`, { details: { namespace, name, secretName } });
    }
    const conditions = certificate.status?.conditions ?? [];
    if (conditions.some((condition) => condition.type === 'Issuing' && condition.status === 'True')) return { certificate: name, requested: false };
    const issuing = {
      type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance requested by serving-cert: its leaf is not signed by the current platform root CA',
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      ...(certificate.metadata?.generation ? { observedGeneration: certificate.metadata.generation } : {}),
    };
    try {
      // A merge patch replaces the list: the conditions read, plus Issuing; the resourceVersion
      // makes a concurrent change of cert-manager answer 409, and the read is done again.
      await custom.patchNamespacedCustomObjectStatus({
        ...CERTIFICATES, namespace, name, fieldManager: PLATFORM.fieldManager,
        body: { metadata: { resourceVersion: certificate.metadata?.resourceVersion }, status: { conditions: [...conditions, issuing] } },
      }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      return { certificate: name, requested: true };
    } catch (error) {
      if (statusOf(error) === 409 && attempt < MAX_CONFLICT_RETRIES) continue;
      throw withRule(apiError(error, { ...op, verb: 'patch' }), name);
    }
  }
}

async function certificateNameFor(access: ClusterAccess, target: { namespace: string; secretName: string; serviceName: string | undefined }): Promise<string> {
  try {
    const secret = await apiClient(access.kubeConfig, CoreV1Api).readNamespacedSecret({ namespace: target.namespace, name: target.secretName });
    const named = secret.metadata?.annotations?.[CERTIFICATE_NAME_ANNOTATION];
    if (named) return named;
  } catch {
    // Not readable (the files source needs no Secret access): fall back to the policy's name.
  }
  if (!target.serviceName) {
    throw new ServingCertError('E_CONFIG', `cannot tell which Certificate writes Secret ${target.namespace}/${target.secretName}: ` +
      `it has no ${CERTIFICATE_NAME_ANNOTATION} annotation readable here, and no serviceName is known`, { details: target });
  }
  return certificateNameOf(target.serviceName);
}

function withRule(error: ServingCertError, certificateName: string): ServingCertError {
  if (error.code !== 'E_FORBIDDEN') return error;
  return new ServingCertError('E_FORBIDDEN', `${error.message}. Add the optional Role serving-cert-renew of deploy/app-rbac.yaml, with the rule ${renewRuleOf(certificateName)}`,
    { cause: error, details: error.details });
}

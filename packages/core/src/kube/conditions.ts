import { CustomObjectsApi } from '@kubernetes/client-node';
import type { ClusterAccess } from './clusterAccess.js';
import { apiClient } from './apiClient.js';

/** A status condition, as cert-manager and Kyverno write them. */
export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** A cert-manager object: its conditions and, for a Certificate, its issuer. */
export interface CertManagerObject {
  /** revision: a Certificate's count of completed issuances. */
  status?: { conditions?: Condition[]; revision?: number };
  spec?: { issuerRef?: { name?: string; kind?: string } };
}

/** The condition of `type`, if the object has one. */
export function conditionOf(object: CertManagerObject, type: string): Condition | undefined {
  return object.status?.conditions?.find((condition) => condition.type === type);
}

/** `reason: message`, as `kubectl describe` shows a condition. */
export function describeCondition(condition: Condition): string {
  return `${condition.reason ?? '?'}: ${condition.message ?? ''}`;
}

/**
 * The CertificateRequest of a Certificate's issuance in progress: cert-manager names it
 * `<certificate>-<revision + 1>` (StableCertificateRequestName, on by default since 1.16).
 */
export function pendingRequestNameOf(certificateName: string, certificate: CertManagerObject): string {
  return `${certificateName}-${(certificate.status?.revision ?? 0) + 1}`;
}

/** Reads cert-manager's Certificates, CertificateRequests and ClusterIssuers (cert-manager.io/v1). */
export function certManager(access: ClusterAccess) {
  const custom = apiClient(access.kubeConfig, CustomObjectsApi);
  const group = { group: 'cert-manager.io', version: 'v1' };
  return {
    certificate: async (namespace: string, name: string): Promise<CertManagerObject> =>
      await custom.getNamespacedCustomObject({ ...group, namespace, plural: 'certificates', name }) as CertManagerObject,
    certificateRequest: async (namespace: string, name: string): Promise<CertManagerObject> =>
      await custom.getNamespacedCustomObject({ ...group, namespace, plural: 'certificaterequests', name }) as CertManagerObject,
    clusterIssuer: async (name: string): Promise<CertManagerObject> =>
      await custom.getClusterCustomObject({ ...group, plural: 'clusterissuers', name }) as CertManagerObject,
  };
}

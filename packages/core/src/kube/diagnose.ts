import { CustomObjectsApi } from '@kubernetes/client-node';
import { apiMessageOf, statusOf } from './apiErrors.js';
import type { ClusterAccess } from './clusterAccess.js';
import type { SecretWatcher } from './secretWatcher.js';

interface Condition { type?: string; status?: string; reason?: string; message?: string }
interface WithConditions { status?: { conditions?: Condition[]; revision?: number }; spec?: { issuerRef?: { name?: string; kind?: string } } }

/** What {@link diagnoseCertificate} looks at. */
export interface DiagnosisTarget {
  access: ClusterAccess;
  namespace: string;
  serviceName: string;
  secretName: string;
  caSecretName: string;
  /** What the CA watch shows, if one runs (the api source). */
  caWatcher?: SecretWatcher | undefined;
}

/**
 * Says why a certificate is not there, from what the cluster shows: the Certificate
 * `<service>-cert` and its Ready (and Issuing) conditions; the CertificateRequest of the
 * issuance in progress, where cert-manager says why it waits or failed (a missing or unready
 * issuer, a denial); no Certificate at all (the
 * generate-service-cert policy is probably not installed); the ClusterIssuer missing or not
 * ready; no service-root-ca in the namespace. Best effort: what it may not read, it says so.
 */
export async function diagnoseCertificate(target: DiagnosisTarget): Promise<string> {
  const { access, namespace, serviceName, secretName, caSecretName } = target;
  const custom = access.kubeConfig.makeApiClient(CustomObjectsApi);
  const findings: string[] = [];
  const certificateName = `${serviceName}-cert`;
  let issuerName = 'cpaas-ca';
  try {
    const certificate = await custom.getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificates', name: certificateName }) as WithConditions;
    issuerName = certificate.spec?.issuerRef?.name ?? issuerName;
    const ready = certificate.status?.conditions?.find((c) => c.type === 'Ready');
    const issuing = certificate.status?.conditions?.find((c) => c.type === 'Issuing' && c.status === 'True');
    const failed = certificate.status?.conditions?.find((c) => c.type === 'Issuing' && c.status === 'False');
    findings.push(ready
      ? `Certificate ${namespace}/${certificateName} is Ready=${ready.status ?? '?'} (reason ${ready.reason ?? '?'}: ${ready.message ?? ''})` +
        (issuing?.message && issuing.message !== ready.message ? `; issuing: ${issuing.message}` : '') +
        (failed?.message ? `; last issuance failed (${failed.reason ?? '?'}): ${failed.message}` : '')
      : `Certificate ${namespace}/${certificateName} has no Ready condition yet: cert-manager has not looked at it (is cert-manager running?)`);
    if (ready?.status !== 'True' && (issuing || failed)) {
      findings.push(await describeRequest(custom, namespace, certificateName, certificate.status?.revision));
    }
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) {
      findings.push(`there is no Certificate ${namespace}/${certificateName}: the platform's Kyverno policy generate-service-cert is ` +
        'probably not installed, or Kyverno is not running (`kubectl get clusterpolicy generate-service-cert`)');
    } else if (status === 403) {
      findings.push(`(cannot read Certificate ${certificateName}: grant get on certificates.cert-manager.io "${certificateName}" for a diagnosis)`);
    } else {
      findings.push(`(cannot read Certificate ${certificateName}: ${apiMessageOf(error)})`);
    }
  }
  try {
    const issuer = await custom.getClusterCustomObject({ group: 'cert-manager.io', version: 'v1', plural: 'clusterissuers', name: issuerName }) as WithConditions;
    const ready = issuer.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') {
      findings.push(`ClusterIssuer ${issuerName} is not ready (${ready ? `reason ${ready.reason ?? '?'}: ${ready.message ?? ''}` : 'no Ready condition'})`);
    }
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) findings.push(`ClusterIssuer ${issuerName} does not exist: cert-manager cannot issue Secret ${secretName}`);
    else if (status !== 403) findings.push(`(cannot read ClusterIssuer ${issuerName}: ${apiMessageOf(error)})`);
  }
  const caState = await target.caWatcher?.current().catch(() => undefined);
  if (caState && !caState.exists) {
    findings.push(`there is no Secret ${namespace}/${caSecretName}: the platform's Kyverno policy clone-ca-secret is probably ` +
      'not installed, or this namespace is excluded from it');
  }
  return findings.join('; ');
}

/**
 * The CertificateRequest of the issuance in progress: cert-manager names it
 * `<certificate>-<revision + 1>` (StableCertificateRequestName, on by default), and its
 * conditions, not the Certificate's, say why it waits (Pending: issuer missing or not ready),
 * was denied (Denied, by an approver) or failed.
 */
async function describeRequest(custom: CustomObjectsApi, namespace: string, certificateName: string, revision: number | undefined): Promise<string> {
  const name = `${certificateName}-${(revision ?? 0) + 1}`;
  try {
    const request = await custom.getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificaterequests', name }) as WithConditions;
    const conditions = request.status?.conditions ?? [];
    const denied = conditions.find((c) => c.type === 'Denied' && c.status === 'True');
    if (denied) return `CertificateRequest ${namespace}/${name} was denied (reason ${denied.reason ?? '?'}: ${denied.message ?? ''}): cert-manager retries after its backoff (1 h by default)`;
    const ready = conditions.find((c) => c.type === 'Ready');
    if (ready) return `CertificateRequest ${namespace}/${name} is Ready=${ready.status ?? '?'} (reason ${ready.reason ?? '?'}: ${ready.message ?? ''})`;
    const approved = conditions.some((c) => c.type === 'Approved' && c.status === 'True');
    return `CertificateRequest ${namespace}/${name} ${approved ? 'is approved but not signed yet' : 'is waiting for approval'}`;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) return `(no CertificateRequest ${namespace}/${name} yet: cert-manager has not started the issuance)`;
    if (status === 403) return `(cannot read CertificateRequest ${name}: grant get on certificaterequests.cert-manager.io for a diagnosis)`;
    return `(cannot read CertificateRequest ${name}: ${apiMessageOf(error)})`;
  }
}

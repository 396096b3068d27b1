import { certificateNameOf, PLATFORM } from '../options/platformNames.js';
import { apiMessageOf, statusOf } from './apiErrors.js';
import type { ClusterAccess } from './clusterAccess.js';
import { certManager, conditionOf, describeCondition, pendingRequestNameOf } from './conditions.js';

/** What {@link diagnoseCertificate} looks at. */
export interface DiagnosisTarget {
  access: ClusterAccess;
  namespace: string;
  serviceName: string;
  secretName: string;
  caSecretName: string;
  /** Whether service-root-ca exists, when a CA watch knows (the api source); undefined when unknown. */
  caExists?: (() => Promise<boolean | undefined>) | undefined;
}

/**
 * Says why a certificate is not there, from what the cluster shows: the Certificate
 * `<service>-cert` and its Ready (and Issuing) conditions; the CertificateRequest of the
 * issuance in progress, where the real cert-manager says why it waits or failed (a missing or
 * unready issuer, a denial); no Certificate at all (the
 * generate-service-cert policy is probably not installed); the ClusterIssuer missing or not
 * ready; no service-root-ca in the namespace. Best effort: what it may not read, it says so.
 */
export async function diagnoseCertificate(target: DiagnosisTarget): Promise<string> {
  const { access, namespace, serviceName, secretName, caSecretName } = target;
  const api = certManager(access);
  const findings: string[] = [];
  const certificateName = certificateNameOf(serviceName);
  let issuerName: string = PLATFORM.issuerName;
  try {
    const certificate = await api.certificate(namespace, certificateName);
    issuerName = certificate.spec?.issuerRef?.name ?? issuerName;
    const ready = conditionOf(certificate, 'Ready');
    const issuing = conditionOf(certificate, 'Issuing');
    findings.push(ready
      ? `Certificate ${namespace}/${certificateName} is Ready=${ready.status ?? '?'} (reason ${describeCondition(ready)})` +
        (issuing?.status === 'True' && issuing.message && issuing.message !== ready.message ? `; issuing: ${issuing.message}` : '') +
        (issuing?.status === 'False' ? `; the last issuance failed (${describeCondition(issuing)})` : '')
      : `Certificate ${namespace}/${certificateName} has no Ready condition yet: cert-manager has not looked at it (is cert-manager running?)`);
    // cert-manager says why an issuance waits or failed on its CertificateRequest, not on the Certificate.
    if (ready?.status !== 'True' && issuing) findings.push(await describeRequest(api, namespace, pendingRequestNameOf(certificateName, certificate)));
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
    const ready = conditionOf(await api.clusterIssuer(issuerName), 'Ready');
    if (ready?.status !== 'True') {
      findings.push(`ClusterIssuer ${issuerName} is not ready (${ready ? `reason ${describeCondition(ready)}` : 'no Ready condition'})`);
    }
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) findings.push(`ClusterIssuer ${issuerName} does not exist: cert-manager cannot issue Secret ${secretName}`);
    else if (status !== 403) findings.push(`(cannot read ClusterIssuer ${issuerName}: ${apiMessageOf(error)})`);
  }
  if (await target.caExists?.().catch(() => undefined) === false) {
    findings.push(`there is no Secret ${namespace}/${caSecretName}: the platform's Kyverno policy clone-ca-secret is probably ` +
      'not installed, or this namespace is excluded from it');
  }
  return findings.join('; ');
}

/** What the CertificateRequest `name` shows: waiting (Pending: issuer missing or not ready), denied, failed, or not there yet. */
async function describeRequest(api: ReturnType<typeof certManager>, namespace: string, name: string): Promise<string> {
  try {
    const request = await api.certificateRequest(namespace, name);
    const denied = conditionOf(request, 'Denied');
    if (denied?.status === 'True') return `CertificateRequest ${namespace}/${name} was denied (reason ${describeCondition(denied)}): cert-manager retries after its backoff (1 h by default)`;
    const ready = conditionOf(request, 'Ready');
    if (ready) return `CertificateRequest ${namespace}/${name} is Ready=${ready.status ?? '?'} (reason ${describeCondition(ready)})`;
    return `CertificateRequest ${namespace}/${name} ${conditionOf(request, 'Approved')?.status === 'True' ? 'is approved but not signed yet' : 'is waiting for approval'}`;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) return `(no CertificateRequest ${namespace}/${name} yet: cert-manager has not started the issuance)`;
    if (status === 403) return `(cannot read CertificateRequest ${name}: grant get on certificaterequests.cert-manager.io for a diagnosis)`;
    return `(cannot read CertificateRequest ${name}: ${apiMessageOf(error)})`;
  }
}

import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { apiMessageOf, statusOf } from '../kube/apiErrors.js';
import type { ClusterAccess } from '../kube/clusterAccess.js';
import { certManager, conditionOf, describeCondition, pendingRequestNameOf, type CertManagerObject } from '../kube/conditions.js';
import { certificateNameOf, defaultSecretNameOf, PLATFORM } from '../options/platformNames.js';

const SERVING_CERT_ANNOTATION = PLATFORM.annotation;
const ISSUER = PLATFORM.issuerName;

/** One thing serving-cert depends on, checked. */
export interface DoctorCheck {
  check: string;
  status: 'pass' | 'fail' | 'unknown';
  detail: string;
  /** What to do when it does not pass. */
  fix?: string;
}


/**
 * Checks, for Service `serviceName` in `namespace`, each thing serving-cert depends on: the
 * current identity's RBAC, the Service and its annotation, the Certificate and its Ready
 * condition, the ClusterIssuer, service-root-ca, and the platform's three policies.
 */
export async function doctor(access: ClusterAccess, target: { serviceName: string; namespace: string; caSecretName?: string }): Promise<DoctorCheck[]> {
  const { serviceName, namespace } = target;
  const caSecretName = target.caSecretName ?? PLATFORM.caSecretName;
  const kc = access.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const checks: DoctorCheck[] = [];

  let secretName = defaultSecretNameOf(serviceName);
  try {
    const service = await core.readNamespacedService({ namespace, name: serviceName });
    const annotated = service.metadata?.annotations?.[SERVING_CERT_ANNOTATION];
    if (annotated) secretName = annotated;
    checks.push(annotated
      ? { check: `Service ${namespace}/${serviceName}`, status: 'pass', detail: `asks for Secret ${annotated} (${SERVING_CERT_ANNOTATION})` }
      : { check: `Service ${namespace}/${serviceName}`, status: 'fail', detail: `has no ${SERVING_CERT_ANNOTATION} annotation`,
          fix: `serving-cert adds it at start (needs patch on the Service), or: kubectl -n ${namespace} annotate service ${serviceName} ${SERVING_CERT_ANNOTATION}=${secretName}` });
  } catch (error) {
    checks.push(unreadable(`Service ${namespace}/${serviceName}`, error, `create the Service ${serviceName} in ${namespace}`));
  }

  const wanted: Array<[string, string, string]> = [
    ['get', 'services', serviceName], ['patch', 'services', serviceName],
    ...(['get', 'list', 'watch'] as const).flatMap((verb) => [[verb, 'secrets', secretName], [verb, 'secrets', caSecretName]] as Array<[string, string, string]>),
  ];
  const denied: string[] = [];
  for (const [verb, resource, name] of wanted) {
    const review = await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace, verb, resource, name } } } });
    if (!review.status?.allowed) denied.push(`${verb} ${resource}/${name}`);
  }
  checks.push(denied.length === 0
    ? { check: 'RBAC of the current identity', status: 'pass', detail: 'get/patch its Service, get/list/watch its two Secrets' }
    : { check: 'RBAC of the current identity', status: 'fail', detail: `denied: ${denied.join(', ')}`, fix: 'apply deploy/app-rbac.yaml with your names (`serving-cert manifests app`)' });

  const certificateName = certificateNameOf(serviceName);
  const certificates = certManager(access);
  try {
    const certificate = await certificates.certificate(namespace, certificateName);
    const ready = conditionOf(certificate, 'Ready');
    checks.push(ready?.status === 'True'
      ? { check: `Certificate ${namespace}/${certificateName}`, status: 'pass', detail: 'Ready' }
      : { check: `Certificate ${namespace}/${certificateName}`, status: 'fail',
          detail: ready ? `Ready=${ready.status ?? '?'} (${describeCondition(ready)})` : 'no Ready condition',
          fix: `kubectl -n ${namespace} describe certificate ${certificateName}` });
    // cert-manager says why an issuance waits or failed on its CertificateRequest, not on the Certificate.
    if (ready?.status !== 'True') checks.push(await requestCheck(certificates, namespace, pendingRequestNameOf(certificateName, certificate)));
  } catch (error) {
    checks.push(unreadable(`Certificate ${namespace}/${certificateName}`, error,
      'the generate-service-cert policy makes it from the annotated Service: check the policy and Kyverno'));
  }

  try {
    const ready = conditionOf(await certificates.clusterIssuer(ISSUER), 'Ready');
    checks.push(ready?.status === 'True'
      ? { check: `ClusterIssuer ${ISSUER}`, status: 'pass', detail: 'Ready' }
      : { check: `ClusterIssuer ${ISSUER}`, status: 'fail', detail: ready ? describeCondition(ready) : 'no Ready condition', fix: `kubectl describe clusterissuer ${ISSUER}` });
  } catch (error) {
    checks.push(unreadable(`ClusterIssuer ${ISSUER}`, error, `install the platform CA issuer (cert-manager ClusterIssuer ${ISSUER})`));
  }

  try {
    const ca = await core.readNamespacedSecret({ namespace, name: caSecretName });
    checks.push(ca.data?.['ca.crt']
      ? { check: `Secret ${namespace}/${caSecretName}`, status: 'pass', detail: 'holds ca.crt' }
      : { check: `Secret ${namespace}/${caSecretName}`, status: 'fail', detail: 'has no ca.crt', fix: 'check the sync-ca-rotation policy and cert-manager/service-root-ca' });
  } catch (error) {
    checks.push(unreadable(`Secret ${namespace}/${caSecretName}`, error, 'the clone-ca-secret policy copies it into every namespace but kube-system, cpaas-system and cert-manager'));
  }

  for (const policy of PLATFORM.policies) {
    try {
      const installed = await custom.getClusterCustomObject({ group: 'kyverno.io', version: 'v1', plural: 'clusterpolicies', name: policy }) as CertManagerObject;
      const ready = conditionOf(installed, 'Ready');
      checks.push(ready?.status === 'True'
        ? { check: `ClusterPolicy ${policy}`, status: 'pass', detail: 'installed, Ready' }
        : { check: `ClusterPolicy ${policy}`, status: 'fail', detail: `installed, not Ready (${ready ? describeCondition(ready) : 'Kyverno has not loaded it: is Kyverno running?'})`,
            fix: `kubectl describe clusterpolicy ${policy}` });
    } catch (error) {
      checks.push(unreadable(`ClusterPolicy ${policy}`, error, 'install the platform policies: `serving-cert manifests platform | kubectl apply -f -`'));
    }
  }
  return checks;
}

/** The CertificateRequest of the issuance in progress: waiting (why), denied, or issued. */
async function requestCheck(api: ReturnType<typeof certManager>, namespace: string, name: string): Promise<DoctorCheck> {
  const check = `CertificateRequest ${namespace}/${name}`;
  const fix = `kubectl -n ${namespace} describe certificaterequest ${name}`;
  try {
    const request = await api.certificateRequest(namespace, name);
    const denied = conditionOf(request, 'Denied');
    if (denied?.status === 'True') return { check, status: 'fail', detail: `denied (${describeCondition(denied)})`, fix: `${fix}; cert-manager retries after its backoff (1 h by default)` };
    const ready = conditionOf(request, 'Ready');
    if (ready?.status === 'True') return { check, status: 'pass', detail: 'issued' };
    return { check, status: 'fail', detail: ready ? `Ready=${ready.status ?? '?'} (${describeCondition(ready)})` : 'not signed yet', fix };
  } catch (error) {
    if (statusOf(error) === 404) return { check, status: 'unknown', detail: 'does not exist yet: cert-manager has not started this issuance' };
    return unreadable(check, error, fix);
  }
}

function unreadable(check: string, error: unknown, fix: string): DoctorCheck {
  const status = statusOf(error);
  if (status === 404) return { check, status: 'fail', detail: 'does not exist', fix };
  if (status === 403) return { check, status: 'unknown', detail: `not allowed to read it (${apiMessageOf(error)})` };
  return { check, status: 'unknown', detail: apiMessageOf(error) };
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const lines = checks.map((check) => {
    const mark = check.status === 'pass' ? 'PASS' : check.status === 'fail' ? 'FAIL' : ' ?? ';
    return `  ${mark}  ${check.check}: ${check.detail}${check.fix && check.status !== 'pass' ? `\n        fix: ${check.fix}` : ''}`;
  });
  const failed = checks.filter((check) => check.status === 'fail').length;
  return ['serving-cert doctor', ...lines, '', failed === 0 ? 'all checks pass' : `${failed} check(s) fail`].join('\n');
}

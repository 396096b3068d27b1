import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi, VersionApi } from '@kubernetes/client-node';
import { apiMessageOf, statusOf } from '../kube/apiErrors.js';
import type { ClusterAccess } from '../kube/clusterAccess.js';
import { networkReasonOf } from './networkReason.js';
import { certManager, conditionOf, describeCondition, pendingRequestNameOf, type CertManagerObject } from '../kube/conditions.js';
import { certificateNameOf, defaultSecretNameOf, PLATFORM } from '../options/platformNames.js';
import { apiClient } from '../kube/apiClient.js';

const SERVING_CERT_ANNOTATION = PLATFORM.annotation;
const ISSUER = PLATFORM.issuerName;

/**
 * Stable ids of doctor's checks (one per platform policy: `policy.<name>`), what scripts key on;
 * the titles name the objects, for people.
 */
export type DoctorCheckId = 'api-server' | 'service' | 'rbac' | 'certificate' | 'certificate-request' | 'cluster-issuer' | 'ca-secret' | `policy.${string}`;

/** Why a check does not pass, for scripts. */
export type DoctorCode = 'E_UNREACHABLE' | 'E_NOT_FOUND' | 'E_FORBIDDEN' | 'E_NOT_READY' | 'E_NO_ANNOTATION' | 'E_MISSING' | 'E_DENIED' | 'E_PENDING' | 'E_API';

/** One thing serving-cert depends on, checked. */
export interface DoctorCheck {
  id: DoctorCheckId;
  /** The object checked, for people: "Service shop/web". */
  title: string;
  status: 'pass' | 'fail' | 'unknown';
  /** Set when it does not pass. */
  code?: DoctorCode;
  detail: string;
  /** What to do when it does not pass. */
  fix?: string;
}


/**
 * Checks, for Service `serviceName` in `namespace`, each thing serving-cert depends on: that the
 * API server answers, the current identity's RBAC, the Service and its annotation, the
 * Certificate and its Ready condition, the ClusterIssuer, service-root-ca, and the platform's
 * three policies. An API server that cannot be reached is one failed check, and the only one.
 */
export async function doctor(access: ClusterAccess, target: { serviceName: string; namespace: string; caSecretName?: string }): Promise<DoctorCheck[]> {
  const { serviceName, namespace } = target;
  const caSecretName = target.caSecretName ?? PLATFORM.caSecretName;
  const kc = access.kubeConfig;
  const reachable = await apiServerCheck(apiClient(kc, VersionApi), kc.getCurrentCluster()?.server ?? '(no server in the kubeconfig)');
  if (reachable.status === 'fail') return [reachable];
  const core = apiClient(kc, CoreV1Api);
  const custom = apiClient(kc, CustomObjectsApi);
  const authz = apiClient(kc, AuthorizationV1Api);
  const checks: DoctorCheck[] = [reachable];

  let secretName = defaultSecretNameOf(serviceName);
  const serviceTitle = `Service ${namespace}/${serviceName}`;
  try {
    const service = await core.readNamespacedService({ namespace, name: serviceName });
    const annotated = service.metadata?.annotations?.[SERVING_CERT_ANNOTATION];
    if (annotated) secretName = annotated;
    checks.push(annotated
      ? { id: 'service', title: serviceTitle, status: 'pass', detail: `asks for Secret ${annotated} (${SERVING_CERT_ANNOTATION})` }
      : { id: 'service', title: serviceTitle, status: 'fail', code: 'E_NO_ANNOTATION', detail: `has no ${SERVING_CERT_ANNOTATION} annotation`,
          fix: `serving-cert adds it at start (needs patch on the Service), or: kubectl -n ${namespace} annotate service ${serviceName} ${SERVING_CERT_ANNOTATION}=${secretName}` });
  } catch (error) {
    checks.push(unreadable('service', serviceTitle, error, `create the Service ${serviceName} in ${namespace}`));
  }

  const wanted: Array<[string, string, string]> = [
    ['get', 'services', serviceName], ['patch', 'services', serviceName],
    ...(['get', 'list', 'watch'] as const).flatMap((verb) => [[verb, 'secrets', secretName], [verb, 'secrets', caSecretName]] as Array<[string, string, string]>),
  ];
  const rbacTitle = 'RBAC of the current identity';
  try {
    const denied: string[] = [];
    for (const [verb, resource, name] of wanted) {
      const review = await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace, verb, resource, name } } } });
      if (!review.status?.allowed) denied.push(`${verb} ${resource}/${name}`);
    }
    checks.push(denied.length === 0
      ? { id: 'rbac', title: rbacTitle, status: 'pass', detail: 'get/patch its Service, get/list/watch its two Secrets' }
      : { id: 'rbac', title: rbacTitle, status: 'fail', code: 'E_DENIED', detail: `denied: ${denied.join(', ')}`, fix: 'apply deploy/app-rbac.yaml with your names (`serving-cert manifests app`)' });
  } catch (error) {
    checks.push(unreadable('rbac', rbacTitle, error, 'the API server must answer SelfSubjectAccessReviews'));
  }

  const certificateName = certificateNameOf(serviceName);
  const certificates = certManager(access);
  const certificateTitle = `Certificate ${namespace}/${certificateName}`;
  try {
    const certificate = await certificates.certificate(namespace, certificateName);
    const ready = conditionOf(certificate, 'Ready');
    checks.push(ready?.status === 'True'
      ? { id: 'certificate', title: certificateTitle, status: 'pass', detail: 'Ready' }
      : { id: 'certificate', title: certificateTitle, status: 'fail', code: 'E_NOT_READY',
          detail: ready ? `Ready=${ready.status ?? '?'} (${describeCondition(ready)})` : 'no Ready condition',
          fix: `kubectl -n ${namespace} describe certificate ${certificateName}` });
    // cert-manager says why an issuance waits or failed on its CertificateRequest, not on the Certificate.
    if (ready?.status !== 'True') checks.push(await requestCheck(certificates, namespace, pendingRequestNameOf(certificateName, certificate)));
  } catch (error) {
    checks.push(unreadable('certificate', certificateTitle, error,
      'the generate-service-cert policy makes it from the annotated Service: check the policy and Kyverno'));
  }

  const issuerTitle = `ClusterIssuer ${ISSUER}`;
  try {
    const ready = conditionOf(await certificates.clusterIssuer(ISSUER), 'Ready');
    checks.push(ready?.status === 'True'
      ? { id: 'cluster-issuer', title: issuerTitle, status: 'pass', detail: 'Ready' }
      : { id: 'cluster-issuer', title: issuerTitle, status: 'fail', code: 'E_NOT_READY', detail: ready ? describeCondition(ready) : 'no Ready condition', fix: `kubectl describe clusterissuer ${ISSUER}` });
  } catch (error) {
    checks.push(unreadable('cluster-issuer', issuerTitle, error, `install the platform CA issuer (cert-manager ClusterIssuer ${ISSUER})`));
  }

  const caTitle = `Secret ${namespace}/${caSecretName}`;
  try {
    const ca = await core.readNamespacedSecret({ namespace, name: caSecretName });
    checks.push(ca.data?.['ca.crt']
      ? { id: 'ca-secret', title: caTitle, status: 'pass', detail: 'holds ca.crt' }
      : { id: 'ca-secret', title: caTitle, status: 'fail', code: 'E_MISSING', detail: 'has no ca.crt', fix: 'check the sync-ca-rotation policy and cert-manager/service-root-ca' });
  } catch (error) {
    checks.push(unreadable('ca-secret', caTitle, error, 'the clone-ca-secret policy copies it into every namespace but kube-system, cpaas-system and cert-manager'));
  }

  for (const policy of PLATFORM.policies) {
    const id = `policy.${policy}` as const;
    const title = `ClusterPolicy ${policy}`;
    try {
      const installed = await custom.getClusterCustomObject({ group: 'kyverno.io', version: 'v1', plural: 'clusterpolicies', name: policy }) as CertManagerObject;
      const ready = conditionOf(installed, 'Ready');
      checks.push(ready?.status === 'True'
        ? { id, title, status: 'pass', detail: 'installed, Ready' }
        : { id, title, status: 'fail', code: 'E_NOT_READY', detail: `installed, not Ready (${ready ? describeCondition(ready) : 'Kyverno has not loaded it: is Kyverno running?'})`,
            fix: `kubectl describe clusterpolicy ${policy}` });
    } catch (error) {
      checks.push(unreadable(id, title, error, 'install the platform policies: `serving-cert manifests platform | kubectl apply -f -`'));
    }
  }
  return checks;
}

/** The API server answers (its version), or the reason it cannot be reached: DNS, refused, TLS, timeout. */
async function apiServerCheck(version: VersionApi, server: string): Promise<DoctorCheck> {
  const title = `API server ${server}`;
  try {
    const info = await version.getCode();
    return { id: 'api-server', title, status: 'pass', detail: `answers, ${info.gitVersion}` };
  } catch (error) {
    const reason = networkReasonOf(error);
    if (reason === undefined) return unreadable('api-server', title, error, 'check the kubeconfig\'s credentials');
    return { id: 'api-server', title, status: 'fail', code: 'E_UNREACHABLE', detail: `cannot be reached: ${reason}`,
      fix: 'check the server of the kubeconfig (or --kubeconfig, --context), and that the cluster is reachable from here' };
  }
}

/** The CertificateRequest of the issuance in progress: waiting (why), denied, or issued. */
async function requestCheck(api: ReturnType<typeof certManager>, namespace: string, name: string): Promise<DoctorCheck> {
  const id = 'certificate-request';
  const title = `CertificateRequest ${namespace}/${name}`;
  const fix = `kubectl -n ${namespace} describe certificaterequest ${name}`;
  try {
    const request = await api.certificateRequest(namespace, name);
    const denied = conditionOf(request, 'Denied');
    if (denied?.status === 'True') return { id, title, status: 'fail', code: 'E_DENIED', detail: `denied (${describeCondition(denied)})`, fix: `${fix}; cert-manager retries after its backoff (1 h by default)` };
    const ready = conditionOf(request, 'Ready');
    if (ready?.status === 'True') return { id, title, status: 'pass', detail: 'issued' };
    return { id, title, status: 'fail', code: 'E_PENDING', detail: ready ? `Ready=${ready.status ?? '?'} (${describeCondition(ready)})` : 'not signed yet', fix };
  } catch (error) {
    if (statusOf(error) === 404) return { id, title, status: 'unknown', code: 'E_NOT_FOUND', detail: 'does not exist yet: cert-manager has not started this issuance' };
    return unreadable(id, title, error, fix);
  }
}

function unreadable(id: DoctorCheckId, title: string, error: unknown, fix: string): DoctorCheck {
  const status = statusOf(error);
  if (status === 404) return { id, title, status: 'fail', code: 'E_NOT_FOUND', detail: 'does not exist', fix };
  if (status === 403) return { id, title, status: 'unknown', code: 'E_FORBIDDEN', detail: `not allowed to read it (${apiMessageOf(error)})` };
  const reason = networkReasonOf(error);
  return { id, title, status: 'unknown', code: reason ? 'E_UNREACHABLE' : 'E_API', detail: reason ?? apiMessageOf(error) };
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const lines = checks.map((check) => {
    const mark = check.status === 'pass' ? 'PASS' : check.status === 'fail' ? 'FAIL' : ' ?? ';
    return `  ${mark}  ${check.title}: ${check.detail}${check.fix && check.status !== 'pass' ? `\n        fix: ${check.fix}` : ''}`;
  });
  const failed = checks.filter((check) => check.status === 'fail').length;
  return ['serving-cert doctor', ...lines, '', failed === 0 ? 'all checks pass' : `${failed} check(s) fail`].join('\n');
}

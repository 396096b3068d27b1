import { writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ensureServingCert } from '@serving-cert/core';
import type { PlatformClient } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';
import { servingCert } from '../helpers/cli.js';
import { recordingLogger, rejection, tempDir } from '../helpers/tls.js';

// The diagnosis (ensureServingCert's timeout, `serving-cert doctor`) against what the real
// cert-manager and Kyverno show when a piece of the platform is missing or refuses.
let platform: PlatformClient;
let kubeconfigFile: string;
let removeKubeconfig: () => Promise<void>;
const cleanups: Array<() => Promise<unknown>> = [];
const admin = () => controlPlane().kubeConfig;
const core = () => admin().makeApiClient(CoreV1Api);
const custom = () => admin().makeApiClient(CustomObjectsApi);
type Condition = { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string };
type Request = { metadata?: { name?: string }; status?: { conditions?: Condition[] } };

beforeAll(async () => {
  platform = await connectPlatform();
  const { dir, remove } = await tempDir();
  removeKubeconfig = remove;
  kubeconfigFile = `${dir}/kubeconfig`;
  await writeFile(kubeconfigFile, admin().exportConfig());
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  await removeKubeconfig();
});

/** A namespace, Service web, and an app user with deploy/app-rbac.yaml including the diagnosis Roles. */
async function app() {
  const namespace = await createNamespace('diag');
  await core().createNamespacedService({ namespace, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 443, targetPort: 8443 }] } } });
  await applyAppRbac(namespace, 'web', `app-${namespace}`, { diagnosis: true });
  return { namespace, kubeConfig: controlPlane().addUser(`app-${namespace}`) };
}

/**
 * The diagnosis is taken when the timeout hits; the state it names (Kyverno's Certificate, then
 * cert-manager's conditions and request) must be in place by then, on a loaded machine too.
 */
async function timeoutOf(namespace: string, kubeConfig: ReturnType<typeof controlPlane>['kubeConfig'], timeoutMs = 8_000): Promise<string> {
  const error = await rejection(ensureServingCert({ renewOnRollover: false, logger: recordingLogger(), kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs }));
  expect(error.code).toBe('E_TIMEOUT');
  return error.message;
}

async function doctor(namespace: string): Promise<string> {
  const result = await servingCert(['doctor', '--service', 'web', '--namespace', namespace], { KUBECONFIG: kubeconfigFile });
  expect(result.code, result.stderr).toBe(1);
  return result.stdout;
}

describe('diagnosis on the real platform', () => {
  it('generate-service-cert missing: no Certificate, and the policy named', async () => {
    await platform.setPolicies({ generateServiceCert: false });
    try {
      const { namespace, kubeConfig } = await app();
      const message = await timeoutOf(namespace, kubeConfig);
      expect(message).toContain(`there is no Certificate ${namespace}/web-cert: the platform's Kyverno policy generate-service-cert is probably not installed`);
      const report = await doctor(namespace);
      expect(report).toContain(`FAIL  Certificate ${namespace}/web-cert: does not exist`);
      expect(report).toContain('FAIL  ClusterPolicy generate-service-cert: does not exist');
      expect(report).toContain('PASS  ClusterPolicy clone-ca-secret: installed, Ready');
    } finally {
      await platform.setPolicies({ generateServiceCert: true });
    }
  });

  it('ClusterIssuer missing: the CertificateRequest\'s Pending reason and the missing issuer', async () => {
    const { namespace, kubeConfig } = await app();
    await platform.setIssuer('missing');
    try {
      const message = await timeoutOf(namespace, kubeConfig);
      expect(message).toContain(`Certificate ${namespace}/web-cert is Ready=False (reason DoesNotExist: Issuing certificate as Secret does not exist)`);
      expect(message).toContain(`CertificateRequest ${namespace}/web-cert-1 is Ready=False (reason Pending: Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "cpaas-ca" not found)`);
      expect(message).toContain('ClusterIssuer cpaas-ca does not exist');
      const report = await doctor(namespace);
      expect(report).toContain(`FAIL  CertificateRequest ${namespace}/web-cert-1: Ready=False (Pending: Referenced "ClusterIssuer" not found`);
      expect(report).toContain('FAIL  ClusterIssuer cpaas-ca: does not exist');
    } finally {
      await platform.setIssuer('ready');
    }
  });

  it('ClusterIssuer broken (its CA Secret has no key): the issuer\'s ErrGetKeyPair and the request waiting for it', async () => {
    const { namespace, kubeConfig } = await app();
    await platform.setIssuer('broken');
    try {
      const message = await timeoutOf(namespace, kubeConfig);
      expect(message).toMatch(/ClusterIssuer cpaas-ca is not ready \(reason ErrGetKeyPair: Error getting keypair for CA issuer: /);
      expect(message).toContain(`CertificateRequest ${namespace}/web-cert-1 is Ready=False (reason Pending: Referenced issuer does not have a Ready status condition)`);
      const report = await doctor(namespace);
      expect(report).toMatch(/FAIL {2}ClusterIssuer cpaas-ca: ErrGetKeyPair: Error getting keypair for CA issuer: /);
    } finally {
      await platform.setIssuer('ready');
    }
  });

  it('a denied CertificateRequest: the denial and its reason, and cert-manager\'s backoff', async () => {
    const { namespace, kubeConfig } = await app();
    // An approver other than cert-manager's own (as approver-policy would be) decides in this
    // namespace: a ValidatingAdmissionPolicy keeps cert-manager's approver from approving here.
    const admission = admin().makeApiClient(AdmissionregistrationV1Api);
    const name = `hold-approval-${namespace}`;
    await admission.createValidatingAdmissionPolicy({ body: {
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: ['cert-manager.io'], apiVersions: ['*'], operations: ['UPDATE'], resources: ['certificaterequests/status'] }],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        },
        matchConditions: [{ name: 'cert-manager', expression: "request.userInfo.username == 'system:serviceaccount:cert-manager:cert-manager'" }],
        validations: [{ expression: "!has(object.status.conditions) || !object.status.conditions.exists(c, c.type == 'Approved')", message: 'approval is decided by the test' }],
      },
    } });
    await admission.createValidatingAdmissionPolicyBinding({ body: { metadata: { name }, spec: { policyName: name, validationActions: ['Deny'] } } });
    cleanups.push(() => admission.deleteValidatingAdmissionPolicyBinding({ name }).then(() => admission.deleteValidatingAdmissionPolicy({ name })));
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the API server loads the policy

    const opening = rejection(ensureServingCert({ renewOnRollover: false, logger: recordingLogger(), kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 15_000 }));
    const group = { group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificaterequests' };
    const request = await eventually('CertificateRequest web-cert-1', () => custom().getNamespacedCustomObject({ ...group, name: 'web-cert-1' }) as Promise<Request>, () => true);
    expect(request.status?.conditions?.some((c) => c.type === 'Approved') ?? false).toBe(false);
    const conditions = [...(request.status?.conditions ?? []), { type: 'Denied', status: 'True', reason: 'policy.example', message: 'no certificates for this team', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }];
    await custom().replaceNamespacedCustomObjectStatus({ ...group, name: 'web-cert-1', body: { ...request, status: { ...request.status, conditions } } });

    const error = await opening;
    expect(error.code).toBe('E_TIMEOUT');
    expect(error.message).toContain(`CertificateRequest ${namespace}/web-cert-1 was denied (reason policy.example: no certificates for this team)`);
    expect(error.message).toContain('the last issuance failed (policy.example: The certificate request has failed to complete and will be retried: no certificates for this team)');
    const report = await doctor(namespace);
    expect(report).toContain(`FAIL  CertificateRequest ${namespace}/web-cert-1: denied (policy.example: no certificates for this team)`);
  });

  it('service-root-ca missing (clone-ca-secret not installed): served with the Secret\'s own ca.crt; doctor and a timeout name the copy and the policy', async () => {
    await platform.setPolicies({ cloneCaSecret: false });
    try {
      const { namespace, kubeConfig } = await app();
      // Not a reason to wait: cert-manager's Secret carries ca.crt too.
      const cert = await ensureServingCert({ renewOnRollover: false, logger: recordingLogger(), kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 30_000 });
      cleanups.push(() => cert.close());
      expect(cert.trust.pem).toContain(platform.caPem.trim());
      const report = await doctor(namespace);
      expect(report).toContain(`FAIL  Secret ${namespace}/service-root-ca: does not exist`);
      expect(report).toContain('FAIL  ClusterPolicy clone-ca-secret: does not exist');
      // When the certificate is late for another reason too, the timeout names the missing copy.
      const late = await app();
      await platform.setIssuer('missing');
      try {
        const message = await timeoutOf(late.namespace, late.kubeConfig);
        expect(message).toContain(`there is no Secret ${late.namespace}/service-root-ca: the platform's Kyverno policy clone-ca-secret is probably not installed`);
      } finally {
        await platform.setIssuer('ready');
      }
    } finally {
      await platform.setPolicies({ cloneCaSecret: true });
    }
  });
});

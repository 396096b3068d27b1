import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { ensureServingCert, type ServingCert, type TrustState } from '@serving-cert/core';
import { PLATFORM, projectSecretVolume, type PlatformClient } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';
import { nextEvent, recordingLogger, rejection, servedSerial, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

let platform: PlatformClient;
const cleanups: Array<() => Promise<unknown>> = [];
const admin = () => controlPlane().kubeConfig;
const core = () => admin().makeApiClient(CoreV1Api);

beforeAll(async () => {
  platform = await connectPlatform();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function service(namespace: string, name: string, annotations: Record<string, string> = {}) {
  await core().createNamespacedService({ namespace, body: {
    metadata: { name, annotations: { 'team.example/owner': 'shop', ...annotations }, labels: { app: name } },
    spec: { ports: [{ port: 443, targetPort: 8443 }], selector: { app: name } },
  } });
}

/** A namespace with a Service and an app user bound to exactly deploy/app-rbac.yaml. */
async function app(options: { annotations?: Record<string, string>; diagnosis?: boolean; secretName?: string; createService?: boolean } = {}) {
  const namespace = await createNamespace('app');
  if (options.createService !== false) await service(namespace, 'web', options.annotations);
  const user = `app-${namespace}`;
  await applyAppRbac(namespace, 'web', user, { diagnosis: options.diagnosis ?? false, secretName: options.secretName ?? 'web-tls' });
  return { namespace, kubeConfig: controlPlane().addUser(user) };
}

/**
 * The leaf is shaped as cert-manager issues it on this platform (design section 3): an empty
 * subject, no extendedKeyUsage, an RSA 2048 key in PKCS#1, the leaf alone in tls.crt.
 */
function expectCertManagerShape(cert: ServingCert): void {
  const leaf = new X509Certificate(cert.current.certPem);
  expect(cert.current.info.subject).toBe('');
  expect(leaf.keyUsage).toBeUndefined(); // Node's name for the extendedKeyUsage OIDs
  expect(cert.current.keyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
  expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  expect(cert.current.certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
}

async function open(options: Parameters<typeof ensureServingCert>[0]): Promise<ServingCert> {
  const cert = await ensureServingCert({ renewOnRollover: false, logger: recordingLogger(), ...options });
  cleanups.push(() => cert.close());
  return cert;
}


describe('ensureServingCert in a cluster, as a least-privilege user (deploy/app-rbac.yaml)', () => {
  it('goes from a Service without annotation to a served, verified certificate (api source)', async () => {
    const { namespace, kubeConfig } = await app();
    const cert = await open({ kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 30_000 });
    const svc = await core().readNamespacedService({ namespace, name: 'web' });
    expect(svc.metadata?.annotations).toEqual({ 'team.example/owner': 'shop', [PLATFORM.annotation]: 'web-tls' });
    expect(svc.metadata?.labels).toEqual({ app: 'web' });
    expect(svc.metadata?.managedFields?.some((field) => field.manager === 'serving-cert')).toBe(true);
    expect(cert.current.info.dnsNames).toEqual(['web', `web.${namespace}`, `web.${namespace}.svc`, `web.${namespace}.svc.cluster.local`]);
    expect(cert.trust.pem).toContain(platform.caPem.trim());
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);
    expect(await servedSerial(server.port, cert.trust.pem, `web.${namespace}.svc`)).toBe(cert.current.info.serialNumber);
  });

  it('uses the Secret an annotation already names', async () => {
    const { namespace, kubeConfig } = await app({ annotations: { [PLATFORM.annotation]: 'custom-tls' }, secretName: 'custom-tls' });
    const cert = await open({ kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 30_000 });
    const secret = await core().readNamespacedSecret({ namespace, name: 'custom-tls' });
    expect(Buffer.from(secret.data!['tls.crt']!, 'base64').toString()).toBe(cert.current.certPem);
  });

  it('refuses an explicit secretName that conflicts with the annotation, and changes nothing', async () => {
    const { namespace, kubeConfig } = await app({ annotations: { [PLATFORM.annotation]: 'theirs-tls' } });
    const error = await rejection(open({ kubeConfig, source: 'api', serviceName: 'web', namespace, secretName: 'web-tls' }));
    expect(error.code).toBe('E_CONFLICT');
    expect(error.message).toContain('already asks for Secret "theirs-tls"');
    const svc = await core().readNamespacedService({ namespace, name: 'web' });
    expect(svc.metadata?.annotations?.[PLATFORM.annotation]).toBe('theirs-tls');
  });

  it('names the verb, resource and object of a 403, and the rule that grants it', async () => {
    const namespace = await createNamespace('app');
    await service(namespace, 'web');
    const error = await rejection(open({ kubeConfig: controlPlane().addUser('no-rights'), source: 'api', serviceName: 'web', namespace }));
    expect(error.code).toBe('E_FORBIDDEN');
    expect(error.message).toContain(`denied get on services "web" in namespace ${namespace}`);
    expect(error.message).toContain('resources: ["services"], verbs: ["get"], resourceNames: ["web"]');
    expect(error.message).toContain('deploy/app-rbac.yaml');
  });

  it('names namespace and name of a missing Service', async () => {
    const { namespace, kubeConfig } = await app({ createService: false });
    const error = await rejection(open({ kubeConfig, source: 'api', serviceName: 'web', namespace }));
    expect(error.code).toBe('E_NOT_FOUND');
    expect(error.message).toContain(`Service web does not exist in namespace ${namespace}`);
  });

  it('times out naming the Certificate\'s Ready reason and a missing ClusterIssuer', async () => {
    const { namespace, kubeConfig } = await app({ diagnosis: true });
    await platform.setIssuer('missing');
    try {
      const error = await rejection(open({ kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 8_000 })); // the diagnosis is taken at the deadline
      expect(error.code).toBe('E_TIMEOUT');
      expect(error.message).toContain(`secret ${namespace}/web-tls does not exist yet`);
      expect(error.message).toMatch(/Certificate .*web-cert is Ready=False \(reason DoesNotExist/);
      expect(error.message).toContain('clusterissuer.cert-manager.io "cpaas-ca" not found');
      expect(error.message).toContain('ClusterIssuer cpaas-ca does not exist');
    } finally {
      await platform.setIssuer('ready');
    }
  });

  it('without the diagnosis Role, still says what it could not read', async () => {
    const { namespace, kubeConfig } = await app();
    // Nothing is issued while the ClusterIssuer is missing (the emulator's issuance delay is gone).
    await platform.setIssuer('missing');
    try {
      const error = await rejection(open({ kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 1_500 }));
      expect(error.code).toBe('E_TIMEOUT');
      expect(error.message).toContain('grant get on certificates.cert-manager.io "web-cert" for a diagnosis');
    } finally {
      await platform.setIssuer('ready');
    }
  });
});

describe('rotations in a cluster', () => {
  it('api source: a renewal and a CA rotation each reach a real TLS client', async () => {
    const { namespace, kubeConfig } = await app();
    const cert = await open({ kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 30_000 });
    expectCertManagerShape(cert);
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);
    const rotated = nextEvent(cert, 'rotate', 30_000);
    const serial = await platform.renew(namespace, 'web-cert');
    await rotated;
    expectCertManagerShape(cert);
    expect(await servedSerial(server.port, cert.trust.pem, 'web')).toBe(serial);

    const oldCa = platform.caPem;
    const trusted = nextEvent<[TrustState]>(cert, 'trust', 30_000);
    await platform.rotateCA();
    const [trust] = await trusted;
    expect(trust.pem).toContain(platform.caPem.trim());
    expect(trust.pem).toContain(oldCa.trim()); // the old CA stays trusted through the rollover
    const renewedUnderNewCa = nextEvent(cert, 'rotate', 30_000);
    const newSerial = await platform.renew(namespace, 'web-cert');
    await renewedUnderNewCa;
    expect(await servedSerial(server.port, platform.caPem, 'web')).toBe(newSerial);
  });

  it('files source fed by the volume projector: annotated first, then renewal and CA rotation picked up', async () => {
    const { namespace, kubeConfig } = await app();
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    for (const [secretName, sub] of [['web-tls', 'certs'], ['service-root-ca', 'ca']] as const) {
      const projection = await projectSecretVolume({ kubeConfig: admin(), namespace, secretName, dir: `${dir}/${sub}`, delayMs: 200, optional: true });
      cleanups.push(() => projection.stop());
    }
    const cert = await open({ kubeConfig, source: 'files', serviceName: 'web', namespace, certDir: `${dir}/certs`, caDir: `${dir}/ca`, timeoutMs: 30_000 });
    expect((await core().readNamespacedService({ namespace, name: 'web' })).metadata?.annotations?.[PLATFORM.annotation]).toBe('web-tls');
    expectCertManagerShape(cert);
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);

    const rotated = nextEvent(cert, 'rotate', 30_000);
    const serial = await platform.renew(namespace, 'web-cert');
    await rotated;
    expectCertManagerShape(cert);
    expect(await servedSerial(server.port, cert.trust.pem, 'web')).toBe(serial);
    const trusted = nextEvent<[TrustState]>(cert, 'trust', 30_000);
    await platform.rotateCA();
    expect((await trusted)[0].pem).toContain(platform.caPem.trim());
  });
});

describe('the service-account token', () => {
  it('is read again when the file changes (bound tokens rotate)', async () => {
    const { namespace } = await app();
    // An in-cluster configuration from a folder, as a pod has it: token, ca.crt, namespace.
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const rbac = admin().makeApiClient(RbacAuthorizationV1Api);
    const serviceAccount = async () => {
      await core().createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'my-app' } } });
      const token = await core().createNamespacedServiceAccountToken({ namespace, name: 'my-app', body: { spec: { audiences: [], expirationSeconds: 3600 } } });
      return token.status!.token;
    };
    await rbac.createNamespacedRoleBinding({ namespace, body: {
      metadata: { name: 'serving-cert-sa' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'serving-cert-web' },
      subjects: [{ kind: 'ServiceAccount', name: 'my-app', namespace }],
    } });
    await fs.writeFile(`${dir}/token`, await serviceAccount());
    await fs.writeFile(`${dir}/namespace`, namespace);
    await fs.writeFile(`${dir}/ca.crt`, controlPlaneCaPem());
    const server = new URL(controlPlane().kubeConfig.getCurrentCluster()!.server);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = server.hostname;
    process.env.KUBERNETES_SERVICE_PORT = server.port;
    try {
      const cert = await open({ source: 'api', serviceName: 'web', serviceAccountDir: dir, watchTimeoutSeconds: 1, timeoutMs: 30_000 });
      // The old token dies with its ServiceAccount; kubelet writes the new one.
      await core().deleteNamespacedServiceAccount({ namespace, name: 'my-app' });
      await eventually('old token refused', () => core().readNamespacedServiceAccount({ namespace, name: 'my-app' }).then(() => false, () => true), Boolean);
      const newToken = await serviceAccount();
      await fs.writeFile(`${dir}/token.tmp`, newToken);
      await fs.rename(`${dir}/token.tmp`, `${dir}/token`);
      // Watches reconnect every second (watchTimeoutSeconds: 1); a renewal must get through
      // with the new token well before client-node's own 60 s re-read.
      const rotated = nextEvent(cert, 'rotate', 15_000);
      const serial = await platform.renew(namespace, 'web-cert');
      expect((await rotated)[0]).toMatchObject({ serialNumber: serial });
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST; else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT; else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });
});

function controlPlaneCaPem(): string {
  const caData = controlPlane().kubeConfig.getCurrentCluster()!.caData!;
  return Buffer.from(caData, 'base64').toString();
}

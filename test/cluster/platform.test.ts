import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { PLATFORM, startPlatform, type Platform } from '@serving-cert/testkit';
import { controlPlane, createNamespace, eventually } from '../helpers/cluster.js';

let platform: Platform;
const admin = () => controlPlane().kubeConfig;
const core = () => admin().makeApiClient(CoreV1Api);
const custom = () => admin().makeApiClient(CustomObjectsApi);
const CM = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const;

beforeAll(async () => {
  platform = await startPlatform(admin());
});
afterAll(async () => {
  await platform.stop();
});

async function annotatedService(namespace: string, name: string, secretName = `${name}-tls`) {
  await core().createNamespacedService({ namespace, body: {
    metadata: { name, annotations: { [PLATFORM.annotation]: secretName, unrelated: 'kept' } },
    spec: { ports: [{ port: 443, targetPort: 8443 }], selector: { app: name } },
  } });
}
const readSecret = (namespace: string, name: string) => core().readNamespacedSecret({ namespace, name });
const leafOf = (secret: V1Secret) => new X509Certificate(Buffer.from(secret.data!['tls.crt']!, 'base64'));
type Certificate = { spec: Record<string, unknown>; metadata: { labels?: Record<string, string> }; status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
const readCertificate = (namespace: string, name: string) => custom().getNamespacedCustomObject({ ...CM, namespace, name }) as Promise<Certificate>;

describe('the platform emulator on a real API server', () => {
  it('turns an annotated Service into a Certificate and a Secret whose leaf verifies and covers the four names', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'web');
    const certificate = await eventually('Certificate web-cert', () => readCertificate(ns, 'web-cert'), () => true);
    expect(certificate.spec).toMatchObject({
      secretName: 'web-tls',
      issuerRef: { name: 'cpaas-ca', kind: 'ClusterIssuer' },
      dnsNames: ['web', `web.${ns}`, `web.${ns}.svc`, `web.${ns}.svc.cluster.local`],
    });
    expect(certificate.metadata.labels?.['generate.kyverno.io/policy-name']).toBe('generate-service-cert');
    const secret = await eventually('Secret web-tls', () => readSecret(ns, 'web-tls'), () => true);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(secret.metadata?.annotations).toMatchObject({
      'cert-manager.io/certificate-name': 'web-cert',
      'cert-manager.io/issuer-name': 'cpaas-ca',
      'cert-manager.io/issuer-kind': 'ClusterIssuer',
      'cert-manager.io/alt-names': `web,web.${ns},web.${ns}.svc,web.${ns}.svc.cluster.local`,
    });
    const leaf = leafOf(secret);
    const ca = new X509Certificate(Buffer.from(secret.data!['ca.crt']!, 'base64'));
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(Buffer.from(secret.data!['tls.key']!, 'base64')))).toBe(true);
    for (const name of ['web', `web.${ns}`, `web.${ns}.svc`, `web.${ns}.svc.cluster.local`]) expect(leaf.checkHost(name)).toBe(name);
    expect(Buffer.from(secret.data!['tls.key']!, 'base64').toString()).toMatch(/BEGIN RSA PRIVATE KEY/); // RSA 2048, PKCS#1 by default
    await eventually('Ready=True', () => readCertificate(ns, 'web-cert'), (c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false);
  });

  it('issues ECDSA or PKCS#8 keys as spec.privateKey asks', async () => {
    const ns = await createNamespace();
    await custom().createNamespacedCustomObject({ ...CM, namespace: ns, body: {
      apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'ec' },
      spec: { secretName: 'ec-tls', dnsNames: ['ec'], issuerRef: { name: 'cpaas-ca', kind: 'ClusterIssuer' }, privateKey: { algorithm: 'ECDSA', size: 384, encoding: 'PKCS8' } },
    } });
    const secret = await eventually('Secret ec-tls', () => readSecret(ns, 'ec-tls'), () => true);
    expect(leafOf(secret).publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(Buffer.from(secret.data!['tls.key']!, 'base64').toString()).toMatch(/BEGIN PRIVATE KEY/);
  });

  it('copies service-root-ca into a new namespace, not into the excluded ones, and keeps copies in sync with a CA rotation', async () => {
    const ns = await createNamespace();
    const copy = await eventually('service-root-ca copy', () => readSecret(ns, 'service-root-ca'), () => true);
    expect(copy.type).toBe('Opaque');
    expect(copy.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'kyverno', 'generate.kyverno.io/policy-name': 'clone-ca-secret' });
    expect(Buffer.from(copy.data!['ca.crt']!, 'base64').toString()).toBe(platform.caPem);
    for (const excluded of ['kube-system', 'cpaas-system']) {
      await expect(readSecret(excluded, 'service-root-ca')).rejects.toMatchObject({ code: 404 });
    }
    const other = await createNamespace();
    await eventually('second copy', () => readSecret(other, 'service-root-ca'), () => true);

    const before = platform.caPem;
    await platform.rotateCA();
    expect(platform.caPem).not.toBe(before);
    for (const namespace of [ns, other]) {
      await eventually(`rotated copy in ${namespace}`, () => readSecret(namespace, 'service-root-ca'),
        (secret) => Buffer.from(secret.data!['ca.crt']!, 'base64').toString() === platform.caPem);
    }
  });

  it('recreates a deleted copy (synchronize: true)', async () => {
    const ns = await createNamespace();
    await eventually('copy', () => readSecret(ns, 'service-root-ca'), () => true);
    await core().deleteNamespacedSecret({ namespace: ns, name: 'service-root-ca' });
    await eventually('recreated copy', () => readSecret(ns, 'service-root-ca'), () => true);
  });

  it('renew issues a new leaf with a new key', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'api');
    const first = await eventually('Secret api-tls', () => readSecret(ns, 'api-tls'), () => true);
    const serial = await platform.renew(ns, 'api-cert');
    const second = await readSecret(ns, 'api-tls');
    expect(serial).toBe(leafOf(second).serialNumber);
    expect(serial).not.toBe(leafOf(first).serialNumber);
    expect(second.data!['tls.key']).not.toBe(first.data!['tls.key']);
  });

  it('renews by itself at 2/3 of the lifetime', async () => {
    const ns = await createNamespace();
    await custom().createNamespacedCustomObject({ ...CM, namespace: ns, body: {
      apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'short' },
      spec: { secretName: 'short-tls', dnsNames: ['short'], duration: '3s', issuerRef: { name: 'cpaas-ca', kind: 'ClusterIssuer' }, privateKey: { algorithm: 'ECDSA' } },
    } });
    const first = leafOf(await eventually('short-tls', () => readSecret(ns, 'short-tls'), () => true));
    const issuedAt = Date.now();
    const renewed = await eventually('renewal', () => readSecret(ns, 'short-tls'), (s) => leafOf(s).serialNumber !== first.serialNumber, 10_000);
    const after = Date.now() - issuedAt;
    expect(after).toBeGreaterThan(1_000); // not at once: at 2 s of 3 (notBefore is whole seconds)
    expect(new Date(leafOf(renewed).validFrom).getTime()).toBeGreaterThanOrEqual(new Date(first.validFrom).getTime());
  });

  it('removing the annotation removes the Certificate', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'gone');
    await eventually('gone-cert', () => readCertificate(ns, 'gone-cert'), () => true);
    const service = await core().readNamespacedService({ namespace: ns, name: 'gone' });
    delete service.metadata!.annotations![PLATFORM.annotation];
    await core().replaceNamespacedService({ namespace: ns, name: 'gone', body: service });
    await eventually('Certificate deleted', () => readCertificate(ns, 'gone-cert').then(() => 'exists', (e: { code?: number }) => (e.code === 404 ? 'gone' : 'error')), (state) => state === 'gone');
  });

  it('says Ready=False with a reason while the ClusterIssuer is missing or broken, and issues once it is back', async () => {
    const ns = await createNamespace();
    await platform.setIssuer('missing');
    try {
      await annotatedService(ns, 'wait');
      const pending = await eventually('Ready=False', () => readCertificate(ns, 'wait-cert'),
        (c) => c.status?.conditions?.some((x) => x.type === 'Issuing' && /not found/.test(x.message)) ?? false);
      expect(pending.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'DoesNotExist' });
      expect(pending.status?.conditions?.find((c) => c.type === 'Issuing')?.message).toBe('Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "cpaas-ca" not found');
      await platform.setIssuer('broken');
      await eventually('not-ready message', () => readCertificate(ns, 'wait-cert'),
        (c) => c.status?.conditions?.some((x) => x.type === 'Issuing' && /does not have a Ready status/.test(x.message)) ?? false);
    } finally {
      await platform.setIssuer('ready');
    }
    await eventually('issued after the issuer came back', () => readSecret(ns, 'wait-tls'), () => true);
  });

  it('delays issuance when asked (a slow cert-manager)', async () => {
    const ns = await createNamespace();
    platform.setIssuanceDelay(1_500);
    try {
      const started = Date.now();
      await annotatedService(ns, 'slow');
      await eventually('slow-tls', () => readSecret(ns, 'slow-tls'), () => true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    } finally {
      platform.setIssuanceDelay(0);
    }
  });
});

describe('a platform with a policy missing', () => {
  it('makes no Certificate when generate-service-cert is not installed', async () => {
    await platform.stop();
    const partial = await startPlatform(admin(), { policies: { generateServiceCert: false } });
    try {
      const ns = await createNamespace();
      await annotatedService(ns, 'lonely');
      await partial.settled();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await expect(readCertificate(ns, 'lonely-cert')).rejects.toMatchObject({ code: 404 });
    } finally {
      await partial.stop();
      platform = await startPlatform(admin());
    }
  });
});

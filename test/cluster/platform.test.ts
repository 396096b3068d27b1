import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, loadAllYaml, type V1Secret } from '@kubernetes/client-node';
import { PLATFORM, type PlatformClient } from '@serving-cert/testkit';
import { controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';

// What the real cert-manager and Kyverno do with the seed's policies (design section 3): the
// facts the SDK relies on, checked on the controllers themselves.
let platform: PlatformClient;
const admin = () => controlPlane().kubeConfig;
const core = () => admin().makeApiClient(CoreV1Api);
const custom = () => admin().makeApiClient(CustomObjectsApi);
const CM = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const;
const CR = { group: 'cert-manager.io', version: 'v1', plural: 'certificaterequests' } as const;

beforeAll(async () => {
  platform = await connectPlatform();
});

async function annotatedService(namespace: string, name: string, secretName = `${name}-tls`) {
  await core().createNamespacedService({ namespace, body: {
    metadata: { name, annotations: { [PLATFORM.annotation]: secretName, unrelated: 'kept' } },
    spec: { ports: [{ port: 443, targetPort: 8443 }], selector: { app: name } },
  } });
}
const readSecret = (namespace: string, name: string) => core().readNamespacedSecret({ namespace, name });
const leafOf = (secret: V1Secret) => new X509Certificate(Buffer.from(secret.data!['tls.crt']!, 'base64'));
type Condition = { type: string; status: string; reason: string; message: string };
type Certificate = { spec: Record<string, unknown>; metadata: { labels?: Record<string, string>; uid?: string }; status?: { conditions?: Condition[]; revision?: number } };
type CertificateRequest = { metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string }>; annotations?: Record<string, string> }; status?: { conditions?: Condition[] } };
const readCertificate = (namespace: string, name: string) => custom().getNamespacedCustomObject({ ...CM, namespace, name }) as Promise<Certificate>;
const listRequests = async (namespace: string) => ((await custom().listNamespacedCustomObject({ ...CR, namespace })) as { items: CertificateRequest[] }).items;
const exists = (read: () => Promise<unknown>) => read().then(() => true, (error: { code?: number }) => {
  if (error.code === 404) return false;
  throw error;
});
const condition = (object: { status?: { conditions?: Condition[] } }, type: string) => object.status?.conditions?.find((c) => c.type === type);

describe('the real platform: Kyverno generates, cert-manager issues', () => {
  it('turns an annotated Service into a Certificate, an approved CertificateRequest and a Secret with the documented shape', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'web');
    const certificate = await eventually('Certificate web-cert', () => readCertificate(ns, 'web-cert'), () => true);
    expect(certificate.spec).toMatchObject({
      secretName: 'web-tls',
      issuerRef: { name: 'cpaas-ca', kind: 'ClusterIssuer' },
      dnsNames: ['web', `web.${ns}`, `web.${ns}.svc`, `web.${ns}.svc.cluster.local`],
    });
    expect(certificate.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'kyverno', 'generate.kyverno.io/policy-name': 'generate-service-cert' });
    const secret = await eventually('Secret web-tls', () => readSecret(ns, 'web-tls'), (s) => Boolean(s.data?.['tls.crt']));
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data!).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(secret.metadata?.annotations).toMatchObject({
      'cert-manager.io/certificate-name': 'web-cert',
      'cert-manager.io/issuer-name': 'cpaas-ca',
      'cert-manager.io/issuer-kind': 'ClusterIssuer',
      'cert-manager.io/issuer-group': '', // issuerRef.group as written: the policy leaves it out
      'cert-manager.io/alt-names': `web,web.${ns},web.${ns}.svc,web.${ns}.svc.cluster.local`,
    });
    const leaf = leafOf(secret);
    const ca = new X509Certificate(Buffer.from(secret.data!['ca.crt']!, 'base64'));
    expect(ca.toString()).toBe(new X509Certificate(platform.caPem).toString()); // ca.crt: the root itself
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(Buffer.from(secret.data!['tls.key']!, 'base64')))).toBe(true);
    for (const name of ['web', `web.${ns}`, `web.${ns}.svc`, `web.${ns}.svc.cluster.local`]) expect(leaf.checkHost(name)).toBe(name);
    // No commonName in the generated Certificate: an empty subject; no extendedKeyUsage.
    expect(leaf.subject ?? '').toBe('');
    expect(leaf.keyUsage ?? []).toEqual([]);
    expect(Buffer.from(secret.data!['tls.crt']!, 'base64').toString().match(/BEGIN CERTIFICATE/g)).toHaveLength(1); // the leaf alone
    expect(Buffer.from(secret.data!['tls.key']!, 'base64').toString()).toMatch(/BEGIN RSA PRIVATE KEY/); // RSA 2048, PKCS#1 by default
    expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()).toBe(90 * 86_400_000);

    const ready = await eventually('Ready=True', () => readCertificate(ns, 'web-cert'), (c) => condition(c, 'Ready')?.status === 'True');
    expect(condition(ready, 'Ready')).toMatchObject({ reason: 'Ready', message: 'Certificate is up to date and has not expired' });
    expect(ready.status?.revision).toBe(1);
    const [request, ...more] = await listRequests(ns);
    expect(more).toEqual([]);
    expect(request!.metadata.name).toBe('web-cert-1');
    expect(request!.metadata.ownerReferences).toMatchObject([{ kind: 'Certificate', name: 'web-cert' }]);
    expect(condition(request!, 'Approved')).toMatchObject({ status: 'True', reason: 'cert-manager.io' });
    expect(condition(request!, 'Ready')).toMatchObject({ status: 'True', reason: 'Issued' });
  });

  it('issues ECDSA or PKCS#8 keys as spec.privateKey asks', async () => {
    const ns = await createNamespace();
    await custom().createNamespacedCustomObject({ ...CM, namespace: ns, body: {
      apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'ec' },
      spec: { secretName: 'ec-tls', dnsNames: ['ec'], issuerRef: { name: 'cpaas-ca', kind: 'ClusterIssuer' }, privateKey: { algorithm: 'ECDSA', size: 384, encoding: 'PKCS8' } },
    } });
    const secret = await eventually('Secret ec-tls', () => readSecret(ns, 'ec-tls'), (s) => Boolean(s.data?.['tls.crt']));
    expect(leafOf(secret).publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(Buffer.from(secret.data!['tls.key']!, 'base64').toString()).toMatch(/BEGIN PRIVATE KEY/);
  });

  it('copies service-root-ca into a new namespace, not into the excluded ones, and keeps copies in sync with a CA rotation', async () => {
    const ns = await createNamespace();
    const copy = await eventually('service-root-ca copy', () => readSecret(ns, 'service-root-ca'), () => true);
    expect(copy.type).toBe('Opaque');
    expect(copy.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'kyverno', 'generate.kyverno.io/policy-name': 'clone-ca-secret' });
    // The initial-sync-on-creation mutate rule fills ca.crt as Kyverno creates the copy.
    expect(Buffer.from(copy.data!['ca.crt']!, 'base64').toString()).toBe(platform.caPem);
    for (const excluded of ['kube-system', 'cpaas-system', 'cert-manager']) {
      if (excluded === 'cert-manager') continue; // holds the root itself
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
    const first = await eventually('copy', () => readSecret(ns, 'service-root-ca'), () => true);
    await core().deleteNamespacedSecret({ namespace: ns, name: 'service-root-ca' });
    const again = await eventually('recreated copy', () => readSecret(ns, 'service-root-ca'), (s) => s.metadata?.uid !== first.metadata?.uid);
    expect(again.data?.['ca.crt']).toBe(first.data?.['ca.crt']);
  });

  it('renew (cmctl style) issues a new leaf with a new key, through a second CertificateRequest', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'api');
    const first = await eventually('Secret api-tls', () => readSecret(ns, 'api-tls'), (s) => Boolean(s.data?.['tls.crt']));
    const serial = await platform.renew(ns, 'api-cert');
    const second = await readSecret(ns, 'api-tls');
    expect(serial).toBe(leafOf(second).serialNumber);
    expect(serial).not.toBe(leafOf(first).serialNumber);
    expect(second.data!['tls.key']).not.toBe(first.data!['tls.key']); // rotationPolicy Always
    expect((await readCertificate(ns, 'api-cert')).status?.revision).toBe(2);
    // revisionHistoryLimit is unset, and cert-manager keeps one request: the old one is gone.
    await eventually('old request deleted', () => listRequests(ns), (items) => items.map((r) => r.metadata.name).join() === 'api-cert-2');
  });

  it('re-issues into a Secret that was deleted', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'again');
    const first = await eventually('Secret again-tls', () => readSecret(ns, 'again-tls'), (s) => Boolean(s.data?.['tls.crt']));
    // cert-manager writes the Secret before it ends the issuance (revision 1, Issuing gone): a
    // Secret deleted in between is written again from the same CertificateRequest, same serial.
    await eventually('issuance ended', () => readCertificate(ns, 'again-cert'), (c) => c.status?.revision === 1 && !condition(c, 'Issuing'));
    await core().deleteNamespacedSecret({ namespace: ns, name: 'again-tls' });
    const second = await eventually('re-issued Secret', () => readSecret(ns, 'again-tls'), (s) => Boolean(s.data?.['tls.crt']));
    expect(leafOf(second).serialNumber).not.toBe(leafOf(first).serialNumber);
  });

  it('deleting the Service deletes the generated Certificate; its Secret stays', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'gone');
    await eventually('gone-tls', () => readSecret(ns, 'gone-tls'), (s) => Boolean(s.data?.['tls.crt']));
    await core().deleteNamespacedService({ namespace: ns, name: 'gone' });
    await eventually('Certificate deleted', () => exists(() => readCertificate(ns, 'gone-cert')), (present) => !present);
    expect(await exists(() => readSecret(ns, 'gone-tls'))).toBe(true);
  });
});

describe('the real platform when something is missing', () => {
  it('a missing or broken ClusterIssuer: the Certificate waits Issuing, its CertificateRequest says why; issued once the issuer is back', async () => {
    const ns = await createNamespace();
    await platform.setIssuer('missing');
    try {
      await annotatedService(ns, 'wait');
      // Issuing comes from cert-manager's trigger controller, Ready from its readiness controller:
      // two writers, so either can land first; wait for both.
      const pending = await eventually(
        'Issuing=True and a Ready condition',
        () => readCertificate(ns, 'wait-cert'),
        (c) => condition(c, 'Issuing')?.status === 'True' && condition(c, 'Ready') !== undefined,
      );
      expect(condition(pending, 'Ready')).toMatchObject({ status: 'False', reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist' });
      const [request] = await eventually('CertificateRequest pending', () => listRequests(ns), (items) => condition(items[0] ?? {}, 'Ready')?.reason === 'Pending');
      expect(condition(request!, 'Ready')?.message).toBe('Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "cpaas-ca" not found');
      await platform.setIssuer('broken');
      const [stillPending] = await eventually('not-ready message', () => listRequests(ns), (items) => /does not have a Ready status condition/.test(condition(items[0] ?? {}, 'Ready')?.message ?? ''));
      expect(condition(stillPending!, 'Ready')).toMatchObject({ status: 'False', reason: 'Pending' });
    } finally {
      await platform.setIssuer('ready');
    }
    await eventually('issued after the issuer came back', () => readSecret(ns, 'wait-tls'), (s) => Boolean(s.data?.['tls.crt']), 30_000);
  });

  it('makes no Certificate while generate-service-cert is not installed', async () => {
    await platform.setPolicies({ generateServiceCert: false });
    try {
      const ns = await createNamespace();
      await annotatedService(ns, 'lonely');
      // Kyverno is working (this namespace got its CA copy after the Service existed) ...
      await eventually('service-root-ca', () => readSecret(ns, 'service-root-ca'), () => true);
      await core().createNamespacedService({ namespace: ns, body: { metadata: { name: 'later' }, spec: { ports: [{ port: 80 }] } } });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      // ... yet no Certificate came.
      expect(await exists(() => readCertificate(ns, 'lonely-cert'))).toBe(false);
    } finally {
      await platform.setPolicies({ generateServiceCert: true });
    }
  });
});

describe('the seed policies on delete and re-apply (deploy/platform/README.md)', () => {
  const KY = { group: 'kyverno.io', version: 'v1', plural: 'clusterpolicies' } as const;
  const corrected = async (name: string) => {
    const text = await readFile(new URL('../../deploy/platform/corrected/kyverno-policies.yaml', import.meta.url), 'utf8');
    return (loadAllYaml(text) as Array<{ kind?: string; metadata?: { name?: string } }>).find((policy) => policy?.metadata?.name === name)!;
  };
  const policyReady = (name: string) => eventually(`ClusterPolicy ${name} Ready`, () => custom().getClusterCustomObject({ ...KY, name }) as Promise<{ status?: { conditions?: Condition[] } }>,
    (policy) => condition(policy, 'Ready')?.status === 'True', 30_000);

  it('as shipped, deleting generate-service-cert deletes every generated Certificate, and re-creating it brings none back; the corrected variant fixes both', async () => {
    const ns = await createNamespace();
    await annotatedService(ns, 'kept');
    await eventually('kept-tls', () => readSecret(ns, 'kept-tls'), (s) => Boolean(s.data?.['tls.crt']));
    try {
      // The seed's policy: synchronize: true deletes the downstream with the policy ...
      await platform.setPolicies({ generateServiceCert: false });
      await eventually('Certificate deleted with the policy', () => exists(() => readCertificate(ns, 'kept-cert')), (present) => !present);
      expect(await exists(() => readSecret(ns, 'kept-tls'))).toBe(true); // cert-manager's Secret stays, and will never be renewed
      // ... and without generateExisting, re-creating it leaves the annotated Service without one.
      await platform.setPolicies({ generateServiceCert: true });
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await exists(() => readCertificate(ns, 'kept-cert'))).toBe(false);

      // The corrected variant: generateExisting brings the Certificate back ...
      await platform.setPolicies({ generateServiceCert: false });
      await custom().createClusterCustomObject({ ...KY, body: await corrected('generate-service-cert') });
      await policyReady('generate-service-cert');
      await eventually('Certificate generated for the existing Service', () => exists(() => readCertificate(ns, 'kept-cert')), Boolean, 30_000);
      // ... and orphanDownstreamOnPolicyDelete keeps it when the policy goes.
      await custom().deleteClusterCustomObject({ ...KY, name: 'generate-service-cert' });
      await eventually('policy deleted', () => exists(() => custom().getClusterCustomObject({ ...KY, name: 'generate-service-cert' })), (present) => !present);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await exists(() => readCertificate(ns, 'kept-cert'))).toBe(true);
    } finally {
      await platform.setPolicies({ generateServiceCert: false });
      await platform.setPolicies({ generateServiceCert: true });
    }
  });
});

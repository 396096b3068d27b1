import { X509Certificate } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ensureServingCert, type ServingCert, type TrustState } from '@serving-cert/core';
import { PLATFORM, projectSecretVolume, type PlatformClient } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

// The whole chain on the real controllers, from an empty namespace: the SDK annotates the
// Service, Kyverno generates the Certificate, cert-manager issues the Secret through an approved
// CertificateRequest, Kyverno copies service-root-ca, and two instances of the app (files source
// through the volume projector, api source) serve it to a real TLS client; then a renewal and a
// platform CA rotation reach both.
let platform: PlatformClient;
const cleanups: Array<() => Promise<unknown>> = [];
const admin = () => controlPlane().kubeConfig;
const core = () => admin().makeApiClient(CoreV1Api);
const custom = () => admin().makeApiClient(CustomObjectsApi);
type Condition = { type: string; status: string; reason?: string };
type WithConditions = { metadata?: { labels?: Record<string, string> }; status?: { conditions?: Condition[] } };

beforeAll(async () => {
  platform = await connectPlatform();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('end to end on the real platform', () => {
  it('Service without annotation -> served certificate, then renewal and CA rotation, files and api sources', async () => {
    const namespace = await createNamespace('e2e');
    const caCopy = await eventually('service-root-ca copied by Kyverno', () => core().readNamespacedSecret({ namespace, name: PLATFORM.caSecretName }), () => true);
    expect(Buffer.from(caCopy.data!['ca.crt']!, 'base64').toString()).toBe(platform.caPem);
    await core().createNamespacedService({ namespace, body: {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: { ports: [{ port: 443, targetPort: 8443 }], selector: { app: 'web' } },
    } });
    await applyAppRbac(namespace, 'web', `app-${namespace}`, { secretName: 'web-tls' });
    const appKubeConfig = controlPlane().addUser(`app-${namespace}`);

    // Instance 1: the files source, its two volumes projected as kubelet does.
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    for (const [secretName, sub] of [['web-tls', 'certs'], [PLATFORM.caSecretName, 'ca']] as const) {
      const projection = await projectSecretVolume({ kubeConfig: admin(), namespace, secretName, dir: `${dir}/${sub}`, delayMs: 200, optional: true });
      cleanups.push(() => projection.stop());
    }
    const files = await ensureServingCert({ renewOnRollover: false, logger: recordingLogger(), kubeConfig: appKubeConfig, source: 'files', serviceName: 'web', namespace, certDir: `${dir}/certs`, caDir: `${dir}/ca`, timeoutMs: 45_000 });
    cleanups.push(() => files.close());

    // What the platform did on the way.
    const service = await core().readNamespacedService({ namespace, name: 'web' });
    expect(service.metadata?.annotations?.[PLATFORM.annotation]).toBe('web-tls');
    const certificate = await custom().getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificates', name: 'web-cert' }) as WithConditions;
    expect(certificate.metadata?.labels?.['generate.kyverno.io/policy-name']).toBe('generate-service-cert');
    const request = await custom().getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificaterequests', name: 'web-cert-1' }) as WithConditions;
    expect(request.status?.conditions?.find((c) => c.type === 'Approved')?.status).toBe('True');
    const secret = await core().readNamespacedSecret({ namespace, name: 'web-tls' });
    expect(Buffer.from(secret.data!['tls.crt']!, 'base64').toString()).toBe(files.current.certPem);
    expect(files.current.info.dnsNames).toEqual(['web', `web.${namespace}`, `web.${namespace}.svc`, `web.${namespace}.svc.cluster.local`]);
    expect(files.trust.pem).toContain(platform.caPem.trim());

    // Instance 2: the api source, same Service and Secret.
    const api = await ensureServingCert({ renewOnRollover: false, logger: recordingLogger(), kubeConfig: appKubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 45_000 });
    cleanups.push(() => api.close());
    expect(api.current.info.serialNumber).toBe(files.current.info.serialNumber);

    const servers: Array<{ cert: ServingCert; port: number }> = [];
    for (const cert of [files, api]) {
      const server = await startAttachedHttpsServer(cert);
      cleanups.push(server.close);
      servers.push({ cert, port: server.port });
    }
    const host = `web.${namespace}.svc`;
    for (const { port } of servers) expect(await servedSerial(port, platform.caPem, host)).toBe(files.current.info.serialNumber);

    // A renewal (cmctl renew): both instances serve the new leaf.
    const renewed = [nextEvent(files, 'rotate', 20_000), nextEvent(api, 'rotate', 20_000)];
    const serial = await platform.renew(namespace, 'web-cert');
    await Promise.all(renewed);
    for (const { port } of servers) expect(await servedSerial(port, platform.caPem, host)).toBe(serial);

    // A platform CA rotation: Kyverno syncs service-root-ca, both trust old and new CA ...
    const oldCa = platform.caPem;
    const trusted = [nextEvent<[TrustState]>(files, 'trust', 20_000), nextEvent<[TrustState]>(api, 'trust', 20_000)];
    await platform.rotateCA();
    for (const [state] of await Promise.all(trusted)) {
      expect(state.pem).toContain(platform.caPem.trim());
      expect(state.pem).toContain(oldCa.trim()); // the old CA stays trusted through the rollover
    }
    // ... and cert-manager did not re-issue by itself: the served leaf is still the old CA's.
    for (const { port } of servers) expect(await servedSerial(port, oldCa, host)).toBe(serial);
    // The next renewal signs under the new CA, and both instances serve it.
    const underNewCa = [nextEvent(files, 'rotate', 20_000), nextEvent(api, 'rotate', 20_000)];
    const newSerial = await platform.renew(namespace, 'web-cert');
    await Promise.all(underNewCa);
    for (const { cert, port } of servers) {
      expect(await servedSerial(port, platform.caPem, host)).toBe(newSerial);
      expect(new X509Certificate(cert.current.certPem).verify(new X509Certificate(platform.caPem).publicKey)).toBe(true);
    }
  });
});

// kube-apiserver killed and restarted on the same port, etcd kept: the api source's watchers
// (the serving Secret and service-root-ca) must follow the next update soon after /readyz.
// This file starts a control plane of its own, since restarting the shared one would break the
// other test files' clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { ensureServingCert, serviceDnsNames } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startControlPlane, startFaultProxy, type ControlPlane, type FaultProxy } from '@serving-cert/testkit';
import { recordingLogger, servedSerial, startAttachedHttpsServer } from '../helpers/tls.js';
import { prepareNamespace, secretData } from '../helpers/apiSecrets.js';

let plane: ControlPlane;
beforeAll(async () => {
  plane = await startControlPlane({ log: (message) => process.stderr.write(`restart test: ${message}\n`) });
}, 180_000);
afterAll(async () => {
  await plane?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Generous: a liveness bound on a shared 2-core machine, not a speed claim (the bench measures that). */
const LIVENESS_MS = 10_000;

describe('kube-apiserver killed and restarted on the same port', () => {
  it('both watchers (serving Secret and service-root-ca) serve the next update within 2 s of /readyz', async () => {
    const namespace = 'restart';
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const ca = CertificateAuthority.create();
    await prepareNamespace(plane.kubeConfig, namespace, ca);
    const proxy: FaultProxy = await startFaultProxy(plane.kubeConfig);
    const cert = await ensureServingCert({ renewOnRollover: false, kubeConfig: proxy.kubeConfig, source: 'api', annotate: false, serviceName: 'web', namespace, timeoutMs: 30_000, logger: recordingLogger() });
    const server = await startAttachedHttpsServer(cert);
    try {
      // Some history for the watchers to resume from.
      for (let index = 0; index < 3; index += 1) {
        const leaf = ca.issue({ dnsNames: serviceDnsNames('web', namespace) });
        const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
        await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: { ...secret, data: secretData(leaf) } });
        while (cert.current.info.serialNumber !== leaf.leaf.serialNumber) await sleep(10);
      }
      const before = proxy.requests.length;
      await sleep(1_500); // let both watchers settle into their watches
      // Down for 10 s: long enough for a backoff to build up, as in a real outage.
      const { readyAt } = await plane.restartApiServer({ downMs: 10_000 });

      const leaf = ca.issue({ dnsNames: serviceDnsNames('web', namespace) });
      const nextCa = CertificateAuthority.create({ commonName: 'rotated root' });
      const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
      await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: { ...secret, data: secretData(leaf) } });
      const root = await core.readNamespacedSecret({ namespace, name: 'service-root-ca' });
      await core.replaceNamespacedSecret({ namespace, name: 'service-root-ca', body: { ...root, data: { 'ca.crt': Buffer.from(nextCa.certPem).toString('base64') } } });

      let servedAt: number | undefined;
      let trustedAt: number | undefined;
      const nextCaFingerprint = new (await import('node:crypto')).X509Certificate(nextCa.certPem).fingerprint256;
      while ((servedAt === undefined || trustedAt === undefined) && Date.now() - readyAt < LIVENESS_MS) {
        if (servedAt === undefined && (await servedSerial(server.port, ca.certPem, `web.${namespace}.svc`)) === leaf.leaf.serialNumber) servedAt = Date.now();
        if (trustedAt === undefined && cert.trust.cas.some((info) => info.fingerprint256 === nextCaFingerprint)) trustedAt = Date.now();
        await sleep(5);
      }
      const after = proxy.requests.slice(before);
      process.stderr.write(`restart test: serving Secret served ${servedAt === undefined ? 'never' : `${servedAt - readyAt} ms`}, ` +
        `service-root-ca trusted ${trustedAt === undefined ? 'never' : `${trustedAt - readyAt} ms`} after /readyz\n` +
        after.map((request) => `  +${request.at - readyAt} ms ${request.watch ? 'WATCH' : request.method} ${request.path.replace(/^.*metadata\.name%3D([^&]*).*$/, '$1')} ${request.status}`).join('\n') + '\n');
      expect(servedAt, 'the serving Secret update was served').toBeDefined();
      expect(trustedAt, 'the service-root-ca update was trusted').toBeDefined();
      // The issue's promise: within 2 s of /readyz (measured: tens of ms; the bench has the figure).
      expect(servedAt! - readyAt).toBeLessThan(2_000);
      expect(trustedAt! - readyAt).toBeLessThan(2_000);
    } finally {
      await server.close();
      await cert.close();
      await proxy.close();
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ensureServingCert, PLATFORM, serviceDnsNames } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startFaultProxy } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace } from '../helpers/cluster.js';
import { startResetRelay } from '../helpers/resetRelay.js';
import { handshakeLoop, prepareNamespace, secretData } from '../helpers/apiSecrets.js';
import { rejection, recordingLogger, startAttachedHttpsServer } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the api source when a watch is cut', () => {
  it.each([
    ['a TCP reset (RST) between the app and the API server', 'reset'],
    ["the testkit's fault proxy dropping every connection", 'proxy'],
  ] as const)('after 10 rotations and %s: no rotate or error event, never an older serial', async (_label, how) => {
    const admin = controlPlane().kubeConfig;
    const namespace = await createNamespace('cut');
    const ca = CertificateAuthority.create();
    const { core } = await prepareNamespace(admin, namespace, ca);
    await applyAppRbac(namespace, 'web', `app-${namespace}`);
    const user = controlPlane().addUser(`app-${namespace}`);
    let kubeConfig: KubeConfig;
    let cut: () => void;
    let watchesOpened: () => number;
    if (how === 'reset') {
      const relay = await startResetRelay(user);
      cleanups.push(() => relay.close());
      ({ kubeConfig } = relay);
      cut = () => relay.resetAll();
      watchesOpened = () => relay.accepted;
    } else {
      const proxy = await startFaultProxy(user);
      cleanups.push(() => proxy.close());
      ({ kubeConfig } = proxy);
      cut = () => proxy.dropConnections();
      watchesOpened = () => proxy.requests.filter((request) => request.watch).length;
    }
    const cert = await ensureServingCert({ renewOnRollover: false, kubeConfig, source: 'api', annotate: false, serviceName: 'web', namespace, timeoutMs: 30_000, logger: recordingLogger() });
    cleanups.push(() => cert.close());
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(() => server.close());
    const rotations: string[] = [];
    const errors: unknown[] = [];
    cert.on('rotate', (next) => rotations.push(next.serialNumber));
    cert.on('error', (error) => errors.push(error));
    const loop = handshakeLoop(server.port, ca.certPem, `web.${namespace}.svc`);
    cleanups.push(() => loop.stop());

    const leaves = Array.from({ length: 10 }, () => ca.issue({ dnsNames: serviceDnsNames('web', namespace) }));
    for (const leaf of leaves) {
      const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
      await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: { ...secret, data: secretData(leaf) } });
      const deadline = Date.now() + 10_000;
      while (rotations.at(-1) !== leaf.leaf.serialNumber && Date.now() < deadline) await sleep(10);
    }
    const newest = leaves.at(-1)!.leaf.serialNumber;
    expect(rotations.at(-1)).toBe(newest);
    const servedNewestFrom = loop.serials.length;
    while (loop.serials.slice(servedNewestFrom).at(-1) !== newest) await sleep(10);
    const mark = { rotations: rotations.length, errors: errors.length, handshakes: loop.serials.length };

    const opened = watchesOpened();
    cut();
    // Both watchers come back (new connections), then give a replay time to show itself.
    const deadline = Date.now() + 15_000;
    while (watchesOpened() < opened + 2 && Date.now() < deadline) await sleep(20);
    expect(watchesOpened()).toBeGreaterThanOrEqual(opened + 2);
    await sleep(2_000);
    await loop.stop();

    expect(rotations.slice(mark.rotations)).toEqual([]);
    expect(errors.slice(mark.errors)).toEqual([]);
    const afterNewest = loop.serials.slice(mark.handshakes);
    expect(afterNewest.length).toBeGreaterThan(10);
    expect(afterNewest.filter((serial) => serial !== newest)).toEqual([]);
    // Over the whole run, the served serials only ever moved forward through the rotations.
    const order = [cert.current.info.serialNumber, ...leaves.map((leaf) => leaf.leaf.serialNumber)];
    const indexes = loop.serials.map((serial) => order.indexOf(serial)).filter((index) => index > 0);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));

    // And it still follows: one more rotation arrives.
    const next = ca.issue({ dnsNames: serviceDnsNames('web', namespace) });
    const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
    await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: { ...secret, data: secretData(next) } });
    const until = Date.now() + 10_000;
    while (cert.current.info.serialNumber !== next.leaf.serialNumber && Date.now() < until) await sleep(20);
    expect(cert.current.info.serialNumber).toBe(next.leaf.serialNumber);
  });
});

describe('options on the real API server', () => {
  it('timeoutMs: -1 throws E_CONFIG and leaves the Service unchanged', async () => {
    const namespace = await createNamespace('config');
    const core = controlPlane().kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedService({ namespace, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 443 }] } } });
    const before = await core.readNamespacedService({ namespace, name: 'web' });
    const error = await rejection(ensureServingCert({ renewOnRollover: false, kubeConfig: controlPlane().kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: -1, logger: recordingLogger() }));
    expect(error.code).toBe('E_CONFIG');
    expect(error.message).toContain('timeoutMs');
    const after = await core.readNamespacedService({ namespace, name: 'web' });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.metadata?.annotations?.[PLATFORM.annotation]).toBeUndefined();
  });
});

import * as https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ensureServingCert, silentLogger } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startControlPlane, startFaultProxy, type ControlPlane } from '@serving-cert/testkit';
import { handshake } from './lib/tls.js';
import { median, quantile, type Row } from './lib/stats.js';

const NAMES = (ns: string) => ['web', `web.${ns}`, `web.${ns}.svc`, `web.${ns}.svc.cluster.local`];
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A namespace with Service web (annotated), its Secret web-tls and service-root-ca, written directly. */
async function prepare(kubeConfig: KubeConfig, namespace: string, ca: CertificateAuthority) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedService({ namespace, body: {
    metadata: { name: 'web', annotations: { 'service.alauda.io/serving-cert-secret-name': 'web-tls' } }, spec: { ports: [{ port: 443 }] },
  } });
  const leaf = ca.issue({ dnsNames: NAMES(namespace) });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'web-tls' }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(leaf.caPem) } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'service-root-ca' }, data: { 'ca.crt': b64(ca.certPem) } } });
  return core;
}

/** Requests a start makes when the Secret already exists, counted at a proxy in front of the API server. */
export async function startRequests(plane: ControlPlane): Promise<Row> {
  const ca = CertificateAuthority.create();
  await prepare(plane.kubeConfig, 'bench-start', ca);
  const proxy = await startFaultProxy(plane.kubeConfig);
  const cert = await ensureServingCert({ kubeConfig: proxy.kubeConfig, source: 'api', serviceName: 'web', namespace: 'bench-start', logger: silentLogger });
  const atResolve = [...proxy.requests];
  await new Promise((resolve) => setTimeout(resolve, 300));
  const watches = proxy.requests.filter((request) => request.watch).length;
  await cert.close();
  await proxy.close();
  const requests = atResolve.filter((request) => !request.watch);
  return {
    name: 'api: requests made by a start, Secret already there',
    // 3 for the material (GET Service, LIST both Secrets) and 1 GET of the trust ConfigMap that
    // lets a restart mid-rollover still trust a retired platform CA (read beside the CA's LIST).
    unit: 'requests', value: requests.length, baselineName: 'target', baseline: 4, ratio: requests.length / 4,
    target: '<= 4 (3 + the trust ConfigMap)', met: requests.length <= 4,
    detail: { requests: requests.map((request) => `${request.method} ${request.path.replace(/\?.*/, '')}`), watchesOpenedAfter: watches },
  };
}

/** Secret update (a PUT of new material) to the first handshake that presents it, api source. */
export async function apiRotationToHandshake(plane: ControlPlane, rotations: number): Promise<Row> {
  const ca = CertificateAuthority.create();
  const namespace = 'bench-rotation';
  const core = await prepare(plane.kubeConfig, namespace, ca);
  const cert = await ensureServingCert({ kubeConfig: plane.kubeConfig, source: 'api', serviceName: 'web', namespace, logger: silentLogger });
  const server = https.createServer(cert.serverOptions());
  cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const leaves = Array.from({ length: rotations }, () => ca.issue({ dnsNames: NAMES(namespace) }));
  const samples: number[] = [];
  try {
    for (const leaf of leaves) {
      const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
      secret.data = { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(leaf.caPem) };
      const started = performance.now();
      await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: secret });
      while ((await handshake(port, ca.certPem, 'web')) !== leaf.leaf.serialNumber) {
        if (performance.now() - started > 10_000) throw new Error('an update did not arrive within 10 s');
      }
      samples.push(performance.now() - started);
    }
  } finally {
    server.close();
    await cert.close();
  }
  const p99 = quantile(samples, 0.99);
  return {
    name: `api: Secret update to first handshake with the new cert, p99 (${rotations} updates)`,
    unit: 'ms', value: p99, target: 'p99 <= 100 ms', met: p99 <= 100,
    detail: { p50: quantile(samples, 0.5), p90: quantile(samples, 0.9), p99, max: Math.max(...samples), samples: samples.length },
  };
}

export { startControlPlane };

/**
 * API requests of an hour of steady state, simulated: watches renewed every second stand for
 * the default 300 s, so 12 s of this stands for an hour. Against a naive poller that GETs both
 * Secrets every 10 s (720 requests an hour).
 */
export async function steadyStateRequests(plane: ControlPlane): Promise<Row> {
  const ca = CertificateAuthority.create();
  await prepare(plane.kubeConfig, 'bench-steady', ca);
  const proxy = await startFaultProxy(plane.kubeConfig);
  const cert = await ensureServingCert({ kubeConfig: proxy.kubeConfig, source: 'api', serviceName: 'web', namespace: 'bench-steady', watchTimeoutSeconds: 1, logger: silentLogger });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = proxy.requests.length;
  const simulatedSeconds = 12;
  await new Promise((resolve) => setTimeout(resolve, simulatedSeconds * 1000));
  const during = proxy.requests.slice(before);
  await cert.close();
  await proxy.close();
  // Each 1 s watch stands for a 300 s one, so 12 s of watching stands for 3600 s.
  const perHour = during.length * (3600 / 300) / simulatedSeconds;
  const naivePerHour = 2 * (3600 / 10);
  return {
    name: 'api: requests in an hour of steady state (simulated with 1 s watches)',
    unit: 'requests', value: perHour, baselineName: 'naive poller, 2 GETs every 10 s', baseline: naivePerHour, ratio: perHour / naivePerHour,
    target: 'far below the poller', met: perHour < naivePerHour / 10,
    detail: { requestsIn12s: during.length, watches: during.filter((request) => request.watch).length, lists: during.filter((request) => !request.watch).length },
  };
}

/**
 * kube-apiserver killed (SIGKILL) and restarted on the same port, etcd kept: from its first 200
 * on /readyz, the Secret is updated at once and handshakes run until the new certificate is
 * presented. Runs last: it restarts the control plane's API server `runs` times.
 */
export async function restartToHandshake(plane: ControlPlane, runs: number): Promise<Row> {
  const ca = CertificateAuthority.create();
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const namespace = `bench-restart-${run}`;
    const core = await prepare(plane.kubeConfig, namespace, ca);
    const cert = await ensureServingCert({ kubeConfig: plane.kubeConfig, source: 'api', serviceName: 'web', namespace, logger: silentLogger });
    const server = https.createServer(cert.serverOptions());
    cert.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // both watchers in their watch
      const { readyAt } = await plane.restartApiServer();
      const leaf = ca.issue({ dnsNames: NAMES(namespace) });
      const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
      secret.data = { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(leaf.caPem) };
      await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: secret });
      while ((await handshake(port, ca.certPem, 'web')) !== leaf.leaf.serialNumber) {
        if (Date.now() - readyAt > 60_000) throw new Error('the update did not arrive within 60 s of /readyz');
      }
      samples.push(Date.now() - readyAt);
      process.stderr.write(`bench: restart ${run + 1}/${runs}: served ${samples.at(-1)} ms after /readyz\n`);
    } finally {
      server.close();
      await cert.close();
    }
  }
  const middle = median(samples);
  return {
    name: `api: rotation served after a kube-apiserver restart, from /readyz to the first handshake, median (${runs} restarts)`,
    unit: 'ms', value: middle, target: '<= 2000 ms', met: middle <= 2_000,
    detail: { samples, max: Math.max(...samples) },
  };
}

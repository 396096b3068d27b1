// A platform CA rollover on the real platform (cert-manager and Kyverno with the seed's
// policies): six services in three namespaces call each other over mTLS every 100 ms while
// cert-manager/service-root-ca is replaced. This file starts its OWN control plane and platform
// (project "rollover", no shared global setup): replacing the platform root CA would otherwise
// change the CA under every other cluster test of the run, and theirs would change it under this one.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import * as https from 'node:https';
import type { LookupAddress } from 'node:dns';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { request, type Dispatcher } from 'undici';
import { allowPeers, createMtlsDispatcher, ensureServingCert, peerIdentity, type ServingCert } from '@serving-cert/core';
import { startControlPlane, startPlatform, type ControlPlane, type Platform } from '@serving-cert/testkit';
import { servingCert } from '../helpers/cli.js';
import { recordingLogger, tempDir } from '../helpers/tls.js';
import { applyAppRbac, createNamespace, eventually } from '../helpers/cluster.js';

let plane: ControlPlane;
let platform: Platform;
let kubeconfigFile: string;
beforeAll(async () => {
  plane = await startControlPlane();
  platform = await startPlatform(plane);
  kubeconfigFile = `${(await tempDir()).dir}/admin.kubeconfig`;
  await writeFile(kubeconfigFile, plane.kubeConfig.exportConfig(), { mode: 0o600 });
}, 300_000);
afterAll(async () => {
  await platform?.stop();
  await plane?.stop();
}, 60_000);

/** Every Service name resolves to loopback, as cluster DNS would resolve it to the Service's IP. */
const clusterDns: NonNullable<ConnectionOptions['lookup']> = (_host, options, callback) => {
  const answer = callback as (error: null, address: string | LookupAddress[], family?: number) => void;
  if (options.all) answer(null, [{ address: '127.0.0.1', family: 4 }]);
  else answer(null, '127.0.0.1', 4);
};

interface Running {
  name: string;
  namespace: string;
  cert: ServingCert;
  server: https.Server;
  dispatcher: Dispatcher;
  port: number;
  logger: ReturnType<typeof recordingLogger>;
  up: boolean;
}

const WINDOW_MS = 10_000;
/**
 * Twice the window, as the default is: a hold shorter than the window lets a service release the
 * old CA before a peer it never met has moved, and refuse that peer (seen once with 3 s).
 */
const MIN_HOLD_MS = 2 * WINDOW_MS;

async function startService(kubeConfig: KubeConfig, name: string, namespace: string, peers: string[], port = 0, windowMs = WINDOW_MS, renewOnRollover = true): Promise<Running> {
  const logger = recordingLogger();
  const cert = await ensureServingCert({ kubeConfig, source: 'api', serviceName: name, namespace, timeoutMs: 60_000, rolloverRenewWindowMs: windowMs,
    retiredCaMinHoldMs: MIN_HOLD_MS, renewOnRollover, logger });
  const server = https.createServer(cert.serverOptions({ clientCert: 'require' }), (req, res) => {
    res.end(`${name}.${namespace} saw ${peerIdentity(req.socket as TLSSocket)?.serviceName}`);
  });
  cert.attach(server);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  // A short keep-alive: new connections (new handshakes, with the trust of the moment) come often.
  const dispatcher = createMtlsDispatcher(cert, { authorize: allowPeers({ namespaces: peers }), connect: { lookup: clusterDns }, keepAliveTimeout: 300 });
  return { name, namespace, cert, server, dispatcher, port: (server.address() as AddressInfo).port, logger, up: true };
}

async function stopService(service: Running): Promise<void> {
  // As a pod leaves its Service's endpoints before it stops: no new calls, and the calls already
  // on their way (one every 100 ms per caller) finish before the server closes.
  service.up = false;
  await new Promise((resolve) => setTimeout(resolve, 500));
  await service.dispatcher.close();
  const closed = new Promise((resolve) => service.server.close(resolve));
  service.server.closeIdleConnections();
  const force = setTimeout(() => service.server.closeAllConnections(), 2_000); // a peer's pooled connection
  await closed;
  clearTimeout(force);
  await service.cert.close();
}

async function createService(namespace: string, name: string): Promise<void> {
  await plane.kubeConfig.makeApiClient(CoreV1Api).createNamespacedService({ namespace, body: { metadata: { name }, spec: { ports: [{ port: 443 }] } } });
}

interface Call { from: string; to: string; at: number; ok: boolean; detail: string; callerOld: boolean }

/** The in-process view of `rollover status` (the CLI's own module), for a snapshot that must not wait for a child process. */
async function statusNow(): Promise<{ ok: boolean; summary: { total: number; current: number; old: number } }> {
  const file = createRequire(import.meta.url).resolve('@serving-cert/core/package.json').replace(/package\.json$/, 'dist/cli/rollover.js');
  const { rolloverStatus } = await import(pathToFileURL(file).href) as { rolloverStatus: (kc: KubeConfig, o: { allNamespaces: boolean }) => ReturnType<typeof statusNow> };
  return rolloverStatus(plane.kubeConfig, { allNamespaces: true });
}

const leafIsFrom = (service: Running, caPem: string) => service.cert.current.info.issuer === new X509Certificate(caPem).subject;

describe('a platform CA rollover converges with no failed request', () => {
  it('6 services, 3 namespaces, mTLS every 100 ms: the CA is replaced, every leaf re-issued within the window, one restart mid-rollover', async () => {
    const namespaces = await Promise.all(['ro-a', 'ro-b', 'ro-c'].map((prefix) => createNamespace(prefix, plane.kubeConfig)));
    const services: Running[] = [];
    for (const namespace of namespaces) {
      for (const name of ['alpha', 'beta']) {
        await createService(namespace, name);
        await applyAppRbac(namespace, name, `${name}-${namespace}`, { renew: true, admin: plane.kubeConfig });
        // The last one does not ask for a re-issue: it stays on the old CA until the test renews it
        // (as cert-manager would at renewBefore), so that "mid-rollover" below does not depend on
        // how the other five's random moments fall in the window.
        const asks = services.length < 5;
        services.push(await startService(plane.addUser(`${name}-${namespace}`), name, namespace, namespaces, 0, WINDOW_MS, asks));
      }
    }
    const laggard = services[5]!;
    const oldCa = platform.caPem;
    const calls: Call[] = [];
    let running = true;
    // Each service calls the next peer in turn every 100 ms; a service that is down (restarting)
    // is skipped, as a Service without ready endpoints is.
    const loops = services.map(async (caller, index) => {
      for (let turn = 0; running; turn += 1) {
        const callee = services[(index + 1 + (turn % (services.length - 1))) % services.length]!;
        const current = services[index]!;
        if (current.up && callee.up && callee !== current) {
          const callerOld = leafIsFrom(current, oldCa);
          try {
            const response = await request(`https://${callee.name}.${callee.namespace}.svc:${callee.port}/`, { dispatcher: current.dispatcher });
            calls.push({ from: `${caller.name}.${caller.namespace}`, to: `${callee.name}.${callee.namespace}`, at: Date.now(), ok: response.statusCode === 200, detail: await response.body.text(), callerOld });
          } catch (error) {
            calls.push({ from: `${caller.name}.${caller.namespace}`, to: `${callee.name}.${callee.namespace}`, at: Date.now(), ok: false, detail: String(error), callerOld });
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });

    let lastReissueMs = 0;
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(calls.filter((call) => call.ok).length).toBeGreaterThan(10);

      const oldLeaf = services[0]!.cert.current; // a leaf of the old CA, with its key, to call with once the CA is released
      const rotatedAt = Date.now();
      await platform.rotateCA();
      const newCa = platform.caPem;
      // Before: the new root is in place, no leaf has moved yet (each waits a random moment of the window).
      const before = await statusNow();
      expect(before.summary).toMatchObject({ total: 6, current: 0, old: 6 });
      expect(before.ok).toBe(false);

      // During: the first leaf re-issued by the new CA.
      const first = await eventually('a first leaf re-issued', () => Promise.resolve(services.find((service) => leafIsFrom(service, newCa))), Boolean, WINDOW_MS + 30_000);
      const during = await servingCert(['rollover', 'status', '-A', '--kubeconfig', kubeconfigFile, '-o', 'json']);
      expect(during.code).toBe(1);
      const duringReport = JSON.parse(during.stdout) as { summary: { current: number; old: number; total: number } };
      expect(duringReport.summary.total).toBe(6);
      expect(duringReport.summary.current).toBeGreaterThanOrEqual(1);
      expect(duringReport.summary.old).toBeGreaterThanOrEqual(1);

      // The first re-issued service restarts while its peers are still on the old CA. It has
      // not seen the old CA in any input since: only its companion ConfigMap remembers it.
      const restarted = first!;
      const core = plane.kubeConfig.makeApiClient(CoreV1Api);
      const memory = await eventually('the companion ConfigMap with the retired CA', () =>
        core.readNamespacedConfigMap({ namespace: restarted.namespace, name: `${restarted.name}-tls-serving-cert-trust` }),
      (map) => (map.data?.['trust.json'] ?? '').includes(new X509Certificate(oldCa).fingerprint256), 10_000).catch((error: unknown) => {
        process.stderr.write(`warnings of ${restarted.name}.${restarted.namespace}: ${JSON.stringify(restarted.logger.lines.filter((line) => line.level !== 'info'))}\n`);
        throw error;
      });
      expect(memory.metadata?.managedFields?.map((field) => field.manager)).toContain('serving-cert');
      await stopService(restarted);
      const stillOld = services.filter((service) => service !== restarted && leafIsFrom(service, oldCa));
      expect(stillOld.length).toBeGreaterThanOrEqual(1); // mid-rollover
      const again = await startService(plane.addUser(`${restarted.name}-${restarted.namespace}`), restarted.name, restarted.namespace, namespaces, restarted.port);
      services[services.indexOf(restarted)] = again;
      const restartedAt = Date.now();
      expect(leafIsFrom(again, newCa)).toBe(true);
      expect(again.cert.trust.cas.map((ca) => ca.fingerprint256)).toContain(new X509Certificate(oldCa).fingerprint256);
      expect(again.logger.lines.some((line) => line.message.includes('restored 1 retired CA'))).toBe(true);
      // A peer still on the old CA calls the restarted service, and is accepted.
      await eventually('a call from a peer on the old CA to the restarted service', () => Promise.resolve(
        calls.filter((call) => call.to === `${again.name}.${again.namespace}` && call.at > restartedAt && call.callerOld)), (found) => found.length > 0, 15_000);

      expect(leafIsFrom(laggard, oldCa)).toBe(true);
      await platform.renew(laggard.namespace, `${laggard.name}-cert`);

      // After: every leaf on the new CA, within the window (a generous bound, for liveness).
      await eventually('every leaf re-issued by the new CA', () => Promise.resolve(services.every((service) => leafIsFrom(service, newCa))), Boolean, WINDOW_MS + 30_000);
      lastReissueMs = Date.now() - rotatedAt;
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // calls on the final material
      for (const service of services) {
        expect(service.logger.lines.filter((line) => line.message.startsWith('asked cert-manager to re-issue')).length).toBeLessThanOrEqual(1);
      }
      const after = await servingCert(['rollover', 'status', '-A', '--kubeconfig', kubeconfigFile]);
      expect(after.stdout).toContain('6 of 6 leaves on the current platform root CA: the rollover is complete');
      expect(after.code).toBe(0);

      // Every leaf each service saw on the old CA has moved: after the minimum hold, each lets it go
      // (long before its bound), and a leaf of the old CA is then refused. A peer's move is seen at
      // its next handshake; pooled keep-alive connections show none, a round of fresh ones does.
      running = false;
      await Promise.all(loops);
      for (const from of services) {
        const fresh = createMtlsDispatcher(from.cert, { authorize: allowPeers({ namespaces }), connect: { lookup: clusterDns } });
        for (const to of services.filter((one) => one !== from)) {
          const response = await request(`https://${to.name}.${to.namespace}.svc:${to.port}/`, { dispatcher: fresh });
          expect(await response.body.text()).toBe(`${to.name}.${to.namespace} saw ${from.name}`);
        }
        await fresh.close();
      }
      const oldFingerprint = new X509Certificate(oldCa).fingerprint256;
      await eventually('the old CA released by every service', () => Promise.resolve(
        services.every((service) => !service.cert.trust.cas.some((ca) => ca.fingerprint256 === oldFingerprint))), Boolean, 60_000).catch(async (error: unknown) => {
        for (const service of services.filter((one) => one.cert.trust.cas.some((ca) => ca.fingerprint256 === oldFingerprint))) {
          const memory = await core.readNamespacedConfigMap({ namespace: service.namespace, name: `${service.name}-tls-serving-cert-trust` }).catch(() => undefined);
          process.stderr.write(`still on the old CA: ${service.name}.${service.namespace}: ${memory?.data?.['trust.json']?.replace(/"pem": "[^"]*"/g, '') ?? 'no memory'}\n` +
            `${JSON.stringify(service.logger.lines.filter((line) => line.level !== 'info' || /retired|released|restored/.test(line.message)))}\n`);
        }
        throw error;
      });
      for (const service of services) {
        expect(service.logger.lines.some((line) => line.level === 'info' && line.message.startsWith('released the retired CA'))).toBe(true);
      }
      const target = services[1]!;
      await expect(new Promise((resolve, reject) => {
        const call = https.get({ host: '127.0.0.1', port: target.port, servername: `${target.name}.${target.namespace}.svc`, ca: newCa,
          cert: oldLeaf.certPem, key: oldLeaf.keyPem, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        call.on('error', reject);
      })).rejects.toThrow(/unknown ca|ECONNRESET|socket hang up/i);
    } finally {
      running = false;
      await Promise.all(loops);
      for (const service of services) await stopService(service).catch(() => undefined);
    }
    process.stderr.write(`rollover: last leaf re-issued ${lastReissueMs} ms after the CA change; ${calls.length} calls\n`);
    expect(calls.filter((call) => call.callerOld && call.ok).length).toBeGreaterThan(0);
    expect(calls.filter((call) => !call.ok)).toEqual([]);
    expect(calls.length).toBeGreaterThan(200);
  }, 180_000);

  it('without the optional renew rule: a warning that names it, no crash, and the old CA still trusted', async () => {
    const namespace = await createNamespace('ro-norbac', plane.kubeConfig);
    await createService(namespace, 'gamma');
    await createService(namespace, 'delta');
    await applyAppRbac(namespace, 'gamma', `gamma-${namespace}`, { admin: plane.kubeConfig });
    await applyAppRbac(namespace, 'delta', `delta-${namespace}`, { renew: true, admin: plane.kubeConfig });
    const gamma = await startService(plane.addUser(`gamma-${namespace}`), 'gamma', namespace, [namespace], 0, 1_000);
    const delta = await startService(plane.addUser(`delta-${namespace}`), 'delta', namespace, [namespace], 0, 1_000);
    const call = async (from: Running, to: Running) => (await (await request(`https://${to.name}.${namespace}.svc:${to.port}/`, { dispatcher: from.dispatcher })).body.text());
    try {
      // They have called each other before: each holds the old CA for the other (a peer never seen on it would not).
      expect(await call(gamma, delta)).toBe(`delta.${namespace} saw gamma`);
      expect(await call(delta, gamma)).toBe(`gamma.${namespace} saw delta`);
      const oldCa = platform.caPem;
      await platform.rotateCA();
      const newCa = platform.caPem;
      await eventually('delta re-issued by the new CA', () => Promise.resolve(leafIsFrom(delta, newCa)), Boolean, 30_000);
      const warning = await eventually('gamma warns', () => Promise.resolve(gamma.logger.lines.find((line) => line.level === 'warn' && line.message.includes('re-issue'))), Boolean, 15_000);
      expect(warning!.message).toContain('serving-cert-renew');
      expect(warning!.message).toContain('resources: ["certificates/status"], resourceNames: ["gamma-cert"], verbs: ["get", "patch"]');
      expect(gamma.cert.health().ready).toBe(true);
      expect(leafIsFrom(gamma, oldCa)).toBe(true);
      const trusted = gamma.cert.trust.cas.map((ca) => ca.fingerprint256);
      expect(trusted).toEqual(expect.arrayContaining([new X509Certificate(oldCa).fingerprint256, new X509Certificate(newCa).fingerprint256]));
      // Both ways over mTLS: gamma (old CA) to delta (new CA), and back, past delta's minimum hold.
      await new Promise((resolve) => setTimeout(resolve, MIN_HOLD_MS));
      expect(delta.cert.trust.cas.map((ca) => ca.fingerprint256)).toContain(new X509Certificate(oldCa).fingerprint256);
      expect(await call(gamma, delta)).toBe(`delta.${namespace} saw gamma`);
      expect(await call(delta, gamma)).toBe(`gamma.${namespace} saw delta`);
      const status = await servingCert(['rollover', 'status', '-n', namespace, '--kubeconfig', kubeconfigFile]);
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(new RegExp(`${namespace}\\s+gamma\\s+gamma-tls\\s+old`));
      const yaml = await servingCert(['rollover', 'status', '-n', namespace, '--kubeconfig', kubeconfigFile, '-o', 'yaml']);
      expect(yaml.code).toBe(1);
      expect(yaml.stdout).toMatch(/service: gamma\n[\s\S]*?ca: old/);
      expect(yaml.stdout).toMatch(/service: delta\n[\s\S]*?ca: current/);
    } finally {
      await stopService(gamma);
      await stopService(delta);
    }
  }, 90_000);
});

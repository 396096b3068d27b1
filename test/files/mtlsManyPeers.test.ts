import { once } from 'node:events';
import * as https from 'node:https';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { allowPeers, createMtlsDispatcher, ensureServingCert, peerIdentity, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, tempDir } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const names = (svc: string, ns: string) => [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`];
const payload = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

interface Service { name: string; namespace: string; cert: ServingCert; dir: string; port: number }

async function service(name: string, namespace: string, ca: CertificateAuthority, serve = true): Promise<Service> {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(`${dir}/certs`, payload(ca.issue({ dnsNames: names(name, namespace) })));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
  // A one-minute trust grace: long enough for the rollover below.
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: name, namespace, certDir: `${dir}/certs`, caDir: `${dir}/ca`, trustGracePeriodMs: 60_000, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  if (!serve) return { name, namespace, cert, dir, port: 0 };
  const server = https.createServer(cert.serverOptions({ clientCert: 'require' }), (req, res) => {
    res.end(`${name}.${namespace} saw ${peerIdentity(req.socket as TLSSocket)?.serviceName}`);
  });
  cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { name, namespace, cert, dir, port: (server.address() as AddressInfo).port };
}

/** Every Service name resolves to loopback, as cluster DNS would resolve it to the Service's IP. */
const clusterDns: NonNullable<ConnectionOptions['lookup']> = (_host, options, callback) => {
  const answer = callback as (error: null, address: string | LookupAddress[], family?: number) => void;
  if (options.all) answer(null, [{ address: '127.0.0.1', family: 4 }]);
  else answer(null, '127.0.0.1', 4);
};

const url = (target: Service, host = `${target.name}.${target.namespace}.svc`) => `https://${host}:${target.port}/`;

describe('one mTLS dispatcher for many peers (authorize)', () => {
  it('calls 3 Services in 2 namespaces, each checked against its own host; refuses a wrong identity and a Service not allowed', async () => {
    const ca = CertificateAuthority.create({ commonName: 'platform root' });
    const [orders, payments, audit, evil, web] = await Promise.all([
      service('orders', 'shop', ca), service('payments', 'shop', ca), service('audit', 'ops', ca), service('evil', 'other', ca), service('web', 'shop', ca, false),
    ]);
    const dispatcher = createMtlsDispatcher(web.cert, { authorize: allowPeers({ namespaces: ['shop', 'ops'] }), connect: { lookup: clusterDns } });
    cleanups.push(() => dispatcher.close());
    for (const target of [orders, payments, audit]) {
      expect(await (await request(url(target), { dispatcher })).body.text()).toBe(`${target.name}.${target.namespace} saw web`);
    }
    // The cluster domain form names the same Service.
    expect(await (await dispatcher.fetch(url(audit, 'audit.ops.svc.cluster.local'))).text()).toBe('audit.ops saw web');
    // orders' server answering for payments' host: its certificate does not cover that Service.
    await expect(request(url(orders, 'payments.shop.svc'), { dispatcher })).rejects.toMatchObject({
      code: 'E_PEER_IDENTITY', message: expect.stringContaining('does not cover "payments.shop.svc" (Service payments in shop)'),
    });
    await expect(request(url(evil), { dispatcher })).rejects.toMatchObject({
      code: 'E_PEER_IDENTITY', message: expect.stringContaining('Service evil in other, which authorize does not allow'),
    });
    await expect(request(`https://127.0.0.1:${orders.port}/`, { dispatcher })).rejects.toMatchObject({
      code: 'E_PEER_IDENTITY', message: expect.stringContaining('names no Service'),
    });
    expect(() => createMtlsDispatcher(web.cert, { authorize: allowPeers({ namespaces: ['shop'] }), serverName: 'x' })).toThrow(/authorize checks each URL/);
  });

  it('1,000 dispatchers on one handle: one subscription, no MaxListenersExceededWarning, and they work after a rotation', async () => {
    const ca = CertificateAuthority.create({ commonName: 'platform root' });
    const [orders, web] = await Promise.all([service('orders', 'shop', ca), service('web', 'shop', ca, false)]);
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    cleanups.push(() => Promise.resolve(process.off('warning', onWarning)));
    const listeners = () => (web.cert as unknown as NodeJS.EventEmitter).listenerCount('rotate');
    const before = listeners();
    // Dispatchers follow the handle through its internal subscription (told before the app's
    // listeners): count those subscriptions where the handle hands them out.
    const subscribe = Symbol.for('@serving-cert/core.internalSubscribe');
    const handle = web.cert as unknown as Record<symbol, (event: string, listener: () => void) => () => void>;
    const original = handle[subscribe]!;
    let subscriptions = 0;
    Object.defineProperty(handle, subscribe, { configurable: true, value: function (this: unknown, event: string, listener: () => void) {
      subscriptions += 1;
      return original.call(this, event, listener);
    } });
    cleanups.push(() => Promise.resolve(delete handle[subscribe]));
    const dispatchers = Array.from({ length: 1_000 }, () => createMtlsDispatcher(web.cert, { authorize: allowPeers({ namespaces: ['shop'] }), connect: { lookup: clusterDns } }));
    cleanups.push(() => Promise.all(dispatchers.filter((each) => !each.closed).map((each) => each.close())));
    expect(subscriptions).toBe(2); // one for rotations, one for trust changes, shared by all 1,000
    expect(listeners()).toBe(before); // and none among the app's own listeners
    const rotated = nextEvent(web.cert, 'rotate');
    const leaf = ca.issue({ dnsNames: names('web', 'shop') });
    await writeAtomicVolume(`${web.dir}/certs`, payload(leaf));
    await rotated;
    const seen: string[] = [];
    for (const dispatcher of [dispatchers[0]!, dispatchers[999]!]) {
      const response = await request(url(orders), { dispatcher });
      seen.push(await response.body.text());
    }
    expect(seen).toEqual(['orders.shop saw web', 'orders.shop saw web']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
    await Promise.all(dispatchers.map((each) => each.close()));
    expect(listeners()).toBe(before);
  });

  it('4 request loops through rotations of every leaf and a CA rollover: 0 failed requests', async () => {
    const oldCa = CertificateAuthority.create({ commonName: 'root 2025' });
    const newCa = CertificateAuthority.create({ commonName: 'root 2026' });
    const targets = await Promise.all([service('orders', 'shop', oldCa), service('payments', 'shop', oldCa), service('audit', 'ops', oldCa)]);
    const web = await service('web', 'shop', oldCa, false);
    const everyone = [...targets, web];
    // A short keep-alive, so that new connections (and new material) come often.
    const dispatcher = createMtlsDispatcher(web.cert, { authorize: allowPeers({ namespaces: ['shop', 'ops'] }), keepAliveTimeout: 100, connect: { lookup: clusterDns } });
    cleanups.push(() => dispatcher.close());
    const outcomes: string[] = [];
    let running = true;
    const loops = Array.from({ length: 4 }, async (_, loop) => {
      for (let i = loop; running; i++) {
        const target = targets[i % targets.length]!;
        try {
          outcomes.push(await (await request(url(target), { dispatcher })).body.text());
        } catch (error) {
          outcomes.push(`failed: ${String(error)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });
    const renewAll = async (ca: CertificateAuthority) => {
      for (const each of everyone) {
        const rotated = nextEvent(each.cert, 'rotate');
        await writeAtomicVolume(`${each.dir}/certs`, payload(ca.issue({ dnsNames: names(each.name, each.namespace) })));
        await rotated;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    };
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await renewAll(oldCa); // every server and the client
      const trusted = everyone.map((each) => nextEvent(each.cert, 'trust'));
      for (const each of everyone) await writeAtomicVolume(`${each.dir}/ca`, { 'ca.crt': newCa.certPem }); // the rollover...
      await Promise.all(trusted);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await renewAll(newCa); // ...and every leaf under the new CA
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(web.cert.current.info.issuer).toContain('root 2026');
    expect(outcomes.length).toBeGreaterThan(80);
    expect(outcomes.filter((outcome) => !/^(orders\.shop|payments\.shop|audit\.ops) saw web$/.test(outcome))).toEqual([]);
  });
});

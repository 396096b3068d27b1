// Four services (files source) calling each other over mTLS every 100 ms through a platform CA
// rollover, each with a state folder and a short minimum hold. Pooled keep-alive connections show
// no new leaf (a peer's move is seen at its next handshake); once each service has met every peer
// over a fresh connection, every one of them lets the old CA go, with no failed call.
import * as https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { allowPeers, createMtlsDispatcher, ensureServingCert, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { recordingLogger, tempDir } from '../helpers/tls.js';

const clusterDns: NonNullable<ConnectionOptions['lookup']> = (_host, options, callback) => {
  const answer = callback as (error: null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
  if (options.all) answer(null, [{ address: '127.0.0.1', family: 4 }]);
  else answer(null, '127.0.0.1', 4);
};
const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const trusts = (cert: ServingCert, ca: CertificateAuthority) => cert.trust.cas.some((one) => one.fingerprint256 === ca.cert.fingerprint256);

interface Service { name: string; dir: string; dnsNames: string[]; cert: ServingCert; port: number; dispatcher: ReturnType<typeof createMtlsDispatcher>; logger: ReturnType<typeof recordingLogger> }

async function startService(name: string, ca: CertificateAuthority): Promise<Service> {
  const { dir, remove } = await tempDir();
  const state = await tempDir();
  cleanups.push(remove, state.remove);
  const dnsNames = [name, `${name}.shop`, `${name}.shop.svc`, `${name}.shop.svc.cluster.local`];
  await writeAtomicVolume(`${dir}/certs`, payloadOf(ca.issue({ dnsNames })));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
  const logger = recordingLogger();
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: name, namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`,
    stateDir: state.dir, retiredCaMinHoldMs: 2_000, logger });
  const server = https.createServer(cert.serverOptions({ clientCert: 'require' }), (_req, res) => res.end('ok'));
  cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dispatcher = createMtlsDispatcher(cert, { authorize: allowPeers({ namespaces: ['shop'] }), connect: { lookup: clusterDns }, keepAliveTimeout: 300 });
  cleanups.push(() => cert.close(), async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }, () => dispatcher.close());
  return { name, dir, dnsNames, cert, port: (server.address() as AddressInfo).port, dispatcher, logger };
}

const call = async (dispatcher: ReturnType<typeof createMtlsDispatcher>, to: Service) =>
  (await request(`https://${to.name}.shop.svc:${to.port}/`, { dispatcher })).body.text();

describe('a mesh through a platform CA rollover, files source', () => {
  it('every service lets the old CA go once it has met every peer on the new one, with no failed call', async () => {
    const oldCa = CertificateAuthority.create({ commonName: 'old' });
    const newCa = CertificateAuthority.create({ commonName: 'new' });
    const services: Service[] = [];
    for (const name of ['s0', 's1', 's2', 's3']) services.push(await startService(name, oldCa));
    let running = true;
    let failures = 0;
    const loops = services.map(async (me, index) => {
      for (let turn = 0; running; turn++) {
        await call(me.dispatcher, services[(index + 1 + (turn % 3)) % 4]!).catch(() => failures++);
        await sleep(100);
      }
    });
    await sleep(1_000);
    for (const service of services) await writeAtomicVolume(`${service.dir}/ca`, { 'ca.crt': newCa.certPem });
    for (const service of services) {
      await sleep(1_000);
      await writeAtomicVolume(`${service.dir}/certs`, payloadOf(newCa.issue({ dnsNames: service.dnsNames })));
    }
    running = false;
    await Promise.all(loops);
    expect(failures).toBe(0);
    // Pooled keep-alive connections present no new leaf: fresh connections (new handshakes) do.
    for (const from of services) {
      const fresh = createMtlsDispatcher(from.cert, { authorize: allowPeers({ namespaces: ['shop'] }), connect: { lookup: clusterDns } });
      for (const to of services) if (to !== from) expect(await call(fresh, to)).toBe('ok');
      await fresh.close();
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && services.some((service) => trusts(service.cert, oldCa))) await sleep(200);
    expect(services.filter((service) => trusts(service.cert, oldCa)).map((service) => service.name)).toEqual([]);
    for (const service of services) {
      expect(service.logger.lines.some((line) => line.message.startsWith('released the retired CA CN=old before its bound'))).toBe(true);
    }
  }, 60_000);
});

import { once } from 'node:events';
import * as https from 'node:https';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, type Dispatcher, fetch as undiciFetch, request } from 'undici';
import { allowPeers, authorizePeer, createMtlsDispatcher, ensureServingCert, peerIdentity, type PeerIdentity, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, tempDir } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const names = (svc: string, ns: string) => [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`];
const platformCa = CertificateAuthority.create({ commonName: 'platform root' });
const payload = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function service(serviceName: string, namespace: string, ca = platformCa): Promise<{ cert: ServingCert; certDir: string; caDir: string }> {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(`${dir}/certs`, payload(ca.issue({ dnsNames: names(serviceName, namespace) })));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName, namespace, certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  return { cert, certDir: `${dir}/certs`, caDir: `${dir}/ca` };
}

/** An mTLS server for `cert` that answers with the caller's identity, and refuses callers `allow` does not allow. */
async function mtlsServer(cert: ServingCert, allow = allowPeers({ namespaces: ['shop'] })) {
  const seen: Array<{ peer: PeerIdentity | undefined; serial: string | undefined }> = [];
  const connections: TLSSocket[] = [];
  const server = https.createServer(cert.serverOptions({ requestClientCert: true }), (req, res) => {
    const socket = req.socket as TLSSocket;
    seen.push({ peer: peerIdentity(socket), serial: socket.getPeerX509Certificate()?.serialNumber });
    const decision = authorizePeer(socket, allow);
    res.statusCode = decision.allowed ? 200 : 403;
    res.end(decision.allowed ? `hello ${decision.peer.serviceName}.${decision.peer.namespace}` : decision.reason);
  });
  server.on('secureConnection', (socket: TLSSocket) => connections.push(socket));
  cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  const open = () => connections.filter((socket) => !socket.destroyed);
  return { port: (server.address() as AddressInfo).port, seen, open };
}

/** Every Service name resolves to loopback, as cluster DNS would resolve it to the Service's IP. */
const clusterDns: NonNullable<ConnectionOptions['lookup']> = (_host, options, callback) => {
  const answer = callback as (error: null, address: string | LookupAddress[], family?: number) => void;
  if (options.all) answer(null, [{ address: '127.0.0.1', family: 4 }]);
  else answer(null, '127.0.0.1', 4);
};

/**
 * A steady load, as a busy service makes: `workers` loops, each a request every 50 ms, so that
 * no pooled connection is ever idle for undici's keepAliveTimeout. Every failure is kept.
 */
function steadyTraffic(url: string, dispatcher: Dispatcher, workers = 3) {
  const failures: unknown[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const response = await request(url, { dispatcher });
        await response.body.text();
        if (response.statusCode !== 200) failures.push(response.statusCode);
      } catch (error) {
        failures.push(error);
      }
      await sleep(50);
    }
  };
  const loops = Array.from({ length: workers }, loop);
  const stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  cleanups.push(stop); // before the dispatcher and the server close: cleanups run last first
  return { failures, stop };
}

describe('createMtlsDispatcher and the caller identity', () => {
  it('calls over mTLS with undici request, undici fetch and global fetch; the handler sees who called', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port, seen } = await mtlsServer(api.cert);
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    const url = `https://127.0.0.1:${port}/`;
    const viaRequest = await request(url, { dispatcher });
    expect(await viaRequest.body.text()).toBe('hello web.shop');
    expect(await (await undiciFetch(url, { dispatcher })).text()).toBe('hello web.shop');
    // Node's own fetch takes an undici 7 dispatcher too (its option is not in the DOM types).
    expect(await (await fetch(url, { dispatcher } as unknown as RequestInit)).text()).toBe('hello web.shop');
    expect(seen[0]?.peer).toEqual({ serviceName: 'web', namespace: 'shop', dnsNames: names('web', 'shop') });
  });

  it('checks the server by identity with peer', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port } = await mtlsServer(api.cert);
    const right = createMtlsDispatcher(web.cert, { peer: { serviceName: 'api', namespace: 'shop' } });
    const wrong = createMtlsDispatcher(web.cert, { peer: { serviceName: 'billing', namespace: 'shop' } });
    cleanups.push(() => right.close(), () => wrong.close());
    expect((await request(`https://127.0.0.1:${port}/`, { dispatcher: right })).statusCode).toBe(200);
    await expect(request(`https://127.0.0.1:${port}/`, { dispatcher: wrong })).rejects.toThrow(/does not cover "billing\.shop\.svc" \(Service billing in shop\)/);
  });

  it('refuses a server certificate that does not cover serverName, and a host it does not cover', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port } = await mtlsServer(api.cert);
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'payments.shop.svc' });
    const byHost = createMtlsDispatcher(web.cert);
    cleanups.push(() => dispatcher.close(), () => byHost.close());
    const error = await request(`https://127.0.0.1:${port}/`, { dispatcher }).catch((caught: unknown) => caught) as Error;
    expect(error).toMatchObject({ code: 'E_PEER_IDENTITY' });
    expect(error.message).toContain('does not cover "payments.shop.svc"');
    expect(error.message).toContain('DNS:api.shop.svc');
    await expect(request(`https://127.0.0.1:${port}/`, { dispatcher: byHost })).rejects.toThrow(/does not cover "127\.0\.0\.1"/);
  });

  it('a client certificate from another CA, or an expired one, is refused by the server', async () => {
    const api = await service('api', 'shop');
    const { port, seen } = await mtlsServer(api.cert);
    const stranger = CertificateAuthority.create({ commonName: 'stranger' }).issue({ dnsNames: names('web', 'shop') });
    const expired = platformCa.issue({ dnsNames: names('web', 'shop'), notBefore: new Date(Date.now() - 3e9), notAfter: new Date(Date.now() - 1e9) });
    for (const client of [stranger, expired]) {
      // A static undici Agent: serving-cert's own gate would never let such material be presented.
      const agent = new Agent({ connect: { cert: client.certPem, key: client.keyPem, ca: platformCa.certPem, servername: 'api.shop.svc' } });
      cleanups.push(() => agent.close());
      await expect(request(`https://127.0.0.1:${port}/`, { dispatcher: agent })).rejects.toThrow(/unknown ca|certificate expired|ECONNRESET|socket|other side closed/i);
    }
    expect(seen).toEqual([]); // the handler never ran
  });

  it('answers 403 to a caller the authorizer does not allow, naming who is', async () => {
    const api = await service('api', 'shop');
    const intruder = await service('scraper', 'other');
    const { port } = await mtlsServer(api.cert, allowPeers({ services: ['web.shop'], namespaces: ['ops'] }));
    const dispatcher = createMtlsDispatcher(intruder.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    const response = await request(`https://127.0.0.1:${port}/`, { dispatcher });
    expect(response.statusCode).toBe(403);
    expect(await response.body.text()).toBe('scraper.other is not allowed; allowed are services web.shop and namespaces ops');
  });

  it('has no way to turn verification off', () => {
    return service('web', 'shop').then(({ cert }) => {
      expect(() => createMtlsDispatcher(cert, { connect: { rejectUnauthorized: false } as never })).toThrow(/not supported/);
    });
  });

  it('a rotate listener of the app that throws, registered before the dispatcher, does not keep it on the old certificate', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port, seen } = await mtlsServer(api.cert);
    web.cert.on('rotate', () => {
      throw new Error('a bug in the app');
    });
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc', pipelining: 0, keepAliveTimeout: 10 });
    cleanups.push(() => dispatcher.close());
    await (await request(`https://127.0.0.1:${port}/`, { dispatcher })).body.text();
    const leaf = platformCa.issue({ dnsNames: names('web', 'shop') });
    const rotated = nextEvent(web.cert, 'rotate'); // a listener after the throwing one still hears
    await writeAtomicVolume(web.certDir, payload(leaf));
    await rotated;
    // The pooled socket idles out (keepAliveTimeout 10 ms) when the client's event loop gets to it.
    const connections = () => dispatcher.stats[`https://127.0.0.1:${port}`]?.connected ?? 0; // undici drops an origin without any
    await expect.poll(connections, { timeout: 2_000, interval: 10 }).toBe(0);
    await (await request(`https://127.0.0.1:${port}/`, { dispatcher })).body.text();
    expect(seen.map((entry) => entry.serial)).toEqual([expect.any(String), leaf.leaf.serialNumber]);
  });

  it('presents the new client certificate on new connections after a rotation', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port, seen } = await mtlsServer(api.cert);
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc', pipelining: 0, keepAliveTimeout: 10 });
    cleanups.push(() => dispatcher.close());
    await (await request(`https://127.0.0.1:${port}/`, { dispatcher })).body.text();
    const connections = () => dispatcher.stats[`https://127.0.0.1:${port}`]?.connected ?? 0; // undici drops an origin without any
    const leaf = platformCa.issue({ dnsNames: names('web', 'shop') });
    const rotated = nextEvent(web.cert, 'rotate');
    await writeAtomicVolume(web.certDir, payload(leaf));
    await rotated;
    // The socket of the first request closes (pipelining 0, keepAliveTimeout 10 ms) when the
    // client's event loop gets to it, later on a loaded machine: wait for that, with a bound.
    await expect.poll(connections, { timeout: 2_000, interval: 10 }).toBe(0);
    await (await request(`https://127.0.0.1:${port}/`, { dispatcher })).body.text();
    expect(seen.map((entry) => entry.serial)).toEqual([expect.any(String), leaf.leaf.serialNumber]);
    expect(seen[0]?.serial).not.toBe(leaf.leaf.serialNumber);
  });

  it('under steady traffic, retires the connections made before a rotation: every request then presents the new certificate, and none fails', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port, seen, open } = await mtlsServer(api.cert);
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    const traffic = steadyTraffic(`https://127.0.0.1:${port}/`, dispatcher);
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBeGreaterThan(5);
    const before = seen[0]?.serial;
    const leaf = platformCa.issue({ dnsNames: names('web', 'shop') });
    const rotated = nextEvent(web.cert, 'rotate');
    await writeAtomicVolume(web.certDir, payload(leaf));
    await rotated;
    // Bounded: requests in flight finish (some ms), then the old connections close.
    const serials = () => open().map((socket) => socket.getPeerX509Certificate()?.serialNumber);
    await expect.poll(() => serials().length > 0 && serials().every((serial) => serial === leaf.leaf.serialNumber), { timeout: 10_000, interval: 50 }).toBe(true);
    const moved = seen.length;
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBeGreaterThan(moved + 5);
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(before).not.toBe(leaf.leaf.serialNumber);
    expect(seen.slice(moved).map((entry) => entry.serial)).toEqual(seen.slice(moved).map(() => leaf.leaf.serialNumber));
  });

  it('under steady traffic, retires the connections verified under the previous trust after a trust change, and none fails', async () => {
    const api = await service('api', 'shop');
    const web = await service('web', 'shop');
    const { port, seen, open } = await mtlsServer(api.cert);
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    const traffic = steadyTraffic(`https://127.0.0.1:${port}/`, dispatcher);
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBeGreaterThan(5);
    const nextCa = CertificateAuthority.create({ commonName: 'platform root next' });
    const beforeChange = open(); // servers verified under the trust of one CA
    expect(beforeChange.length).toBeGreaterThan(0);
    const trustChanged = nextEvent(web.cert, 'trust');
    await writeAtomicVolume(web.caDir, { 'ca.crt': nextCa.certPem + platformCa.certPem }); // a CA rollover begins
    await trustChanged;
    await expect.poll(() => beforeChange.every((socket) => socket.destroyed), { timeout: 10_000, interval: 50 }).toBe(true);
    const moved = seen.length;
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBeGreaterThan(moved + 5); // on new connections
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
  });

  it('an authorizer that throws refuses the call with its error, and the process goes on', async () => {
    const audit = await service('audit', 'ops');
    const web = await service('web', 'shop');
    const { port, seen } = await mtlsServer(audit.cert);
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    cleanups.push(() => Promise.resolve(process.off('uncaughtException', record)));
    const buggy = { description: 'a buggy authorizer', allows: (): boolean => { throw new Error('authorizer bug'); } };
    const dispatcher = createMtlsDispatcher(web.cert, { authorize: buggy, connect: { lookup: clusterDns } });
    cleanups.push(() => dispatcher.close());
    const error = await request(`https://audit.ops.svc:${port}/`, { dispatcher }).catch((caught: unknown) => caught) as Error;
    expect(error).toMatchObject({ code: 'E_PEER_IDENTITY', cause: expect.objectContaining({ message: 'authorizer bug' }) });
    expect(error.message).toContain('the authorizer (authorize.allows) threw');
    await sleep(50); // an exception from the handshake's callback would surface by now
    expect(uncaught).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('refuses to make a dispatcher when no CA is known to verify servers with (E_CONFIG)', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const leaf = platformCa.issue({ dnsNames: names('web', 'shop') });
    await writeAtomicVolume(`${dir}/certs`, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem }); // no ca.crt, no caDir
    const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, logger: recordingLogger() });
    cleanups.push(() => cert.close());
    expect(cert.trust.pem).toBe('');
    expect(() => createMtlsDispatcher(cert, { serverName: 'api.shop.svc' })).toThrow(expect.objectContaining({
      code: 'E_CONFIG',
      message: expect.stringMatching(/needs a CA to verify servers with.*mount service-root-ca \(caDir\) or use a Secret that carries ca\.crt/),
    }));
  });
});

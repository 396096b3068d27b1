import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, fetch as undiciFetch, request } from 'undici';
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

async function service(serviceName: string, namespace: string, ca = platformCa): Promise<{ cert: ServingCert; certDir: string }> {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(`${dir}/certs`, payload(ca.issue({ dnsNames: names(serviceName, namespace) })));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName, namespace, certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  return { cert, certDir: `${dir}/certs` };
}

/** An mTLS server for `cert` that answers with the caller's identity, and refuses callers `allow` does not allow. */
async function mtlsServer(cert: ServingCert, allow = allowPeers({ namespaces: ['shop'] })) {
  const seen: Array<{ peer: PeerIdentity | undefined; serial: string | undefined }> = [];
  const server = https.createServer(cert.serverOptions({ requestClientCert: true }), (req, res) => {
    const socket = req.socket as TLSSocket;
    seen.push({ peer: peerIdentity(socket), serial: socket.getPeerX509Certificate()?.serialNumber });
    const decision = authorizePeer(socket, allow);
    res.statusCode = decision.allowed ? 200 : 403;
    res.end(decision.allowed ? `hello ${decision.peer.serviceName}.${decision.peer.namespace}` : decision.reason);
  });
  cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { port: (server.address() as AddressInfo).port, seen };
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
});

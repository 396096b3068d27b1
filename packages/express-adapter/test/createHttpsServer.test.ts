import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type * as https from 'node:https';
import express from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import * as tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';
import { createMtlsDispatcher } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { mountServingCert, type MountedServingCert } from '@serving-cert/testkit';
import { allowPeers, createHttpsServer } from '../src/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const ca = CertificateAuthority.create();

async function mount(serviceName: string, namespace = 'shop'): Promise<MountedServingCert> {
  const mounted = await mountServingCert({ serviceName, namespace, ca });
  cleanups.push(() => mounted.close());
  return mounted;
}

async function listen(server: https.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function handshakeSerial(url: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port: Number(new URL(url).port), servername: 'api.shop.svc', ca: ca.certPem });
  await once(socket, 'secureConnect');
  const serial = socket.getPeerX509Certificate()!.serialNumber;
  socket.destroy();
  return serial;
}

function app() {
  const application = express();
  application.get('/who', (req, res) => {
    res.json({ peer: req.peer ?? null, typed: req.peer?.serviceName ?? null });
  });
  return application;
}

describe('@serving-cert/express createHttpsServer', () => {
  it('serves the certificate and follows a rotation: a new client and a keep-alive client both see it', async () => {
    const api = await mount('api');
    const url = await listen(createHttpsServer(app(), api.cert));
    // A keep-alive client that notes the certificate of every connection it opens.
    const serials: string[] = [];
    const connector = buildConnector({ ca: ca.certPem, servername: 'api.shop.svc' });
    const keepAlive = new Agent({
      keepAliveTimeout: 60_000,
      connect: (options, callback) => connector(options, (...args) => {
        const tlsSocket = args[1] as TLSSocket | null;
        // undici may hand the socket over before the handshake is done.
        const peer = tlsSocket?.getPeerX509Certificate();
        if (peer) serials.push(peer.serialNumber);
        else tlsSocket?.once('secureConnect', () => serials.push(tlsSocket.getPeerCertificate().serialNumber));
        callback(...args);
      }),
    });
    cleanups.push(() => keepAlive.close());
    const get = async () => (await request(`${url}/who`, { dispatcher: keepAlive })).body.dump();
    await get();
    await get(); // the same pooled connection
    expect(serials).toEqual([api.cert.current.info.serialNumber]);

    const connections = () => keepAlive.stats[new URL(url).origin]?.connected ?? 0; // undici drops an origin without any
    expect(connections()).toBeGreaterThan(0);
    const next = await api.rotate();
    expect(await handshakeSerial(url)).toBe(next); // a new client
    // The server closed the idle connection at the rotation; the client learns of it when its
    // event loop reads the FIN, which a loaded machine may delay: wait for that, with a bound.
    await expect.poll(connections, { timeout: 2_000, interval: 10 }).toBe(0);
    await get(); // it reconnects
    expect(serials).toEqual([expect.any(String), next]);
  });

  it('puts the caller on req.peer and refuses callers the authorizer does not allow', async () => {
    const api = await mount('api');
    const web = await mount('web');
    const intruder = await mount('scraper', 'elsewhere');
    const reasons: unknown[] = [];
    const logger = { info: (fields: Record<string, unknown> | string) => reasons.push((fields as { reason?: string }).reason) };
    const url = await listen(createHttpsServer(app(), api.cert, { authorizer: allowPeers({ namespaces: ['shop'] }), logger }));
    const asWeb = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    const asIntruder = createMtlsDispatcher(intruder.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => asWeb.close(), () => asIntruder.close());
    const ok = await request(`${url}/who`, { dispatcher: asWeb });
    expect(await ok.body.json()).toEqual({ peer: { serviceName: 'web', namespace: 'shop', dnsNames: expect.arrayContaining(['web.shop.svc']) }, typed: 'web' });
    const refused = await request(`${url}/who`, { dispatcher: asIntruder });
    expect(refused.statusCode).toBe(403);
    // The body never says who is allowed; the log does.
    expect(await refused.body.json()).toEqual({ error: 'Forbidden' });
    expect(reasons).toEqual(['scraper.elsewhere is not allowed; allowed are namespaces shop']);
  });

  it('serves an Express 4 app as well', async () => {
    const api = await mount('api');
    const web = await mount('web');
    const legacy = express4();
    legacy.get('/who', (req, res) => {
      res.json({ caller: req.peer?.serviceName ?? null });
    });
    const url = await listen(createHttpsServer(legacy, api.cert, { clientCert: 'require' }));
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    expect(await (await request(`${url}/who`, { dispatcher })).body.json()).toEqual({ caller: 'web' });
  });

  it('closing the server detaches it: nothing of ours follows the certificate afterwards', async () => {
    const api = await mount('api');
    const before = (api.cert as unknown as { listenerCount(event: string): number }).listenerCount('rotate');
    const server = createHttpsServer(app(), api.cert);
    let idleClosings = 0;
    const closeIdle = server.closeIdleConnections.bind(server);
    server.closeIdleConnections = () => {
      idleClosings += 1;
      closeIdle();
    };
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    // It follows through serving-cert's internal subscription, not as one of the app's listeners.
    expect((api.cert as unknown as { listenerCount(event: string): number }).listenerCount('rotate')).toBe(before);
    await api.rotate();
    expect(idleClosings).toBe(1);
    await new Promise((resolve) => server.close(resolve)); // close() itself closes idle connections too
    const atClose = idleClosings;
    await api.rotate();
    expect(idleClosings).toBe(atClose);
  });

  it('a rotate listener of the app that throws, registered first, does not keep idle connections open', async () => {
    const api = await mount('api');
    api.cert.on('rotate', () => {
      throw new Error('a bug in the app');
    });
    const url = await listen(createHttpsServer(app(), api.cert));
    const serials: string[] = [];
    const connector = buildConnector({ ca: ca.certPem, servername: 'api.shop.svc' });
    const keepAlive = new Agent({
      keepAliveTimeout: 60_000,
      connect: (options, callback) => connector(options, (...args) => {
        const tlsSocket = args[1] as TLSSocket | null;
        const peer = tlsSocket?.getPeerX509Certificate();
        if (peer) serials.push(peer.serialNumber);
        else tlsSocket?.once('secureConnect', () => serials.push(tlsSocket.getPeerCertificate().serialNumber));
        callback(...args);
      }),
    });
    cleanups.push(() => keepAlive.close());
    const get = async () => (await request(`${url}/who`, { dispatcher: keepAlive })).body.dump();
    await get();
    const next = await api.rotate();
    // The idle connection was closed after the rotation all the same; the client learns of it when
    // its event loop reads the FIN, later on a loaded machine: wait for that, with a bound.
    const connections = () => keepAlive.stats[new URL(url).origin]?.connected ?? 0; // undici drops an origin without any
    await expect.poll(connections, { timeout: 2_000, interval: 10 }).toBe(0);
    await get(); // it reconnects
    expect(serials).toEqual([expect.any(String), next]);
  });
});

import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, buildConnector, request } from 'undici';
import { createMtlsDispatcher } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { mountServingCert, type MountedServingCert } from '@serving-cert/testkit';
import { allowPeers, servingCert } from '../src/index.js';

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

async function handshakeSerial(port: number, alpn?: string[]): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'api.shop.svc', ca: ca.certPem, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  await once(socket, 'secureConnect');
  const serial = socket.getPeerX509Certificate()!.serialNumber;
  socket.destroy();
  return serial;
}

describe('@serving-cert/fastify', () => {
  it('HTTP/1.1: serves the certificate, follows a rotation, and knows the caller', async () => {
    const api = await mount('api');
    const web = await mount('web');
    const app = Fastify({ https: api.cert.serverOptions({ clientCert: 'require' }) });
    await app.register(servingCert, { cert: api.cert });
    app.get('/who', async (req) => ({ peer: req.peer }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const dispatcher = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    const response = await request(`https://127.0.0.1:${port}/who`, { dispatcher });
    expect(await response.body.json()).toEqual({ peer: { serviceName: 'web', namespace: 'shop', dnsNames: expect.arrayContaining(['web.shop.svc']) } });
    const next = await api.rotate();
    expect(await handshakeSerial(port)).toBe(next);
  });

  it('HTTP/1.1: a keep-alive client reconnects after a rotation and sees the new certificate', async () => {
    const api = await mount('api');
    const app = Fastify({ https: api.cert.serverOptions() });
    await app.register(servingCert, { cert: api.cert });
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const serials: string[] = [];
    const connector = buildConnector({ ca: ca.certPem, servername: 'api.shop.svc' });
    const keepAlive = new Agent({
      keepAliveTimeout: 60_000,
      connect: (options, callback) => connector(options, (...args) => {
        const socket = args[1] as tls.TLSSocket | null;
        // undici may hand the socket over before or after the handshake.
        const peer = socket?.getPeerX509Certificate();
        if (peer) serials.push(peer.serialNumber);
        else socket?.once('secureConnect', () => serials.push(socket.getPeerCertificate().serialNumber));
        callback(...args);
      }),
    });
    cleanups.push(() => keepAlive.close());
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
    const get = async () => (await request(url, { dispatcher: keepAlive })).body.dump();
    await get();
    await get(); // the same pooled connection
    expect(serials).toEqual([api.cert.current.info.serialNumber]);
    const connections = () => keepAlive.stats[new URL(url).origin]?.connected ?? 0; // undici drops an origin without any
    expect(connections()).toBeGreaterThan(0);
    const next = await api.rotate();
    // The server closed the idle connection at the rotation; the client learns of it when its
    // event loop reads the FIN, which a loaded machine may delay: wait for that, with a bound.
    await expect.poll(connections, { timeout: 2_000, interval: 10 }).toBe(0);
    await get(); // it reconnects
    expect(serials).toEqual([expect.any(String), next]);
  });

  it('HTTP/2: a new client sees the new certificate, and an open session is closed so it reconnects', async () => {
    const api = await mount('api');
    const app = Fastify({ http2: true, https: { ...api.cert.serverOptions(), allowHTTP1: false } });
    await app.register(servingCert, { cert: api.cert });
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'api.shop.svc' });
    await once(session, 'connect');
    const firstSerial = (session.socket as tls.TLSSocket).getPeerX509Certificate()!.serialNumber;
    expect(firstSerial).toBe(api.cert.current.info.serialNumber);
    const closed = once(session, 'close');
    const next = await api.rotate();
    await closed; // the server closed the session (GOAWAY) after the rotation
    expect(await handshakeSerial(port, ['h2'])).toBe(next);
    const again = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'api.shop.svc' });
    cleanups.push(async () => again.close());
    await once(again, 'connect');
    expect((again.socket as tls.TLSSocket).getPeerX509Certificate()!.serialNumber).toBe(next);
  });

  it('refuses a caller the authorizer does not allow, with 403', async () => {
    const api = await mount('api');
    const intruder = await mount('scraper', 'elsewhere');
    const app = Fastify({ https: api.cert.serverOptions({ clientCert: 'require' }) });
    await app.register(servingCert, { cert: api.cert, authorizer: allowPeers({ services: ['web.shop'] }) });
    app.get('/', async () => 'secret');
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const dispatcher = createMtlsDispatcher(intruder.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    const response = await request(`https://127.0.0.1:${(app.server.address() as AddressInfo).port}/`, { dispatcher });
    expect(response.statusCode).toBe(403);
    // Through Fastify's error path, with a body that never says who is allowed.
    expect(await response.body.json()).toEqual({ statusCode: 403, code: 'E_CALLER_REFUSED', error: 'Forbidden', message: 'Forbidden' });
  });

  it('closes idle connections on a rotation even when an app listener registered first throws; detaches on close', async () => {
    const api = await mount('api');
    const count = () => (api.cert as unknown as { listenerCount(event: string): number }).listenerCount('rotate');
    api.cert.on('rotate', () => {
      throw new Error('a bug in the app');
    });
    const before = count();
    const app = Fastify({ https: api.cert.serverOptions() });
    await app.register(servingCert, { cert: api.cert });
    await app.ready();
    // It follows through serving-cert's internal subscription, not as one of the app's listeners.
    expect(count()).toBe(before);
    let idleClosings = 0;
    const server = app.server as unknown as { closeIdleConnections(): void };
    const closeIdle = server.closeIdleConnections.bind(server);
    server.closeIdleConnections = () => {
      idleClosings += 1;
      closeIdle();
    };
    await api.rotate();
    expect(idleClosings).toBe(1);
    await app.close();
    const atClose = idleClosings; // closing a server closes its idle connections too
    await api.rotate();
    expect(idleClosings).toBe(atClose);
  });

  it('says what to do when the instance is not a TLS server', async () => {
    const api = await mount('api');
    const app = Fastify();
    await expect(app.register(servingCert, { cert: api.cert }).ready()).rejects.toThrow(/Fastify\(\{ https: cert.serverOptions\(\) \}\)/);
    await app.close();
  });
});

import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type Agent, request } from 'undici';
import { createMtlsDispatcher } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { mountServingCert, type MountedServingCert } from '@serving-cert/testkit';
import { allowPeers, servingCert } from '../src/index.js';
import { http2Loop, keepAliveAgent, requestLoop, servedConnections } from './keepAliveLoad.js';

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

/** GET `url` through `dispatcher`; the response's Connection header. */
async function getConnectionHeader(url: string, dispatcher: Agent): Promise<string | undefined> {
  const response = await request(url, { dispatcher });
  await response.body.dump();
  expect(response.statusCode).toBe(200);
  return response.headers.connection as string | undefined;
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
    const connections = servedConnections(app.server);
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const keepAlive = keepAliveAgent(ca.certPem, 'api.shop.svc');
    cleanups.push(() => keepAlive.close());
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
    const get = () => getConnectionHeader(url, keepAlive);
    expect(await get()).toBe('keep-alive');
    expect(await get()).toBe('keep-alive');
    expect(connections.openSerials()).toContain(api.cert.current.info.serialNumber);
    const next = await api.rotate();
    // The pooled connections are not closed under the client: each one's next response says
    // `Connection: close`, and the requests after that go over new connections.
    expect(await get()).toBe('close');
    await expect.poll(get, { timeout: 5_000, interval: 0 }).toBe('keep-alive');
    expect(connections.openSerials()).toContain(next);
    expect(await get()).toBe('keep-alive');
  });

  it('HTTP/1.1: keep-alive clients under load move to the rotated certificate without a failed request', async () => {
    const api = await mount('api');
    const app = Fastify({ https: api.cert.serverOptions() });
    await app.register(servingCert, { cert: api.cert });
    app.get('/', async () => 'ok');
    const connections = servedConnections(app.server);
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const agent = keepAliveAgent(ca.certPem, 'api.shop.svc');
    cleanups.push(() => agent.close());
    const load = requestLoop(`https://127.0.0.1:${port}/`, agent, 8);
    cleanups.push(() => load.stop());
    await load.progress(50);
    let last = '';
    for (let rotation = 0; rotation < 5; rotation += 1) {
      last = await api.rotate();
      await load.progress(50);
    }
    expect(await handshakeSerial(port)).toBe(last);
    await expect.poll(() => connections.openSerials().length > 0 && connections.openSerials().every((serial) => serial === last), { timeout: 10_000, interval: 20 }).toBe(true);
    await load.stop();
    expect(load.failures).toEqual([]);
  });

  it('HTTP/2 with goAwayHttp2SessionsOnRotate: an open session is told to go away gracefully after a rotation (GOAWAY 2^31-1, then the final one); its streams finish', async () => {
    const api = await mount('api');
    const app = Fastify({ http2: true, https: { ...api.cert.serverOptions(), allowHTTP1: false } });
    await app.register(servingCert, { cert: api.cert, goAwayHttp2SessionsOnRotate: true });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let enter!: () => void;
    const entered = new Promise<void>((resolve) => {
      enter = resolve;
    });
    app.get('/slow', async () => {
      enter();
      await released;
      return 'done';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'api.shop.svc' });
    session.on('error', () => {});
    cleanups.push(async () => session.destroy());
    await once(session, 'connect');
    expect((session.socket as tls.TLSSocket).getPeerX509Certificate()!.serialNumber).toBe(api.cert.current.info.serialNumber);
    const slow = session.request({ ':path': '/slow' });
    slow.setEncoding('utf8');
    let body = '';
    slow.on('data', (chunk: string) => {
      body += chunk;
    });
    const slowEnded = once(slow, 'end');
    await entered; // the server took it before the rotation
    const goaways: Array<[number, number]> = [];
    session.on('goaway', (code: number, lastStreamID: number) => goaways.push([code, lastStreamID]));
    const closed = once(session, 'close');
    const next = await api.rotate();
    // First: no new streams here, none refused.
    await expect.poll(() => goaways[0], { timeout: 5_000, interval: 10 }).toEqual([http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1]);
    release();
    await slowEnded;
    expect(body).toBe('done');
    await closed; // the client, told to go away, ends the session once its stream is done
    expect(await handshakeSerial(port, ['h2'])).toBe(next);
    const again = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'api.shop.svc' });
    cleanups.push(async () => again.close());
    await once(again, 'connect');
    expect((again.socket as tls.TLSSocket).getPeerX509Certificate()!.serialNumber).toBe(next);
  });

  it('HTTP/2 by default: sessions under load are left as they are through rotations, not a stream refused; new sessions get the new certificate', async () => {
    const api = await mount('api');
    const app = Fastify({ http2: true, https: { ...api.cert.serverOptions(), allowHTTP1: false } });
    await app.register(servingCert, { cert: api.cert });
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const load = http2Loop(`https://127.0.0.1:${port}`, ca.certPem, 'api.shop.svc', 8);
    cleanups.push(() => load.stop());
    await load.progress(50);
    let last = '';
    for (let rotation = 0; rotation < 5; rotation += 1) {
      last = await api.rotate();
      await load.progress(50);
    }
    expect(await handshakeSerial(port, ['h2'])).toBe(last);
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(load.refusedAndRetried).toBe(0); // no GOAWAY: nothing in flight was refused
  });

  it('HTTP/2 with goAwayHttp2SessionsOnRotate: clients under load move to the rotated certificate; no stream the server took is lost', async () => {
    const api = await mount('api');
    const app = Fastify({ http2: true, https: { ...api.cert.serverOptions(), allowHTTP1: false } });
    await app.register(servingCert, { cert: api.cert, goAwayHttp2SessionsOnRotate: true });
    app.get('/', async () => 'ok');
    const connections = servedConnections(app.server);
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const load = http2Loop(`https://127.0.0.1:${port}`, ca.certPem, 'api.shop.svc', 8);
    cleanups.push(() => load.stop());
    await load.progress(50);
    let last = '';
    for (let rotation = 0; rotation < 5; rotation += 1) {
      last = await api.rotate();
      await load.progress(50);
    }
    expect(await handshakeSerial(port, ['h2'])).toBe(last);
    await expect.poll(() => connections.openSerials().length > 0 && connections.openSerials().every((serial) => serial === last), { timeout: 10_000, interval: 20 }).toBe(true);
    await load.stop();
    expect(load.failures).toEqual([]);
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

  it('hands connections over on a rotation even when an app listener registered first throws; detaches on close', async () => {
    const api = await mount('api');
    const count = () => (api.cert as unknown as { listenerCount(event: string): number }).listenerCount('rotate');
    api.cert.on('rotate', () => {
      throw new Error('a bug in the app');
    });
    const before = count();
    const app = Fastify({ https: api.cert.serverOptions() });
    const server = app.server as unknown as tls.Server;
    const serverListeners = () => ['request', 'session'].map((event) => server.listenerCount(event));
    const withoutPlugin = serverListeners();
    await app.register(servingCert, { cert: api.cert });
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    // It follows through serving-cert's internal subscription, not as one of the app's listeners.
    expect(count()).toBe(before);
    const keepAlive = keepAliveAgent(ca.certPem, 'api.shop.svc');
    cleanups.push(() => keepAlive.close());
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
    expect(await getConnectionHeader(url, keepAlive)).toBe('keep-alive');
    await api.rotate();
    expect(await getConnectionHeader(url, keepAlive)).toBe('close');
    await app.close();
    expect(serverListeners()).toEqual(withoutPlugin);
  });

  it('says what to do when the instance is not a TLS server', async () => {
    const api = await mount('api');
    const app = Fastify();
    await expect(app.register(servingCert, { cert: api.cert }).ready()).rejects.toThrow(/Fastify\(\{ https: cert.serverOptions\(\) \}\)/);
    await app.close();
  });
});

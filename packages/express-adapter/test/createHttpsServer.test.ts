import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type * as https from 'node:https';
import express from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import * as tls from 'node:tls';
import { type Agent, request } from 'undici';
import { createMtlsDispatcher } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { mountServingCert, type MountedServingCert } from '@serving-cert/testkit';
import { allowPeers, createHttpsServer } from '../src/index.js';
import { keepAliveAgent, requestLoop, servedConnections } from './keepAliveLoad.js';

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

/** GET /who through `dispatcher`; the response's Connection header. */
async function getWho(url: string, dispatcher: Agent): Promise<string | undefined> {
  const response = await request(`${url}/who`, { dispatcher });
  await response.body.dump();
  expect(response.statusCode).toBe(200);
  return response.headers.connection as string | undefined;
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
    const server = createHttpsServer(app(), api.cert);
    const connections = servedConnections(server);
    const url = await listen(server);
    const keepAlive = keepAliveAgent(ca.certPem, 'api.shop.svc');
    cleanups.push(() => keepAlive.close());
    const get = () => getWho(url, keepAlive);
    expect(await get()).toBe('keep-alive');
    expect(await get()).toBe('keep-alive');
    const first = api.cert.current.info.serialNumber;
    expect(connections.openSerials()).toContain(first);

    const next = await api.rotate();
    expect(await handshakeSerial(url)).toBe(next); // a new client
    // The pooled connections are not closed under the client: each one's next response says
    // `Connection: close`, and the requests after that go over new connections.
    expect(await get()).toBe('close');
    await expect.poll(get, { timeout: 5_000, interval: 0 }).toBe('keep-alive');
    expect(connections.openSerials()).toContain(next);
    expect(await get()).toBe('keep-alive'); // and those are kept alive
  });

  it('keep-alive clients under load move to the rotated certificate without a failed request', async () => {
    const api = await mount('api');
    const server = createHttpsServer(app(), api.cert);
    const connections = servedConnections(server);
    const url = await listen(server);
    const agent = keepAliveAgent(ca.certPem, 'api.shop.svc');
    cleanups.push(() => agent.close());
    const load = requestLoop(`${url}/who`, agent, 8);
    cleanups.push(() => load.stop());
    await load.progress(50);
    let last = '';
    for (let rotation = 0; rotation < 5; rotation += 1) {
      last = await api.rotate();
      await load.progress(50);
    }
    expect(await handshakeSerial(url)).toBe(last); // a new client
    // Every pooled connection moved to the last certificate while the loop went on.
    await expect.poll(() => connections.openSerials().length > 0 && connections.openSerials().every((serial) => serial === last), { timeout: 10_000, interval: 20 }).toBe(true);
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(load.completed).toBeGreaterThan(0);
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

  it('closing the server detaches it; listening again follows the certificate again, without piling up listeners', async () => {
    const api = await mount('api');
    const before = (api.cert as unknown as { listenerCount(event: string): number }).listenerCount('rotate');
    const server = createHttpsServer(app(), api.cert);
    let installs = 0;
    const setSecureContext = server.setSecureContext.bind(server);
    server.setSecureContext = (options) => {
      installs += 1;
      setSecureContext(options);
    };
    const url = await listen(server);
    // It follows through serving-cert's internal subscription, not as one of the app's listeners.
    expect((api.cert as unknown as { listenerCount(event: string): number }).listenerCount('rotate')).toBe(before);
    await api.rotate();
    expect(installs).toBe(1);
    const listeners = () => ['request', 'listening', 'close', 'secureConnection'].map((event) => server.listenerCount(event));
    const afterFirstListen = listeners();
    await new Promise((resolve) => server.close(resolve));
    await api.rotate();
    expect(installs).toBe(1); // detached while closed
    for (let cycle = 0; cycle < 3; cycle += 1) {
      server.listen(Number(new URL(url).port), '127.0.0.1');
      await once(server, 'listening');
      const next = await api.rotate();
      expect(await handshakeSerial(url)).toBe(next);
      expect(listeners()).toEqual(afterFirstListen);
      if (cycle < 2) await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a server closed and listening again serves the certificate rotated while it was closed, and the next ones', async () => {
    const api = await mount('api');
    const server = createHttpsServer(app(), api.cert);
    const url = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const whileClosed = await api.rotate();
    server.listen(Number(new URL(url).port), '127.0.0.1');
    await once(server, 'listening');
    expect(await handshakeSerial(url)).toBe(whileClosed);
    const next = await api.rotate();
    expect(await handshakeSerial(url)).toBe(next);
  });

  it('a server listening again after its certificate was closed keeps serving what it had', async () => {
    const api = await mount('api');
    const server = createHttpsServer(app(), api.cert);
    const url = await listen(server);
    const served = api.cert.current.info.serialNumber;
    await new Promise((resolve) => server.close(resolve));
    await api.cert.close();
    server.listen(Number(new URL(url).port), '127.0.0.1');
    await once(server, 'listening');
    expect(await handshakeSerial(url)).toBe(served);
  });

  it('a rotate listener of the app that throws, registered first, does not keep keep-alive clients on the old certificate', async () => {
    const api = await mount('api');
    api.cert.on('rotate', () => {
      throw new Error('a bug in the app');
    });
    const server = createHttpsServer(app(), api.cert);
    const connections = servedConnections(server);
    const url = await listen(server);
    const keepAlive = keepAliveAgent(ca.certPem, 'api.shop.svc');
    cleanups.push(() => keepAlive.close());
    const get = () => getWho(url, keepAlive);
    expect(await get()).toBe('keep-alive');
    const next = await api.rotate();
    // The old connections are handed over all the same.
    expect(await get()).toBe('close');
    await expect.poll(get, { timeout: 5_000, interval: 0 }).toBe('keep-alive');
    expect(connections.openSerials()).toContain(next);
  });
});

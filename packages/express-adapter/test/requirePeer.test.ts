import { once } from 'node:events';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { createMtlsDispatcher } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { mountServingCert, type MountedServingCert } from '@serving-cert/testkit';
import { allowPeers, createHttpsServer, requirePeer } from '../src/index.js';

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

function recordingLogger() {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { lines, info: (fields: Record<string, unknown> | string, message?: string) => {
    lines.push(typeof fields === 'string' ? { fields: {}, message: fields } : { fields, message: message ?? '' });
  } };
}

function agent(connect: { cert?: string; key?: string; ca: string }): Agent {
  const dispatcher = new Agent({ connect: { ...connect, servername: 'api.shop.svc' } });
  cleanups.push(() => dispatcher.close());
  return dispatcher;
}

// One set of routes for both: Express 4's types differ from 5's only in ways these tests do not
// use (the last test checks requirePeer against Express 4's own types).
const versions: Array<[string, () => Express]> = [['Express 5', () => express()], ['Express 4', () => express4() as unknown as Express]];

it('requirePeer type-checks as Express 4 middleware', () => {
  const legacy = express4();
  legacy.get('/orders', requirePeer(), (req, res) => {
    res.json({ calledBy: req.peer?.serviceName });
  });
  expect(legacy).toBeTypeOf('function');
});

describe.each(versions)('%s: clientCert "request" and requirePeer', (_label, makeApp) => {
  it('serves /healthz to a caller without a certificate, 403 on a protected route through the app, 200 to an allowed peer', async () => {
    const api = await mount('api');
    const web = await mount('web');
    const intruder = await mount('scraper', 'elsewhere');
    const log = recordingLogger();
    const accessLog: string[] = [];
    const app = makeApp();
    // The app's access log, as morgan does it: one line when the response is finished.
    app.use((req, res, next) => {
      res.on('finish', () => accessLog.push(`${req.method} ${req.originalUrl} ${res.statusCode}`));
      next();
    });
    app.get('/healthz', (_req, res) => {
      res.send('ok');
    });
    app.get('/orders', requirePeer(allowPeers({ services: ['web.shop'] }), { logger: log }), (req, res) => {
      res.json({ calledBy: req.peer?.serviceName });
    });
    const url = await listen(createHttpsServer(app, api.cert, { clientCert: 'request' }));

    const anonymous = agent({ ca: ca.certPem });
    const health = await request(`${url}/healthz`, { dispatcher: anonymous });
    expect([health.statusCode, await health.body.text()]).toEqual([200, 'ok']);
    const refused = await request(`${url}/orders`, { dispatcher: anonymous });
    const refusedBody = await refused.body.text();
    expect(refused.statusCode).toBe(403);
    expect(refusedBody).toContain('Forbidden');
    expect(refusedBody).not.toMatch(/web\.shop|allowed|certificate/);

    const asWeb = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc' });
    const asIntruder = createMtlsDispatcher(intruder.cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => asWeb.close(), () => asIntruder.close());
    const allowed = await request(`${url}/orders`, { dispatcher: asWeb });
    expect([allowed.statusCode, await allowed.body.json()]).toEqual([200, { calledBy: 'web' }]);
    const intruded = await request(`${url}/orders`, { dispatcher: asIntruder });
    const intrudedBody = await intruded.body.text();
    expect(intruded.statusCode).toBe(403);
    expect(intrudedBody).not.toMatch(/web\.shop|scraper|allowed/);

    // 'finish' may come just after the client has read the body.
    await expect.poll(() => accessLog).toEqual(['GET /healthz 200', 'GET /orders 403', 'GET /orders 200', 'GET /orders 403']);
    // The reasons are in serving-cert's log, with who called.
    expect(log.lines.map((line) => [line.fields.caller, line.fields.reason])).toEqual([
      [undefined, 'no client certificate'],
      ['scraper.elsewhere', 'scraper.elsewhere is not allowed; allowed are services web.shop'],
    ]);
  });

  it('refuses a client certificate from a foreign CA at the handshake: the app never sees the request', async () => {
    const api = await mount('api');
    const accessLog: string[] = [];
    const app = makeApp();
    app.use((req, res, next) => {
      res.on('finish', () => accessLog.push(`${req.method} ${req.originalUrl} ${res.statusCode}`));
      next();
    });
    app.get('/healthz', (_req, res) => {
      res.send('ok');
    });
    const url = await listen(createHttpsServer(app, api.cert, { clientCert: 'request' }));
    const stranger = CertificateAuthority.create({ commonName: 'stranger' }).issue({ dnsNames: ['web.shop.svc'] });
    const expired = ca.issue({ dnsNames: ['web.shop.svc'], notBefore: new Date(Date.now() - 3e9), notAfter: new Date(Date.now() - 1e9) });
    for (const client of [stranger, expired]) {
      const foreign = agent({ ca: ca.certPem, cert: client.certPem, key: client.keyPem });
      await expect(request(`${url}/healthz`, { dispatcher: foreign })).rejects.toThrow(/ECONNRESET|socket|other side closed|closed/i);
    }
    expect(accessLog).toEqual([]);
  });
});

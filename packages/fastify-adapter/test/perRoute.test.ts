import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { createMtlsDispatcher, type ServingCert } from '@serving-cert/core';
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

function recordingLogger() {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { lines, info: (fields: Record<string, unknown> | string, message?: string) => {
    lines.push(typeof fields === 'string' ? { fields: {}, message: fields } : { fields, message: message ?? '' });
  } };
}

const versions: Array<[string, (cert: ServingCert) => FastifyInstance]> = [
  ['HTTP/1.1', (cert) => Fastify({ https: cert.serverOptions({ clientCert: 'request' }) })],
  ['HTTP/2', (cert) => Fastify({ http2: true, https: { ...cert.serverOptions({ clientCert: 'request' }), allowHTTP1: false } }) as unknown as FastifyInstance],
];

describe.each(versions)('@serving-cert/fastify %s: clientCert "request" and the route option config.peer', (label, makeApp) => {
  async function start(api: MountedServingCert, log: ReturnType<typeof recordingLogger>) {
    const app = makeApp(api.cert);
    const accessLog: string[] = [];
    // The app's access log: an onResponse hook, as Fastify's own request logging is.
    app.addHook('onResponse', async (request, reply) => {
      accessLog.push(`${request.raw.httpVersion} ${request.method} ${request.url} ${reply.statusCode}`);
    });
    await app.register(servingCert, { cert: api.cert, logger: log });
    app.get('/healthz', async () => 'ok');
    app.get('/orders', { config: { peer: allowPeers({ services: ['web.shop'] }) } }, async (request) => ({ calledBy: request.peer?.serviceName }));
    app.get('/whoami', async (request) => ({ peer: request.peer === undefined ? 'undefined' : request.peer.serviceName }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    return { url: `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`, accessLog };
  }
  const h2 = label === 'HTTP/2';
  const version = h2 ? '2.0' : '1.1';

  it('serves /healthz without a certificate, 403 (generic) on a protected route, 200 to an allowed peer', async () => {
    const api = await mount('api');
    const web = await mount('web');
    const intruder = await mount('scraper', 'elsewhere');
    const log = recordingLogger();
    const { url, accessLog } = await start(api, log);
    const anonymous = new Agent({ allowH2: h2, connect: { ca: ca.certPem, servername: 'api.shop.svc' } });
    const asWeb = createMtlsDispatcher(web.cert, { serverName: 'api.shop.svc', allowH2: h2 });
    const asIntruder = createMtlsDispatcher(intruder.cert, { serverName: 'api.shop.svc', allowH2: h2 });
    cleanups.push(() => anonymous.close(), () => asWeb.close(), () => asIntruder.close());

    const health = await request(`${url}/healthz`, { dispatcher: anonymous });
    expect([health.statusCode, await health.body.text()]).toEqual([200, 'ok']);
    const whoami = await request(`${url}/whoami`, { dispatcher: anonymous });
    expect(await whoami.body.json()).toEqual({ peer: 'undefined' });
    const refused = await request(`${url}/orders`, { dispatcher: anonymous });
    const refusedBody = await refused.body.text();
    expect(refused.statusCode).toBe(403);
    expect(JSON.parse(refusedBody)).toMatchObject({ statusCode: 403, error: 'Forbidden', message: 'Forbidden' });
    expect(refusedBody).not.toMatch(/web\.shop|allowed|certificate/);

    const allowed = await request(`${url}/orders`, { dispatcher: asWeb });
    expect([allowed.statusCode, await allowed.body.json()]).toEqual([200, { calledBy: 'web' }]);
    const intruded = await request(`${url}/orders`, { dispatcher: asIntruder });
    const intrudedBody = await intruded.body.text();
    expect(intruded.statusCode).toBe(403);
    expect(intrudedBody).not.toMatch(/web\.shop|scraper|allowed/);

    await expect.poll(() => accessLog).toEqual([
      `${version} GET /healthz 200`, `${version} GET /whoami 200`, `${version} GET /orders 403`, `${version} GET /orders 200`, `${version} GET /orders 403`,
    ]);
    expect(log.lines.map((line) => [line.fields.caller, line.fields.reason])).toEqual([
      [undefined, 'no client certificate'],
      ['scraper.elsewhere', 'scraper.elsewhere is not allowed; allowed are services web.shop'],
    ]);
  });

  it('refuses a client certificate from a foreign CA at the handshake: no route runs', async () => {
    const api = await mount('api');
    const { url, accessLog } = await start(api, recordingLogger());
    const stranger = CertificateAuthority.create({ commonName: 'stranger' }).issue({ dnsNames: ['web.shop.svc'] });
    const foreign = new Agent({ allowH2: h2, connect: { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem, servername: 'api.shop.svc' } });
    cleanups.push(() => foreign.close());
    await expect(request(`${url}/healthz`, { dispatcher: foreign })).rejects.toThrow(/ECONNRESET|socket|other side closed|closed/i);
    expect(accessLog).toEqual([]);
  });
});

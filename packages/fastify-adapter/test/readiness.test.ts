import Fastify from 'fastify';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServingCert } from '@serving-cert/core';
import { mountServingCert } from '@serving-cert/testkit';
import { readiness } from '../src/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function probe(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await request(url);
  return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
}

describe('readiness plugin (Fastify)', () => {
  it('answers 503 before the first certificate, 200 after, 503 when the served one nears expiry with nothing newer', async () => {
    let deliver!: (cert: ServingCert) => void;
    const starting = new Promise<ServingCert>((resolve) => { deliver = resolve; });
    const probes = Fastify(); // a plain HTTP probe port, up before the certificate
    await probes.register(readiness, { cert: starting, path: '/ready', expiryMarginMs: 60 * 60_000 });
    const address = await probes.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => probes.close());
    const url = `${address}/ready`;

    expect(await probe(url)).toEqual({ status: 503, body: { ready: false, reason: 'waiting for the first certificate' } });
    const mounted = await mountServingCert({ serviceName: 'api', namespace: 'shop' });
    cleanups.push(() => mounted.close());
    deliver(mounted.cert);
    await starting;
    expect(await probe(url)).toMatchObject({ status: 200, body: { ready: true, notAfter: mounted.cert.current.info.notAfter.toISOString() } });

    await mounted.rotate({ notAfter: new Date(Date.now() + 30 * 60_000) });
    const nearing = await probe(url);
    expect(nearing.status).toBe(503);
    expect(nearing.body.reason).toBe('the served certificate expires within 3600 s and nothing newer came');
  });

  it('refuses a negative expiryMarginMs at register', async () => {
    const app = Fastify();
    await expect(app.register(readiness, { cert: new Promise<ServingCert>(() => {}), expiryMarginMs: -5 })).rejects.toThrow(/expiryMarginMs must be zero or more/);
    await app.close();
  });
});

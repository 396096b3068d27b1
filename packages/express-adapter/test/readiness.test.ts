import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ServingCertError, type ServingCert } from '@serving-cert/core';
import { mountServingCert } from '@serving-cert/testkit';
import { mountReadiness, readinessHandler } from '../src/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A plain HTTP probe port, as kubelet's readiness probe would reach it. */
async function probePort(app: http.RequestListener): Promise<string> {
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function probe(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await request(url);
  return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
}

describe('readiness route (Express)', () => {
  it('answers 503 before the first certificate, 200 after, 503 when the served one nears expiry with nothing newer', async () => {
    let deliver!: (cert: ServingCert) => void;
    const starting = new Promise<ServingCert>((resolve) => { deliver = resolve; });
    const app = express();
    mountReadiness(app, starting, { expiryMarginMs: 60 * 60_000 });
    const url = `${await probePort(app)}/readyz`;

    expect(await probe(url)).toEqual({ status: 503, body: { ready: false, reason: 'waiting for the first certificate' } });

    const mounted = await mountServingCert({ serviceName: 'api', namespace: 'shop' });
    cleanups.push(() => mounted.close());
    deliver(mounted.cert);
    await starting;
    const ready = await probe(url);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, reason: 'serving', notAfter: mounted.cert.current.info.notAfter.toISOString() });

    // A rotation to a leaf that expires in 30 minutes: served (it is valid), but within the hour's margin.
    const serial = await mounted.rotate({ notAfter: new Date(Date.now() + 30 * 60_000) });
    expect(mounted.cert.current.info.serialNumber).toBe(serial);
    const nearing = await probe(url);
    expect(nearing.status).toBe(503);
    expect(nearing.body.reason).toBe('the served certificate expires within 3600 s and nothing newer came');
    expect(nearing.body.expiresInMs).toBeGreaterThan(29 * 60_000);

    await mounted.rotate(); // a newer 90-day leaf: ready again
    expect((await probe(url)).status).toBe(200);
  });

  it('answers 503 with the code when the start failed, and 503 after close', async () => {
    const failed = Promise.reject(new ServingCertError('E_TIMEOUT', 'no valid serving certificate after 300 s'));
    const failedUrl = await probePort(readinessHandler(failed));
    await failed.catch(() => undefined);
    expect(await probe(failedUrl)).toEqual({ status: 503, body: { ready: false, reason: 'the start failed (E_TIMEOUT)' } });

    const mounted = await mountServingCert({ serviceName: 'api', namespace: 'shop' });
    const url = await probePort(readinessHandler(mounted.cert));
    expect((await probe(url)).status).toBe(200);
    await mounted.close();
    expect(await probe(url)).toMatchObject({ status: 503, body: { ready: false, reason: 'no certificate is served' } });
  });

  it.each([[-1], [Number.NaN], ['60s']])('refuses expiryMarginMs %s, naming the option', (margin) => {
    expect(() => readinessHandler(new Promise<ServingCert>(() => {}), { expiryMarginMs: margin as number })).toThrow(/expiryMarginMs must be zero or more milliseconds/);
  });
});

import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { createMtlsDispatcher, ensureServingCert, silentLogger } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { quantile, roundsOf, throughputRow, type Row } from './lib/stats.js';
import { probeRound, type RoundFacts } from './lib/roundProbe.js';

const names = (svc: string) => [svc, `${svc}.shop`, `${svc}.shop.svc`, `${svc}.shop.svc.cluster.local`];

/**
 * Requests per second with `concurrency` loops for `durationMs`; `latencies`, when given, gets
 * each request's time (ms): a stall's signature (every request near 40 ms is Nagle against
 * delayed ACKs; one request near the round's length is a pause).
 */
async function requestsPerSecond(url: string, dispatcher: Dispatcher, durationMs: number, concurrency = 8, latencies?: number[]): Promise<number> {
  const end = performance.now() + durationMs;
  const start = performance.now();
  let count = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      const response = await request(url, { dispatcher });
      await response.body.dump();
      latencies?.push(performance.now() - sent);
      count += 1;
    }
  }));
  return count / ((performance.now() - start) / 1000);
}

/** Requests per second through createMtlsDispatcher against a plain undici Agent with the same static material, same server. */
export async function mtlsThroughput(rounds: number, roundMs: number): Promise<Row> {
  const ca = CertificateAuthority.create();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'serving-cert-bench-mtls-'));
  const leafFor = async (svc: string) => {
    const leaf = ca.issue({ dnsNames: names(svc) });
    await writeAtomicVolume(path.join(dir, svc), { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    return ensureServingCert({ source: 'files', annotate: false, serviceName: svc, namespace: 'shop', certDir: path.join(dir, svc), caDir: path.join(dir, 'none'), logger: silentLogger });
  };
  const api = await leafFor('api');
  const web = await leafFor('web');
  const server = https.createServer(api.serverOptions({ clientCert: 'require' }), (_req, res) => res.end('ok'));
  api.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const ours = createMtlsDispatcher(web, { serverName: 'api.shop.svc' });
  const plain = new Agent({ connect: { ca: web.trust.pem, cert: web.current.certPem, key: web.current.keyPem, servername: 'api.shop.svc' } });
  const oursRates: number[] = [];
  const plainRates: number[] = [];
  const facts: Array<{ which: string; rate: number; requestP50Ms: number; requestMaxMs: number } & RoundFacts> = [];
  let probe: ReturnType<typeof probeRound> | undefined;
  server.on('secureConnection', () => probe?.connection());
  try {
    // A whole round each to warm up: measured, a first round opens its connections inside
    // it and runs cold (request p50 4 ms against 0.5 ms), at about a seventh of the median.
    await requestsPerSecond(url, plain, roundMs);
    await requestsPerSecond(url, ours, roundMs);
    for (let round = 0; round < rounds; round += 1) {
      for (const which of round % 2 === 0 ? ['plain', 'ours'] : ['ours', 'plain']) {
        probe = probeRound(true);
        const latencies: number[] = [];
        const rate = await requestsPerSecond(url, which === 'plain' ? plain : ours, roundMs, 8, latencies);
        facts.push({ which, rate: Math.round(rate), ...probe.end(), requestP50Ms: quantile(latencies, 0.5), requestMaxMs: Math.max(...latencies) });
        probe = undefined;
        (which === 'plain' ? plainRates : oursRates).push(rate);
      }
    }
  } finally {
    await ours.close();
    await plain.close();
    server.closeAllConnections();
    server.close();
    await api.close();
    await web.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  return throughputRow({
    name: `mTLS requests/s, createMtlsDispatcher (${rounds} alternating rounds of ${roundMs} ms)`, unit: '/s', baselineName: 'plain undici Agent', target: 'ratio >= 0.97',
  }, roundsOf(oursRates), roundsOf(plainRates), (ratio) => ratio >= 0.97, { rounds: facts });
}

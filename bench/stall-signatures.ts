// What a stalled mTLS throughput round would look like for each suspected cause, measured with
// the mTLS benchmark's own client (8 keep-alive loops through a plain undici Agent) against a
// server changed to provoke that cause: `node --import tsx bench/stall-signatures.ts`. Each
// line gives the rate, the median request time and how many TLS connections the server took,
// to compare with the facts recorded for every round of `npm run bench` (bench/README.md).
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { quantile } from './lib/stats.js';

const ca = CertificateAuthority.create();
const serving = ca.issue({ dnsNames: ['api.shop.svc'] });
const client = ca.issue({ dnsNames: ['web.shop.svc'] });

async function run(label: string, serverOptions: https.ServerOptions, closeEach: boolean, agentOptions: Agent.Options = {}): Promise<void> {
  const server = https.createServer({ key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, ...serverOptions },
    (_request, response) => {
      if (closeEach) response.setHeader('connection', 'close');
      response.end('ok');
    });
  let connections = 0;
  server.on('secureConnection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const agent = new Agent({ connect: { ca: ca.certPem, cert: client.certPem, key: client.keyPem, servername: 'api.shop.svc' }, ...agentOptions });
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + 2_000;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      await (await request(url, { dispatcher: agent })).body.dump();
      latencies.push(performance.now() - sent);
    }
  }));
  const rate = latencies.length / ((performance.now() - started) / 1000);
  console.log(`${label.padEnd(48)} ${String(Math.round(rate)).padStart(6)} req/s  p50 ${quantile(latencies, 0.5).toFixed(2)} ms  ${connections} connections`);
  await agent.close();
  server.closeAllConnections();
  server.close();
}

await run('warm-up (first connections, JIT)', {}, false);
await run('as in the benchmark (keep-alive, noDelay)', {}, false);
await run('Nagle on at the server (noDelay: false)', { noDelay: false }, false);
await run('keep-alive lost: Connection: close on each', {}, true);
await run('pool limit: Agent connections: 1', {}, false, { connections: 1 });

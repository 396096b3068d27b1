// npm run demo: two services on the embedded default (a local development CA), one on Express
// and one on Fastify, call each other over mTLS every second while their certificates rotate
// every few seconds and the CA rolls over once. Ctrl-C ends it; so does --duration SECONDS.
// The last line is `rotations: N, requests: M, failed: F`; the exit code is 1 when F > 0.
import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import Fastify from 'fastify';
import { request } from 'undici';
import { allowPeers, createMtlsDispatcher, ensureServingCert, rotateLocalCa, silentLogger, type ServingCert } from '@serving-cert/core';
import { createHttpsServer } from '@serving-cert/express';
import { servingCert } from '@serving-cert/fastify';

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    'rotate-every': { type: 'string', default: '4' },
    quiet: { type: 'boolean', default: false },
  },
});
const durationSeconds = values.duration === undefined ? undefined : Number(values.duration);
if (durationSeconds !== undefined && !(durationSeconds > 0)) {
  process.stderr.write(`demo: --duration takes a number of seconds; got "${values.duration}"\n`);
  process.exit(2);
}
const rotateEveryMs = Number(values['rotate-every']) * 1000;
const NAMESPACE = 'demo';
const started = Date.now();
const color = process.stdout.isTTY ? (code: number, text: string) => `\x1b[${code}m${text}\x1b[0m` : (_code: number, text: string) => text;
const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
const log = (text: string) => {
  if (!values.quiet) process.stdout.write(`${stamp()}  ${text}\n`);
};
const short = (serial: string) => serial.slice(0, 8).toLowerCase();

let rotations = 0;
let requests = 0;
let failed = 0;

// The demo's own CA folder, so that its CA rollover never touches your development CA.
const caDir = await fs.mkdtemp(path.join(os.tmpdir(), 'serving-cert-demo-ca-'));
const open = (serviceName: string): Promise<ServingCert> => ensureServingCert({
  source: 'local', serviceName, namespace: NAMESPACE, logger: silentLogger,
  local: { dir: caDir, rotateIntervalMs: rotateEveryMs, leafLifetimeMs: 10 * 60_000 },
});
const [orders, payments] = await Promise.all([open('orders'), open('payments')]);

function follow(name: string, cert: ServingCert): void {
  const info = cert.current.info;
  log(`${color(36, name.padEnd(8))} serving serial ${short(info.serialNumber)} from "${info.issuer}", expires ${info.notAfter.toISOString()}`);
  cert.on('rotate', (next, previous) => {
    rotations += 1;
    log(`${color(33, name.padEnd(8))} ${color(33, 'rotated')} ${short(previous.serialNumber)} -> ${short(next.serialNumber)} (issuer "${next.issuer}")`);
  });
  cert.on('trust', (trust) => log(`${color(35, name.padEnd(8))} trusts ${trust.cas.length} CA(s): ${trust.cas.map((ca) => `"${ca.subject}"`).join(', ')}`));
  cert.on('error', (error) => log(`${color(31, name.padEnd(8))} refused an update: ${error.code} ${error.message}`));
}
follow('orders', orders);
follow('payments', payments);

// orders: Express, lets only payments in.
const ordersApp = express();
ordersApp.get('/orders', (req, res) => {
  res.json({ service: 'orders', caller: req.peer?.serviceName });
});
const ordersServer = createHttpsServer(ordersApp, orders, { authorizer: allowPeers({ services: [`payments.${NAMESPACE}`] }) });
ordersServer.listen(0, '127.0.0.1');
await once(ordersServer, 'listening');

// payments: Fastify, lets only orders in.
const paymentsApp = Fastify({ https: payments.serverOptions({ clientCert: 'require' }) });
await paymentsApp.register(servingCert, { cert: payments, authorizer: allowPeers({ services: [`orders.${NAMESPACE}`] }) });
paymentsApp.get('/payments', (req, reply) => reply.send({ service: 'payments', caller: req.peer?.serviceName }));
await paymentsApp.listen({ port: 0, host: '127.0.0.1' });

const ordersUrl = `https://127.0.0.1:${(ordersServer.address() as AddressInfo).port}/orders`;
const paymentsUrl = `https://127.0.0.1:${(paymentsApp.server.address() as AddressInfo).port}/payments`;
log(`orders   (Express) on ${ordersUrl}`);
log(`payments (Fastify) on ${paymentsUrl}`);

// Each calls the other by identity: the server's certificate must name that Service.
const fromOrders = createMtlsDispatcher(orders, { peer: { serviceName: 'payments', namespace: NAMESPACE } });
const fromPayments = createMtlsDispatcher(payments, { peer: { serviceName: 'orders', namespace: NAMESPACE } });

async function call(from: string, to: string, url: string, dispatcher: ReturnType<typeof createMtlsDispatcher>): Promise<void> {
  requests += 1;
  try {
    const response = await request(url, { dispatcher, headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = await response.body.json() as { caller?: string };
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${JSON.stringify(body)}`);
    log(`${from.padEnd(8)} -> ${to.padEnd(8)} ${color(32, '200')}  ${to} saw caller "${body.caller ?? '?'}"`);
  } catch (error) {
    failed += 1;
    log(`${from.padEnd(8)} -> ${to.padEnd(8)} ${color(31, 'FAILED')} ${error instanceof Error ? error.message : String(error)}`);
  }
}

let stopping = false;
const calls = setInterval(() => {
  if (stopping) return;
  void call('orders', 'payments', paymentsUrl, fromOrders);
  void call('payments', 'orders', ordersUrl, fromPayments);
}, 1_000);

// The CA rolls over once: halfway through a timed run, else after 10 s.
const caRolloverAt = durationSeconds ? (durationSeconds * 1000) / 2 : 10_000;
const caRollover = setTimeout(() => {
  log(color(35, 'rolling the development CA over: trust first, new leaves two seconds later'));
  void rotateLocalCa(caDir);
}, caRolloverAt);

async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(calls);
  clearTimeout(caRollover);
  clearTimeout(timer);
  log(`stopping (${reason})`);
  await new Promise((resolve) => setTimeout(resolve, 200)); // let calls in flight finish
  await Promise.allSettled([fromOrders.close(), fromPayments.close(), paymentsApp.close(),
    new Promise((resolve) => { ordersServer.closeAllConnections(); ordersServer.close(resolve); })]);
  await Promise.allSettled([orders.close(), payments.close()]);
  await fs.rm(caDir, { recursive: true, force: true });
  process.stdout.write(`rotations: ${rotations}, requests: ${requests}, failed: ${failed}\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

const timer = durationSeconds ? setTimeout(() => void stop(`--duration ${durationSeconds}`), durationSeconds * 1000) : undefined;
if (!durationSeconds) log('running until Ctrl-C (or pass --duration SECONDS)');
process.once('SIGINT', () => void stop('Ctrl-C'));
process.once('SIGTERM', () => void stop('SIGTERM'));

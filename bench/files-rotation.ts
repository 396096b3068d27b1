import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ensureServingCert, silentLogger } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { handshakesPerSecond } from './lib/tls.js';
import { roundsOf, throughputRow, type Row } from './lib/stats.js';
import { probeRound, type RoundFacts } from './lib/roundProbe.js';
import { certwatcherRotation, servingCertRotation, summarize, type LatencySamples } from './peers.js';

const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];

async function setUp() {
  const ca = CertificateAuthority.create();
  // kubelet backs Secret volumes with tmpfs: so does the benchmark, where the machine has one.
  const base = await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  const dir = await fs.mkdtemp(path.join(base, 'serving-cert-bench-'));
  const certDir = path.join(dir, 'certs');
  const leaf = ca.issue({ dnsNames: NAMES });
  await writeAtomicVolume(certDir, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  const cert = await ensureServingCert({
    source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: path.join(dir, 'ca'), logger: silentLogger,
  });
  return { ca, dir, cert };
}

async function listen(server: https.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Rotation to first handshake, files source, serving-cert in a process of its own (see peers.ts). */
export async function rotationToHandshake(rotations: number): Promise<Row> {
  const latency = await servingCertRotation(rotations);
  return {
    name: `files: swap to first handshake with the new cert, p99 (${rotations} rotations)`,
    unit: 'ms', value: latency.p99, target: 'p99 <= 50 ms', met: latency.p99 <= 50, detail: { ...latency },
  };
}

/**
 * serving-cert's files source and controller-runtime's certwatcher in the same harness, in
 * alternating blocks (serving-cert, certwatcher, certwatcher, serving-cert, ...) so that the
 * load of a shared machine falls on both alike; samples are pooled per contender. Rows: the
 * p99 target, then p50 and p99 each beside certwatcher's, with each block's figures in detail.
 */
export async function filesAgainstCertwatcher(rotations: number, blocks = 4): Promise<Row[]> {
  const perBlock = Math.ceil(rotations / blocks);
  const ours: number[] = [];
  const peer: number[] = [];
  const oursBlocks: LatencySamples[] = [];
  const peerBlocks: LatencySamples[] = [];
  for (let block = 0; block < blocks; block += 1) {
    const order = block % 2 === 0 ? ['ours', 'peer'] : ['peer', 'ours'];
    for (const which of order) {
      const samples: number[] = [];
      const summary = which === 'ours' ? await servingCertRotation(perBlock, samples) : await certwatcherRotation(perBlock, samples);
      (which === 'ours' ? ours : peer).push(...samples);
      (which === 'ours' ? oursBlocks : peerBlocks).push(summary);
    }
  }
  const a = summarize(ours);
  const b = summarize(peer);
  const compared = (quantile: 'p50' | 'p99'): Row => ({
    name: `files: ${quantile} swap to handshake, serving-cert vs controller-runtime certwatcher (${a.samples} + ${b.samples}, ${blocks} alternating blocks)`,
    unit: 'ms', value: a[quantile], baselineName: 'certwatcher (Go)', baseline: b[quantile], ratio: a[quantile] / b[quantile],
    target: 'ratio <= 1.0', met: a[quantile] <= b[quantile],
    detail: { servingCertBlocks: oursBlocks.map((s) => s[quantile]), certwatcherBlocks: peerBlocks.map((s) => s[quantile]) },
  });
  return [
    { name: `files: swap to first handshake with the new cert, p99 (${a.samples} rotations)`, unit: 'ms', value: a.p99,
      target: 'p99 <= 50 ms', met: a.p99 <= 50, detail: { ...a } },
    compared('p50'),
    { ...compared('p99'), detail: { servingCert: a, certwatcher: b, servingCertBlocks: oursBlocks, certwatcherBlocks: peerBlocks } },
  ];
}

/**
 * Handshakes per second through an attached server against a plain https.Server with the same
 * static certificate, in alternating rounds so that drift on a shared machine hits both alike.
 */
export async function handshakeThroughput(rounds: number, roundMs: number): Promise<Row> {
  const { ca, dir, cert } = await setUp();
  const attached = https.createServer(cert.serverOptions());
  cert.attach(attached);
  const plain = https.createServer({ key: cert.current.keyPem, cert: cert.current.certPem });
  const attachedPort = await listen(attached);
  const plainPort = await listen(plain);
  const plainRates: number[] = [];
  const attachedRates: number[] = [];
  const facts: Array<{ which: string; rate: number } & RoundFacts> = [];
  let probe: ReturnType<typeof probeRound> | undefined;
  try {
    // A whole round each to warm up: a first round runs cold (JIT) and is the slowest.
    await handshakesPerSecond(plainPort, ca.certPem, roundMs);
    await handshakesPerSecond(attachedPort, ca.certPem, roundMs);
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? ['plain', 'attached'] : ['attached', 'plain'];
      for (const which of order) {
        probe = probeRound();
        const rate = await handshakesPerSecond(which === 'plain' ? plainPort : attachedPort, ca.certPem, roundMs);
        facts.push({ which, rate: Math.round(rate), ...probe.end() });
        probe = undefined;
        (which === 'plain' ? plainRates : attachedRates).push(rate);
      }
    }
  } finally {
    attached.close();
    plain.close();
    await cert.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  return throughputRow({
    name: `TLS handshakes/s, attached server (${rounds} alternating rounds of ${roundMs} ms)`, unit: '/s', baselineName: 'plain https.Server', target: 'ratio >= 0.98',
  }, roundsOf(attachedRates), roundsOf(plainRates), (ratio) => ratio >= 0.98, { rounds: facts });
}

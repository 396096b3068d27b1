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
import { certwatcherRotation, nodeReloadRotation, servingCertRotation, summarize, type LatencySamples } from './peers.js';

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
 * serving-cert's files source against controller-runtime's certwatcher in the same harness,
 * with a third contender between them: the floor of any Node server that reloads (fs.watch and
 * setSecureContext, no validation). Alternating blocks (serving-cert, floor, certwatcher, then
 * the reverse, ...) so that the load of a shared machine falls on all alike; samples are pooled
 * per contender. Rows: the p99 target, p50 and p99 each beside certwatcher's (the target), then
 * informative p50 rows that split the gap: the floor beside certwatcher (Node's own cost) and
 * serving-cert beside the floor (the gate's and the handle's). Each block's figures in detail.
 */
export async function filesAgainstCertwatcher(rotations: number, blocks = 4): Promise<Row[]> {
  const perBlock = Math.ceil(rotations / blocks);
  const contenders = {
    ours: { run: servingCertRotation, samples: [] as number[], blocks: [] as LatencySamples[] },
    floor: { run: nodeReloadRotation, samples: [] as number[], blocks: [] as LatencySamples[] },
    peer: { run: certwatcherRotation, samples: [] as number[], blocks: [] as LatencySamples[] },
  };
  for (let block = 0; block < blocks; block += 1) {
    const order = ['ours', 'floor', 'peer'] as const;
    for (const which of block % 2 === 0 ? order : [...order].reverse()) {
      const contender = contenders[which];
      const samples: number[] = [];
      contender.blocks.push(await contender.run(perBlock, samples));
      contender.samples.push(...samples);
    }
  }
  const a = summarize(contenders.ours.samples);
  const floor = summarize(contenders.floor.samples);
  const b = summarize(contenders.peer.samples);
  const compared = (quantile: 'p50' | 'p99'): Row => ({
    name: `files: ${quantile} swap to handshake, serving-cert vs controller-runtime certwatcher (${a.samples} + ${b.samples}, ${blocks} alternating blocks)`,
    unit: 'ms', value: a[quantile], baselineName: 'certwatcher (Go)', baseline: b[quantile], ratio: a[quantile] / b[quantile],
    target: 'ratio <= 1.0', met: a[quantile] <= b[quantile],
    detail: { servingCertBlocks: contenders.ours.blocks.map((s) => s[quantile]), certwatcherBlocks: contenders.peer.blocks.map((s) => s[quantile]) },
  });
  return [
    { name: `files: swap to first handshake with the new cert, p99 (${a.samples} rotations)`, unit: 'ms', value: a.p99,
      target: 'p99 <= 50 ms', met: a.p99 <= 50, detail: { ...a } },
    compared('p50'),
    { ...compared('p99'), detail: { servingCert: a, nodeReloadFloor: floor, certwatcher: b, servingCertBlocks: contenders.ours.blocks, nodeReloadFloorBlocks: contenders.floor.blocks, certwatcherBlocks: contenders.peer.blocks } },
    { name: 'files: p50, a Node server reloading with no validation (setSecureContext only) vs certwatcher: Node\'s own floor',
      unit: 'ms', value: floor.p50, baselineName: 'certwatcher (Go)', baseline: b.p50, ratio: floor.p50 / b.p50,
      target: 'informative', met: true, detail: { p99: floor.p99, certwatcherP99: b.p99, blocks: contenders.floor.blocks.map((s) => s.p50) } },
    { name: 'files: p50, serving-cert vs that Node floor: the price of the gate and the handle',
      unit: 'ms', value: a.p50, baselineName: 'Node reload, no validation', baseline: floor.p50, ratio: a.p50 / floor.p50,
      target: 'informative (lower is better)', met: true, detail: { differenceMs: a.p50 - floor.p50 } },
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

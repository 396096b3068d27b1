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
import { median, type Row } from './lib/stats.js';
import { servingCertRotation } from './peers.js';

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
  try {
    await handshakesPerSecond(plainPort, ca.certPem, 300); // warm-up
    await handshakesPerSecond(attachedPort, ca.certPem, 300);
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? ['plain', 'attached'] : ['attached', 'plain'];
      for (const which of order) {
        const rate = await handshakesPerSecond(which === 'plain' ? plainPort : attachedPort, ca.certPem, roundMs);
        (which === 'plain' ? plainRates : attachedRates).push(rate);
      }
    }
  } finally {
    attached.close();
    plain.close();
    await cert.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  const value = median(attachedRates);
  const baseline = median(plainRates);
  const ratio = value / baseline;
  return {
    name: 'TLS handshakes/s, attached server', unit: '/s', value, baselineName: 'plain https.Server', baseline, ratio,
    target: 'ratio >= 0.98', met: ratio >= 0.98, detail: { plainRates, attachedRates },
  };
}

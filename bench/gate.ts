// The gate's cost on crafted input (issue 12): the 1 MiB decoy chain that made chain building
// quadratic, refused through the same VersionGate a live handle uses, and the re-read of the
// same refused bytes (what every periodic re-read of a bad version costs). File I/O excluded.
import { performance } from 'node:perf_hooks';
import { validateServingBundle, type RawFiles } from '@serving-cert/core';
import { CertificateAuthority, decoyChain } from '@serving-cert/core/pki';
import { VersionGate } from '../packages/core/src/live/versionGate.js';
import { quantile, type Row } from './lib/stats.js';

const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];
const EXPECT = { dnsNames: NAMES, clockSkewMs: 300_000, maxBytes: 1024 * 1024, description: 'bench' };

function filesOf(material: { certPem: string; keyPem: string; caPem: string }): RawFiles {
  return { 'tls.crt': Buffer.from(material.certPem), 'tls.key': Buffer.from(material.keyPem), 'ca.crt': Buffer.from(material.caPem) };
}

/** A copy with fresh buffers, as a source's read returns. */
const reread = (files: RawFiles): RawFiles => Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, Buffer.from(bytes!)]));

function gateOver(files: () => RawFiles): VersionGate<unknown> {
  return new VersionGate({ description: 'bench', read: () => Promise.resolve({ present: true, files: files() }), watch: () => Promise.resolve() },
    (raw, now) => validateServingBundle(raw, EXPECT, now));
}

async function timeReads(gate: VersionGate<unknown>, rounds: number): Promise<number[]> {
  const signal = new AbortController().signal;
  const samples: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const started = performance.now();
    const read = await gate.read(signal);
    samples.push(performance.now() - started);
    if (read.outcome !== 'refused') throw new Error(`expected a refusal, got ${read.outcome}`);
  }
  return samples;
}

export async function gateOnCraftedInput(rounds: number): Promise<Row[]> {
  const crafted = filesOf(decoyChain({ dnsNames: NAMES }));
  // Within both caps: a leaf and 9 decoys in tls.crt, 200 decoys of the issuer's name in ca.crt.
  const decoys = (count: number) => Array.from({ length: count }, () => CertificateAuthority.create({ commonName: 'serving-cert decoy issuer', keyIdentifiers: false }).certPem).join('');
  const small = decoyChain({ dnsNames: NAMES, targetBytes: 1 });
  const leafPem = small.certPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
  const withinCaps = filesOf({ certPem: leafPem + decoys(9), keyPem: small.keyPem, caPem: decoys(200) });

  const first = async (files: RawFiles) => {
    const samples: number[] = [];
    for (let i = 0; i < rounds; i += 1) samples.push(...await timeReads(gateOver(() => reread(files)), 1)); // a new version each time
    return samples;
  };
  const refused = await first(crafted);
  const refusedWithinCaps = await first(withinCaps);
  // Fresh buffers per read, as a source returns, made before the clock starts.
  const copies = Array.from({ length: rounds * 10 }, () => reread(crafted));
  const rereads = await timeReads(gateOver(() => copies.pop()!), copies.length);
  rereads.shift(); // the first read is the validation itself
  // The median is the figure: on a shared 2-core machine the tail measures the neighbours.
  const row = (name: string, samples: number[], limit: number): Row => {
    const p50 = quantile(samples, 0.5);
    const p99 = quantile(samples, 0.99);
    return { name: `${name} (median)`, unit: 'ms', value: p50, target: `< ${limit} ms`, met: p50 < limit, detail: { p50, p99, samples: samples.length } };
  };
  return [
    row(`gate: crafted 1 MiB decoy chain (${crafted['tls.crt']!.length} B) refused`, refused, 50),
    row('gate: 10 + 200 same-name decoys (both caps) refused', refusedWithinCaps, 50),
    row('gate: re-read of the same refused 1 MiB', rereads, 1),
  ];
}

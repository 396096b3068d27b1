// Where the files source's reaction time goes (bench/README.md, "The files source's reaction
// path"): `node --import tsx bench/files-profile.ts [rotations]`. Three views:
// 1. each step from a kubelet swap to a new SecureContext, timed alone in this process on a
//    tmpfs folder (p50 and p99 of 200 runs);
// 2. a timeline of real rotations through peers/serving-cert-server.mjs, the benchmark's own
//    server: swap -> change event (the refresh starts) -> new context installed (the
//    serving-cert:rotate channel) -> first handshake that presents it, in epoch milliseconds.
//    The server also times its setSecureContext, which splits the refresh in two;
// 3. the time from kubelet's `..data_tmp` event to its `..data` event: the most a speculative
//    gate (validating at `..data_tmp`) could gain.
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { handshake } from './lib/tls.js';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { silentLogger, validateServingBundle, type RawFiles } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { filesSource } from '../packages/core/src/sources/files/filesSource.js';
import { quantile } from './lib/stats.js';

const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];
const EXPECT = { dnsNames: ['web.shop.svc'], clockSkewMs: 300_000, maxBytes: 1024 * 1024, description: 'bench' };

async function timed(label: string, runs: number, work: () => unknown): Promise<[string, number, number]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return [label, quantile(samples, 0.5), quantile(samples, 0.99)];
}

export async function profileSteps(runs = 200): Promise<Array<[string, number, number]>> {
  const base = await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  const dir = await fs.mkdtemp(path.join(base, 'serving-cert-profile-'));
  const ca = CertificateAuthority.create();
  const leaf = ca.issue({ dnsNames: NAMES });
  await writeAtomicVolume(dir, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  const signal = new AbortController().signal;
  const sourceOptions = { dir, keys: ['tls.crt', 'tls.key', 'ca.crt'], requiredKeys: ['tls.crt', 'tls.key'], maxBytes: 1 << 20, pollIntervalMs: 60_000, logger: silentLogger };
  const source = filesSource(sourceOptions);
  const asyncSource = filesSource({ ...sourceOptions, syncTmpfsReads: false });
  // A new leaf each run, as in a rotation (the same leaf again would find its parse cached).
  const bundles: RawFiles[] = Array.from({ length: runs }, () => {
    const next = ca.issue({ dnsNames: NAMES });
    return { 'tls.crt': Buffer.from(next.certPem), 'tls.key': Buffer.from(next.keyPem), 'ca.crt': Buffer.from(next.caPem) };
  });
  let run = 0;
  const bundle = validateServingBundle(bundles[0]!, EXPECT, new Date());
  const rows = [
    await timed('setImmediate (one event-loop turn)', runs, () => new Promise((resolve) => setImmediate(resolve))),
    await timed('fs.promises.stat (one threadpool round trip)', runs, () => fs.stat(dir)),
    await timed('filesSource.read, asynchronous (threadpool)', runs, () => asyncSource.read(signal)),
    await timed('filesSource.read, synchronous on tmpfs', runs, () => source.read(signal)),
    await timed('validateServingBundle (the whole gate)', runs, () => validateServingBundle(bundles[(run += 1) % runs]!, EXPECT, new Date())),
    await timed('tls.createSecureContext', runs, () => tls.createSecureContext({ key: bundle.keyPem, cert: bundle.certPem })),
  ];
  await fs.rm(dir, { recursive: true, force: true });
  return rows;
}

/**
 * The most a speculative gate could gain: kubelet points `..data_tmp` at the new, fully
 * written revision just before renaming it over `..data`, so validating at the `..data_tmp`
 * event could overlap the gate with the time until the rename event, and no more. This is that
 * time as a watcher sees it (fs.watch on a tmpfs folder, the testkit's kubelet-style writer
 * in the same process: its symlink and rename are two threadpool round trips apart; kubelet's
 * are two consecutive system calls). Returns [p50, p90, p99] in ms.
 */
export async function speculationWindow(rotations = 200): Promise<[number, number, number]> {
  const base = await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  const dir = await fs.mkdtemp(path.join(base, 'serving-cert-window-'));
  const ca = CertificateAuthority.create();
  const leaf = ca.issue({ dnsNames: NAMES });
  let tmpAt: number | undefined;
  let dataAt: number | undefined;
  await writeAtomicVolume(dir, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  const watcher = watch(dir, { persistent: false }, (_event, name) => {
    if (name === '..data_tmp') tmpAt ??= performance.now();
    else if (name === '..data') dataAt ??= performance.now();
  });
  const gaps: number[] = [];
  try {
    for (let i = 0; i < rotations; i += 1) {
      tmpAt = dataAt = undefined;
      // A different payload each time (the writer skips an unchanged one); the bytes do not matter here.
      await writeAtomicVolume(dir, { 'tls.crt': `${leaf.certPem}\n#${i}`, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (tmpAt !== undefined && dataAt !== undefined) gaps.push(dataAt - tmpAt);
    }
  } finally {
    watcher.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  return [quantile(gaps, 0.5), quantile(gaps, 0.9), quantile(gaps, 0.99)];
}

/** The timeline of `rotations` real rotations; rows of [step, p50, p90, p99] in ms. */
export async function rotationTimeline(rotations: number): Promise<Array<[string, number, number, number]>> {
  const epoch = (at: number) => performance.timeOrigin + at;
  const ca = CertificateAuthority.create();
  // FILES_PROFILE_BASE=/some/disk/folder: the same off tmpfs, where reads go through the threadpool.
  const base = process.env.FILES_PROFILE_BASE ?? await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  const dir = await fs.mkdtemp(path.join(base, 'serving-cert-timeline-'));
  const log = path.join(dir, 'timeline.log');
  const certDir = path.join(dir, 'certs');
  const payload = (leaf: ReturnType<CertificateAuthority['issue']>) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  await writeAtomicVolume(certDir, payload(ca.issue({ dnsNames: NAMES })));
  const script = fileURLToPath(new URL('./peers/serving-cert-server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, certDir, log], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)));
  const swaps: number[] = [];
  const seen: number[] = [];
  const probes: number[] = [];
  try {
    for (let i = 0; i < rotations; i += 1) {
      const leaf = ca.issue({ dnsNames: NAMES });
      const { swappedAt } = await writeAtomicVolume(certDir, payload(leaf));
      swaps.push(epoch(swappedAt!));
      for (;;) {
        const started = performance.now();
        if ((await handshake(port, ca.certPem)) === leaf.leaf.serialNumber) {
          probes.push(performance.now() - started);
          break;
        }
      }
      seen.push(epoch(performance.now()));
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  const served = (await fs.readFile(log, 'utf8')).trim().split('\n').map((line) => line.split(' ').slice(1).map(Number) as [number, number, number, number, number]);
  await fs.rm(dir, { recursive: true, force: true });
  const row = (label: string, values: number[]): [string, number, number, number] => [label, quantile(values, 0.5), quantile(values, 0.9), quantile(values, 0.99)];
  return [
    // Negative when the server's event came before the writer's own rename call returned.
    row('swap -> change event (refresh starts)', swaps.map((at, i) => served[i]![0] - served[i]![1] - at)),
    row('change event -> new context installed', served.map(([, latency]) => latency)),
    row('  (event -> setSecureContext: read, gate)', served.map(([, , toContext]) => toContext)),
    row('  (inside setSecureContext: OpenSSL)', served.map(([, , , inContext]) => inContext)),
    // The handle's bookkeeping after the install (trust, expiry alarm, logs, metrics), which runs
    // before the event loop can accept the next connection.
    row('  (setSecureContext -> rotate published)', served.map(([, , , , afterContext]) => afterContext)),
    row('installed -> first handshake presenting it', seen.map((at, i) => at - served[i]![0])),
    row('  (that handshake alone)', probes),
    row('swap -> first handshake presenting it', seen.map((at, i) => at - swaps[i]!)),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [label, p50, p99] of await profileSteps()) console.log(`${label.padEnd(48)} p50 ${p50.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms`);
  const [p50, p90, p99] = await speculationWindow();
  console.log(`${'..data_tmp event -> ..data event'.padEnd(48)} p50 ${p50.toFixed(3)} ms  p90 ${p90.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms`);
  if (process.argv[2] === '0') process.exit(0);
  console.log();
  for (const [label, p50, p90, p99] of await rotationTimeline(Number(process.argv[2] ?? 100))) {
    console.log(`${label.padEnd(48)} p50 ${p50.toFixed(2)} ms  p90 ${p90.toFixed(2)} ms  p99 ${p99.toFixed(2)} ms`);
  }
}

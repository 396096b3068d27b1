import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { envtestCacheDir, writeAtomicVolume } from '@serving-cert/testkit';
import { handshake } from './lib/tls.js';
import { quantile } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];

export interface LatencySamples {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  samples: number;
  /** The median time of the probe handshake that saw the new certificate (rotation benchmarks). */
  probeHandshakeP50?: number;
}

export function summarize(samples: number[]): LatencySamples {
  return { p50: quantile(samples, 0.5), p90: quantile(samples, 0.9), p99: quantile(samples, 0.99), max: Math.max(...samples), samples: samples.length };
}

/** Builds the certwatcher peer (bench/peers/certwatcher) once, into the cache, keyed by its sources. */
export async function certwatcherBinary(): Promise<string> {
  const sourceDir = path.join(here, 'peers', 'certwatcher');
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) {
    if (existsSync(path.join(sourceDir, file))) hash.update(readFileSync(path.join(sourceDir, file)));
  }
  const binary = path.join(envtestCacheDir(), '..', 'bench', `certwatcher-server-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(binary)) return binary;
  process.stderr.write('bench: building the controller-runtime certwatcher peer (first run only; about a minute) ...\n');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('go', ['build', '-trimpath', '-o', binary, '.'], { cwd: sourceDir, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CGO_ENABLED: '0' } });
    const progress = setInterval(() => process.stderr.write('bench: still building the certwatcher peer ...\n'), 10_000);
    child.on('exit', (code) => {
      clearInterval(progress);
      if (code === 0) resolve();
      else reject(new Error(`go build of bench/peers/certwatcher failed (exit ${code})`));
    });
    child.on('error', reject);
  });
  return binary;
}

async function tmpfsDir(prefix: string): Promise<string> {
  const base = await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  return fs.mkdtemp(path.join(base, prefix));
}

/** Starts a process that prints its address (host:port or a port) on its first stdout line. */
async function startServer(command: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before it listened`)));
  });
  return { child, port: Number(line.split(':').at(-1)) };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * The rotation harness, the same for every contender: a server in a process of its own on a
 * tmpfs folder, kubelet-style swaps, then new handshakes until one presents the new certificate.
 * The clock starts at the atomic rename of ..data. Swaps are spaced past chokidar's 50 ms
 * throttle window, as kubelet's (a minute apart) are.
 */
async function rotationLatency(command: string, args: (dir: string) => string[], rotations: number, samples: number[] = []): Promise<LatencySamples> {
  const ca = CertificateAuthority.create();
  const dir = await tmpfsDir('serving-cert-bench-rotation-');
  const payload = (leaf: ReturnType<CertificateAuthority['issue']>) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  await writeAtomicVolume(dir, payload(ca.issue({ dnsNames: NAMES })));
  const { child, port } = await startServer(command, args(dir));
  // The last handshake of each rotation, the one that saw the new certificate: the floor of
  // this harness, since a rotation is seen only at the end of a handshake begun after it.
  const probes: number[] = [];
  try {
    for (const leaf of Array.from({ length: rotations }, () => ca.issue({ dnsNames: NAMES }))) {
      const { swappedAt } = await writeAtomicVolume(dir, payload(leaf));
      for (;;) {
        const started = performance.now();
        const serial = await handshake(port, ca.certPem);
        if (serial === leaf.leaf.serialNumber) {
          probes.push(performance.now() - started);
          break;
        }
        if (performance.now() - swappedAt! > 30_000) throw new Error(`${command} did not pick up a rotation within 30 s`);
      }
      samples.push(performance.now() - swappedAt!);
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
  } finally {
    await stopServer(child);
    await fs.rm(dir, { recursive: true, force: true });
  }
  return { ...summarize(samples), probeHandshakeP50: quantile(probes, 0.5) };
}

/** serving-cert's files source behind an attached https server, in its own process. */
export function servingCertRotation(rotations: number, samples?: number[]): Promise<LatencySamples> {
  return rotationLatency(process.execPath, (dir) => [path.join(here, 'peers', 'serving-cert-server.mjs'), dir], rotations, samples);
}

/** The floor of a Node server that reloads: setSecureContext at the rename, no validation (bench/peers/node-reload-server.mjs). */
export function nodeReloadRotation(rotations: number, samples?: number[]): Promise<LatencySamples> {
  return rotationLatency(process.execPath, (dir) => [path.join(here, 'peers', 'node-reload-server.mjs'), dir], rotations, samples);
}

/** controller-runtime's certwatcher serving TLS in a small Go program (bench/peers/certwatcher). */
export async function certwatcherRotation(rotations: number, samples?: number[]): Promise<LatencySamples> {
  return rotationLatency(await certwatcherBinary(), (dir) => [dir], rotations, samples);
}

/** Restart on change: after each swap, a new process that reads the files at start; to its first handshake. */
export async function restartRotation(rotations: number): Promise<LatencySamples> {
  const ca = CertificateAuthority.create();
  const dir = await tmpfsDir('serving-cert-bench-restart-');
  const payload = (leaf: ReturnType<CertificateAuthority['issue']>) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem });
  await writeAtomicVolume(dir, payload(ca.issue({ dnsNames: NAMES })));
  const script = path.join(here, 'peers', 'static-server.mjs');
  let server = await startServer(process.execPath, [script, dir]);
  const samples: number[] = [];
  try {
    for (const leaf of Array.from({ length: rotations }, () => ca.issue({ dnsNames: NAMES }))) {
      const { swappedAt } = await writeAtomicVolume(dir, payload(leaf));
      await stopServer(server.child);
      server = await startServer(process.execPath, [script, dir]);
      while ((await handshake(server.port, ca.certPem)) !== leaf.leaf.serialNumber) { /* the new process serves it at once */ }
      samples.push(performance.now() - swappedAt!);
    }
  } finally {
    await stopServer(server.child);
    await fs.rm(dir, { recursive: true, force: true });
  }
  return summarize(samples);
}

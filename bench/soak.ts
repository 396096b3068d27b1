import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureServingCert, silentLogger } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import type { Row } from './lib/stats.js';

const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];

interface Resources { heapMB: number; rssMB: number; fds: number; inotifyWatches: number; activeResources: number }

function resources(): Resources {
  (globalThis as { gc?: () => void }).gc?.();
  let fds = 0;
  let inotifyWatches = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    fds += 1;
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:inotify') {
        inotifyWatches += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((line) => line.startsWith('inotify wd:')).length;
      }
    } catch { /* closed meanwhile */ }
  }
  const memory = process.memoryUsage();
  return { heapMB: memory.heapUsed / 2 ** 20, rssMB: memory.rss / 2 ** 20, fds, inotifyWatches, activeResources: process.getActiveResourcesInfo().length };
}

/**
 * 10,000 kubelet-style rotations through one handle: heap and RSS growth, file descriptors,
 * inotify watches and active resources before and after. Leaves are drawn from a pool (each
 * swap still changes the bytes), so that issuing 10,000 keys does not dominate the run.
 */
export async function soak(rotations: number): Promise<Row[]> {
  const ca = CertificateAuthority.create();
  const base = await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  const dir = await fs.mkdtemp(path.join(base, 'serving-cert-bench-soak-'));
  const pool = Array.from({ length: 64 }, () => ca.issue({ dnsNames: NAMES }));
  const payload = (leaf: (typeof pool)[number]) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  await writeAtomicVolume(`${dir}/certs`, payload(pool[0]!));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger: silentLogger });
  // Warm up, then measure.
  for (let i = 1; i <= 50; i += 1) {
    const rotated = new Promise((resolve) => cert.once('rotate', resolve));
    await writeAtomicVolume(`${dir}/certs`, payload(pool[i % pool.length]!));
    await rotated;
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = resources();
  const started = performance.now();
  for (let i = 0; i < rotations; i += 1) {
    const rotated = new Promise((resolve) => cert.once('rotate', resolve));
    await writeAtomicVolume(`${dir}/certs`, payload(pool[(i + 51) % pool.length]!));
    await rotated;
    if (i % 2_000 === 1_999) process.stderr.write(`bench: soak ${i + 1}/${rotations} rotations\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 300)); // trailing re-reads settle
  const after = resources();
  await cert.close();
  await fs.rm(dir, { recursive: true, force: true });
  const heapGrowth = after.heapMB - before.heapMB;
  const detail = { before, after, seconds, rotationsPerSecond: rotations / seconds };
  return [
    { name: `soak: heap growth over ${rotations} rotations`, unit: 'MB', value: heapGrowth, baselineName: 'heap before', baseline: before.heapMB,
      target: '< 10 MB', met: heapGrowth < 10, detail },
    { name: `soak: RSS growth over ${rotations} rotations`, unit: 'MB', value: after.rssMB - before.rssMB, baselineName: 'RSS before', baseline: before.rssMB,
      target: 'informative', met: true, detail: { before: before.rssMB, after: after.rssMB } },
    { name: 'soak: fds / inotify watches / active resources, after minus before', unit: '', value: (after.fds - before.fds) + (after.inotifyWatches - before.inotifyWatches) + (after.activeResources - before.activeResources),
      baselineName: 'before (sum)', baseline: before.fds + before.inotifyWatches + before.activeResources,
      target: '0 leaked', met: after.fds <= before.fds && after.inotifyWatches <= before.inotifyWatches && after.activeResources <= before.activeResources,
      detail: { fds: [before.fds, after.fds], inotifyWatches: [before.inotifyWatches, after.inotifyWatches], activeResources: [before.activeResources, after.activeResources] } },
  ];
}

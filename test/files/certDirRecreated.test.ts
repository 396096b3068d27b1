// The files source never stops following rotations, and never ends the app, whatever happens to
// the certificate folder itself: here it is removed, comes back and vanishes again exactly
// between the watch's resolution of its path (realpath) and the stat that follows. The watch's
// calls wait in libuv's thread pool, held in FIFO opens, so the removal lands in that window
// every time. Real folders, a real TLS server, kubelet's swap by writeAtomicVolume.
import { mkdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ensureServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority, type IssuedLeaf } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { recordingLogger, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';
import { holdThreadPool } from '../../packages/core/test/holdThreadPool.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const ca = CertificateAuthority.create({ commonName: 'platform root' });
const payloadOf = (leaf: IssuedLeaf) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, boundMs = 10_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('not within the bound');
    await sleep(20);
  }
}

it('keeps serving and following when the certificate folder vanishes between the watch\'s realpath and stat', async () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  cleanups.push(() => Promise.resolve(process.off('unhandledRejection', onRejection)));
  const { dir, remove } = await tempDir('serving-cert-recreated-');
  cleanups.push(remove);
  const certDir = path.join(dir, 'certs');
  const first = ca.issue({ dnsNames: WEB_NAMES });
  await writeAtomicVolume(certDir, payloadOf(first));
  // No poll within the test: only the watch can report a rotation.
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, reloadIntervalMs: 600_000, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  const server = await startAttachedHttpsServer(cert);
  cleanups.push(server.close);
  const rotations: string[] = [];
  cert.on('rotate', (info: { serialNumber: string }) => rotations.push(info.serialNumber));
  cert.on('error', (_error: ServingCertError) => undefined); // the folder gone for a while is reported; not under test

  // The folder removed: the watch looks for it through its parent.
  await fs.rm(certDir, { recursive: true });
  await sleep(300);
  const pool = await holdThreadPool((release) => cleanups.push(release));
  // It comes back: the watch resolves its path, and that call waits in the held pool.
  mkdirSync(certDir);
  await sleep(100);
  // Queued behind the resolution: the folder is gone again after it, before the stat that follows it.
  const removed = fs.rmdir(certDir);
  await pool.releaseOne();
  await removed;
  await pool.releaseAll();
  await sleep(300);
  expect(rejections).toEqual([]);
  expect(await servedSerial(server.port, ca.certPem)).toBe(first.leaf.serialNumber);

  // kubelet mounts it again with a new revision: served.
  const second = ca.issue({ dnsNames: WEB_NAMES });
  await writeAtomicVolume(certDir, payloadOf(second));
  await until(() => rotations.includes(second.leaf.serialNumber));
  expect(await servedSerial(server.port, ca.certPem)).toBe(second.leaf.serialNumber);
  expect(rejections).toEqual([]);
});

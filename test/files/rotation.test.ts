import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert } from '@serving-cert/core';
import { CertificateAuthority, type KeyAlgorithm } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function volume(leaf: { certPem: string; keyPem: string; caPem: string }) {
  return { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem };
}

async function startWeb(ca: { issue: CertificateAuthority['issue'] }, keyAlgorithm: KeyAlgorithm = 'ecdsa-p256') {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const certDir = `${dir}/certs`;
  await writeAtomicVolume(certDir, volume(ca.issue({ dnsNames: WEB_NAMES, keyAlgorithm })));
  const logger = recordingLogger();
  const cert = await ensureServingCert({
    source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger,
  });
  cleanups.push(() => cert.close());
  const server = await startAttachedHttpsServer(cert);
  cleanups.push(server.close);
  return { cert, certDir, dir, server, logger };
}

describe('files source: rotations through kubelet-style swaps', () => {
  it.each<[string, KeyAlgorithm, boolean]>([
    ['RSA, issued by the root', 'rsa-2048', false],
    ['ECDSA, issued by the root', 'ecdsa-p256', false],
    ['RSA, issued by an intermediate', 'rsa-2048', true],
    ['ECDSA P-384, issued by an intermediate', 'ecdsa-p384', true],
  ])('%s: each new handshake gets the new certificate', async (_label, keyAlgorithm, viaIntermediate) => {
    const root = CertificateAuthority.create({ keyAlgorithm: keyAlgorithm === 'rsa-2048' ? 'rsa-2048' : 'ecdsa-p256' });
    const issuer = viaIntermediate ? root.intermediate() : root;
    const { cert, certDir, server } = await startWeb(issuer, keyAlgorithm);
    expect(await servedSerial(server.port, root.certPem)).toBe(cert.current.info.serialNumber);

    for (let rotation = 0; rotation < 6; rotation += 1) {
      const leaf = issuer.issue({ dnsNames: WEB_NAMES, keyAlgorithm });
      const rotated = nextEvent<[{ serialNumber: string }, { serialNumber: string }]>(cert, 'rotate');
      const previousSerial = cert.current.info.serialNumber;
      await writeAtomicVolume(certDir, volume(leaf));
      const [next, previous] = await rotated;
      expect(next.serialNumber).toBe(leaf.leaf.serialNumber);
      expect(previous.serialNumber).toBe(previousSerial);
      expect(await servedSerial(server.port, root.certPem)).toBe(leaf.leaf.serialNumber);
    }
  });

  it('keeps a connection opened before a rotation working on the old certificate', async () => {
    const ca = CertificateAuthority.create();
    const { cert, certDir, server } = await startWeb(ca);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
    cleanups.push(() => Promise.resolve(agent.destroy()));
    const get = () => new Promise<{ body: string; socket: unknown; serial: string }>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: server.port, servername: 'web.shop.svc', agent }, (res) => {
        const socket = res.socket as tls.TLSSocket;
        const serial = socket.getPeerCertificate().serialNumber;
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ body, socket, serial }));
      }).on('error', reject);
    });
    const before = await get();
    const leaf = ca.issue({ dnsNames: WEB_NAMES });
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(certDir, volume(leaf));
    await rotated;
    const after = await get();
    expect(after.socket).toBe(before.socket); // the pooled socket opened before the rotation
    expect(after.body).toBe('ok');
    expect(after.serial).toBe(before.serial);
    expect(before.serial).not.toBe(leaf.leaf.serialNumber);
    expect(await servedSerial(server.port, ca.certPem)).toBe(leaf.leaf.serialNumber);
  });

  it('lets the last write win when swaps come faster than chokidar reports them', async () => {
    const ca = CertificateAuthority.create();
    const { cert, certDir, server } = await startWeb(ca);
    const leaves = Array.from({ length: 12 }, () => ca.issue({ dnsNames: WEB_NAMES }));
    for (const leaf of leaves) await writeAtomicVolume(certDir, volume(leaf)); // back to back
    const last = leaves.at(-1)!.leaf.serialNumber;
    while (cert.current.info.serialNumber !== last) await nextEvent(cert, 'rotate', 2_000);
    expect(await servedSerial(server.port, ca.certPem)).toBe(last);
  });

  it('skips a swap whose bytes did not change: no rotate event', async () => {
    const ca = CertificateAuthority.create();
    const { cert, certDir } = await startWeb(ca);
    const current = { 'tls.crt': cert.current.certPem, 'tls.key': cert.current.keyPem, 'ca.crt': cert.current.caPem! };
    // Force a real swap with identical content by adding, then removing, an extra key.
    const rotations: unknown[] = [];
    cert.on('rotate', (next) => rotations.push(next));
    await writeAtomicVolume(certDir, { ...current, extra: 'x' });
    await writeAtomicVolume(certDir, current);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(rotations).toEqual([]);
  });
});

describe('files source: a Secret volume on tmpfs, as kubelet mounts it (read synchronously)', () => {
  it('follows every swap, never serves a refused revision, and serves the next good one', async () => {
    const ca = CertificateAuthority.create();
    const { dir, remove } = await tempDir('serving-cert-', '/dev/shm');
    cleanups.push(remove);
    const certDir = `${dir}/certs`;
    await writeAtomicVolume(certDir, volume(ca.issue({ dnsNames: WEB_NAMES })));
    const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger: recordingLogger() });
    cleanups.push(() => cert.close());
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);
    for (let rotation = 0; rotation < 3; rotation += 1) {
      const leaf = ca.issue({ dnsNames: WEB_NAMES });
      const rotated = nextEvent(cert, 'rotate');
      await writeAtomicVolume(certDir, volume(leaf));
      await rotated;
      expect(await servedSerial(server.port, ca.certPem)).toBe(leaf.leaf.serialNumber);
    }
    const good = cert.current.info.serialNumber;
    // A revision whose key belongs to another certificate: refused, the good one stays served.
    const refused = nextEvent<[{ code: string }]>(cert, 'error');
    await writeAtomicVolume(certDir, { ...volume(ca.issue({ dnsNames: WEB_NAMES })), 'tls.key': ca.issue({ dnsNames: WEB_NAMES }).keyPem });
    expect((await refused)[0].code).toBe('E_KEY_MISMATCH');
    expect(await servedSerial(server.port, ca.certPem)).toBe(good);
    const next = ca.issue({ dnsNames: WEB_NAMES });
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(certDir, volume(next));
    await rotated;
    expect(await servedSerial(server.port, ca.certPem)).toBe(next.leaf.serialNumber);
  });
});

describe('files source: servers', () => {
  it('keeps a server\'s own TLS settings across a rotation', async () => {
    const ca = CertificateAuthority.create();
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await writeAtomicVolume(`${dir}/certs`, volume(ca.issue({ dnsNames: WEB_NAMES })));
    const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger: recordingLogger() });
    cleanups.push(() => cert.close());
    const server = await startAttachedHttpsServer(cert, { minVersion: 'TLSv1.3' });
    cleanups.push(server.close);
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(`${dir}/certs`, volume(ca.issue({ dnsNames: WEB_NAMES })));
    await rotated;
    await expect(servedSerial(server.port, ca.certPem, 'web.shop.svc', { maxVersion: 'TLSv1.2' })).rejects.toThrow(/version/i);
    expect(await servedSerial(server.port, ca.certPem)).toBe(cert.current.info.serialNumber);
  });

  it('serves HTTP/2 and plain TLS servers, and a detached server stays where it was', async () => {
    const ca = CertificateAuthority.create();
    const { cert, certDir } = await startWeb(ca);
    const h2 = http2.createSecureServer(cert.serverOptions(), (_req, res) => res.end('ok'));
    const raw = tls.createServer(cert.serverOptions(), (socket) => socket.end('hi'));
    cert.attach(h2);
    const detachRaw = cert.attach(raw);
    for (const server of [h2, raw]) {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    }
    const portOf = (server: Server) => (server.address() as AddressInfo).port;
    const first = cert.current.info.serialNumber;
    detachRaw();
    const leaf = ca.issue({ dnsNames: WEB_NAMES });
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(certDir, volume(leaf));
    await rotated;
    expect(await servedSerial(portOf(h2), ca.certPem, 'web.shop.svc', { ALPNProtocols: ['h2'] })).toBe(leaf.leaf.serialNumber);
    expect(await servedSerial(portOf(raw), ca.certPem)).toBe(first);
  });
});

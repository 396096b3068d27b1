import * as fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, isServingCertError, rotateLocalCa, type ServingCert, type TrustState } from '@serving-cert/core';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function local(dir: string, extra: { rotateIntervalMs?: number } = {}): Promise<ServingCert> {
  const cert = await ensureServingCert({
    source: 'auto', serviceName: 'orders', namespace: 'demo', certDir: `${dir}/no-mount`, local: { dir: `${dir}/ca`, ...extra }, logger: recordingLogger(),
  });
  cleanups.push(() => cert.close());
  return cert;
}

describe('the local development CA (the embedded default)', () => {
  it('is what auto picks outside a cluster: a CA kept on disk (key 0600) and a leaf for the names, localhost and 127.0.0.1', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const cert = await local(dir);
    expect(cert.current.info.dnsNames).toEqual(['orders', 'orders.demo', 'orders.demo.svc', 'orders.demo.svc.cluster.local', 'localhost']);
    expect((await fs.stat(`${dir}/ca/ca.key`)).mode & 0o777).toBe(0o600);
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);
    // By IP, as kubelet probes connect: no SNI, and the certificate covers 127.0.0.1.
    expect(await servedSerial(server.port, cert.trust.pem, '')).toBe(cert.current.info.serialNumber);
    expect(await servedSerial(server.port, cert.trust.pem, 'orders.demo.svc')).toBe(cert.current.info.serialNumber);
  });

  it('keeps the same CA across starts', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const first = await local(dir);
    const issuer = first.current.info.issuer;
    await first.close();
    const second = await local(dir);
    expect(second.current.info.issuer).toBe(issuer);
    expect(second.trust.cas.map((ca) => ca.subject)).toEqual([issuer]);
  });

  it('rotates on an interval when asked', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const cert = await local(dir, { rotateIntervalMs: 300 });
    const before = cert.current.info.serialNumber;
    const [next] = await nextEvent<[{ serialNumber: string }]>(cert, 'rotate', 5_000);
    expect(next.serialNumber).not.toBe(before);
  });

  it('renews the leaf before it expires, at 2/3 of its lifetime', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const issuedAfter = Date.now();
    const cert = await ensureServingCert({ source: 'local', serviceName: 'orders', namespace: 'demo', local: { dir, leafLifetimeMs: 3_000 }, logger: recordingLogger() });
    cleanups.push(() => cert.close());
    const first = cert.current.info;
    // The whole lifetime asked for, though X.509 keeps whole seconds (rounded up, not down).
    expect(first.notAfter.getTime()).toBeGreaterThanOrEqual(issuedAfter + 3_000);
    const started = Date.now();
    const [next] = await nextEvent<[{ serialNumber: string; notAfter: Date }]>(cert, 'rotate', 10_000);
    expect(next.serialNumber).not.toBe(first.serialNumber);
    expect(Date.now() - started).toBeLessThan(first.notAfter.getTime() - started); // before the old one expired
    expect(next.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
  });

  it('follows a CA rotation: trusts the new CA first, then issues from it', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const cert = await local(dir);
    const oldIssuer = cert.current.info.issuer;
    const order: string[] = [];
    cert.on('trust', () => order.push('trust'));
    cert.on('rotate', () => order.push('rotate'));
    const trusted = nextEvent<[TrustState]>(cert, 'trust', 5_000);
    const rotated = nextEvent(cert, 'rotate', 5_000);
    const newCa = await rotateLocalCa(`${dir}/ca`);
    await Promise.all([trusted, rotated]);
    expect(cert.current.info.issuer).toBe(newCa.cert.subject.replace(/\n/g, ', '));
    expect(cert.trust.cas.map((ca) => ca.subject).sort()).toEqual([oldIssuer, cert.current.info.issuer].sort());
    // No peer sees a leaf of a CA it does not trust yet: trust changes first.
    expect(order[0]).toBe('trust');
    expect(order).toContain('rotate');
  });

  it('refuses to run in a cluster unless asked explicitly', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    process.env.KUBERNETES_SERVICE_HOST = '10.0.0.1';
    try {
      const error = await ensureServingCert({ source: 'local', serviceName: 'orders', namespace: 'demo', annotate: false, local: { dir }, logger: recordingLogger() })
        .then(() => undefined, (caught: unknown) => caught);
      expect(isServingCertError(error, 'E_CONFIG') && error.message).toMatch(/refuses to run in a cluster/);
      const allowed = await ensureServingCert({ source: 'local', serviceName: 'orders', namespace: 'demo', annotate: false, local: { dir, allowInCluster: true }, logger: recordingLogger() });
      cleanups.push(() => allowed.close());
      expect(allowed.current.info.dnsNames).toContain('localhost');
    } finally {
      delete process.env.KUBERNETES_SERVICE_HOST;
    }
  });
});

import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { recordingLogger, rejection, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ca = CertificateAuthority.create();
const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }) =>
  ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });


describe('a start that cannot succeed says what to do', () => {
  it('names a missing certDir outside a cluster, and the optional volume and api choices', async () => {
    const error = await rejection(ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: '/nonexistent/certs', logger: recordingLogger() }));
    expect(error.code).toBe('E_CONFIG');
    expect(error.message).toContain('certDir /nonexistent/certs does not exist');
    expect(error.message).toContain('optional: true');
    expect(error.message).toContain("source: 'api'");
  });

  it.each([
    ['no service name', {}, /serviceName option or set SERVING_CERT_SERVICE/],
    ['no namespace', { serviceName: 'web' }, /namespace option or set POD_NAMESPACE/],
    ['a negative timeout', { serviceName: 'web', namespace: 'shop', timeoutMs: -1 }, /timeoutMs must be zero or more/],
  ])('names the missing option: %s', async (_label, options, message) => {
    const saved = { ...process.env };
    delete process.env.SERVING_CERT_SERVICE;
    delete process.env.POD_NAMESPACE;
    try {
      const error = await rejection(ensureServingCert({ source: 'files', annotate: false, certDir: '/tmp', logger: recordingLogger(), ...options }));
      expect(error.code).toBe('E_CONFIG');
      expect(error.message).toMatch(message);
    } finally {
      process.env = saved;
    }
  });

  it('times out on an invalid bundle, naming each reason', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const expired = ca.issue({ dnsNames: ['web'], notBefore: new Date(Date.now() - 3e9), notAfter: new Date(Date.now() - 1e9) });
    await writeAtomicVolume(dir, payloadOf(expired));
    const error = await rejection(ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, caDir: `${dir}/ca`, timeoutMs: 300, logger: recordingLogger() }));
    expect(error.code).toBe('E_TIMEOUT');
    expect(error.message).toMatch(/expired at/);
    expect(error.message).toMatch(/does not cover web\.shop, web\.shop\.svc, web\.shop\.svc\.cluster\.local/);
    expect(error.message).toMatch(/serving-cert inspect/);
  });

  it('waits for an empty (optional) volume to be filled, then resolves', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const starting = ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, caDir: `${dir}/ca`, timeoutMs: 10_000, logger: recordingLogger() });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const leaf = ca.issue({ dnsNames: WEB_NAMES });
    await writeAtomicVolume(dir, payloadOf(leaf));
    const cert = await starting;
    cleanups.push(() => cert.close());
    expect(cert.current.info.serialNumber).toBe(leaf.leaf.serialNumber);
  });

  it('rejects with E_CLOSED when the start is aborted', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const controller = new AbortController();
    const starting = ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, signal: controller.signal, logger: recordingLogger() });
    setTimeout(() => controller.abort(new Error('shutting down')), 100);
    const error = await rejection(starting);
    expect(error.code).toBe('E_CLOSED');
  });
});

describe('close()', () => {
  it('leaves nothing of ours that keeps the process alive', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await writeAtomicVolume(`${dir}/certs`, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
    const script = fileURLToPath(new URL('./fixtures/open-and-close.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script, `${dir}/certs`, `${dir}/ca`], { timeout: 20_000 });
    type Held = { held: string[]; inotifyWatches: number };
    const report = JSON.parse(stdout) as { whileOpen: Held; afterClose: Held; exitedBy: string };
    // The watchers and timers were real...
    expect(report.whileOpen.held).toContain('FSEVENTWRAP');
    expect(report.whileOpen.held).toContain('Timeout');
    expect(report.whileOpen.inotifyWatches).toBeGreaterThan(0);
    // ...and close() released every one of them.
    expect(report.afterClose).toEqual({ held: [], inotifyWatches: 0 });
    expect(report.exitedBy).toBe('itself');
  });

  it('can be called twice, and both calls await the same close', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await writeAtomicVolume(dir, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
    const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, logger: recordingLogger() });
    const first = cert.close();
    expect(cert.close()).toBe(first);
    await first;
    await fs.writeFile(`${dir}/late`, 'x'); // no watcher left to react
  });
});

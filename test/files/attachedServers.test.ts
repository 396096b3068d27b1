// How a rotation reaches the servers attached to a handle: each server on its own (one that
// refuses the material stops nothing else), a server attached twice until both attachments let
// go, and a server that verifies clients never falls back to Node's public roots.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const volume = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function startWeb(ca: CertificateAuthority) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const certDir = `${dir}/certs`;
  await writeAtomicVolume(certDir, volume(ca.issue({ dnsNames: WEB_NAMES })));
  const logger = recordingLogger();
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger, trustGracePeriodMs: 200 });
  cleanups.push(() => cert.close());
  const rotate = async (leaf: ReturnType<CertificateAuthority['issue']>) => {
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(certDir, volume(leaf));
    await rotated;
  };
  return { cert, logger, rotate };
}

describe('attached servers', () => {
  it('a server whose own settings refuse every context is logged; the other servers follow every rotation and trust change', async () => {
    const ca = CertificateAuthority.create();
    const { cert, logger, rotate } = await startWeb(ca);
    const good = await startAttachedHttpsServer(cert);
    cleanups.push(good.close);
    // Both a protocol range and a fixed method: every setSecureContext of this server throws.
    const broken = await startAttachedHttpsServer(cert);
    cleanups.push(broken.close);
    Object.assign(broken.server, { minVersion: 'TLSv1.2', secureProtocol: 'TLS_method' });
    const other = await startAttachedHttpsServer(cert);
    cleanups.push(other.close);

    const first = ca.issue({ dnsNames: WEB_NAMES });
    await rotate(first);
    expect(cert.current.info.serialNumber).toBe(first.leaf.serialNumber);
    expect(await servedSerial(good.port, ca.certPem)).toBe(first.leaf.serialNumber);
    expect(await servedSerial(other.port, ca.certPem)).toBe(first.leaf.serialNumber);
    const refusals = logger.lines.filter((line) => line.level === 'error' && line.fields.code === 'E_CONFIG');
    expect(refusals).toHaveLength(1); // the broken server alone: the others took it
    expect(refusals[0]!.message).toContain(`an attached server (127.0.0.1:${broken.port}) refused certificate serial ${first.leaf.serialNumber}`);

    // A leaf of a new CA: a rotation and a trust change, both past the broken server.
    const newCa = CertificateAuthority.create({ commonName: 'next root' });
    const second = newCa.issue({ dnsNames: WEB_NAMES });
    await rotate(second);
    expect(await servedSerial(good.port, newCa.certPem)).toBe(second.leaf.serialNumber);
    expect(await servedSerial(other.port, newCa.certPem)).toBe(second.leaf.serialNumber);
    expect(cert.trust.cas.map((info) => info.fingerprint256)).toContain(new X509Certificate(newCa.certPem).fingerprint256);
  });

  it('a server attached twice follows rotations until both attachments are detached', async () => {
    const ca = CertificateAuthority.create();
    const { cert, rotate } = await startWeb(ca);
    const web = await startAttachedHttpsServer(cert);
    cleanups.push(web.close);
    const second = cert.attach(web.server); // e.g. an adapter and the app both attach
    web.detach();
    const first = ca.issue({ dnsNames: WEB_NAMES });
    await rotate(first);
    expect(await servedSerial(web.port, ca.certPem)).toBe(first.leaf.serialNumber);
    web.detach(); // a detach called twice counts once
    second();
    const next = ca.issue({ dnsNames: WEB_NAMES });
    await rotate(next);
    expect(await servedSerial(web.port, ca.certPem)).toBe(first.leaf.serialNumber); // detached: left alone
  });

  it('attach() and serverOptions() misuse: errors that say what to pass', async () => {
    const { cert } = await startWeb(CertificateAuthority.create());
    expect(() => cert.attach(undefined as never)).toThrow(/attach\(\) takes an https, http2 secure or tls server/);
    expect(cert.serverOptions(null as never)).toMatchObject({ key: cert.current.keyPem, cert: cert.current.certPem });
  });

  it('with no CA known, a server that verifies clients and the handle\'s own context trust nobody, not Node\'s default store', async () => {
    const platform = CertificateAuthority.create();
    const outsider = CertificateAuthority.create({ commonName: 'a CA the image trusts' });
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const leaf = platform.issue({ dnsNames: WEB_NAMES });
    await writeAtomicVolume(`${dir}/certs`, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem }); // no ca.crt
    await fs.mkdir(`${dir}/ca`);
    const client = outsider.issue({ dnsNames: ['client.example'] });
    await fs.writeFile(`${dir}/client.crt`, client.certPem);
    await fs.writeFile(`${dir}/client.key`, client.keyPem);
    await fs.writeFile(`${dir}/outsider.pem`, outsider.certPem);
    const outside = outsider.issue({ dnsNames: ['outside.example'] });
    const server = https.createServer({ key: outside.keyPem, cert: outside.certPem }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const script = new URL('./fixtures/empty-trust.mjs', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath,
      [script, `${dir}/certs`, `${dir}/ca`, `${dir}/client.crt`, `${dir}/client.key`, String((server.address() as AddressInfo).port)],
      { timeout: 20_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: `${dir}/outsider.pem` } });
    expect(JSON.parse(stdout)).toEqual({ trusted: 0, client: 'refused', outside: 'refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});

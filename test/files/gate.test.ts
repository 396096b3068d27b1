import * as fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority, decoyChain } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, rejection, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

// The gate refuses what TLS clients refuse (issue 12): each crafted version is refused with its
// own code while an attached server keeps serving the last good certificate, as a real TLS
// client sees.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const DAY = 86_400_000;
const ca = CertificateAuthority.create({ commonName: 'platform root' });
type Payload = Record<string, string>;
const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }): Payload =>
  ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function startWeb(options: { reloadIntervalMs?: number; first?: Payload } = {}) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const certDir = `${dir}/certs`;
  await writeAtomicVolume(certDir, options.first ?? payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
  const logger = recordingLogger();
  const cert = await ensureServingCert({
    source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger,
    ...(options.reloadIntervalMs ? { reloadIntervalMs: options.reloadIntervalMs } : {}),
  });
  cleanups.push(() => cert.close().catch(() => undefined));
  const server = await startAttachedHttpsServer(cert);
  cleanups.push(server.close);
  return { cert, certDir, dir, server, logger };
}

describe('the gate refuses what TLS clients refuse, and the attached server keeps serving', () => {
  const expiredRoot = CertificateAuthority.create({ commonName: 'expired root', notBefore: new Date(Date.now() - 20 * DAY), notAfter: new Date(Date.now() - DAY) });
  const cases: Array<[string, () => Payload, string]> = [
    ['a leaf with extendedKeyUsage clientAuth only', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES, extendedKeyUsage: ['clientAuth'] })), 'E_KEY_USAGE'],
    ['a leaf whose keyUsage allows no TLS use', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES, keyUsage: ['keyAgreement'] })), 'E_KEY_USAGE'],
    ['an intermediate not yet valid', () => payloadOf(ca.intermediate({ notBefore: new Date(Date.now() + DAY) }).issue({ dnsNames: WEB_NAMES })), 'E_NOT_YET_VALID'],
    ['an expired root in ca.crt', () => payloadOf(expiredRoot.issue({ dnsNames: WEB_NAMES, notBefore: new Date(Date.now() - 10 * DAY) })), 'E_EXPIRED'],
    ['a chain beyond the root\'s pathLenConstraint', () => payloadOf(CertificateAuthority.create({ pathLength: 0 }).intermediate().issue({ dnsNames: WEB_NAMES })), 'E_CHAIN'],
    ['an RSA-1024 leaf', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES, keyAlgorithm: 'rsa-1024' })), 'E_WEAK'],
    ['a leaf signed with SHA-1', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES, signatureDigest: 'sha1' })), 'E_WEAK'],
    ['the crafted decoy chain at 1 MiB', () => payloadOf(decoyChain({ dnsNames: WEB_NAMES })), 'E_TOO_MANY'],
    ['more certificates than the cap', () => {
      const leaf = ca.issue({ dnsNames: WEB_NAMES });
      return { ...payloadOf(leaf), 'tls.crt': leaf.certPem + ca.certPem.repeat(10) };
    }, 'E_TOO_MANY'],
  ];

  it.each(cases)('refuses %s', async (_label, make, code) => {
    const { cert, certDir, server } = await startWeb();
    const servingSerial = cert.current.info.serialNumber;
    const refused = nextEvent<[ServingCertError]>(cert, 'error', 10_000);
    await writeAtomicVolume(certDir, make());
    const [error] = await refused;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(new RegExp(`^files ${certDir}: `));
    expect(cert.current.info.serialNumber).toBe(servingSerial);
    expect(await servedSerial(server.port, ca.certPem)).toBe(servingSerial);
  });
});

describe('one error event per distinct refused version', () => {
  it('gives two events for two different bad versions in a row, none for re-reads of either', async () => {
    const { cert, certDir, server } = await startWeb({ reloadIntervalMs: 20 });
    const servingSerial = cert.current.info.serialNumber;
    const good = ca.issue({ dnsNames: WEB_NAMES });
    const errors: ServingCertError[] = [];
    cert.on('error', (error) => errors.push(error));
    // Both are E_PARSE with different bytes: de-duplicating by message or code would hide the second.
    await writeAtomicVolume(certDir, { ...payloadOf(good), 'tls.crt': good.certPem.replace(/\n[A-Za-z0-9+/]{8}/, '\n%%%%%%%%') });
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBe(1);
    await writeAtomicVolume(certDir, { ...payloadOf(good), 'tls.crt': good.certPem.slice(0, 200) });
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 400)); // about 20 re-reads of the second
    expect(errors.map((error) => error.code)).toEqual(['E_PARSE', 'E_PARSE']);
    // Same code and the same message: only the bytes differ, and each version is told once.
    expect(errors[0]!.message).toBe(errors[1]!.message);
    expect(await servedSerial(server.port, ca.certPem)).toBe(servingSerial);
  });
});

describe('expiry', () => {
  it('emits E_EXPIRED and logs an error at the moment the served certificate expires with nothing newer', async () => {
    const shortLived = ca.issue({ dnsNames: WEB_NAMES, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 6_000) });
    const { cert, server, logger } = await startWeb({ first: payloadOf(shortLived) });
    expect(await servedSerial(server.port, ca.certPem)).toBe(shortLived.leaf.serialNumber);
    const [error] = await nextEvent<[ServingCertError]>(cert, 'error', 15_000);
    expect(error.code).toBe('E_EXPIRED');
    expect(error.message).toContain(`serial ${shortLived.leaf.serialNumber}) expired at`);
    expect(Date.now()).toBeGreaterThan(new Date(shortLived.leaf.validTo).getTime());
    expect(logger.lines.filter((line) => line.level === 'error' && line.fields.code === 'E_EXPIRED')).toHaveLength(1);
  });

  it('does not fire for a certificate replaced before it expires', async () => {
    const shortLived = ca.issue({ dnsNames: WEB_NAMES, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 6_000) });
    const { cert, certDir, logger } = await startWeb({ first: payloadOf(shortLived) });
    const errors: ServingCertError[] = [];
    cert.on('error', (error) => errors.push(error));
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(certDir, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
    await rotated;
    await new Promise((resolve) => setTimeout(resolve, 7_000)); // past the first one's notAfter
    expect(errors).toEqual([]);
    expect(logger.lines.filter((line) => line.fields.code === 'E_EXPIRED')).toEqual([]);
  });
});

describe('closed means closed', () => {
  it('current, trust, serverOptions and attach throw E_CLOSED after close()', async () => {
    const { cert, server } = await startWeb();
    await cert.close();
    for (const use of [() => cert.current, () => cert.trust, () => cert.serverOptions(), () => cert.attach(server.server)]) {
      expect(use).toThrow(expect.objectContaining({ code: 'E_CLOSED' }));
    }
  });
});

describe('each input is validated as what it is and reported under its own source', () => {
  it('a bad platform CA bundle is named by caDir, and the serving folder by its own name', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.issue({ dnsNames: WEB_NAMES }).certPem }); // a leaf, not a CA
    await fs.mkdir(`${dir}/certs`);
    const error = await rejection(ensureServingCert({
      source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`,
      timeoutMs: 1_500, logger: recordingLogger(),
    }));
    expect(error.code).toBe('E_TIMEOUT');
    const reasons = error.details.reasons as Record<string, string>;
    expect(Object.keys(reasons).sort()).toEqual([`files ${dir}/ca`, `files ${dir}/certs`]);
    expect(reasons[`files ${dir}/ca`]).toMatch(new RegExp(`^files ${dir}/ca: ca\\.crt holds a certificate that is not a CA`));
  });
});

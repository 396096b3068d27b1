import * as fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const DAY = 86_400_000;
const ca = CertificateAuthority.create({ commonName: 'platform root' });
const strangerCa = CertificateAuthority.create({ commonName: 'stranger root' });
type Payload = Record<string, string>;
const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }): Payload =>
  ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function startWeb() {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const certDir = `${dir}/certs`;
  await writeAtomicVolume(certDir, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
  const logger = recordingLogger();
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger });
  cleanups.push(() => cert.close());
  const server = await startAttachedHttpsServer(cert);
  cleanups.push(server.close);
  return { cert, certDir, server, logger };
}

describe('files source: a bad update is refused and the last good one keeps serving', () => {
  const good = ca.issue({ dnsNames: WEB_NAMES });
  const cases: Array<[string, () => Payload, string]> = [
    ['corrupt PEM', () => ({ ...payloadOf(good), 'tls.crt': good.certPem.replace(/\n[A-Za-z0-9+/]{8}/, '\n%%%%%%%%') }), 'E_PARSE'],
    ['a truncated tls.crt', () => ({ ...payloadOf(good), 'tls.crt': good.certPem.slice(0, 200) }), 'E_PARSE'],
    ['an empty tls.key', () => ({ ...payloadOf(good), 'tls.key': '' }), 'E_EMPTY'],
    ['an oversized tls.crt', () => ({ ...payloadOf(good), 'tls.crt': good.certPem + '#'.repeat(1024 * 1024) }), 'E_TOO_LARGE'],
    ['the key of another certificate', () => ({ ...payloadOf(good), 'tls.key': ca.issue({ dnsNames: WEB_NAMES }).keyPem }), 'E_KEY_MISMATCH'],
    ['an expired certificate', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES, notBefore: new Date(Date.now() - 9 * DAY), notAfter: new Date(Date.now() - DAY) })), 'E_EXPIRED'],
    ['a certificate not yet valid', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES, notBefore: new Date(Date.now() + DAY) })), 'E_NOT_YET_VALID'],
    ['a certificate missing a DNS name', () => payloadOf(ca.issue({ dnsNames: WEB_NAMES.slice(0, 3) })), 'E_DNS_NAME'],
    ['a leaf its own ca.crt did not sign', () => ({ ...payloadOf(strangerCa.issue({ dnsNames: WEB_NAMES })), 'ca.crt': ca.certPem }), 'E_CHAIN'],
    ['a volume without tls.key', () => ({ 'tls.crt': good.certPem, 'ca.crt': good.caPem }), 'E_MISSING'],
  ];

  it.each(cases)('refuses %s, then takes a good version', async (_label, make, code) => {
    const { cert, certDir, server, logger } = await startWeb();
    const servingSerial = cert.current.info.serialNumber;
    const refused = nextEvent<[ServingCertError]>(cert, 'error');
    await writeAtomicVolume(certDir, make());
    const [error] = await refused;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(new RegExp(`^files ${certDir}: `));
    expect(cert.current.info.serialNumber).toBe(servingSerial);
    expect(await servedSerial(server.port, ca.certPem)).toBe(servingSerial);

    const next = ca.issue({ dnsNames: WEB_NAMES });
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(certDir, payloadOf(next));
    await rotated;
    expect(await servedSerial(server.port, ca.certPem)).toBe(next.leaf.serialNumber);
    expect(JSON.stringify(logger.lines)).not.toContain(next.keyPem.split('\n')[1]);
  });

  it('logs a refusal when nobody listens for errors, and does not crash', async () => {
    const { cert, certDir, logger } = await startWeb();
    await writeAtomicVolume(certDir, { ...payloadOf(good), 'tls.key': ca.issue({ dnsNames: WEB_NAMES }).keyPem });
    await expect.poll(() => logger.lines.filter((line) => line.level === 'error').map((line) => line.message).join('\n'), { timeout: 5_000 })
      .toMatch(/refused an update, still serving serial .*does not belong/);
    expect(cert.current.info.serialNumber).not.toBe(good.leaf.serialNumber);
  });

  it('tells a repeated refusal once, not on every re-read', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await writeAtomicVolume(`${dir}/certs`, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
    const cert = await ensureServingCert({
      source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`,
      reloadIntervalMs: 20, logger: recordingLogger(),
    });
    cleanups.push(() => cert.close());
    const errors: ServingCertError[] = [];
    cert.on('error', (error) => errors.push(error));
    await writeAtomicVolume(`${dir}/certs`, { ...payloadOf(good), 'tls.key': '' });
    await new Promise((resolve) => setTimeout(resolve, 400)); // about 20 re-reads
    expect(errors.map((error) => error.code)).toEqual(['E_EMPTY']);
  });
});

describe('files source: a plain directory written file by file', () => {
  it('refuses the in-between state and converges once both files are written', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const first = ca.issue({ dnsNames: WEB_NAMES });
    await fs.writeFile(`${dir}/tls.crt`, first.certPem);
    await fs.writeFile(`${dir}/tls.key`, first.keyPem);
    const logger = recordingLogger();
    const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, caDir: `${dir}/no-ca`, logger });
    cleanups.push(() => cert.close());
    expect(logger.lines.filter((line) => /has no \.\.data link/.test(line.message))).toHaveLength(1);

    const second = ca.issue({ dnsNames: WEB_NAMES });
    const refused = nextEvent<[ServingCertError]>(cert, 'error');
    await fs.writeFile(`${dir}/tls.crt`, second.certPem); // the key follows later
    expect((await refused)[0].code).toBe('E_KEY_MISMATCH');
    expect(cert.current.info.serialNumber).toBe(first.leaf.serialNumber);

    const rotated = nextEvent<[{ serialNumber: string }]>(cert, 'rotate');
    await fs.writeFile(`${dir}/tls.key`, second.keyPem);
    expect((await rotated)[0].serialNumber).toBe(second.leaf.serialNumber);
    expect(logger.lines.filter((line) => /has no \.\.data link/.test(line.message))).toHaveLength(1);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, type TrustState } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { httpsGet, nextEvent, recordingLogger, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }) =>
  ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function start(options: { trustGracePeriodMs?: number; withCaDir?: boolean } = {}) {
  const oldCa = CertificateAuthority.create({ commonName: 'root 2025' });
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(`${dir}/certs`, payloadOf(oldCa.issue({ dnsNames: WEB_NAMES })));
  if (options.withCaDir !== false) await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': oldCa.certPem });
  const cert = await ensureServingCert({
    source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`,
    logger: recordingLogger(), ...(options.trustGracePeriodMs === undefined ? {} : { trustGracePeriodMs: options.trustGracePeriodMs }),
  });
  cleanups.push(() => cert.close());
  return { cert, dir, oldCa };
}

const subjects = (trust: TrustState) => trust.cas.map((ca) => ca.subject).sort();

describe('trust through a CA rollover', () => {
  it('trusts the old and the new CA until the grace period ends, with a trust event each time', async () => {
    const { cert, dir, oldCa } = await start({ trustGracePeriodMs: 1_500 });
    expect(subjects(cert.trust)).toEqual(['CN=root 2025']);

    const newCa = CertificateAuthority.create({ commonName: 'root 2026' });
    const changed = nextEvent<[TrustState]>(cert, 'trust');
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': newCa.certPem });
    const [during] = await changed;
    expect(subjects(during)).toEqual(['CN=root 2025', 'CN=root 2026']);
    expect(during.pem).toContain(oldCa.certPem.trim());

    // The leaf is still the old CA's: its Secret's ca.crt keeps the old CA current too.
    const renewed = nextEvent(cert, 'rotate');
    await writeAtomicVolume(`${dir}/certs`, payloadOf(newCa.issue({ dnsNames: WEB_NAMES })));
    await renewed;
    const [after] = await nextEvent<[TrustState]>(cert, 'trust', 5_000);
    expect(subjects(after)).toEqual(['CN=root 2026']);
  });

  it('servers that verify client certificates follow the trust bundle', async () => {
    const { cert, dir, oldCa } = await start();
    const server = await startAttachedHttpsServer(cert, { requestCert: true, rejectUnauthorized: true });
    cleanups.push(server.close);
    const newCa = CertificateAuthority.create({ commonName: 'root 2026' });
    const newClient = newCa.issue({ dnsNames: ['client'] });
    const getAsNewClient = () => httpsGet(server.port, { ca: oldCa.certPem, cert: newClient.certPem, key: newClient.keyPem });
    // A client of a CA the server does not trust yet is refused...
    await expect(getAsNewClient()).rejects.toThrow(/unknown ca|ECONNRESET|socket hang up/i);
    const changed = nextEvent(cert, 'trust');
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': newCa.certPem });
    await changed;
    // ...and accepted once the new CA is in the trust bundle, with no restart.
    expect(await getAsNewClient()).toEqual({ status: 200, body: 'ok' });
  });

  it('waits for a CA directory that appears later (an optional volume)', async () => {
    const { cert, dir } = await start({ withCaDir: false });
    expect(subjects(cert.trust)).toEqual(['CN=root 2025']); // the serving Secret's ca.crt meanwhile
    const platformCa = CertificateAuthority.create({ commonName: 'platform root' });
    const changed = nextEvent<[TrustState]>(cert, 'trust');
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': platformCa.certPem });
    const [trust] = await changed;
    expect(subjects(trust)).toContain('CN=platform root');
  });

  it('requestClientCert adds the trust bundle and asks for client certificates', async () => {
    const { cert, oldCa } = await start();
    expect(cert.serverOptions({ requestClientCert: true })).toMatchObject({
      requestCert: true, rejectUnauthorized: true, ca: cert.trust.pem, cert: cert.current.certPem,
    });
    expect(cert.trust.pem).toContain(oldCa.certPem.trim());
    expect(Object.keys(cert.serverOptions()).sort()).toEqual(['cert', 'key']);
  });
});

// A platform CA rollover as a files-source pod sees it: its certs/ and ca/ volumes, first on the
// old CA, then the new CA copied into ca/ and web's leaf re-issued by it.
import { expect } from 'vitest';
import type { ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, tempDir, WEB_NAMES } from './tls.js';

const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

/** A folder with `certs/` (web's leaf of the old CA, "root 2025") and `ca/`; the new CA is "root 2026". */
export async function volumesOnOldCa(cleanups: Array<() => Promise<unknown>>) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const oldCa = CertificateAuthority.create({ commonName: 'root 2025' });
  const newCa = CertificateAuthority.create({ commonName: 'root 2026' });
  await writeAtomicVolume(`${dir}/certs`, payloadOf(oldCa.issue({ dnsNames: WEB_NAMES })));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': oldCa.certPem });
  return { dir, oldCa, newCa, certDir: `${dir}/certs`, caDir: `${dir}/ca` };
}

/** The platform CA is replaced by `newCa`, then web's own leaf is re-issued by it: the old CA retires. */
export async function rollOver(cert: ServingCert, dir: string, newCa: CertificateAuthority): Promise<void> {
  const trusted = nextEvent(cert, 'trust');
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': newCa.certPem });
  await trusted;
  // The leaf moves: the old CA retires (still trusted, the bundle may stay the same).
  const moved = nextEvent(cert, 'rotate');
  await writeAtomicVolume(`${dir}/certs`, payloadOf(newCa.issue({ dnsNames: WEB_NAMES })));
  await moved;
  expect(cert.trust.retired?.map((ca) => ca.subject)).toEqual(['CN=root 2025']);
}

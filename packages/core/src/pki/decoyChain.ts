import { CertificateAuthority, type IssuedLeaf } from './certificateAuthority.js';

/** Options of {@link decoyChain}. */
export interface DecoyChainOptions {
  /** Names of the leaf. */
  dnsNames: string[];
  /** Size of tls.crt to reach, in bytes (it stays below). Default just under 1 MiB. */
  targetBytes?: number;
  /** How many distinct decoys to make; they repeat to fill. Default 32. */
  distinctDecoys?: number;
}

/**
 * Crafted material that made chain building quadratic (issue 12): a leaf, then decoy CAs that
 * carry its issuer's name and no key identifiers (so only a signature check tells them apart),
 * then the self-signed CA of that name; `ca.crt` holds an unrelated CA, so no path exists and a
 * naive builder tries every pair. For tests and benchmarks of the gate only.
 */
export function decoyChain(options: DecoyChainOptions): IssuedLeaf {
  const name = 'serving-cert decoy issuer';
  const issuer = CertificateAuthority.create({ commonName: name, keyIdentifiers: false });
  const leaf = issuer.issue({ dnsNames: options.dnsNames });
  const decoys = Array.from({ length: options.distinctDecoys ?? 32 }, () => CertificateAuthority.create({ commonName: name, keyIdentifiers: false }).certPem);
  const target = (options.targetBytes ?? 1024 * 1024 - 1) - leaf.certPem.length - issuer.certPem.length;
  let body = '';
  for (let index = 0; body.length + decoys[index % decoys.length]!.length <= target; index += 1) body += decoys[index % decoys.length]!;
  const unrelated = CertificateAuthority.create({ commonName: 'serving-cert unrelated root' });
  return { ...leaf, certPem: leaf.certPem + body + issuer.certPem, caPem: unrelated.certPem };
}

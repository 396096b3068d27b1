import type { X509Certificate } from 'node:crypto';

/** Verdicts reached, per certificate object: the issuer's SHA-256 fingerprint to whether the signature verified. */
const verdicts = new WeakMap<X509Certificate, Map<string, boolean>>();

/**
 * Whether `cert`'s signature verifies with `issuer`'s public key. A rotation asks this of the
 * same leaf several times (the gate's chain, then the trust store's search for the signer of
 * our own leaf, twice), each a public-key operation of 0.1 to 0.4 ms on the thread that serves
 * handshakes; the answer depends only on the two certificates, so it is kept for as long as
 * `cert` lives. Names are not compared here: callers match issuers their own way.
 */
export function signatureVerifies(cert: X509Certificate, issuer: X509Certificate): boolean {
  let known = verdicts.get(cert);
  if (!known) verdicts.set(cert, (known = new Map<string, boolean>()));
  const issuerId = issuer.fingerprint256;
  let verdict = known.get(issuerId);
  if (verdict === undefined) {
    verdict = cert.verify(issuer.publicKey);
    known.set(issuerId, verdict);
  }
  return verdict;
}

import { X509Certificate } from 'node:crypto';
import type { ServingCert } from '../types.js';
import { splitPem } from '../x509/pem.js';

/**
 * The CA bundle that verifies `cert`'s served certificate now and through a rollover: every CA
 * it trusts (the platform root, old and new during a rollover) and the CA of its own Secret
 * (`ca.crt`), which issued the leaf it serves, so that the old CA stays until no leaf from it is
 * served. Each CA once, in a stable order (current trust first).
 */
export function caBundleFor(cert: ServingCert): string {
  return caBundleOf(cert.trust.pem, cert.current.caPem ?? '');
}

/** Every CA certificate of the given PEM bundles, each once, in order. */
export function caBundleOf(...bundles: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const block of bundles.flatMap((pem) => splitPem(pem).blocks)) {
    if (block.label !== 'CERTIFICATE') continue;
    const parsed = new X509Certificate(block.pem);
    if (!parsed.ca || seen.has(parsed.fingerprint256)) continue;
    seen.add(parsed.fingerprint256);
    out.push(parsed.toString());
  }
  return out.join('');
}

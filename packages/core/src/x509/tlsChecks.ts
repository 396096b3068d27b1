import type { X509Certificate } from 'node:crypto';
import { certificateFields } from './certificateFields.js';
import type { Refusal } from './refusal.js';

// What a TLS client (OpenSSL's X509_check_purpose, Go's crypto/x509, browsers) checks on each
// certificate besides names and dates: the purposes the leaf may serve, and algorithms strong
// enough that clients do not refuse them. Each problem has its own code.

const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2', any: '2.5.29.37.0' } as const;

/** Signature algorithms clients refuse: MD2, MD5 and SHA-1, with RSA, DSA or ECDSA. */
const WEAK_SIGNATURES = new Map([
  ['1.2.840.113549.1.1.2', 'MD2 with RSA'],
  ['1.2.840.113549.1.1.4', 'MD5 with RSA'],
  ['1.2.840.113549.1.1.5', 'SHA-1 with RSA'],
  ['1.3.14.3.2.29', 'SHA-1 with RSA'],
  ['1.2.840.10040.4.3', 'SHA-1 with DSA'],
  ['1.2.840.10045.4.1', 'SHA-1 with ECDSA'],
]);

/** The smallest RSA modulus clients accept (CA/Browser Forum, OpenSSL security level 2). */
export const MIN_RSA_BITS = 2048;

/**
 * The leaf may serve TLS: when it has an extendedKeyUsage, it includes serverAuth (and
 * clientAuth when it is also presented as a client certificate); when it has a keyUsage, it
 * allows digitalSignature (or keyEncipherment, for an RSA key exchange).
 */
export function checkLeafUsage(leaf: X509Certificate, serial: string, clientUse: boolean, refusal: Refusal): void {
  const extended = leaf.keyUsage; // node:crypto's name for extendedKeyUsage; undefined without one
  if (extended && !extended.includes(EKU.any)) {
    const missing = [
      ...(extended.includes(EKU.serverAuth) ? [] : ['serverAuth']),
      ...(clientUse && !extended.includes(EKU.clientAuth) ? ['clientAuth'] : []),
    ];
    if (missing.length > 0) {
      refusal.add('E_KEY_USAGE',
        `the certificate (serial ${serial}) has extendedKeyUsage ${describeEku(extended)} without ${missing.join(' and ')}, ` +
        `so TLS clients refuse it (unsupported certificate purpose): remove spec.usages from the Certificate ` +
        `or list ${missing.map((usage) => (usage === 'serverAuth' ? '"server auth"' : '"client auth"')).join(' and ')}`);
    }
  }
  const usage = certificateFields(leaf).keyUsage;
  const rsa = leaf.publicKey.asymmetricKeyType === 'rsa';
  if (usage && !usage.has('digitalSignature') && !(rsa && usage.has('keyEncipherment'))) {
    refusal.add('E_KEY_USAGE',
      `the certificate (serial ${serial}) has keyUsage ${[...usage].join(', ') || 'with no bit set'}, which allows no TLS use ` +
      `(it needs digitalSignature${rsa ? ' or keyEncipherment' : ''}): check the Certificate's spec.usages`);
  }
}

/**
 * The certificate's key and, unless it is a trust anchor (whose own signature nobody checks),
 * its signature are strong enough for clients: RSA of 2048 bits or more, no MD5 or SHA-1.
 */
export function checkStrength(cert: X509Certificate, what: string, checkSignature: boolean, refusal: Refusal): boolean {
  let strong = true;
  const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
  const type = cert.publicKey.asymmetricKeyType;
  if ((type === 'rsa' || type === 'rsa-pss' || type === 'dsa') && bits !== undefined && bits < MIN_RSA_BITS) {
    refusal.add('E_WEAK', `${what} has a ${bits}-bit ${type.toUpperCase()} key; clients refuse keys under ${MIN_RSA_BITS} bits: ` +
      `issue it with spec.privateKey.size 2048 or more, or ECDSA`);
    strong = false;
  }
  const weak = checkSignature ? WEAK_SIGNATURES.get(certificateFields(cert).signatureAlgorithm) : undefined;
  if (weak) {
    refusal.add('E_WEAK', `${what} is signed with ${weak}, which clients refuse: its issuer must sign with SHA-256 or stronger`);
    strong = false;
  }
  return strong;
}

function describeEku(oids: readonly string[]): string {
  const names = new Map<string, string>([[EKU.serverAuth, 'serverAuth'], [EKU.clientAuth, 'clientAuth']]);
  return oids.map((oid) => names.get(oid) ?? oid).join(', ') || '(empty)';
}

import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../src/pki/index.js';
import { signatureVerifies } from '../src/x509/signatureCheck.js';

// Two CAs with the same name, as in a platform CA rollover: only the signature tells them apart.
const issuer = CertificateAuthority.create({ commonName: 'platform root' });
const sameName = CertificateAuthority.create({ commonName: 'platform root' });

describe('signatureVerifies', () => {
  it('answers per issuer, also when the same leaf is asked again', () => {
    const leaf = new X509Certificate(issuer.issue({ dnsNames: ['web.shop.svc'] }).certPem);
    const issuerCert = new X509Certificate(issuer.certPem);
    const sameNameCert = new X509Certificate(sameName.certPem);
    expect(signatureVerifies(leaf, issuerCert)).toBe(true);
    expect(signatureVerifies(leaf, sameNameCert)).toBe(false);
    // Kept answers: each issuer keeps its own, in either order.
    expect(signatureVerifies(leaf, issuerCert)).toBe(true);
    expect(signatureVerifies(leaf, sameNameCert)).toBe(false);
    // Another parse of the same issuer is the same issuer.
    expect(signatureVerifies(leaf, new X509Certificate(issuer.certPem))).toBe(true);
  });

  it('keeps the answers of one leaf away from another leaf', () => {
    const issuerCert = new X509Certificate(issuer.certPem);
    const ours = new X509Certificate(issuer.issue({ dnsNames: ['web.shop.svc'] }).certPem);
    const theirs = new X509Certificate(sameName.issue({ dnsNames: ['web.shop.svc'] }).certPem);
    expect(signatureVerifies(ours, issuerCert)).toBe(true);
    expect(signatureVerifies(theirs, issuerCert)).toBe(false);
  });
});

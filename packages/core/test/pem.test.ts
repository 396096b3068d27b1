import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../src/pki/index.js';
import { certInfoOf, dnsNamesOf } from '../src/x509/certInfo.js';
import { splitPem } from '../src/x509/pem.js';

describe('splitPem', () => {
  const ca = CertificateAuthority.create();
  const leaf = ca.intermediate().issue({ dnsNames: ['a'] });

  it('reads every block of a bundle, not only the first', () => {
    const { blocks, malformed } = splitPem(`explanatory text\n${leaf.certPem}${leaf.caPem}`);
    expect(malformed).toBe(0);
    expect(blocks.map((block) => block.label)).toEqual(['CERTIFICATE', 'CERTIFICATE', 'CERTIFICATE']);
    expect(blocks.map((block) => new X509Certificate(block.pem).subject)).toContain(ca.cert.subject);
  });

  it('counts a block cut short as malformed', () => {
    const cut = leaf.certPem + leaf.caPem.slice(0, 80);
    expect(splitPem(cut)).toMatchObject({ malformed: 1 });
  });

  it('reads CRLF line ends', () => {
    expect(splitPem(ca.certPem.replace(/\n/g, '\r\n')).blocks).toHaveLength(1);
  });
});

describe('certInfoOf', () => {
  it('gives names, dates and serial of a certificate', () => {
    const ca = CertificateAuthority.create();
    const notBefore = new Date('2026-01-02T03:04:05Z');
    const notAfter = new Date('2051-06-07T08:09:10Z'); // after 2049: GeneralizedTime
    const { leaf } = ca.issue({ dnsNames: ['web', 'web.shop.svc'], ipAddresses: ['127.0.0.1', '::1'], notBefore, notAfter });
    const info = certInfoOf(leaf);
    expect(info).toMatchObject({ dnsNames: ['web', 'web.shop.svc'], notBefore, notAfter, serialNumber: leaf.serialNumber });
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(info.issuer).toContain('serving-cert test root CA');
  });

  it('reads a DNS name that Node quotes', () => {
    const fake = { subjectAltName: 'DNS:a.example, DNS:"b,c.example", IP Address:127.0.0.1, DNS:d' } as X509Certificate;
    expect(dnsNamesOf(fake)).toEqual(['a.example', 'b,c.example', 'd']);
  });
});

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, decoyChain, generatePrivateKey, issueCertificate, privateKeyToPem, type KeyAlgorithm, type KeyEncoding } from '../src/pki/index.js';
import type { RawFiles } from '../src/sources/source.js';
import { validateCaBundle, validateServingBundle } from '../src/x509/validateBundle.js';
import { isServingCertError } from '../src/errors.js';

const names = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];
const expect_ = { dnsNames: names, clockSkewMs: 5 * 60_000, maxBytes: 64 * 1024, description: 'files /test' };
const now = new Date();
const DAY = 86_400_000;

const ca = CertificateAuthority.create({ commonName: 'root A' });
const otherCa = CertificateAuthority.create({ commonName: 'root B' });

function files(certPem: string, keyPem: string, caPem?: string): RawFiles {
  return {
    'tls.crt': Buffer.from(certPem),
    'tls.key': Buffer.from(keyPem),
    ...(caPem === undefined ? {} : { 'ca.crt': Buffer.from(caPem) }),
  };
}

function refusalOf(run: () => unknown): { code: string; message: string; problems: unknown } {
  try {
    run();
  } catch (error) {
    if (isServingCertError(error)) return { code: error.code, message: error.message, problems: error.details.problems };
    throw error;
  }
  throw new Error('expected a refusal, got a valid bundle');
}

describe('validateServingBundle accepts', () => {
  it('an empty subject, and names it readably in its refusals', () => {
    const leaf = ca.issue({ dnsNames: names, notBefore: new Date(now.getTime() - 3 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const refusal = refusalOf(() => validateServingBundle(files(leaf.certPem, leaf.keyPem, leaf.caPem), expect_, now));
    expect(refusal.code).toBe('E_EXPIRED');
    expect(refusal.message).toContain(`(serial ${leaf.leaf.serialNumber}, (empty subject)) expired at`);
  });

  it.each<[string, KeyAlgorithm, KeyEncoding]>([
    ['RSA 2048, PKCS#1', 'rsa-2048', 'pkcs1'],
    ['RSA 2048, PKCS#8', 'rsa-2048', 'pkcs8'],
    ['ECDSA P-256, SEC1', 'ecdsa-p256', 'sec1'],
    ['ECDSA P-256, PKCS#8', 'ecdsa-p256', 'pkcs8'],
    ['ECDSA P-384, SEC1', 'ecdsa-p384', 'sec1'],
    ['Ed25519, PKCS#8', 'ed25519', 'pkcs8'],
  ])('%s', (_label, keyAlgorithm, keyEncoding) => {
    const leaf = ca.issue({ dnsNames: names, keyAlgorithm, keyEncoding });
    const valid = validateServingBundle(files(leaf.certPem, leaf.keyPem, leaf.caPem), expect_, now);
    expect(valid.info.serialNumber).toBe(leaf.leaf.serialNumber);
    expect(valid.info.dnsNames).toEqual(names);
    expect(valid.warnings).toEqual([]);
  });

  it.each<[string, Parameters<CertificateAuthority['issue']>[0]]>([
    // What the real cert-manager issues on this platform: no commonName in the policy, no usages.
    ['shaped like cert-manager\'s: empty subject, no extendedKeyUsage, RSA 2048 in PKCS#1', { keyAlgorithm: 'rsa-2048' }],
    ['with a commonName', { commonName: 'web.shop.svc' }],
    ['with serverAuth and clientAuth extended key usages', { extendedKeyUsage: ['serverAuth', 'clientAuth'] }],
  ])('a leaf %s', (_label, options) => {
    const leaf = ca.issue({ dnsNames: names, ...options });
    const valid = validateServingBundle(files(leaf.certPem, leaf.keyPem, leaf.caPem), expect_, now);
    expect(valid.info.subject).toBe(options?.commonName ? `CN=${options.commonName}` : '');
    expect(valid.info.issuer).toBe('CN=root A');
    expect(leaf.leaf.keyUsage).toEqual(options?.extendedKeyUsage ? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] : undefined);
  });

  it('a leaf with an intermediate in tls.crt and the root in ca.crt', () => {
    const intermediate = ca.intermediate();
    const leaf = intermediate.issue({ dnsNames: names });
    expect(leaf.certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const valid = validateServingBundle(files(leaf.certPem, leaf.keyPem, leaf.caPem), expect_, now);
    expect(valid.info.issuer).toContain('intermediate');
    expect(valid.cas.map((cert) => cert.subject)).toEqual([ca.cert.subject]);
  });

  it('a self-signed leaf that its own ca.crt holds, as cert-manager\'s SelfSigned issuer writes it', () => {
    const key = generatePrivateKey('ecdsa-p256');
    // Not a CA, empty subject, no extendedKeyUsage: the SelfSigned issuer on a serving Certificate.
    const certPem = issueCertificate({ subject: {}, subjectKey: key, notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 30 * DAY), dnsNames: names, extendedKeyUsage: [] });
    const valid = validateServingBundle(files(certPem, privateKeyToPem(key, 'sec1'), certPem), expect_, now);
    expect(valid.cas.map((cert) => cert.fingerprint256)).toEqual([valid.leaf.fingerprint256]);
    // A self-signed leaf that ca.crt does not hold is still refused: nothing vouches for it.
    const other = CertificateAuthority.create({ commonName: 'root A' });
    expect(refusalOf(() => validateServingBundle(files(certPem, privateKeyToPem(key, 'sec1'), other.certPem), expect_, now)).code).toBe('E_CHAIN');
  });

  it('only the blocks it checked, for OpenSSL to serve: not text around them, nor blocks of other labels', () => {
    const leaf = ca.issue({ dnsNames: names });
    const expired = ca.issue({ dnsNames: names, key: createPrivateKey(leaf.keyPem), notBefore: new Date(now.getTime() - 3 * DAY), notAfter: new Date(now.getTime() - DAY) });
    // OpenSSL reads a BEGIN line only at the start of a line: it would skip the checked leaf and
    // serve the next certificate; "TRUSTED CERTIFICATE" it reads too, the gate does not.
    const crafted = `\uFEFFx${leaf.certPem}${expired.certPem.replace(/CERTIFICATE-----/g, 'TRUSTED CERTIFICATE-----')}`;
    const valid = validateServingBundle(files(crafted, `note\n${leaf.keyPem}`, `# roots\n${leaf.caPem}`), expect_, now);
    const served = valid.certPem.match(/-----BEGIN [A-Z ]+-----/g);
    expect(served).toEqual(['-----BEGIN CERTIFICATE-----']);
    expect(new X509Certificate(valid.certPem).fingerprint256).toBe(valid.leaf.fingerprint256);
    expect(valid.certPem.startsWith('-----BEGIN CERTIFICATE-----')).toBe(true);
    expect(valid.keyPem.startsWith('-----BEGIN ') && valid.keyPem.trimEnd().endsWith('-----')).toBe(true);
    expect(valid.caPem?.startsWith('-----BEGIN CERTIFICATE-----')).toBe(true);
    // What OpenSSL makes of the served text is the checked pair.
    expect(() => createSecureContext({ cert: valid.certPem, key: valid.keyPem })).not.toThrow();
  });

  it('a wildcard that covers the names', () => {
    const leaf = ca.issue({ dnsNames: ['*.shop.svc', 'web', 'web.shop', 'web.shop.svc.cluster.local'] });
    expect(() => validateServingBundle(files(leaf.certPem, leaf.keyPem), expect_, now)).not.toThrow();
  });

  it('a notBefore a little ahead of this clock, within the skew', () => {
    const leaf = ca.issue({ dnsNames: names, notBefore: new Date(now.getTime() + 60_000) });
    expect(() => validateServingBundle(files(leaf.certPem, leaf.keyPem), expect_, now)).not.toThrow();
  });

  it('with a warning, a leaf in the last tenth of its lifetime', () => {
    const leaf = ca.issue({ dnsNames: names, notBefore: new Date(now.getTime() - 95 * DAY), notAfter: new Date(now.getTime() + 5 * DAY) });
    const valid = validateServingBundle(files(leaf.certPem, leaf.keyPem), expect_, now);
    expect(valid.warnings.join()).toMatch(/expires soon/);
  });
});

describe('validateServingBundle refuses', () => {
  const good = ca.issue({ dnsNames: names });
  const other = ca.issue({ dnsNames: names });
  const cases: Array<[string, () => RawFiles, string, RegExp]> = [
    ['a missing tls.key', () => ({ 'tls.crt': Buffer.from(good.certPem) }), 'E_MISSING', /tls\.key is missing/],
    ['an empty tls.crt', () => files('', good.keyPem), 'E_EMPTY', /tls\.crt is empty/],
    ['a blank tls.key', () => files(good.certPem, '\n \n'), 'E_EMPTY', /tls\.key is empty/],
    ['an oversized tls.crt', () => files(good.certPem + 'x'.repeat(70_000), good.keyPem), 'E_TOO_LARGE', /larger than 65536/],
    ['a truncated tls.crt', () => files(good.certPem.slice(0, good.certPem.length / 2), good.keyPem), 'E_PARSE', /truncated/],
    ['corrupt base64 in tls.crt', () => files(good.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), good.keyPem), 'E_PARSE', /corrupt/],
    ['a tls.crt that is not PEM', () => files('hello world', good.keyPem), 'E_PARSE', /no PEM CERTIFICATE/],
    ['a certificate block with garbage DER', () => files('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', good.keyPem), 'E_PARSE', /does not parse/],
    ['a truncated tls.key', () => files(good.certPem, good.keyPem.slice(0, 60)), 'E_PARSE', /truncated/],
    ['a key that is no key', () => files(good.certPem, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), 'E_PARSE', /does not parse/],
    ['the key of another certificate', () => files(good.certPem, other.keyPem), 'E_KEY_MISMATCH', /does not belong/],
    ['an expired leaf', () => {
      const leaf = ca.issue({ dnsNames: names, notBefore: new Date(now.getTime() - 10 * DAY), notAfter: new Date(now.getTime() - DAY) });
      return files(leaf.certPem, leaf.keyPem);
    }, 'E_EXPIRED', /expired at/],
    ['a leaf not yet valid', () => {
      const leaf = ca.issue({ dnsNames: names, notBefore: new Date(now.getTime() + DAY) });
      return files(leaf.certPem, leaf.keyPem);
    }, 'E_NOT_YET_VALID', /not valid before/],
    ['a leaf missing a DNS name', () => {
      const leaf = ca.issue({ dnsNames: ['web', 'web.shop'] });
      return files(leaf.certPem, leaf.keyPem);
    }, 'E_DNS_NAME', /does not cover web\.shop\.svc, web\.shop\.svc\.cluster\.local/],
    ['a leaf its own ca.crt did not sign', () => files(good.certPem, good.keyPem, otherCa.certPem), 'E_CHAIN', /does not chain/],
    ['a ca.crt that is not PEM', () => files(good.certPem, good.keyPem, 'nope'), 'E_PARSE', /ca\.crt holds no PEM/],
  ];
  it.each(cases)('%s', (_label, make, code, message) => {
    const refusal = refusalOf(() => validateServingBundle(make(), expect_, now));
    expect(refusal.code).toBe(code);
    expect(refusal.message).toMatch(message);
    expect(refusal.message).toMatch(/^files \/test: /);
  });

  it('names every reason at once, the first one as the code', () => {
    const leaf = ca.issue({ dnsNames: ['elsewhere'], notBefore: new Date(now.getTime() - 10 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const refusal = refusalOf(() => validateServingBundle(files(leaf.certPem, other.keyPem), expect_, now));
    expect(refusal.code).toBe('E_KEY_MISMATCH');
    expect(refusal.problems).toEqual([
      expect.objectContaining({ code: 'E_KEY_MISMATCH' }),
      expect.objectContaining({ code: 'E_EXPIRED' }),
      expect.objectContaining({ code: 'E_DNS_NAME' }),
    ]);
  });

  it('an intermediate that does not lead to ca.crt', () => {
    const leaf = ca.intermediate().issue({ dnsNames: names });
    const refusal = refusalOf(() => validateServingBundle(files(leaf.certPem, leaf.keyPem, otherCa.certPem), expect_, now));
    expect(refusal.code).toBe('E_CHAIN');
  });

  it('and never quotes the private key', () => {
    const key = privateKeyToPem(generatePrivateKey('ecdsa-p256'));
    const body = key.split('\n')[1]!;
    const refusal = refusalOf(() => validateServingBundle(files(good.certPem, key), expect_, now));
    expect(JSON.stringify(refusal)).not.toContain(body.slice(0, 20));
  });
});

describe('validateCaBundle', () => {
  it('accepts a bundle of CAs and drops an expired one with a warning', () => {
    const expired = CertificateAuthority.create({ commonName: 'old root', notBefore: new Date(now.getTime() - 20 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const valid = validateCaBundle({ 'ca.crt': Buffer.from(ca.certPem + otherCa.certPem + expired.certPem) }, expect_, now);
    expect(valid.certs.map((cert) => cert.subject)).toEqual([ca.cert.subject, otherCa.cert.subject]);
    expect(valid.warnings.join()).toMatch(/old root.*expired/);
  });

  it.each<[string, RawFiles, string]>([
    ['a missing ca.crt', {}, 'E_MISSING'],
    ['an empty ca.crt', { 'ca.crt': Buffer.from('') }, 'E_EMPTY'],
    ['a leaf in ca.crt', { 'ca.crt': Buffer.from(ca.issue().certPem) }, 'E_PARSE'],
    ['a truncated ca.crt', { 'ca.crt': Buffer.from(ca.certPem.slice(0, 100)) }, 'E_PARSE'],
  ])('refuses %s', (_label, raw, code) => {
    expect(refusalOf(() => validateCaBundle(raw, expect_, now)).code).toBe(code);
  });
});

describe('validateServingBundle refuses what TLS clients refuse, each with its own code', () => {
  const big = { ...expect_, maxBytes: 1024 * 1024 };
  const inTime = (ca_: CertificateAuthority, leafOptions: Parameters<CertificateAuthority['issue']>[0] = {}) => {
    const leaf = ca_.issue({ dnsNames: names, ...leafOptions });
    return files(leaf.certPem, leaf.keyPem, leaf.caPem);
  };
  const sameNameRoots = (count: number) =>
    Array.from({ length: count }, () => CertificateAuthority.create({ commonName: 'serving-cert decoy issuer', keyIdentifiers: false }).certPem).join('');
  const cases: Array<[string, () => RawFiles, string, RegExp, boolean?]> = [
    ['a leaf with extendedKeyUsage clientAuth only', () => inTime(ca, { extendedKeyUsage: ['clientAuth'] }), 'E_KEY_USAGE', /without serverAuth/],
    ['a serverAuth-only leaf when it is also a client', () => inTime(ca, { extendedKeyUsage: ['serverAuth'] }), 'E_KEY_USAGE', /without clientAuth/, true],
    ['a leaf whose keyUsage allows no TLS use', () => inTime(ca, { keyUsage: ['keyAgreement'] }), 'E_KEY_USAGE', /allows no TLS use/],
    ['an RSA leaf with keyUsage keyCertSign only', () => inTime(ca, { keyAlgorithm: 'rsa-2048', keyUsage: ['keyCertSign'] }), 'E_KEY_USAGE', /digitalSignature or keyEncipherment/],
    ['an intermediate not yet valid', () => inTime(ca.intermediate({ notBefore: new Date(now.getTime() + DAY) })), 'E_NOT_YET_VALID', /intermediate .* is not valid before/],
    ['an expired intermediate', () => inTime(ca.intermediate({ notBefore: new Date(now.getTime() - 10 * DAY), notAfter: new Date(now.getTime() - DAY) }),
      { notBefore: new Date(now.getTime() - 5 * DAY) }), 'E_EXPIRED', /intermediate .* expired at/],
    ['an expired root in ca.crt', () => inTime(CertificateAuthority.create({ commonName: 'old root', notBefore: new Date(now.getTime() - 20 * DAY), notAfter: new Date(now.getTime() - DAY) }),
      { notBefore: new Date(now.getTime() - 10 * DAY) }), 'E_EXPIRED', /CA CN=old root .* in ca\.crt expired at/],
    ['a chain longer than the root\'s pathLenConstraint', () => inTime(CertificateAuthority.create({ commonName: 'strict root', pathLength: 0 }).intermediate()),
      'E_CHAIN', /allows 0 intermediate CA\(s\) below it .* has 1/],
    ['an RSA-1024 leaf', () => inTime(ca, { keyAlgorithm: 'rsa-1024' }), 'E_WEAK', /1024-bit RSA key/],
    ['a leaf signed with SHA-1', () => inTime(CertificateAuthority.create({ keyAlgorithm: 'rsa-2048' }), { signatureDigest: 'sha1' }), 'E_WEAK', /signed with SHA-1 with RSA/],
    ['a leaf signed with ECDSA and SHA-1', () => inTime(ca, { signatureDigest: 'sha1' }), 'E_WEAK', /SHA-1 with ECDSA/],
    ['the crafted decoy chain of 1 MiB', () => {
      const crafted = decoyChain({ dnsNames: names });
      return files(crafted.certPem, crafted.keyPem, crafted.caPem);
    }, 'E_TOO_MANY', /tls\.crt holds more than 10 certificates/],
    ['eleven certificates in tls.crt', () => {
      const leaf = ca.issue({ dnsNames: names });
      return files(leaf.certPem + ca.certPem.repeat(10), leaf.keyPem, leaf.caPem);
    }, 'E_TOO_MANY', /more than 10/],
    ['201 certificates in ca.crt', () => {
      const leaf = ca.issue({ dnsNames: names });
      return files(leaf.certPem, leaf.keyPem, ca.certPem.repeat(201));
    }, 'E_TOO_MANY', /ca\.crt holds more than 200/],
    ['decoys up to both caps with no path', () => {
      const crafted = decoyChain({ dnsNames: names, targetBytes: 1 });
      const leafPem = crafted.certPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
      return files(leafPem + sameNameRoots(9), crafted.keyPem, sameNameRoots(200));
    }, 'E_CHAIN', /does not chain/],
  ];
  it.each(cases)('%s', (_label, make, code, message, clientUse) => {
    const refusal = refusalOf(() => validateServingBundle(make(), { ...big, clientUse: clientUse ?? false }, now));
    expect(refusal.code).toBe(code);
    expect(refusal.message).toMatch(message);
  });

  it.each<[string, () => RawFiles, boolean]>([
    ['a serverAuth-only leaf that is not a client', () => inTime(ca, { extendedKeyUsage: ['serverAuth'] }), false],
    ['a leaf with serverAuth and clientAuth that is a client', () => inTime(ca, { extendedKeyUsage: ['serverAuth', 'clientAuth'] }), true],
    ['an RSA leaf with keyUsage keyEncipherment only', () => inTime(ca, { keyAlgorithm: 'rsa-2048', keyUsage: ['keyEncipherment'] }), false],
    ['a chain within a pathLenConstraint of 1', () => inTime(CertificateAuthority.create({ pathLength: 1 }).intermediate({ pathLength: 0 })), false],
    ['an old expired root beside the current one in ca.crt', () => {
      const leaf = ca.issue({ dnsNames: names });
      const old = CertificateAuthority.create({ commonName: 'root A', notBefore: new Date(now.getTime() - 20 * DAY), notAfter: new Date(now.getTime() - DAY) });
      return files(leaf.certPem, leaf.keyPem, old.certPem + ca.certPem);
    }, false],
  ])('and accepts %s', (_label, make, clientUse) => {
    expect(() => validateServingBundle(make(), { ...big, clientUse }, now)).not.toThrow();
  });
});

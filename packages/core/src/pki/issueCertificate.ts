import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
  type X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';
import { bitString, bool, explicit, fromDer, integer, ipToBytes, octets, oid, seq, toDer, type Asn1 } from './asn1.js';

// Issuing only: the local development CA and test material. Verification is OpenSSL's job
// (node:crypto and node:tls), never this module's. node-forge encodes DER; node:crypto makes
// keys and signatures, so RSA, ECDSA and Ed25519 all work (forge's own X.509 is RSA-only).

const { asn1 } = forge;

/** Key algorithms serving-cert can issue for, as cert-manager's `spec.privateKey` can ask. */
export type KeyAlgorithm = 'rsa-1024' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519';

/** How a private key is written as PEM: PKCS#8 for all, PKCS#1 for RSA, SEC1 for ECDSA. */
export type KeyEncoding = 'pkcs8' | 'pkcs1' | 'sec1';

/** Makes a new private key of the given algorithm. */
export function generatePrivateKey(algorithm: KeyAlgorithm = 'ecdsa-p256'): KeyObject {
  switch (algorithm) {
    case 'rsa-1024': // only to show that the gate refuses it, as clients do
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return generateKeyPairSync('rsa', { modulusLength: Number(algorithm.slice(4)) }).privateKey;
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey;
  }
}

/** Writes a private key as PEM; `pkcs1` needs an RSA key and `sec1` an EC key. */
export function privateKeyToPem(key: KeyObject, encoding: KeyEncoding = 'pkcs8'): string {
  return key.export({ type: encoding, format: 'pem' }) as string;
}

/** Reads a PEM private key (PKCS#1, PKCS#8 or SEC1). */
export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

/** A distinguished name with the attributes serving-cert uses. */
export interface DistinguishedName {
  commonName?: string;
  organization?: string[];
}

/** What goes into one certificate. */
export interface CertificateTemplate {
  subject: DistinguishedName;
  /** The key to certify: a private key (required for a self-signed certificate) or a public key. */
  subjectKey: KeyObject;
  /** Issuer certificate and key; omit for a self-signed certificate. */
  issuer?: { cert: X509Certificate; key: KeyObject };
  notBefore: Date;
  notAfter: Date;
  /** A CA certificate (basicConstraints CA:TRUE, keyCertSign). Default false. */
  isCa?: boolean;
  /** DNS names, IP addresses and URIs for subjectAltName. */
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  /** Extended key usages of a leaf. Default serverAuth and clientAuth. */
  extendedKeyUsage?: Array<'serverAuth' | 'clientAuth'>;
  /** Serial number bytes; default 16 random bytes. */
  serialNumber?: Buffer;
  /** keyUsage bits instead of the defaults (CA: digitalSignature, keyCertSign, cRLSign; leaf: digitalSignature, keyEncipherment). */
  keyUsage?: KeyUsageName[];
  /** pathLenConstraint of a CA. Default: none. */
  pathLength?: number;
  /** Write subjectKeyIdentifier and authorityKeyIdentifier. Default true. */
  keyIdentifiers?: boolean;
  /** 'sha1' signs with SHA-1 (RSA or ECDSA), only to show that the gate refuses it. Default: SHA-256 (SHA-384 for P-384). */
  signatureDigest?: 'sha1';
}

/** keyUsage bits (RFC 5280 4.2.1.3), in bit order. */
const KEY_USAGE_NAMES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign'] as const;
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number];

/** A keyUsage BIT STRING in DER's minimal form: no trailing zero byte, unused bits counted. */
function keyUsageBits(names: readonly KeyUsageName[]): Asn1 {
  const bits = names.map((usage) => KEY_USAGE_NAMES.indexOf(usage));
  const highest = Math.max(-1, ...bits);
  const bytes = Buffer.alloc(highest < 0 ? 0 : (highest >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return bitString(bytes, highest < 0 ? 0 : 7 - (highest & 7));
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  ecdsaWithSHA1: '1.2.840.10045.4.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ed25519: '1.3.101.112',
} as const;

function name(dn: DistinguishedName): Asn1 {
  const rdn = (type: string, value: string): Asn1 =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
      seq([oid(type), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(value))]),
    ]);
  const rdns: Asn1[] = [];
  for (const org of dn.organization ?? []) rdns.push(rdn(OID.organization, org));
  if (dn.commonName !== undefined) rdns.push(rdn(OID.commonName, dn.commonName));
  return seq(rdns);
}

function time(date: Date): Asn1 {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  return seq([oid(id), ...(critical ? [bool(true)] : []), octets(toDer(value))]);
}

function signatureAlgorithm(key: KeyObject, weakDigest: 'sha1' | undefined): { identifier: Asn1; digest: string | null } {
  if (weakDigest === 'sha1' && key.asymmetricKeyType === 'rsa') {
    return { identifier: seq([oid(OID.sha1WithRSAEncryption), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), digest: 'sha1' };
  }
  if (weakDigest === 'sha1' && key.asymmetricKeyType === 'ec') return { identifier: seq([oid(OID.ecdsaWithSHA1)]), digest: 'sha1' };
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { identifier: seq([oid(OID.sha256WithRSAEncryption), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), digest: 'sha256' };
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
        ? { identifier: seq([oid(OID.ecdsaWithSHA384)]), digest: 'sha384' }
        : { identifier: seq([oid(OID.ecdsaWithSHA256)]), digest: 'sha256' };
    case 'ed25519':
      return { identifier: seq([oid(OID.ed25519)]), digest: null };
    default:
      throw new Error(`cannot sign with a ${String(key.asymmetricKeyType)} key`);
  }
}

function keyIdentifier(publicKeyDer: Buffer): Buffer {
  return createHash('sha1').update(publicKeyDer).digest();
}

/** Issues one X.509 v3 certificate and returns it as PEM. */
export function issueCertificate(template: CertificateTemplate): string {
  const subjectPublicKey = template.subjectKey.type === 'private' ? createPublicKey(template.subjectKey) : template.subjectKey;
  const spkiDer = subjectPublicKey.export({ type: 'spki', format: 'der' });
  const signingKey = template.issuer?.key ?? template.subjectKey;
  const issuerPublicDer = template.issuer
    ? template.issuer.cert.publicKey.export({ type: 'spki', format: 'der' })
    : spkiDer;
  const algorithm = signatureAlgorithm(signingKey, template.signatureDigest);

  const serial = Buffer.from(template.serialNumber ?? randomBytes(16));
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER
  if (serial[0] === 0) serial[0] = 0x01; // and minimally encoded

  const extensions: Asn1[] = [];
  if (template.isCa) {
    const pathLength = template.pathLength === undefined ? [] : [integer(Buffer.from([template.pathLength]))];
    extensions.push(extension(OID.basicConstraints, true, seq([bool(true), ...pathLength])));
    extensions.push(extension(OID.keyUsage, true, keyUsageBits(template.keyUsage ?? ['digitalSignature', 'keyCertSign', 'cRLSign'])));
  } else {
    extensions.push(extension(OID.basicConstraints, true, seq([])));
    // digitalSignature, keyEncipherment: cert-manager's default usages
    extensions.push(extension(OID.keyUsage, true, keyUsageBits(template.keyUsage ?? ['digitalSignature', 'keyEncipherment'])));
    const usages = template.extendedKeyUsage ?? ['serverAuth', 'clientAuth'];
    if (usages.length > 0) extensions.push(extension(OID.extKeyUsage, false, seq(usages.map((usage) => oid(OID[usage])))));
  }
  const altNames: Asn1[] = [
    ...(template.dnsNames ?? []).map((dns) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, dns)),
    ...(template.ipAddresses ?? []).map((ip) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, ipToBytes(ip).toString('binary'))),
    ...(template.uris ?? []).map((uri) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, uri)),
  ];
  if (altNames.length > 0) extensions.push(extension(OID.subjectAltName, false, seq(altNames)));
  if (template.keyIdentifiers ?? true) {
    extensions.push(extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spkiDer))));
    extensions.push(extension(OID.authorityKeyIdentifier, false,
      seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, keyIdentifier(issuerPublicDer).toString('binary'))])));
  }

  const tbs = seq([
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm.identifier,
    template.issuer ? subjectNameOf(template.issuer.cert) : name(template.subject),
    seq([time(template.notBefore), time(template.notAfter)]),
    name(template.subject),
    fromDer(spkiDer),
    explicit(3, seq(extensions)),
  ]);
  const tbsDer = toDer(tbs);
  const signature = sign(algorithm.digest, tbsDer, signingKey);
  const certificate = toDer(seq([tbs, algorithm.identifier, bitString(signature)]));
  const base64 = certificate.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

/** The issuer name of a child is the subject name of its issuer, copied byte for byte. */
function subjectNameOf(cert: X509Certificate): Asn1 {
  const tbs = (fromDer(Buffer.from(cert.raw)).value as Asn1[])[0]!;
  const fields = tbs.value as Asn1[];
  // [0] version is present in v3 certificates: subject is then the 6th field, else the 5th.
  const hasVersion = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC;
  return fields[hasVersion ? 5 : 4]!;
}

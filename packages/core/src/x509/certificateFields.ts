import type { X509Certificate } from 'node:crypto';

// The few fields a TLS client checks that node:crypto does not expose (keyUsage bits,
// pathLenConstraint, key identifiers, the signature algorithm, the raw names), read from the
// DER that OpenSSL already parsed. Reading only: a certificate that reached here parsed, so a
// malformed field is a refusal, never a crash.

/** What the gate reads from a certificate's DER, besides what X509Certificate gives. */
export interface CertificateFields {
  /** The DER of the issuer and subject names, hex: exact keys for chain building. */
  issuerKey: string;
  subjectKey: string;
  /** basicConstraints: whether the extension is there, cA, and pathLenConstraint when set. */
  basicConstraints: { ca: boolean; pathLength: number | undefined } | undefined;
  /** keyUsage bit names, or undefined without the extension. */
  keyUsage: ReadonlySet<KeyUsageBit> | undefined;
  /** subjectKeyIdentifier and authorityKeyIdentifier's keyIdentifier, hex. */
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  /** The OID of the outer signatureAlgorithm. */
  signatureAlgorithm: string;
}

/** RFC 5280 4.2.1.3, in bit order. */
const KEY_USAGE_BITS = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement',
  'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly',
] as const;
export type KeyUsageBit = (typeof KEY_USAGE_BITS)[number];

const EXTENSION = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

interface Tlv {
  tag: number;
  /** Where the content starts and ends in the buffer. */
  start: number;
  end: number;
}

const cache = new WeakMap<X509Certificate, CertificateFields>();

/** The fields of `cert`, read once per certificate object. Throws on malformed DER. */
export function certificateFields(cert: X509Certificate): CertificateFields {
  let fields = cache.get(cert);
  if (!fields) {
    fields = readFields(Buffer.from(cert.raw));
    cache.set(cert, fields);
  }
  return fields;
}

function readFields(der: Buffer): CertificateFields {
  const certificate = children(der, tlv(der, 0));
  const [tbs, signatureAlgorithm] = certificate;
  if (!tbs || !signatureAlgorithm) throw new Error('not a certificate');
  const parts = children(der, tbs);
  let index = parts[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  index += 2; // serialNumber, signature
  const issuer = parts[index]!;
  const subject = parts[index + 2]!;
  const fields: CertificateFields = {
    issuerKey: der.subarray(issuer.start, issuer.end).toString('hex'),
    subjectKey: der.subarray(subject.start, subject.end).toString('hex'),
    basicConstraints: undefined,
    keyUsage: undefined,
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    signatureAlgorithm: oidOf(der, children(der, signatureAlgorithm)[0]!),
  };
  const extensions = parts.find((part) => part.tag === 0xa3);
  if (!extensions) return fields;
  for (const extension of children(der, children(der, extensions)[0]!)) {
    const items = children(der, extension);
    const id = oidOf(der, items[0]!);
    const value = items[items.length - 1]!; // the OCTET STRING, after an optional critical flag
    const inner = tlv(der, value.start);
    switch (id) {
      case EXTENSION.basicConstraints: {
        const [first, second] = children(der, inner);
        const ca = first?.tag === 0x01 && der[first.start] !== 0;
        const pathNode = first?.tag === 0x02 ? first : second?.tag === 0x02 ? second : undefined;
        fields.basicConstraints = { ca, pathLength: pathNode ? integerOf(der, pathNode) : undefined };
        break;
      }
      case EXTENSION.keyUsage:
        fields.keyUsage = keyUsageOf(der, inner);
        break;
      case EXTENSION.subjectKeyIdentifier:
        fields.subjectKeyId = der.subarray(inner.start, inner.end).toString('hex');
        break;
      case EXTENSION.authorityKeyIdentifier: {
        const keyId = children(der, inner).find((part) => part.tag === 0x80);
        if (keyId) fields.authorityKeyId = der.subarray(keyId.start, keyId.end).toString('hex');
        break;
      }
    }
  }
  return fields;
}

function tlv(der: Buffer, offset: number): Tlv {
  const tag = der[offset];
  let length = der[offset + 1];
  if (tag === undefined || length === undefined) throw new Error('truncated DER');
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + (der[start + i] ?? 0);
    start += count;
  }
  const end = start + length;
  if (end > der.length) throw new Error('truncated DER');
  return { tag, start, end };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const result: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end;) {
    const child = tlv(der, offset);
    result.push(child);
    offset = child.end;
  }
  return result;
}

function oidOf(der: Buffer, node: Tlv): string {
  const bytes = der.subarray(node.start, node.end);
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

function integerOf(der: Buffer, node: Tlv): number {
  let value = 0;
  for (let i = node.start; i < node.end; i += 1) value = value * 256 + der[i]!;
  return value;
}

function keyUsageOf(der: Buffer, node: Tlv): Set<KeyUsageBit> {
  const bits = new Set<KeyUsageBit>();
  const bytes = der.subarray(node.start + 1, node.end); // the first byte counts unused bits
  KEY_USAGE_BITS.forEach((name, bit) => {
    const byte = bytes[bit >> 3];
    if (byte !== undefined && byte & (0x80 >> (bit & 7))) bits.add(name);
  });
  return bits;
}

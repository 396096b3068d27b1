import type { X509Certificate } from 'node:crypto';
import type { RawFiles } from '../sources/source.js';
import type { CertInfo } from '../types.js';
import { certInfoOf, certDate, describeName, distinguishedName } from './certInfo.js';
import { parseCertificates, parsePrivateKey, readText } from './parseMaterial.js';
import { Refusal } from './refusal.js';

export type { Problem } from './refusal.js';

/** What a serving bundle must satisfy. */
export interface Expectations {
  /** Names the leaf must cover (wildcards in the leaf count). */
  dnsNames: readonly string[];
  /** How far notBefore may lie in the future: cert-manager stamps it with its own clock. */
  clockSkewMs: number;
  /** Size bound of each file. */
  maxBytes: number;
  /** Where the bytes came from, for messages: "files /etc/tls/certs". */
  description: string;
}

export { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_BYTES } from '../options/limits.js';

/** A serving bundle that passed the gate. */
export interface ValidServingBundle {
  /** `tls.crt` as given: the leaf, then intermediates. */
  certPem: string;
  keyPem: string;
  /** `ca.crt` of the same Secret, when present. */
  caPem: string | undefined;
  leaf: X509Certificate;
  info: CertInfo;
  /** The certificates of `ca.crt`, parsed; empty without one. */
  cas: X509Certificate[];
  /** Issues that do not refuse the bundle, such as a leaf close to expiry. */
  warnings: string[];
}

/** A CA bundle (`ca.crt` of service-root-ca) that passed the gate. */
export interface ValidCaBundle {
  pem: string;
  certs: X509Certificate[];
  warnings: string[];
}

/**
 * The validation gate for a serving bundle (design section 6): both parts parse, the key
 * matches the leaf, the leaf is inside its validity window (notBefore with clock skew), covers
 * the expected names, chains to the `ca.crt` of its own Secret when there is one, and no file
 * exceeds the size bound. Pure: reads nothing but its arguments. Throws a
 * {@link ServingCertError} whose code is the first reason and whose `details.problems` lists all.
 */
export function validateServingBundle(files: RawFiles, expect: Expectations, now: Date): ValidServingBundle {
  const refusal = new Refusal();
  const certText = readText(files, 'tls.crt', expect, refusal);
  const keyText = readText(files, 'tls.key', expect, refusal);
  const caText = files['ca.crt'] === undefined ? undefined : readText(files, 'ca.crt', expect, refusal);
  refusal.throwIfAny(expect.description);

  const chain = parseCertificates(certText!, 'tls.crt', refusal);
  const key = parsePrivateKey(keyText!, refusal);
  const cas = caText === undefined ? undefined : parseCertificates(caText, 'ca.crt', refusal);
  refusal.throwIfAny(expect.description);

  const leaf = chain[0]!;
  const info = certInfoOf(leaf);
  if (!leaf.checkPrivateKey(key!)) {
    refusal.add('E_KEY_MISMATCH',
      `tls.key does not belong to tls.crt (serial ${info.serialNumber}); both must come from the same Secret revision`);
  }
  checkValidity(leaf, info, now, expect.clockSkewMs, refusal);
  const missing = expect.dnsNames.filter((name) => leaf.checkHost(name, { subject: 'never' }) === undefined);
  if (missing.length > 0) {
    refusal.add('E_DNS_NAME',
      `the certificate (serial ${info.serialNumber}) does not cover ${missing.join(', ')}; it covers ` +
      `${info.dnsNames.join(', ') || 'no DNS name'}: check the Certificate's dnsNames or the dnsNames option`);
  }
  if (cas) checkChain(chain, cas, now, refusal);
  refusal.throwIfAny(expect.description);

  const warnings: string[] = [];
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime();
  if (info.notAfter.getTime() - now.getTime() < lifetime / 10) {
    warnings.push(`the certificate (serial ${info.serialNumber}) expires soon, at ${info.notAfter.toISOString()}, ` +
      `and has not been renewed: check the Certificate's status`);
  }
  return { certPem: certText!, keyPem: keyText!, caPem: caText, leaf, info, cas: cas ?? [], warnings };
}

/**
 * The validation gate for a trust bundle (`ca.crt` of service-root-ca): it parses, holds only
 * CA certificates, and at least one of them is inside its validity window. Expired ones are
 * dropped with a warning.
 */
export function validateCaBundle(
  files: RawFiles,
  expect: Pick<Expectations, 'maxBytes' | 'description'>,
  now: Date,
): ValidCaBundle {
  const refusal = new Refusal();
  const text = readText(files, 'ca.crt', expect, refusal);
  refusal.throwIfAny(expect.description);
  const certs = parseCertificates(text!, 'ca.crt', refusal);
  refusal.throwIfAny(expect.description);
  const warnings: string[] = [];
  const current: X509Certificate[] = [];
  for (const cert of certs) {
    if (!cert.ca) {
      refusal.add('E_PARSE', `ca.crt holds a certificate that is not a CA (${subjectOf(cert)}, serial ${cert.serialNumber})`);
    } else if (certDate(cert.validTo).getTime() < now.getTime()) {
      warnings.push(`ca.crt: CA ${subjectOf(cert)} (serial ${cert.serialNumber}) expired at ${certDate(cert.validTo).toISOString()} and is not trusted`);
    } else {
      current.push(cert);
    }
  }
  if (current.length === 0 && refusal.problems.length === 0) {
    refusal.add('E_EXPIRED', 'every CA in ca.crt has expired');
  }
  refusal.throwIfAny(expect.description);
  return { pem: current.map((cert) => cert.toString()).join(''), certs: current, warnings };
}

function checkValidity(cert: X509Certificate, info: CertInfo, now: Date, skewMs: number, refusal: Refusal): void {
  if (info.notBefore.getTime() - skewMs > now.getTime()) {
    refusal.add('E_NOT_YET_VALID',
      `the certificate (serial ${info.serialNumber}) is not valid before ${info.notBefore.toISOString()}, ` +
      `more than ${Math.round(skewMs / 1000)} s from now: check this node's clock or the issuer's`);
  }
  if (info.notAfter.getTime() < now.getTime()) {
    refusal.add('E_EXPIRED',
      `the certificate (serial ${info.serialNumber}, ${subjectOf(cert)}) expired at ${info.notAfter.toISOString()}: ` +
      `cert-manager has not renewed it; check the Certificate's Ready condition`);
  }
}

/**
 * Walks leaf → intermediates (from tls.crt) → a CA of ca.crt, checking each link's issuer name
 * and signature, that each issuer is a CA, and that intermediates are within their validity.
 */
function checkChain(chain: X509Certificate[], cas: X509Certificate[], now: Date, refusal: Refusal): void {
  const intermediates = chain.slice(1);
  let current = chain[0]!;
  for (let depth = 0; depth <= intermediates.length; depth += 1) {
    if (cas.some((ca) => signedBy(current, ca))) return;
    const next = intermediates.find((candidate) => signedBy(current, candidate));
    if (!next) break;
    if (certDate(next.validTo).getTime() < now.getTime()) {
      refusal.add('E_CHAIN', `the intermediate ${subjectOf(next)} in tls.crt expired at ${certDate(next.validTo).toISOString()}`);
      return;
    }
    current = next;
  }
  refusal.add('E_CHAIN',
    `tls.crt (issuer ${subjectOf(chain[0]!, 'issuer')}) does not chain to the ca.crt of the same Secret ` +
    `(${cas.map((ca) => subjectOf(ca)).join('; ')}): the Secret mixes material from two issuers`);
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  return issuer.ca && child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

function subjectOf(cert: X509Certificate, field: 'subject' | 'issuer' = 'subject'): string {
  return describeName(distinguishedName(cert, field), field);
}


import type { X509Certificate } from 'node:crypto';
import type { RawFiles } from '../sources/source.js';
import type { CertInfo } from '../types.js';
import { MAX_CA_CERTIFICATES, MAX_CHAIN_CERTIFICATES } from '../options/limits.js';
import { buildChain } from './buildChain.js';
import { certInfoOf, certDate, describeName, distinguishedName } from './certInfo.js';
import { certificateFields } from './certificateFields.js';
import { parseCertificates, parsePrivateKey, readText } from './parseMaterial.js';
import { Refusal } from './refusal.js';
import { checkLeafUsage, checkStrength } from './tlsChecks.js';

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
  /**
   * The leaf is also presented as a client certificate (mTLS): an extendedKeyUsage must then
   * include clientAuth too. Default false: a serverAuth-only leaf serves.
   */
  clientUse?: boolean;
}

export { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_BYTES } from '../options/limits.js';

/** A serving bundle that passed the gate. */
export interface ValidServingBundle {
  /**
   * The certificates of `tls.crt` the gate checked, the leaf then intermediates, as PEM: exactly
   * what is served. Anything else in the file (text around the blocks, blocks of other labels)
   * never reaches OpenSSL, which would otherwise read what the gate did not.
   */
  certPem: string;
  /** The one key block of `tls.key` the gate parsed. */
  keyPem: string;
  /** The certificates of `ca.crt` of the same Secret the gate parsed, when there is one. */
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
 * The validation gate for a serving bundle (design section 6), what a TLS client checks: both
 * parts parse, the key matches the leaf, the leaf is inside its validity window (notBefore with
 * clock skew), covers the expected names, its keyUsage and extendedKeyUsage allow TLS serving
 * (and client use with `clientUse`), no key under 2048 RSA bits and no SHA-1 signature, and it
 * chains to the `ca.crt` of its own Secret when there is one through valid CAs within their
 * path length. No file exceeds the size bound, tls.crt holds at most 10 certificates and ca.crt
 * 200; the work is linear in the input. Pure: reads nothing but its arguments. Throws a
 * {@link ServingCertError} whose code is the first reason and whose `details.problems` lists all.
 */
export function validateServingBundle(files: RawFiles, expect: Expectations, now: Date): ValidServingBundle {
  const refusal = new Refusal();
  const certText = readText(files, 'tls.crt', expect, refusal);
  const keyText = readText(files, 'tls.key', expect, refusal);
  const caText = files['ca.crt'] === undefined ? undefined : readText(files, 'ca.crt', expect, refusal);
  refusal.throwIfAny(expect.description);

  const chain = parseCertificates(certText!, 'tls.crt', MAX_CHAIN_CERTIFICATES, refusal);
  const key = parsePrivateKey(keyText!, refusal);
  const cas = caText === undefined ? undefined : parseCertificates(caText, 'ca.crt', MAX_CA_CERTIFICATES, refusal);
  refusal.throwIfAny(expect.description);

  const leaf = chain[0]!;
  const info = certInfoOf(leaf);
  if (!leaf.checkPrivateKey(key!.key)) {
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
  checkLeafUsage(leaf, info.serialNumber, expect.clientUse ?? false, refusal);
  checkStrength(leaf, `the certificate (serial ${info.serialNumber})`, true, refusal);
  if (cas) checkChain(chain, cas, now, expect.clockSkewMs, refusal);
  refusal.throwIfAny(expect.description);

  const warnings: string[] = [];
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime();
  if (info.notAfter.getTime() - now.getTime() < lifetime / 10) {
    warnings.push(`the certificate (serial ${info.serialNumber}) expires soon, at ${info.notAfter.toISOString()}, ` +
      `and has not been renewed: check the Certificate's status`);
  }
  return { certPem: pemOf(chain), keyPem: key!.pem, caPem: cas && pemOf(cas), leaf, info, cas: cas ?? [], warnings };
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
  const certs = parseCertificates(text!, 'ca.crt', MAX_CA_CERTIFICATES, refusal);
  refusal.throwIfAny(expect.description);
  const warnings: string[] = [];
  const current: X509Certificate[] = [];
  for (const cert of certs) {
    if (!certificateFields(cert).basicConstraints?.ca) {
      refusal.add('E_PARSE', `ca.crt holds a certificate that is not a CA (${subjectOf(cert)}, serial ${cert.serialNumber})`);
    } else if (!checkStrength(cert, `ca.crt: CA ${subjectOf(cert)} (serial ${cert.serialNumber})`, false, refusal)) {
      // refused: a peer verified through a weak CA is refused by the peer's clients too
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
  return { pem: pemOf(current), certs: current, warnings };
}

/** Certificates as PEM, re-encoded from what was parsed. */
function pemOf(certs: readonly X509Certificate[]): string {
  return certs.map((cert) => cert.toString()).join('');
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
 * The leaf and the intermediates of tls.crt must lead to a CA of ca.crt (see
 * {@link buildChain}); when they do not, the reasons of the paths tried are the refusal.
 */
function checkChain(chain: X509Certificate[], cas: X509Certificate[], now: Date, clockSkewMs: number, refusal: Refusal): void {
  // A leaf that ca.crt holds itself is trusted as it is, as OpenSSL and Go trust a certificate
  // found among their roots: cert-manager's SelfSigned issuer writes the leaf as its own ca.crt.
  if (cas.some((ca) => ca.fingerprint256 === chain[0]!.fingerprint256)) return;
  const problems = buildChain(chain[0]!, chain.slice(1), cas, { now, clockSkewMs });
  if (!problems) return;
  const seen = new Set<string>();
  for (const problem of problems) {
    if (seen.has(problem.message)) continue;
    seen.add(problem.message);
    refusal.add(problem.code, problem.message);
  }
  if (problems.length > 0) return; // they say why the paths tried end
  refusal.add('E_CHAIN',
    `tls.crt (issuer ${subjectOf(chain[0]!, 'issuer')}) does not chain to the ca.crt of the same Secret ` +
    `(${cas.map((ca) => subjectOf(ca)).join('; ')}) through CAs a client accepts`);
}

function subjectOf(cert: X509Certificate, field: 'subject' | 'issuer' = 'subject'): string {
  return describeName(distinguishedName(cert, field), field);
}

import type { X509Certificate } from 'node:crypto';

/** The public facts of a certificate, safe to log. */
export interface CertInfo {
  /** Hex, as OpenSSL prints it. */
  serialNumber: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint256: string;
  subject: string;
  issuer: string;
  /** The DNS names of subjectAltName, in order. */
  dnsNames: string[];
  notBefore: Date;
  notAfter: Date;
}

/** Reads the facts of a parsed certificate. */
export function certInfoOf(cert: X509Certificate): CertInfo {
  return {
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    dnsNames: dnsNamesOf(cert),
    notBefore: certDate(cert.validFrom),
    notAfter: certDate(cert.validTo),
  };
}

/** Node < 22.10 has no validFromDate: parse OpenSSL's "Nov 29 20:37:30 2026 GMT". */
export function certDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`unreadable certificate date "${text}"`);
  return date;
}

/**
 * The DNS names of subjectAltName. Node prints `DNS:a, DNS:b, IP Address:1.2.3.4`, and quotes
 * a value as a JSON string when it holds a comma or a quote, so split with that in mind.
 */
export function dnsNamesOf(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const names: string[] = [];
  const entry = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g;
  for (const match of text.matchAll(entry)) {
    if (match[1] !== 'DNS' || match[2] === undefined) continue;
    names.push(match[2].startsWith('"') ? (JSON.parse(match[2]) as string) : match[2]);
  }
  return names;
}

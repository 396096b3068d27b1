import type { X509Certificate } from 'node:crypto';
import type { CertInfo } from '../types.js';


/** Reads the facts of a parsed certificate. */
export function certInfoOf(cert: X509Certificate): CertInfo {
  return {
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    subject: distinguishedName(cert, 'subject'),
    issuer: distinguishedName(cert, 'issuer'),
    dnsNames: dnsNamesOf(cert),
    notBefore: certDate(cert.validFrom),
    notAfter: certDate(cert.validTo),
  };
}

/**
 * A certificate's subject or issuer as one line, `''` when the name is empty. Node 20 gives
 * `undefined` for an empty name (later lines may give `''`): every reader goes through here.
 */
export function distinguishedName(cert: X509Certificate, field: 'subject' | 'issuer'): string {
  const text = cert[field] as string | undefined;
  return text ? text.replace(/\n/g, ', ') : '';
}

/** A name for messages, logs and the command line: the DN, or `(empty subject)`. */
export function describeName(name: string, field: 'subject' | 'issuer' = 'subject'): string {
  return name === '' ? `(empty ${field})` : name;
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
  return altNamesOf(cert, 'DNS');
}

/** The URIs of subjectAltName, in order. */
export function uriNamesOf(cert: X509Certificate): string[] {
  return altNamesOf(cert, 'URI');
}

function altNamesOf(cert: X509Certificate, kind: 'DNS' | 'URI'): string[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const names: string[] = [];
  const entry = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g;
  for (const match of text.matchAll(entry)) {
    if (match[1] !== kind || match[2] === undefined) continue;
    names.push(match[2].startsWith('"') ? (JSON.parse(match[2]) as string) : match[2]);
  }
  return names;
}

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { RawFiles } from '../sources/source.js';
import { splitPem } from './pem.js';
import type { Refusal } from './refusal.js';

// The parsing stage of the gate: bytes to text to certificates and a key. Every failure is a
// reason added to the refusal; nothing here quotes key material.

/** The text of one file, or a reason: missing, too large, empty. */
export function readText(
  files: RawFiles,
  name: string,
  expect: { maxBytes: number },
  refusal: Refusal,
): string | undefined {
  const bytes = files[name];
  if (bytes === undefined) {
    refusal.add('E_MISSING', `${name} is missing`);
    return undefined;
  }
  if (bytes.length > expect.maxBytes) {
    refusal.add('E_TOO_LARGE', `${name} is larger than ${expect.maxBytes} bytes; a certificate bundle never is, so it is not one`);
    return undefined;
  }
  const text = bytes.toString('utf8');
  if (text.trim() === '') {
    refusal.add('E_EMPTY', `${name} is empty`);
    return undefined;
  }
  return text;
}

/**
 * Every CERTIFICATE block of a file, parsed; a reason when any block does not parse, or when
 * there are more than `maxCount` (counted before anything is parsed, so a crafted file of
 * thousands costs a scan, not thousands of parses).
 */
export function parseCertificates(text: string, name: string, maxCount: number, refusal: Refusal): X509Certificate[] {
  const count = countCertificateBlocks(text, maxCount + 1);
  if (count > maxCount) {
    refusal.add('E_TOO_MANY', `${name} holds more than ${maxCount} certificates; ${name === 'tls.crt'
      ? 'a serving chain is a leaf and a few intermediates' : 'a CA bundle holds a few CAs'}, so it is not one`);
    return [];
  }
  const { blocks, malformed } = splitPem(text);
  if (malformed > 0) {
    refusal.add('E_PARSE', `${name} holds ${malformed} unterminated or corrupt PEM block(s): the file is truncated or damaged`);
    return [];
  }
  const certBlocks = blocks.filter((block) => block.label === 'CERTIFICATE');
  if (certBlocks.length === 0) {
    refusal.add('E_PARSE', `${name} holds no PEM CERTIFICATE block`);
    return [];
  }
  const certs: X509Certificate[] = [];
  for (const [index, block] of certBlocks.entries()) {
    try {
      certs.push(parsedCertificate(block.pem));
    } catch (cause) {
      refusal.add('E_PARSE', `${name}: certificate ${index + 1} of ${certBlocks.length} does not parse (${errorText(cause)})`);
      return [];
    }
  }
  return certs;
}

/**
 * Certificates parsed lately, by their PEM block. A rotation usually brings a new leaf and the
 * same CA, in ca.crt and in service-root-ca: the CA's parse (about 0.15 ms) is then reused.
 * X509Certificate is immutable, so reuse changes nothing; every check still runs on it.
 */
const recentlyParsed = new Map<string, X509Certificate>();
const RECENTLY_PARSED = 64;

function parsedCertificate(pem: string): X509Certificate {
  let cert = recentlyParsed.get(pem);
  if (cert) {
    recentlyParsed.delete(pem); // most recently used last
  } else {
    cert = new X509Certificate(pem);
    if (recentlyParsed.size >= RECENTLY_PARSED) recentlyParsed.delete(recentlyParsed.keys().next().value!);
  }
  recentlyParsed.set(pem, cert);
  return cert;
}

/** How many CERTIFICATE blocks begin in `text`, counting no further than `stopAt`. */
function countCertificateBlocks(text: string, stopAt: number): number {
  const marker = '-----BEGIN CERTIFICATE-----';
  let count = 0;
  for (let at = text.indexOf(marker); at !== -1 && count < stopAt; at = text.indexOf(marker, at + marker.length)) count += 1;
  return count;
}

/**
 * The DER encoding each key label stands for. The key is parsed from DER with its type named:
 * OpenSSL 3 parses PEM by trying its decoders one by one, which costs several times more (about
 * 0.45 ms against 0.1 ms for a P-256 key), and a rotation waits for that.
 */
const KEY_LABELS = new Map<string, 'pkcs8' | 'pkcs1' | 'sec1'>([['PRIVATE KEY', 'pkcs8'], ['RSA PRIVATE KEY', 'pkcs1'], ['EC PRIVATE KEY', 'sec1']]);

/** A private key and the PEM block it was parsed from: the block is what gets served. */
export interface ParsedKey {
  key: KeyObject;
  pem: string;
}

/** The one unencrypted private key of tls.key (PKCS#1, PKCS#8 or SEC1). */
export function parsePrivateKey(text: string, refusal: Refusal): ParsedKey | undefined {
  const { blocks, malformed } = splitPem(text);
  const keys = blocks.filter((block) => KEY_LABELS.has(block.label));
  if (malformed > 0) {
    refusal.add('E_PARSE', `tls.key holds an unterminated or corrupt PEM block: the file is truncated or damaged`);
  } else if (blocks.some((block) => block.label === 'ENCRYPTED PRIVATE KEY')) {
    refusal.add('E_PARSE', 'tls.key is encrypted; a serving key must be unencrypted, as cert-manager writes it');
  } else if (keys.length !== 1) {
    refusal.add('E_PARSE', `tls.key must hold exactly one private key (PKCS#1, PKCS#8 or SEC1); it holds ${keys.length}`);
  } else {
    try {
      // The message of a failed parse never quotes the key itself.
      const { label, pem } = keys[0]!;
      const der = Buffer.from(pem.slice(pem.indexOf('\n') + 1, pem.lastIndexOf('-----END')), 'base64');
      return { key: createPrivateKey({ key: der, format: 'der', type: KEY_LABELS.get(label)! }), pem };
    } catch (cause) {
      refusal.add('E_PARSE', `tls.key does not parse as a private key (${errorCodeOf(cause)})`);
    }
  }
  return undefined;
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function errorCodeOf(cause: unknown): string {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unreadable key';
}

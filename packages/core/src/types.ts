// The public interfaces, apart from their implementations (as k8s dynamiccertificates'
// interfaces.go): serve/ and connect/ depend on these, never on the class behind them.
import type * as tls from 'node:tls';
import type { ServingCertError } from './errors.js';

/** The public facts of a certificate, safe to log. */
export interface CertInfo {
  /** Hex, as OpenSSL prints it. */
  serialNumber: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint256: string;
  /**
   * The subject DN as `CN=a, O=b`, or `''` when it is empty, as cert-manager issues this
   * platform's leaves (the policy sets no commonName).
   */
  subject: string;
  /** The issuer DN, in the same form; `''` when empty. */
  issuer: string;
  /** The DNS names of subjectAltName, in order. */
  dnsNames: string[];
  notBefore: Date;
  notAfter: Date;
}

/** The CAs trusted for peers: the current ones and, for a grace period, the ones seen before. */
export interface TrustState {
  /** Every trusted CA, the current ones first. */
  readonly cas: readonly CertInfo[];
  /** The same CAs as one PEM bundle, for `ca` options. */
  readonly pem: string;
  /**
   * The CAs the platform root CA input (`service-root-ca`) names now; empty when there is none.
   * A served leaf that none of them signed is left over from a platform CA rollover.
   */
  readonly platform?: readonly CertInfo[];
  /** CAs no input names any more, kept through a rollover until their bound (trustGracePeriodMs, their expiry). */
  readonly retired?: readonly CertInfo[];
}

/** The material being served now. `keyPem` is secret: never log it. */
export interface CertificateState {
  readonly certPem: string;
  readonly keyPem: string;
  /** `ca.crt` of the serving Secret, when it has one. */
  readonly caPem: string | undefined;
  readonly info: CertInfo;
  /** key, cert and the current trust bundle, ready for `tls.connect` or an SNI callback. */
  readonly secureContext: tls.SecureContext;
}

/**
 * Whether a server asks its callers for a certificate:
 * - `'none'`: it does not; nobody has an identity.
 * - `'request'`: it asks; a caller without one is let through with no identity (kubelet's
 *   probes, load balancers), a certificate the trust bundle does not verify is refused: the
 *   connection is closed as soon as the handshake completes, before any request is read (the
 *   moment and the way Node's own `rejectUnauthorized` refuses one). This refusal is installed
 *   by {@link ServingCert.attach}, which every such server needs anyway to follow rotations.
 * - `'require'`: it asks, and refuses callers without a valid certificate at the handshake.
 */
export type ClientCertMode = 'none' | 'request' | 'require';

/** Options of {@link ServingCert.serverOptions}. */
export interface ServerOptionsRequest {
  /** Whether to ask callers for a certificate (see {@link ClientCertMode}). Default `'none'`. */
  clientCert?: ClientCertMode;
  /** @deprecated `true` is `clientCert: 'require'`, which this name never said; use `clientCert`. */
  requestClientCert?: boolean;
}

/** What {@link ServingCert.health} reports. */
export interface ServingCertHealth {
  /** A certificate is served and inside its validity window (false before the first one and after close). */
  readonly ready: boolean;
  /** notAfter of the served certificate. */
  readonly notAfter?: Date;
  /** Milliseconds until notAfter (negative once expired). */
  readonly expiresInMs?: number;
  /** The last refused update since the served certificate came, if any. */
  readonly lastRefusal?: ServingCertError | undefined;
  /** Where the material comes from: "files /etc/tls/certs", "secret shop/web-tls", ... */
  readonly source: string;
}

/**
 * A live serving certificate: always valid material, swapped in place when a new version
 * passes the validation gate.
 */
export interface ServingCert {
  /** The material served now. */
  readonly current: CertificateState;
  /** The CAs trusted for peers, old ones included during a rollover. */
  readonly trust: TrustState;
  /**
   * `key` and `cert` for `https.createServer` and co.; with `clientCert: 'request'` or
   * `'require'`, also `ca` (the trust bundle), `requestCert: true` and `rejectUnauthorized`
   * (`false` for `'request'`: {@link ServingCert.attach} then refuses an unverified certificate).
   */
  serverOptions(options?: ServerOptionsRequest): tls.TlsOptions;
  /**
   * Keeps a running `https`, `http2` secure or `tls` server on the current material: every
   * rotation and trust change installs a new secure context, which new handshakes use while
   * open connections go on. The server's own TLS settings (ciphers, versions, ...) are kept.
   * A server that asks for client certificates (`requestCert`) also gets the current trust
   * bundle, so it follows CA rotations; one that asks without requiring (`clientCert:
   * 'request'`) closes every connection whose certificate the bundle does not verify right
   * after the handshake. Returns a function that detaches it.
   */
  attach(server: tls.Server): () => void;
  /** A new certificate passed the gate and is served now. */
  on(event: 'rotate', listener: (next: CertInfo, previous: CertInfo) => void): this;
  /** The trusted CAs changed. */
  on(event: 'trust', listener: (trust: TrustState) => void): this;
  /**
   * A new version was refused and the last good one keeps serving. Emitted only when someone
   * listens; otherwise logged, so that a refusal never crashes the process.
   */
  on(event: 'error', listener: (error: ServingCertError) => void): this;
  off(event: 'rotate', listener: (next: CertInfo, previous: CertInfo) => void): this;
  off(event: 'trust', listener: (trust: TrustState) => void): this;
  off(event: 'error', listener: (error: ServingCertError) => void): this;
  once(event: 'rotate', listener: (next: CertInfo, previous: CertInfo) => void): this;
  once(event: 'trust', listener: (trust: TrustState) => void): this;
  once(event: 'error', listener: (error: ServingCertError) => void): this;
  /**
   * What a readiness check needs: whether a valid certificate is served, when it expires, the
   * last refused update since the last certificate was served, and where material comes from.
   */
  health(): ServingCertHealth;
  /** Stops every watcher and timer. Safe to call twice; later calls await the first. */
  close(): Promise<void>;
}

/**
 * The key under which a live handle lets serving-cert's own parts (the mTLS dispatcher, the
 * adapters' idle-connection closing) subscribe apart from the app. Symbol.for, so that two
 * copies of this package in one app still find each other.
 */
export const INTERNAL_SUBSCRIBE: unique symbol = Symbol.for('@serving-cert/core.internalSubscribe') as never;

/** A handle that tells internal subscribers of a change before, and independently of, the app's listeners. */
export interface InternalSubscriptions {
  [INTERNAL_SUBSCRIBE](event: 'rotate' | 'trust', listener: () => void): () => void;
}

/**
 * Follows `cert`'s rotations or trust changes for an integration (a dispatcher, a server
 * adapter): told before the app's own listeners, and a listener of the app that throws cannot
 * keep it from hearing. Returns the function that stops following. A `ServingCert` of another
 * make (a test double) is followed through its `on`/`off`.
 */
export function followCertificate(cert: ServingCert, event: 'rotate' | 'trust', listener: () => void): () => void {
  const internal = (cert as Partial<InternalSubscriptions>)[INTERNAL_SUBSCRIBE];
  if (typeof internal === 'function') return internal.call(cert, event, listener);
  (cert as unknown as NodeJS.EventEmitter).on(event, listener);
  return () => (cert as unknown as NodeJS.EventEmitter).off(event, listener);
}

/**
 * The key under which a live handle lets serving-cert's own parts prepare for a new certificate
 * before any server presents it (keepCaBundle puts its CA into a webhook's caBundle first).
 */
export const INTERNAL_PREPARE: unique symbol = Symbol.for('@serving-cert/core.internalPrepare') as never;

/** A handle that awaits its preparers (each within a bound) before it serves a new certificate. */
export interface InternalPreparation {
  [INTERNAL_PREPARE](prepare: (next: CertificateState) => Promise<void>): () => void;
}

/**
 * Runs `prepare` before `cert` serves each new certificate, within a bound (a preparer that
 * fails or hangs is logged and the rotation goes on: a stuck API must not freeze rotations).
 * Returns the function that stops it; a handle of another make is not prepared for (no-op).
 */
export function prepareServing(cert: ServingCert, prepare: (next: CertificateState) => Promise<void>): () => void {
  const internal = (cert as Partial<InternalPreparation>)[INTERNAL_PREPARE];
  return typeof internal === 'function' ? internal.call(cert, prepare) : () => {};
}

import { ServingCertError } from '../errors.js';
import type { ServingCert } from '../types.js';

/** Options of {@link readinessProbe}. */
export interface ReadinessOptions {
  /**
   * Not ready when the served certificate expires within this many milliseconds and nothing
   * newer came (a newer valid one is served at once). Default 300000 (5 minutes): long
   * enough for traffic to move to replicas that have a newer one before clients start failing.
   */
  expiryMarginMs?: number;
}

/** What a readiness route answers: HTTP 200 when ready, else 503. Safe to show: no key material. */
export interface Readiness {
  ready: boolean;
  /** Why not ready, or 'serving'. */
  reason: string;
  /** notAfter of the served certificate, ISO 8601. */
  notAfter?: string;
  expiresInMs?: number;
  /** The code of the last refused update since the served certificate came. */
  lastRefusal?: string;
}

/**
 * A readiness check of a certificate, or of one still on its way (the promise of
 * `ensureServingCert()`, so that a probe port can answer before the first certificate): not
 * ready before the first certificate, when the start failed, and when the served certificate
 * expires within `expiryMarginMs` with nothing newer. The adapters mount it as a route.
 */
export function readinessProbe(cert: ServingCert | PromiseLike<ServingCert>, options: ReadinessOptions = {}): () => Readiness {
  const marginMs = options.expiryMarginMs ?? 300_000;
  if (typeof marginMs !== 'number' || !Number.isFinite(marginMs) || marginMs < 0) {
    throw new ServingCertError('E_CONFIG', `expiryMarginMs must be zero or more milliseconds; got ${String(marginMs)}`, { details: { option: 'expiryMarginMs' } });
  }
  let resolved: ServingCert | undefined;
  let failure: string | undefined;
  if ('health' in cert) {
    resolved = cert;
  } else {
    cert.then((value) => { resolved = value; }, (error: unknown) => { failure = (error as { code?: string }).code ?? 'E_START'; });
  }
  return () => {
    if (!resolved) return { ready: false, reason: failure ? `the start failed (${failure})` : 'waiting for the first certificate' };
    const health = resolved.health();
    const facts = {
      notAfter: health.notAfter?.toISOString(), expiresInMs: health.expiresInMs,
      ...(health.lastRefusal ? { lastRefusal: health.lastRefusal.code } : {}),
    };
    if (!health.ready) return { ready: false, reason: health.notAfter ? 'the served certificate has expired' : 'no certificate is served', ...facts };
    if (health.expiresInMs! <= marginMs) {
      return { ready: false, reason: `the served certificate expires within ${Math.round(marginMs / 1000)} s and nothing newer came`, ...facts };
    }
    return { ready: true, reason: 'serving', ...facts };
  };
}

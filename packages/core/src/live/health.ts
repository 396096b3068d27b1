import type { ServingCertError } from '../errors.js';
import type { CertInfo, ServingCertHealth } from '../types.js';

/**
 * The health of a handle from what it serves: ready while a certificate is served and inside
 * its validity window. `served` is undefined before the first certificate and after close.
 */
export function healthOf(served: CertInfo | undefined, lastRefusal: ServingCertError | undefined, source: string, now = Date.now()): ServingCertHealth {
  if (!served) return { ready: false, lastRefusal, source };
  const expiresInMs = served.notAfter.getTime() - now;
  return { ready: expiresInMs > 0, notAfter: served.notAfter, expiresInMs, lastRefusal, source };
}

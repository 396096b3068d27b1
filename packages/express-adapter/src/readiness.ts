import type { IncomingMessage, ServerResponse } from 'node:http';
import { readinessProbe, type ReadinessOptions, type ServingCert } from '@serving-cert/core';

/** Options of {@link mountReadiness}. */
export interface ReadinessRouteOptions extends ReadinessOptions {
  /** Default '/readyz'. */
  path?: string;
}

/**
 * A request handler that answers 200 while a valid certificate is served, and 503 before the
 * first one, after a failed start, and when the served one expires within `expiryMarginMs`
 * with nothing newer. `cert` may be the promise of `ensureServingCert()`, for a probe port that
 * listens before the certificate is there. The JSON body says why; it holds no key material.
 */
export function readinessHandler(cert: ServingCert | PromiseLike<ServingCert>, options: ReadinessOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const probe = readinessProbe(cert, options);
  return (_req, res) => {
    const readiness = probe();
    res.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(readiness));
  };
}

/** Mounts {@link readinessHandler} on `app` as `GET path` (an Express 4 or 5 app or router). */
export function mountReadiness<App extends { get(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): unknown }>(
  app: App, cert: ServingCert | PromiseLike<ServingCert>, options: ReadinessRouteOptions = {},
): App {
  const { path = '/readyz', ...probe } = options;
  app.get(path, readinessHandler(cert, probe));
  return app;
}

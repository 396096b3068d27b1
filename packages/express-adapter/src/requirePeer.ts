import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { admitCaller, anyPeer, CallerRefusedError, consoleLogger, logCallerRefusal, type Logger, type PeerAuthorizer } from '@serving-cert/core';

/** Options of {@link requirePeer}. */
export interface RequirePeerOptions {
  /** Where refusals are logged, at info, in pino's convention (a pino or bunyan logger passes as is). Default: serving-cert's console logger. */
  logger?: Pick<Logger, 'info'>;
}

/** An Express middleware (4 or 5); typed on Node's request so that both versions take it. */
export type PeerMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Middleware for a route or a router that lets only callers with a verified client certificate
 * through, and with `authorizer` only those it allows. The caller is on `req.peer`. A refusal
 * goes through Express's error path, `next(err)` with a {@link CallerRefusedError} (status 403,
 * message "Forbidden"), so access logs and error handlers see it; the reason, which may name
 * who is allowed, is only logged. Serve with `clientCert: 'request'` (or `'require'`), else
 * nobody has a certificate to show.
 *
 * @example
 * app.get('/healthz', health);                                     // kubelet: no certificate
 * app.use('/orders', requirePeer(allowPeers({ services: ['web.shop'] })), orders);
 */
export function requirePeer(authorizer: PeerAuthorizer = anyPeer, options: RequirePeerOptions = {}): PeerMiddleware {
  const logger = options.logger ?? consoleLogger();
  return function servingCertRequirePeer(req, _res, next) {
    const admission = admitCaller(req.socket as TLSSocket, authorizer);
    if (!admission.admitted) {
      logCallerRefusal(logger, admission, req);
      next(new CallerRefusedError());
      return;
    }
    req.peer = admission.peer;
    next();
  };
}

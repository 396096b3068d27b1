import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { admitCaller, consoleLogger, handOverConnectionsOnRotate, isServingCertError, logCallerRefusal, type ClientCertMode, type Logger, type PeerAuthorizer, type PeerIdentity, type ServingCert } from '@serving-cert/core';

/** Options of {@link createHttpsServer}. */
export interface HttpsServerOptions {
  /**
   * Whether to ask callers for a certificate: `'none'`, `'request'` (callers without one pass
   * with no identity, e.g. kubelet's probes; an unverified one is refused at the handshake) or
   * `'require'`. Default `'none'`, `'require'` when `authorizer` is set. With `'request'`, guard
   * routes with {@link requirePeer}.
   */
  clientCert?: ClientCertMode;
  /** @deprecated `true` is `clientCert: 'require'`; use `clientCert`. */
  requestClientCert?: boolean;
  /**
   * Answers 403 (body `{"error":"Forbidden"}`) to callers it does not allow, on every route,
   * before the app runs. To have refusals in the app's access log and error handlers, or to
   * guard some routes only, use `app.use(requirePeer(authorizer))` instead.
   */
  authorizer?: PeerAuthorizer;
  /** Where `authorizer`'s refusals are logged (info, pino's convention). Default: serving-cert's console logger. */
  logger?: Pick<Logger, 'info'>;
  /**
   * After a rotation, move keep-alive clients onto the new certificate without dropping a
   * request: each response on a connection opened before the rotation carries `Connection:
   * close`, so the client's next request opens a new connection (and sees the new certificate);
   * an idle old connection ends at the server's `keepAliveTimeout`. No connection is closed
   * under a request. `false` leaves connections alone: a pooled client then keeps the old
   * certificate's handshake until it closes the connection itself. Default true.
   */
  closeIdleConnectionsOnRotate?: boolean;
  /** Any other `https.createServer` options (timeouts, ciphers, ...); key, cert and ca come from `cert`. */
  server?: Omit<https.ServerOptions, 'key' | 'cert' | 'ca' | 'pfx' | 'requestCert' | 'rejectUnauthorized'>;
}

/** A request handler: an Express app (4 or 5), or any `(req, res)` function. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

declare module 'node:http' {
  interface IncomingMessage {
    /** The calling Service, from a verified client certificate (set by @serving-cert/express); undefined without one. */
    peer?: PeerIdentity | undefined;
  }
}

/**
 * An `https.Server` for `app` that serves `cert` and follows every rotation (and, with client
 * certificates, every trust change) without a restart. The caller's identity is on `req.peer`;
 * an `authorizer` answers 403 before the app sees a caller it does not allow. Closing the server
 * detaches it from `cert`; listening again attaches it again, on the then current certificate.
 *
 * @example
 * app.get('/healthz', (_req, res) => res.send('ok'));        // kubelet's probe: no certificate
 * app.use('/orders', requirePeer(allowPeers({ namespaces: ['shop'] })), orders);
 * createHttpsServer(app, cert, { clientCert: 'request' }).listen(8443);
 */
export function createHttpsServer(app: RequestListener, cert: ServingCert, options: HttpsServerOptions = {}): https.Server {
  const { authorizer } = options;
  const logger = options.logger ?? consoleLogger();
  // An authorizer on every route needs a certificate from every caller, unless told otherwise.
  const { clientCert = authorizer && options.requestClientCert === undefined ? 'require' : undefined, requestClientCert } = options;
  const tlsOptions = cert.serverOptions({ clientCert, requestClientCert });
  const server = https.createServer({ ...options.server, ...tlsOptions }, (req, res) => {
    const admission = admitCaller(req.socket as TLSSocket, authorizer);
    if (!admission.admitted) {
      logCallerRefusal(logger, admission, req);
      res.writeHead(admission.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Forbidden' }));
      return;
    }
    if (admission.peer) req.peer = admission.peer;
    app(req, res);
  });
  followWhileListening(server, cert, options.closeIdleConnectionsOnRotate ?? true);
  return server;
}

/**
 * Keeps `server` attached to `cert` (and, with `handOver`, handing connections over at each
 * rotation) from now on while it listens: detached when it closes, attached again when it
 * listens again after a close. An https.Server can listen again; a detached one would serve the
 * certificate of its last attachment for good. Listeners are added once, whatever the cycles.
 */
function followWhileListening(server: https.Server, cert: ServingCert, handOver: boolean): void {
  let stopFollowing: (() => void) | undefined;
  const follow = (): void => {
    if (stopFollowing) return;
    const detach = cert.attach(server);
    const stopHandover = handOver ? handOverConnectionsOnRotate(server, cert) : undefined;
    stopFollowing = () => {
      stopFollowing = undefined;
      detach();
      stopHandover?.();
    };
  };
  follow();
  server.on('listening', () => {
    try {
      follow();
    } catch (error) {
      // The certificate was closed: nothing to follow any more; the server keeps what it has.
      if (!isServingCertError(error, 'E_CLOSED')) throw error;
    }
  });
  // 'close' comes once the last connection ended; the server may be listening again by then.
  server.on('close', () => {
    if (!server.listening) stopFollowing?.();
  });
}

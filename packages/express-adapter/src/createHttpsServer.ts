import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { admitCaller, followCertificate, type PeerAuthorizer, type PeerIdentity, type ServingCert } from '@serving-cert/core';

/** Options of {@link createHttpsServer}. */
export interface HttpsServerOptions {
  /** Ask clients for a certificate and refuse those the trust bundle does not verify. Default false; true when `authorizer` is set. */
  requestClientCert?: boolean;
  /** Answers 403 to callers it does not allow (implies `requestClientCert`). */
  authorizer?: PeerAuthorizer;
  /**
   * After a rotation, close idle keep-alive connections, so that clients reconnect and see the
   * new certificate soon; busy connections finish their request first. Default true.
   */
  closeIdleConnectionsOnRotate?: boolean;
  /** Any other `https.createServer` options (timeouts, ciphers, ...); key, cert and ca come from `cert`. */
  server?: Omit<https.ServerOptions, 'key' | 'cert' | 'ca' | 'pfx' | 'requestCert' | 'rejectUnauthorized'>;
}

/** A request handler: an Express app (4 or 5), or any `(req, res)` function. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

declare module 'node:http' {
  interface IncomingMessage {
    /** The calling Service, from a verified client certificate (set by @serving-cert/express). */
    peer?: PeerIdentity;
  }
}

/**
 * An `https.Server` for `app` that serves `cert` and follows every rotation (and, with client
 * certificates, every trust change) without a restart. The caller's identity is on `req.peer`;
 * an `authorizer` answers 403 before the app sees a caller it does not allow. Closing the server
 * detaches it from `cert`.
 *
 * @example
 * const server = createHttpsServer(app, cert, { authorizer: allowPeers({ namespaces: ['shop'] }) });
 * server.listen(8443);
 */
export function createHttpsServer(app: RequestListener, cert: ServingCert, options: HttpsServerOptions = {}): https.Server {
  const { authorizer } = options;
  const requestClientCert = options.requestClientCert ?? authorizer !== undefined;
  const server = https.createServer({ ...options.server, ...cert.serverOptions({ requestClientCert }) }, (req, res) => {
    const admission = admitCaller(req.socket as TLSSocket, authorizer);
    if (!admission.admitted) {
      res.writeHead(admission.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Forbidden', reason: admission.reason }));
      return;
    }
    if (admission.peer) req.peer = admission.peer;
    app(req, res);
  });
  const detach = cert.attach(server);
  const onRotate = (): void => {
    server.closeIdleConnections();
  };
  // Ahead of the app's own rotate listeners and apart from them (one that throws stops nothing here).
  const unfollow = options.closeIdleConnectionsOnRotate ?? true ? followCertificate(cert, 'rotate', onRotate) : undefined;
  server.once('close', () => {
    detach();
    unfollow?.();
  });
  return server;
}

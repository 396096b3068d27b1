import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { followCertificate, type ServingCert } from '@serving-cert/core';

/**
 * Moves keep-alive clients of `server` onto `cert`'s new certificate after a rotation without
 * dropping a request: a response on a connection whose handshake presented an older certificate
 * carries `Connection: close`, so the client's next request opens a new connection, with a new
 * handshake (setSecureContext renews the session ticket keys, so it is a full one, not a
 * resumption of the old certificate's session). Idle old connections end at the server's
 * `keepAliveTimeout`. Closing idle connections at the rotation instead races with a request
 * the client already sent on one.
 * Returns the function that stops it.
 */
export function handOverConnectionsOnRotate(server: HttpsServer, cert: ServingCert): () => void {
  let served = cert.current.info.fingerprint256;
  const unfollow = followCertificate(cert, 'rotate', () => {
    served = cert.current.info.fingerprint256;
  });
  // What each connection's handshake presented, read once per connection: exact even for a
  // handshake that straddled a rotation.
  const presented = new WeakMap<TLSSocket, string | undefined>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket as TLSSocket;
    if (!presented.has(socket)) presented.set(socket, socket.getX509Certificate?.()?.fingerprint256);
    const fingerprint = presented.get(socket);
    if (fingerprint !== undefined && fingerprint !== served) res.shouldKeepAlive = false;
  };
  // Ahead of the app, so that its response already carries the header.
  server.prependListener('request', onRequest);
  return () => {
    unfollow();
    server.off('request', onRequest);
  };
}

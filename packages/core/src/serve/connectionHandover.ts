import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as tls from 'node:tls';
import { followCertificate, type ServingCert } from '../types.js';

/**
 * Moves the HTTP/1.1 keep-alive clients of `server` (https, or HTTP/2 with `allowHTTP1`) onto
 * `cert`'s new certificate after a rotation without dropping a request: a response on a
 * connection whose handshake presented an older certificate carries `Connection: close`, so the
 * client's next request opens a new connection, with a new handshake (setSecureContext renews
 * the session ticket keys, so it is a full one, not a resumption of the old certificate's
 * session). Idle old connections end at the server's `keepAliveTimeout`. Closing idle
 * connections at the rotation instead races with a request the client already sent on one.
 * The adapters' one step for this; returns the function that stops it.
 */
export function handOverConnectionsOnRotate(server: tls.Server, cert: ServingCert): () => void {
  // Kept, not read from cert.current per request: a request may come after the handle closed.
  let served = cert.current.info.fingerprint256;
  const unfollow = followCertificate(cert, 'rotate', () => {
    served = cert.current.info.fingerprint256;
  });
  // What each connection's handshake presented, read once per connection: exact even for a
  // handshake that straddled a rotation.
  const presented = new WeakMap<tls.TLSSocket, string | undefined>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.httpVersionMajor !== 1) return;
    const socket = req.socket as tls.TLSSocket;
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

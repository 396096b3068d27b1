import type * as tls from 'node:tls';
import type { Logger } from '../logger.js';

/** Servers that already carry the guard: attaching twice, or to two handles, installs it once. */
const guarded = new WeakSet<tls.Server>();

/**
 * For a server that asks for client certificates without requiring one (`requestCert: true,
 * rejectUnauthorized: false`, i.e. `clientCert: 'request'`): closes every connection that
 * presented a certificate the trust bundle does not verify, as soon as its handshake completes.
 * OpenSSL lets such a handshake finish in this mode (Node verifies after it, and refuses only
 * with `rejectUnauthorized`), so without this the application would see the connection.
 * It runs first among the `secureConnection` listeners, before HTTP reads a byte; it is the
 * same moment and the same close Node's own `rejectUnauthorized` does. Callers with no
 * certificate pass. It stays installed after detach: leaving it would be a silent downgrade.
 */
export function guardUnverifiedCallers(server: tls.Server, logger: Logger): void {
  const settings = server as { requestCert?: boolean; rejectUnauthorized?: boolean };
  if (!settings.requestCert || settings.rejectUnauthorized !== false || guarded.has(server)) return;
  guarded.add(server);
  server.prependListener('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.authorized) return;
    const presented = socket.getPeerX509Certificate();
    if (!presented) return; // no certificate: let through, with no identity
    logger.info({
      remoteAddress: socket.remoteAddress, authorizationError: String(socket.authorizationError),
      issuer: presented.issuer, serial: presented.serialNumber,
    }, 'closed a connection whose client certificate the trust bundle does not verify');
    socket.destroy();
  });
}

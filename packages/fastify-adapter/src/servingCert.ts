import type { Http2SecureServer, Http2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { admitCaller, anyPeer, CallerRefusedError, followCertificate, logCallerRefusal, type Logger, type PeerAuthorizer, type PeerIdentity, type ServingCert } from '@serving-cert/core';

/** Options of the {@link servingCert} plugin. */
export interface ServingCertPluginOptions {
  /** The live certificate; build the instance with `https: cert.serverOptions()` (and `http2: true` if wanted). */
  cert: ServingCert;
  /**
   * Refuses callers it does not allow on every route, with 403 through Fastify's error path (a
   * CallerRefusedError). For some routes only, use the route option `config: { peer }` instead.
   * Either needs an instance that asks for certificates (`clientCert: 'request'` or `'require'`).
   */
  authorizer?: PeerAuthorizer;
  /** Where refusals are logged, at info with the caller and the reason. Default: the request's logger (`request.log`). */
  logger?: Pick<Logger, 'info'>;
  /**
   * After a rotation, close idle HTTP/1.1 keep-alive connections and gracefully close HTTP/2
   * sessions, so that clients reconnect and see the new certificate soon. Default true.
   */
  closeIdleConnectionsOnRotate?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The calling Service, from a verified client certificate; undefined without one. */
    peer: PeerIdentity | undefined;
  }
  interface FastifyContextConfig {
    /**
     * Who may call this route: a `PeerAuthorizer` (`allowPeers(...)`), or `true` for any caller
     * with a verified certificate. Others get 403 through Fastify's error path.
     */
    peer?: PeerAuthorizer | true;
  }
}

/** The socket of a request: HTTP/2 requests carry a stream, whose session owns the TLS socket. */
function socketOf(request: FastifyRequest): TLSSocket {
  const raw = request.raw as FastifyRequest['raw'] & { stream?: { session?: { socket?: TLSSocket } } };
  return raw.stream?.session?.socket ?? (raw.socket as TLSSocket);
}

const plugin: FastifyPluginAsync<ServingCertPluginOptions> = async (fastify, options) => {
  const { cert } = options;
  const server = fastify.server as unknown as HttpsServer | Http2SecureServer;
  if (typeof (server as Partial<HttpsServer>).setSecureContext !== 'function') {
    throw new Error('@serving-cert/fastify: the instance is not a TLS server; create it with Fastify({ https: cert.serverOptions() })');
  }
  const detach = cert.attach(server);

  // HTTP/2 sessions live until closed: keep track of them to close them after a rotation.
  const sessions = new Set<Http2Session>();
  const onSession = (session: Http2Session): void => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  };
  server.on('session', onSession);
  const onRotate = (): void => {
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    for (const session of sessions) session.close(); // graceful: streams in flight finish
  };
  // Ahead of the app's own rotate listeners and apart from them (one that throws stops nothing here).
  const unfollow = options.closeIdleConnectionsOnRotate ?? true ? followCertificate(cert, 'rotate', onRotate) : undefined;

  fastify.decorateRequest('peer', undefined);
  fastify.addHook('onRequest', async function servingCertIdentity(request: FastifyRequest) {
    const routeRule = request.routeOptions.config.peer;
    // The plugin's authorizer for every route, then the route's own: both must pass.
    for (const authorizer of [options.authorizer, routeRule === true ? anyPeer : routeRule]) {
      if (!authorizer) continue;
      const admission = admitCaller(socketOf(request), authorizer);
      if (!admission.admitted) {
        logCallerRefusal(options.logger ?? request.log, admission, request.raw);
        throw new CallerRefusedError();
      }
    }
    request.peer = admitCaller(socketOf(request), undefined).peer;
  });
  // Only what this plugin created: the attachment and its listeners.
  fastify.addHook('onClose', async function servingCertDetach() {
    detach();
    unfollow?.();
    server.off('session', onSession);
  });
};

/**
 * A Fastify 5 plugin that keeps `app.server` (HTTP/1.1 or HTTP/2) on the current certificate,
 * decorates each request with the caller's identity (`request.peer`), and can refuse callers
 * with an authorizer. It detaches when the instance closes.
 *
 * @example
 * const app = Fastify({ https: cert.serverOptions({ clientCert: 'request' }) });
 * await app.register(servingCert, { cert });
 * app.get('/healthz', async () => 'ok');                          // kubelet: no certificate
 * app.get('/orders', { config: { peer: allowPeers({ namespaces: ['shop'] }) } }, listOrders);
 */
export const servingCert = fp(plugin, { fastify: '5.x', name: '@serving-cert/fastify' });
export default servingCert;

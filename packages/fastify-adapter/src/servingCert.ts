import type { Http2SecureServer } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { admitCaller, anyPeer, CallerRefusedError, handOverConnectionsOnRotate, logCallerRefusal, type Logger, type PeerAuthorizer, type PeerIdentity, type ServingCert } from '@serving-cert/core';
import { goAwayOldSessionsOnRotate } from './connectionHandover.js';

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
   * HTTP/1.1: after a rotation, move clients onto the new certificate without closing anything
   * under a request: each response on a connection opened before the rotation carries
   * `Connection: close`, so the client's next request opens a new connection (and sees the new
   * certificate); an idle old connection ends at the server's `keepAliveTimeout`. `false` leaves
   * connections alone: a pooled client keeps the old certificate's handshake until it closes the
   * connection. Default true.
   */
  closeIdleConnectionsOnRotate?: boolean;
  /**
   * HTTP/2: after a rotation, an old session gets a GOAWAY that asks for no new streams (RFC 9113
   * section 6.8), and about a second later the final one; streams in flight finish. A stream the
   * client sent before it heard is refused with REFUSED_STREAM: never processed and safe to retry
   * (RFC 9113 section 8.7), which Go, gRPC and browsers do, but Node's `http2` client does not,
   * and undici 7 fails its in-flight requests on any GOAWAY. So default false: sessions are left
   * as they are and keep the old certificate's handshake until they end. Turn it on when the
   * clients retry refused streams.
   */
  goAwayHttp2SessionsOnRotate?: boolean;
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
  // HTTP/1.1 connections (an https server, or HTTP/2's allowHTTP1 fallback), and HTTP/2 sessions
  // (only an HTTP/2 server emits 'session').
  const stopHandovers = [
    ...(options.closeIdleConnectionsOnRotate ?? true ? [handOverConnectionsOnRotate(server, cert)] : []),
    ...(options.goAwayHttp2SessionsOnRotate ?? false ? [goAwayOldSessionsOnRotate(server as Http2SecureServer, cert)] : []),
  ];

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
    for (const stop of stopHandovers) stop();
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

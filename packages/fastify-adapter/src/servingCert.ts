import type { Http2SecureServer, Http2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { admitCaller, followCertificate, type PeerAuthorizer, type PeerIdentity, type ServingCert } from '@serving-cert/core';

/** Options of the {@link servingCert} plugin. */
export interface ServingCertPluginOptions {
  /** The live certificate; build the instance with `https: cert.serverOptions()` (and `http2: true` if wanted). */
  cert: ServingCert;
  /** Answers 403 to callers it does not allow, in an onRequest hook (the instance must request client certificates). */
  authorizer?: PeerAuthorizer;
  /**
   * After a rotation, close idle HTTP/1.1 keep-alive connections and gracefully close HTTP/2
   * sessions, so that clients reconnect and see the new certificate soon. Default true.
   */
  closeIdleConnectionsOnRotate?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The calling Service, from a verified client certificate; null without one. */
    peer: PeerIdentity | null;
  }
}

function socketOf(request: FastifyRequest): TLSSocket {
  // HTTP/2 requests carry a stream; its session owns the TLS socket.
  const raw = request.raw as FastifyRequest['raw'] & { stream?: { session?: { socket?: TLSSocket } } };
  return raw.stream?.session?.socket ?? (raw.socket as TLSSocket);
}

const plugin: FastifyPluginAsync<ServingCertPluginOptions> = async (fastify, options) => {
  const { cert, authorizer } = options;
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

  fastify.decorateRequest('peer', null);
  fastify.addHook('onRequest', async function servingCertIdentity(request: FastifyRequest, reply: FastifyReply) {
    const admission = admitCaller(socketOf(request), authorizer);
    if (!admission.admitted) {
      await reply.code(admission.status).send({ error: 'Forbidden', reason: admission.reason });
      return reply;
    }
    request.peer = admission.peer ?? null;
    return undefined;
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
 * const app = Fastify({ https: cert.serverOptions({ requestClientCert: true }) });
 * await app.register(servingCert, { cert, authorizer: allowPeers({ namespaces: ['shop'] }) });
 */
export const servingCert = fp(plugin, { fastify: '5.x', name: '@serving-cert/fastify' });
export default servingCert;

import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { readinessProbe, type ReadinessOptions, type ServingCert } from '@serving-cert/core';

/** Options of the {@link readiness} plugin. */
export interface ReadinessPluginOptions extends ReadinessOptions {
  /** The live certificate, or the promise of `ensureServingCert()` (a probe port that listens before it is there). */
  cert: ServingCert | PromiseLike<ServingCert>;
  /** Default '/readyz'. */
  path?: string;
}

const plugin: FastifyPluginAsync<ReadinessPluginOptions> = async (fastify, options) => {
  const probe = readinessProbe(options.cert, options); // checks expiryMarginMs before the route exists
  fastify.get(options.path ?? '/readyz', async function servingCertReadiness(_request, reply) {
    const readiness = probe();
    return reply.code(readiness.ready ? 200 : 503).header('cache-control', 'no-store').send(readiness);
  });
};

/**
 * A Fastify 5 plugin that mounts a readiness route (default `GET /readyz`): 200 while a valid
 * certificate is served, 503 before the first one, after a failed start, and when the served
 * one expires within `expiryMarginMs` with nothing newer. Works on any instance, TLS or not.
 *
 * @example
 * const probes = Fastify();   // plain HTTP probe port, up before the certificate
 * await probes.register(readiness, { cert: ensureServingCert() });
 */
export const readiness = fp(plugin, { fastify: '5.x', name: '@serving-cert/fastify-readiness' });

/**
 * @serving-cert/fastify: a Fastify plugin that serves a serving-cert certificate and follows
 * every rotation without a restart.
 * @packageDocumentation
 */
export { servingCert, servingCert as default } from './servingCert.js';
export type { ServingCertPluginOptions } from './servingCert.js';
export { allowPeers, anyPeer, CallerRefusedError } from '@serving-cert/core';
export type { ClientCertMode, PeerAuthorizer, PeerIdentity } from '@serving-cert/core';
export { readiness } from './readiness.js';
export type { ReadinessPluginOptions } from './readiness.js';
export { admissionRoute } from './admission.js';

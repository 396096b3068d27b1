/**
 * @serving-cert/express: serve an Express app on a serving-cert certificate that rotates
 * without a restart.
 * @packageDocumentation
 */
export { createHttpsServer } from './createHttpsServer.js';
export type { HttpsServerOptions, RequestListener } from './createHttpsServer.js';
export { requirePeer } from './requirePeer.js';
export type { PeerMiddleware, RequirePeerOptions } from './requirePeer.js';
export { allowPeers, anyPeer, CallerRefusedError } from '@serving-cert/core';
export type { ClientCertMode, PeerAuthorizer, PeerIdentity } from '@serving-cert/core';
export { mountReadiness, readinessHandler } from './readiness.js';
export type { ReadinessRouteOptions } from './readiness.js';

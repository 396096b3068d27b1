/**
 * @serving-cert/express: serve an Express app on a serving-cert certificate that rotates
 * without a restart.
 * @packageDocumentation
 */
export { createHttpsServer } from './createHttpsServer.js';
export type { HttpsServerOptions, RequestListener } from './createHttpsServer.js';
export { allowPeers } from '@serving-cert/core';
export type { PeerAuthorizer, PeerIdentity } from '@serving-cert/core';
export { mountReadiness, readinessHandler } from './readiness.js';
export type { ReadinessRouteOptions } from './readiness.js';

/**
 * serving-cert: a Node.js service in Kubernetes provisions, serves and rotates its own TLS
 * certificate with `await ensureServingCert()`.
 * @packageDocumentation
 */
export { ensureServingCert } from './ensureServingCert.js';
export type { EnsureOptions } from './ensureServingCert.js';
export type { CertificateState, ServerOptionsRequest, ServingCert } from './live/servingCert.js';
export type { TrustState } from './live/trustStore.js';
export type { CertInfo } from './x509/certInfo.js';
export { ServingCertError, isServingCertError } from './errors.js';
export type { ServingCertErrorCode } from './errors.js';
export { consoleLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { validateServingBundle, validateCaBundle } from './x509/validateBundle.js';
export type { Expectations, Problem, RawFiles, ValidCaBundle, ValidServingBundle } from './x509/validateBundle.js';
export { createMtlsDispatcher } from './mtls/createMtlsDispatcher.js';
export type { MtlsOptions } from './mtls/createMtlsDispatcher.js';
export { peerIdentity } from './mtls/peerIdentity.js';
export type { PeerIdentity } from './mtls/peerIdentity.js';
export { allowPeers, authorizePeer } from './mtls/authorizer.js';
export type { PeerAuthorizer, PeerDecision } from './mtls/authorizer.js';
export { localCaDir, rotateLocalCa } from './sources/localCaSource.js';
export type { LocalCaOptions } from './sources/localCaSource.js';

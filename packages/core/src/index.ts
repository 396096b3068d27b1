/**
 * serving-cert: a Node.js service in Kubernetes provisions, serves and rotates its own TLS
 * certificate with `await ensureServingCert()`.
 * @packageDocumentation
 */
export { ensureServingCert } from './ensureServingCert.js';
export type { EnsureOptions, LocalCaOptions, MeterProviderLike } from './options/ensureOptions.js';
export type { CertificateState, CertInfo, ClientCertMode, ServerOptionsRequest, ServingCert, ServingCertHealth, TrustState } from './types.js';
export { followCertificate } from './types.js';
export { ServingCertError, isServingCertError } from './errors.js';
export type { ServingCertErrorCode } from './errors.js';
export { consoleLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { PLATFORM, serviceDnsNames } from './options/platformNames.js';
export { validateServingBundle, validateCaBundle } from './x509/validateBundle.js';
export type { Expectations, Problem, ValidCaBundle, ValidServingBundle } from './x509/validateBundle.js';
export type { RawFiles } from './sources/source.js';
export { createMtlsDispatcher } from './connect/createMtlsDispatcher.js';
export type { MtlsOptions } from './connect/createMtlsDispatcher.js';
export type { MtlsDispatcher } from './connect/mtlsDispatcher.js';
export { installGlobalTrust } from './connect/installGlobalTrust.js';
export { peerIdentity } from './serve/peerIdentity.js';
export type { PeerIdentity } from './serve/peerIdentity.js';
export { allowPeers, anyPeer, authorizePeer } from './serve/authorizer.js';
export type { PeerAuthorizer, PeerDecision } from './serve/authorizer.js';
export { admitCaller } from './serve/admitCaller.js';
export { handOverConnectionsOnRotate } from './serve/connectionHandover.js';
export { readinessProbe } from './serve/readiness.js';
export type { Readiness, ReadinessOptions } from './serve/readiness.js';
export type { CallerAdmission } from './serve/admitCaller.js';
export { CallerRefusedError, logCallerRefusal } from './serve/callerRefusal.js';
export { localCaDir, rotateLocalCa } from './sources/local/localCaSource.js';

/**
 * Issuing helpers for the local development CA and for tests. Nothing here verifies anything:
 * serving-cert leaves verification to node:crypto and OpenSSL.
 * @packageDocumentation
 */
export { CertificateAuthority } from './certificateAuthority.js';
export type { CertificateAuthorityOptions, IssuedLeaf, LeafOptions } from './certificateAuthority.js';
export { generatePrivateKey, issueCertificate, privateKeyFromPem, privateKeyToPem } from './issueCertificate.js';
export type { CertificateTemplate, DistinguishedName, KeyAlgorithm, KeyEncoding, KeyUsageName } from './issueCertificate.js';
export { decoyChain } from './decoyChain.js';
export type { DecoyChainOptions } from './decoyChain.js';

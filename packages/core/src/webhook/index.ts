/**
 * `@serving-cert/core/webhook`: serve admission webhooks on the platform certificate and keep
 * their caBundle current through every rotation and CA rollover. A subpath of its own because it
 * loads @kubernetes/client-node.
 * @packageDocumentation
 */
export { keepCaBundle } from './keepCaBundle.js';
export type { CaBundleKeeper, KeepCaBundleOptions } from './keepCaBundle.js';
export type { CaBundleTarget } from './caBundleTargets.js';
export { caBundleFor } from './bundleFor.js';
export { admissionResponse, createAdmissionHandler, MalformedAdmissionReview, parseAdmissionReview } from './admissionReview.js';
export type { AdmissionDecision, AdmissionRequest } from './admissionReview.js';

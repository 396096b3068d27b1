// The Kubernetes side of ensureServingCert, loaded on demand (see clusterConfigured.ts).
export { ensureServiceAnnotation } from './annotateService.js';
export { ClusterAccess } from './clusterAccess.js';
export { diagnoseCertificate } from './diagnose.js';
export { SecretWatcher } from './secretWatcher.js';

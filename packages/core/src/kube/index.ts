// The Kubernetes side of ensureServingCert, loaded on demand: @kubernetes/client-node takes a
// good part of a second to import, and a local or files-only start never needs it.
export { ensureServiceAnnotation } from './annotateService.js';
export { ClusterAccess } from './clusterAccess.js';
export { diagnoseCertificate } from './diagnose.js';
export { EventRecorder } from './eventRecorder.js';

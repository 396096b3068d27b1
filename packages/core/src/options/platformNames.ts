// What the platform names and where a pod finds things (design section 3): written once here.

/** The names the platform's policies and cert-manager use. */
export const PLATFORM = Object.freeze({
  /** The Service annotation through which a Service asks for a serving certificate. */
  annotation: 'service.alauda.io/serving-cert-secret-name',
  /** The ClusterIssuer that signs every serving certificate. */
  issuerName: 'cpaas-ca',
  /** The platform root CA Secret, in namespace cert-manager and copied into every namespace. */
  caSecretName: 'service-root-ca',
  /** The namespace of the platform root CA's source Secret. */
  caNamespace: 'cert-manager',
  /** The three Kyverno ClusterPolicies of the platform. */
  policies: Object.freeze(['clone-ca-secret', 'sync-ca-rotation', 'generate-service-cert'] as const),
  /** serving-cert's field manager, so that `kubectl` shows who set the annotation. */
  fieldManager: 'serving-cert',
});

/** The Secret keys of a serving certificate (`kubernetes.io/tls`) and of the root CA copy. */
export const SERVING_KEYS = Object.freeze({ keys: ['tls.crt', 'tls.key', 'ca.crt'], required: ['tls.crt', 'tls.key'] } as const);
export const CA_KEYS = Object.freeze({ keys: ['ca.crt'], required: ['ca.crt'] } as const);

/** Where a pod finds things by default. */
export const DEFAULT_PATHS = Object.freeze({
  certDir: '/etc/tls/certs',
  caDir: '/etc/tls/ca',
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
});

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** The four names the platform puts in every serving certificate, as the generate policy writes them. */
export function serviceDnsNames(serviceName: string, namespace: string, clusterDomain = DEFAULT_CLUSTER_DOMAIN): string[] {
  return [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.${clusterDomain}`];
}

/** The Certificate the generate-service-cert policy makes for a Service. */
export function certificateNameOf(serviceName: string): string {
  return `${serviceName}-cert`;
}

/** The Secret a Service asks for when nobody names one. */
export function defaultSecretNameOf(serviceName: string): string {
  return `${serviceName}-tls`;
}

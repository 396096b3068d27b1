import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../logger.js';

/**
 * What serving-cert needs of an OpenTelemetry `MeterProvider` (every one is one). Structural, so
 * that these declarations type-check in an app without the optional peer `@opentelemetry/api`.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: object): unknown;
}

/** Options of {@link ensureServingCert}. Every one has a default; the environment fills most. */
export interface EnsureOptions {
  /** The Service this process serves. Default: env `SERVING_CERT_SERVICE`. */
  serviceName?: string;
  /** Its namespace. Default: env `POD_NAMESPACE`, else the service-account namespace file. */
  namespace?: string;
  /** The Secret of the serving certificate. Default: the Service's annotation, else `${serviceName}-tls`. */
  secretName?: string;
  /**
   * Where material comes from. 'files': the mounted Secrets; 'api': the Secrets through the
   * Kubernetes API (no mount needed; rotations in milliseconds); 'local': a development CA on
   * disk, outside a cluster. Default 'auto': 'files' when certDir holds a certificate, else 'api'
   * in a cluster, else 'local' (never 'local' inside a cluster).
   */
  source?: 'auto' | 'files' | 'api' | 'local';
  /** The local development CA (source 'local'). */
  local?: LocalCaOptions;
  /** The mounted serving Secret: tls.crt, tls.key and maybe ca.crt. Default '/etc/tls/certs'. */
  certDir?: string;
  /** The mounted service-root-ca Secret: ca.crt. Default '/etc/tls/ca'. */
  caDir?: string;
  /** The platform root CA Secret. Default 'service-root-ca'. */
  caSecretName?: string;
  /** Make sure the Service carries the serving-cert annotation. Default true when a cluster is configured (not for 'local'). */
  annotate?: boolean;
  /** Names the certificate must cover. Default the four Service names (svc, svc.ns, svc.ns.svc, svc.ns.svc.<domain>). */
  dnsNames?: string[];
  /** Default 'cluster.local'. */
  clusterDomain?: string;
  /** How long to wait for a valid certificate at start. Default 300000 (5 minutes). */
  timeoutMs?: number;
  /**
   * A KubeConfig (@kubernetes/client-node). Default: in-cluster when KUBERNETES_SERVICE_HOST is set, else KUBECONFIG or ~/.kube/config.
   * Api-source handles of one process given the same KubeConfig object share one watch per Secret (service-root-ca above all).
   */
  kubeConfig?: KubeConfig;
  /** The service-account folder of the in-cluster configuration. Default '/var/run/secrets/kubernetes.io/serviceaccount'. */
  serviceAccountDir?: string;
  /** How often the files source re-reads in case a change event was lost. Default 30000. */
  reloadIntervalMs?: number;
  /** How long the api source's watches stay open before they are renewed (server-side timeout). Default 300. */
  watchTimeoutSeconds?: number;
  /**
   * The bound on how long a CA that left the trust bundle (a platform CA rollover) stays
   * trusted, unless it expires first. Default 90 days: as long as a leaf of the retired CA may
   * still be in use (cert-manager's 90-day leaves).
   */
  trustGracePeriodMs?: number;
  /**
   * A writable folder where the trust state (the retired CAs of a rollover) is kept in a small
   * file, `serving-cert-trust.json`, so that a restart still trusts peers not yet re-issued.
   * Default: none; the api source then keeps it in its companion ConfigMap
   * `<secretName>-serving-cert-trust`, the files source in memory only.
   */
  stateDir?: string;
  /**
   * After a platform CA rollover, ask cert-manager to re-issue this service's leaf when it is
   * not signed by the current platform root CA (as `cmctl renew` does; needs the optional Role
   * serving-cert-renew of deploy/app-rbac.yaml). Default true when a cluster is reachable.
   */
  renewOnRollover?: boolean;
  /** That request goes out at a random moment within this window after the change. Default 180000 (3 minutes). */
  rolloverRenewWindowMs?: number;
  /**
   * A retired platform CA is released before its bound (`trustGracePeriodMs`) once this
   * service's leaf and every peer leaf seen on it have moved to a current CA, but not sooner
   * than this after it retired, so that peers re-issued within their own window show up first.
   * Default twice `rolloverRenewWindowMs`.
   */
  retiredCaMinHoldMs?: number;
  /**
   * This process also presents its certificate as a client (createMtlsDispatcher): when the
   * leaf has an extendedKeyUsage, the gate then also requires clientAuth, so that no rotation
   * brings a certificate its peers refuse as a client. Default false: a serverAuth-only leaf
   * serves (a leaf without extendedKeyUsage, as the platform issues, passes either way).
   */
  clientUse?: boolean;
  /** How far a fresh certificate's notBefore may lie ahead of this clock. Default 5 minutes. */
  clockSkewMs?: number;
  /** Where to log. Default: one line per message on stderr (`SERVING_CERT_LOG_LEVEL` sets the level). */
  logger?: Logger;
  /**
   * Where metrics go (OpenTelemetry). Default: the global meter provider, read once at start;
   * when none is registered, no instrument is created and metrics cost nothing.
   */
  meterProvider?: MeterProviderLike;
  /**
   * Record Kubernetes Events (events.k8s.io/v1) on the Service, or on the Pod when POD_NAME is
   * set: ServingCertRotated, ServingCertRefused, ServingCertWaiting. Needs the optional
   * `serving-cert-events` Role of deploy/app-rbac.yaml; without it, one warning and no Events.
   * Default false.
   */
  events?: boolean;
  /** Aborts the start (the promise rejects with E_CLOSED). */
  signal?: AbortSignal;
}

/** Options of the local development CA (`source: 'local'`). */
export interface LocalCaOptions {
  /** Where the development CA lives. Default: `$SERVING_CERT_LOCAL_CA_DIR`, else `<user cache>/serving-cert/local-ca`. */
  dir?: string;
  /** Lifetime of each leaf; it is renewed at 2/3 of it. Default 24 h. */
  leafLifetimeMs?: number;
  /** Issue a new leaf this often, for demos and tests of rotation. Default: only on renewal. */
  rotateIntervalMs?: number;
  /** Run inside a cluster anyway. Default false: in a pod the platform issues certificates. */
  allowInCluster?: boolean;
  /**
   * After a new CA appears on disk, keep serving the current leaf this long before issuing from
   * the new CA, so that every peer trusts the new CA before anyone presents a leaf from it.
   * Default 2000.
   */
  caRolloverDelayMs?: number;
}

import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ServingCertError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';
import { LiveServingCert, type ServingCert } from './live/servingCert.js';
import { clusterConfigured } from './kube/clusterConfigured.js';
import type { ClusterAccess } from './kube/clusterAccess.js';
import type { SecretWatcher } from './kube/secretWatcher.js';
import { filesSource } from './sources/filesSource.js';
import { localCaSources, type LocalCaOptions } from './sources/localCaSource.js';
import { secretSource } from './sources/secretSource.js';
import type { MaterialSource } from './sources/source.js';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_BYTES } from './x509/validateBundle.js';

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
  /** Make sure the Service carries the serving-cert annotation. Default true when a cluster is reachable. */
  annotate?: boolean;
  /** Names the certificate must cover. Default the four Service names (svc, svc.ns, svc.ns.svc, svc.ns.svc.<domain>). */
  dnsNames?: string[];
  /** Default 'cluster.local'. */
  clusterDomain?: string;
  /** How long to wait for a valid certificate at start. Default 300000 (5 minutes). */
  timeoutMs?: number;
  /** A KubeConfig (@kubernetes/client-node). Default: in-cluster when KUBERNETES_SERVICE_HOST is set, else KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** The service-account folder of the in-cluster configuration. Default '/var/run/secrets/kubernetes.io/serviceaccount'. */
  serviceAccountDir?: string;
  /** How often the files source re-reads in case a change event was lost. Default 30000. */
  reloadIntervalMs?: number;
  /** How long the api source's watches stay open before they are renewed (server-side timeout). Default 300. */
  watchTimeoutSeconds?: number;
  /** How long a CA that left the trust bundle stays trusted (unless it expires first). Default 24 h. */
  trustGracePeriodMs?: number;
  /** How far a fresh certificate's notBefore may lie ahead of this clock. Default 5 minutes. */
  clockSkewMs?: number;
  /** Where to log. Default: one line per message on stderr (`SERVING_CERT_LOG_LEVEL` sets the level). */
  logger?: Logger;
  /** Aborts the start (the promise rejects with E_CLOSED). */
  signal?: AbortSignal;
}

const DAY_MS = 24 * 3_600_000;

/**
 * Gets this service's serving certificate, validated, and keeps it live. In a cluster it first
 * makes sure the Service carries the serving-cert annotation, then waits (with progress, and a
 * diagnosis when it takes long) for the Secret and the platform root CA. Every rotation that
 * passes the validation gate is swapped into attached servers; a bad one never replaces a good
 * one. Rejects with a {@link ServingCertError} that says what to fix.
 *
 * @example
 * const cert = await ensureServingCert();   // SERVING_CERT_SERVICE and POD_NAMESPACE set in the pod
 * const server = https.createServer(cert.serverOptions(), app);
 * cert.attach(server);
 */
export async function ensureServingCert(options: EnsureOptions = {}): Promise<ServingCert> {
  const logger = options.logger ?? consoleLogger();
  const certDir = options.certDir ?? '/etc/tls/certs';
  const caDir = options.caDir ?? '/etc/tls/ca';
  const caSecretName = options.caSecretName ?? 'service-root-ca';
  const requested = options.source ?? 'auto';
  // @kubernetes/client-node loads only when a cluster is configured.
  const kube = clusterConfigured(options) ? await import('./kube/index.js') : undefined;
  const access = kube?.ClusterAccess.resolve(options);
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST) || options.kubeConfig !== undefined;

  const source = requested === 'auto' ? (existsSync(path.join(certDir, 'tls.crt')) ? 'files' : inCluster ? 'api' : 'local') : requested;
  if (source === 'local' && process.env.KUBERNETES_SERVICE_HOST && !options.local?.allowInCluster) {
    throw new ServingCertError('E_CONFIG',
      "source 'local' (a development CA) refuses to run in a cluster, where the platform issues certificates: use " +
      "source 'files' or 'api', or pass local: { allowInCluster: true } if you really mean it");
  }
  if (source === 'local') logger.info(`outside a cluster: serving a certificate from the local development CA (${options.local?.dir ?? 'user cache'})`);
  // A developer's kubeconfig must not make a local run patch a Service in some cluster.
  const annotate = options.annotate ?? (access !== undefined && source !== 'local');
  if ((annotate || source === 'api') && !access) {
    throw new ServingCertError('E_CONFIG',
      `${source === 'api' ? "source 'api'" : 'annotating the Service'} needs a cluster, and none is configured: ` +
      'KUBERNETES_SERVICE_HOST is unset (not in a pod), no kubeConfig option was given, and there is no KUBECONFIG or ~/.kube/config. ' +
      (source === 'api' ? '' : 'Pass annotate: false to use the mounted files alone'));
  }
  const needsIdentity = annotate || source === 'api' || options.dnsNames === undefined;
  const identity = needsIdentity ? resolveIdentity(options, access) : undefined;
  const dnsNames = options.dnsNames ?? defaultDnsNames(identity!, options.clusterDomain ?? 'cluster.local');
  const secretName = annotate
    ? await kube!.ensureServiceAnnotation(access!, { ...identity!, secretName: options.secretName }, logger)
    : options.secretName ?? (identity ? `${identity.serviceName}-tls` : undefined);

  if (source === 'files' && !inCluster && !existsSync(certDir)) {
    throw new ServingCertError('E_CONFIG',
      `certDir ${certDir} does not exist, and this process is not in a cluster (KUBERNETES_SERVICE_HOST is unset). ` +
      'Point certDir at a directory holding tls.crt and tls.key. In a cluster, mount the serving Secret there ' +
      "(with optional: true, so the pod starts before the Secret exists), or use source: 'api' to read it without a mount",
      { details: { certDir } });
  }

  const reloadIntervalMs = positive(options.reloadIntervalMs, 30_000, 'reloadIntervalMs');
  let servingSource: MaterialSource;
  let caSource: MaterialSource;
  let caWatcher: SecretWatcher | undefined;
  if (source === 'local') {
    const local = localCaSources({ ...options.local, dnsNames, logger });
    servingSource = local.serving;
    caSource = local.ca;
  } else if (source === 'api') {
    const watch = (name: string) => new kube!.SecretWatcher({
      access: access!, namespace: identity!.namespace, name, logger,
      watchTimeoutSeconds: positive(options.watchTimeoutSeconds, 300, 'watchTimeoutSeconds'),
    });
    caWatcher = watch(caSecretName);
    servingSource = secretSource(watch(secretName!), ['tls.crt', 'tls.key', 'ca.crt'], ['tls.crt', 'tls.key']);
    caSource = secretSource(caWatcher, ['ca.crt'], ['ca.crt']);
  } else {
    servingSource = filesSource({
      dir: certDir, keys: ['tls.crt', 'tls.key', 'ca.crt'], requiredKeys: ['tls.crt', 'tls.key'],
      maxBytes: DEFAULT_MAX_BYTES, pollIntervalMs: reloadIntervalMs, logger,
    });
    caSource = filesSource({
      dir: caDir, keys: ['ca.crt'], requiredKeys: ['ca.crt'],
      maxBytes: DEFAULT_MAX_BYTES, pollIntervalMs: reloadIntervalMs, logger,
    });
  }

  const diagnose = async (): Promise<string | undefined> => {
    const hints: string[] = [];
    if (access && identity && secretName) {
      hints.push(await kube!.diagnoseCertificate({ access, ...identity, secretName, caSecretName, caWatcher }));
    }
    if (source === 'files') {
      hints.push(`check that Secret ${secretName ?? '(the serving Secret)'} is mounted at ${certDir}; a volume mounted with ` +
        "subPath never updates, and a Secret created after the pod reaches it only at kubelet's next sync (about a minute). " +
        `\`serving-cert inspect ${certDir}\` shows what the files hold`);
    }
    return hints.filter(Boolean).join('. ') || undefined;
  };

  return LiveServingCert.open({
    servingSource,
    caSource,
    expectations: {
      dnsNames,
      clockSkewMs: nonNegative(options.clockSkewMs, DEFAULT_CLOCK_SKEW_MS, 'clockSkewMs'),
      maxBytes: DEFAULT_MAX_BYTES,
      description: servingSource.description,
    },
    trustGraceMs: nonNegative(options.trustGracePeriodMs, DAY_MS, 'trustGracePeriodMs'),
    timeoutMs: nonNegative(options.timeoutMs, 300_000, 'timeoutMs'),
    logger,
    signal: options.signal,
    diagnose,
  });
}

function resolveIdentity(options: EnsureOptions, access: ClusterAccess | undefined): { serviceName: string; namespace: string } {
  const serviceName = options.serviceName ?? process.env.SERVING_CERT_SERVICE;
  const namespace = options.namespace ?? (process.env.POD_NAMESPACE || readNamespaceFile(options.serviceAccountDir) || access?.namespace);
  if (!serviceName) {
    throw new ServingCertError('E_CONFIG',
      'no service name: pass the serviceName option or set SERVING_CERT_SERVICE (or pass dnsNames and annotate: false)');
  }
  if (!namespace) {
    throw new ServingCertError('E_CONFIG',
      `no namespace for service ${serviceName}: pass the namespace option or set POD_NAMESPACE ` +
      '(in a pod: env POD_NAMESPACE from fieldRef metadata.namespace)');
  }
  return { serviceName, namespace };
}

function defaultDnsNames(identity: { serviceName: string; namespace: string }, domain: string): string[] {
  const { serviceName: svc, namespace: ns } = identity;
  return [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.${domain}`];
}

function readNamespaceFile(dir: string | undefined): string | undefined {
  try {
    return readFileSync(path.join(dir ?? '/var/run/secrets/kubernetes.io/serviceaccount', 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new ServingCertError('E_CONFIG', `${name} must be a positive number; got ${value}`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new ServingCertError('E_CONFIG', `${name} must be zero or more milliseconds; got ${value}`);
  return value;
}

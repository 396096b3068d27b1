import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { ServingCertError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';
import { LiveServingCert, type ServingCert } from './live/servingCert.js';
import { filesSource } from './sources/filesSource.js';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_BYTES } from './x509/validateBundle.js';

/** Options of {@link ensureServingCert}. Every one has a default; the environment fills most. */
export interface EnsureOptions {
  /** The Service this process serves. Default: env `SERVING_CERT_SERVICE`. */
  serviceName?: string;
  /** Its namespace. Default: env `POD_NAMESPACE`, else the service-account namespace file. */
  namespace?: string;
  /** The Secret of the serving certificate. Default: the Service's annotation, else `${serviceName}-tls`. */
  secretName?: string;
  /** Where material comes from. Default 'auto'. This release serves 'files' ('auto' picks it). */
  source?: 'auto' | 'files' | 'api' | 'local';
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
  /** How often to re-read in case a change event was lost. Default 30000. */
  reloadIntervalMs?: number;
  /** How long a CA that left the trust bundle stays trusted (unless it expires first). Default 24 h. */
  trustGracePeriodMs?: number;
  /** How far a fresh certificate's notBefore may lie ahead of this clock. Default 5 minutes. */
  clockSkewMs?: number;
  /** Where to log. Default: one line per message on stderr (`SERVING_CERT_LOG_LEVEL` sets the level). */
  logger?: Logger;
  /** Aborts the start (the promise rejects with E_CLOSED). */
  signal?: AbortSignal;
}

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const DAY_MS = 24 * 3_600_000;

/**
 * Gets this service's serving certificate, validated, and keeps it live: every rotation that
 * passes the validation gate is swapped into attached servers; a bad one never replaces a
 * good one. Resolves once a valid certificate is there; rejects with a {@link ServingCertError}
 * that says what to fix.
 *
 * @example
 * const cert = await ensureServingCert({ serviceName: 'shop', namespace: 'prod', annotate: false });
 * const server = https.createServer(cert.serverOptions(), app);
 * cert.attach(server);
 */
export async function ensureServingCert(options: EnsureOptions = {}): Promise<ServingCert> {
  const logger = options.logger ?? consoleLogger();
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST);
  const certDir = options.certDir ?? '/etc/tls/certs';
  const caDir = options.caDir ?? '/etc/tls/ca';
  const source = options.source ?? 'auto';

  if (source === 'api' || source === 'local') {
    throw new ServingCertError('E_CONFIG',
      `source '${source}' is not available in this release of serving-cert; use source 'files' with the Secret mounted at certDir`);
  }
  if (options.annotate === true || (options.annotate === undefined && inCluster)) {
    throw new ServingCertError('E_CONFIG',
      'annotating the Service through the Kubernetes API is not available in this release of serving-cert: ' +
      'annotate the Service yourself (service.alauda.io/serving-cert-secret-name) and pass annotate: false');
  }
  const dnsNames = options.dnsNames ?? defaultDnsNames(options);
  if (!inCluster && !(await exists(certDir))) {
    throw new ServingCertError('E_CONFIG',
      `certDir ${certDir} does not exist, and this process is not in a cluster (KUBERNETES_SERVICE_HOST is unset). ` +
      'Point certDir at a directory holding tls.crt and tls.key. In a cluster, mount the serving Secret there ' +
      "(with optional: true, so the pod starts before the Secret exists), or use source: 'api' to read it without a mount",
      { details: { certDir } });
  }

  const reloadIntervalMs = positive(options.reloadIntervalMs, 30_000, 'reloadIntervalMs');
  const expectations = {
    dnsNames,
    clockSkewMs: nonNegative(options.clockSkewMs, DEFAULT_CLOCK_SKEW_MS, 'clockSkewMs'),
    maxBytes: DEFAULT_MAX_BYTES,
    description: `files ${certDir}`,
  };
  return LiveServingCert.open({
    servingSource: filesSource({
      dir: certDir, keys: ['tls.crt', 'tls.key', 'ca.crt'], requiredKeys: ['tls.crt', 'tls.key'],
      maxBytes: DEFAULT_MAX_BYTES, pollIntervalMs: reloadIntervalMs, logger,
    }),
    caSource: filesSource({
      dir: caDir, keys: ['ca.crt'], requiredKeys: ['ca.crt'],
      maxBytes: DEFAULT_MAX_BYTES, pollIntervalMs: reloadIntervalMs, logger,
    }),
    expectations,
    trustGraceMs: nonNegative(options.trustGracePeriodMs, DAY_MS, 'trustGracePeriodMs'),
    timeoutMs: nonNegative(options.timeoutMs, 300_000, 'timeoutMs'),
    logger,
    signal: options.signal,
    diagnose: () => Promise.resolve(
      `Check that the Secret${options.secretName ? ` ${options.secretName}` : ''} exists and is mounted at ${certDir}; ` +
      'a volume mounted with subPath never updates, and a Secret created after the pod reaches it only after ' +
      "kubelet's next sync (about a minute). `serving-cert inspect " + certDir + '` shows what the files hold'),
  });
}

function defaultDnsNames(options: EnsureOptions): string[] {
  const serviceName = options.serviceName ?? process.env.SERVING_CERT_SERVICE;
  const namespace = options.namespace ?? (process.env.POD_NAMESPACE || readServiceAccountNamespace());
  if (!serviceName) {
    throw new ServingCertError('E_CONFIG',
      'no service name: pass the serviceName option or set SERVING_CERT_SERVICE (or pass dnsNames explicitly)');
  }
  if (!namespace) {
    throw new ServingCertError('E_CONFIG',
      `no namespace for service ${serviceName}: pass the namespace option or set POD_NAMESPACE ` +
      `(in a pod: env POD_NAMESPACE from fieldRef metadata.namespace), or pass dnsNames explicitly`);
  }
  const domain = options.clusterDomain ?? 'cluster.local';
  return [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.${domain}`];
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

async function exists(dir: string): Promise<boolean> {
  return fs.stat(dir).then(() => true, () => false);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new ServingCertError('E_CONFIG', `${name} must be a positive number of milliseconds; got ${value}`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new ServingCertError('E_CONFIG', `${name} must be zero or more milliseconds; got ${value}`);
  return value;
}

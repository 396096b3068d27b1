import type { KubeConfig } from '@kubernetes/client-node';
import type { MeterProvider } from '@opentelemetry/api';
import { ServingCertError } from '../errors.js';
import { consoleLogger, type Logger } from '../logger.js';
import type { EnsureOptions, LocalCaOptions } from './ensureOptions.js';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_PATHS, PLATFORM } from './platformNames.js';

const DAY_MS = 24 * 3_600_000;
const SOURCES = ['auto', 'files', 'api', 'local'] as const;
/** RFC 1123 labels, as Kubernetes names Services, namespaces and Secrets. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** {@link EnsureOptions} checked and with every default applied: what a start will do. Frozen. */
export interface EnsurePlan {
  readonly source: (typeof SOURCES)[number];
  /** Explicit or from the environment; the namespace file and the kubeconfig come later. */
  readonly serviceName: string | undefined;
  readonly namespace: string | undefined;
  readonly secretName: string | undefined;
  readonly caSecretName: string;
  readonly certDir: string;
  readonly caDir: string;
  readonly annotate: boolean | undefined;
  readonly dnsNames: readonly string[] | undefined;
  readonly clusterDomain: string;
  readonly timeoutMs: number;
  readonly reloadIntervalMs: number;
  readonly watchTimeoutSeconds: number;
  readonly trustGraceMs: number;
  readonly stateDir: string | undefined;
  readonly renewOnRollover: boolean;
  readonly rolloverRenewWindowMs: number;
  readonly retiredCaMinHoldMs: number;
  readonly clockSkewMs: number;
  readonly clientUse: boolean;
  readonly kubeConfig: KubeConfig | undefined;
  readonly serviceAccountDir: string;
  readonly local: LocalCaOptions;
  readonly logger: Logger;
  readonly meterProvider: MeterProvider | undefined;
  readonly events: boolean;
  readonly signal: AbortSignal | undefined;
}

/**
 * Checks every option before anything happens (as undici's Agent constructor does): a wrong
 * value throws E_CONFIG naming the option, and the cluster has not been touched. Reads the
 * environment (`SERVING_CERT_SERVICE`, `POD_NAMESPACE`), no file and no network.
 */
export function resolveOptions(options: EnsureOptions = {}, env: NodeJS.ProcessEnv = process.env): EnsurePlan {
  if (options.source !== undefined && !SOURCES.includes(options.source)) {
    fail('source', `one of ${SOURCES.join(', ')}`, options.source);
  }
  if (options.dnsNames !== undefined && (!Array.isArray(options.dnsNames) || options.dnsNames.some((name) => typeof name !== 'string' || name === ''))) {
    fail('dnsNames', 'an array of non-empty names', options.dnsNames);
  }
  if (options.annotate !== undefined && typeof options.annotate !== 'boolean') fail('annotate', 'true or false', options.annotate);
  if (options.events !== undefined && typeof options.events !== 'boolean') fail('events', 'true or false', options.events);
  if (options.meterProvider !== undefined && typeof (options.meterProvider as { getMeter?: unknown } | null)?.getMeter !== 'function') {
    fail('meterProvider', 'an OpenTelemetry MeterProvider (with getMeter)', 'another value');
  }
  if (options.renewOnRollover !== undefined && typeof options.renewOnRollover !== 'boolean') fail('renewOnRollover', 'true or false', options.renewOnRollover);
  if (options.clientUse !== undefined && typeof options.clientUse !== 'boolean') fail('clientUse', 'true or false', options.clientUse);
  if (options.logger !== undefined && !['debug', 'info', 'warn', 'error'].every((level) => typeof (options.logger as unknown as Record<string, unknown>)[level] === 'function')) {
    fail('logger', 'an object with debug, info, warn and error functions (pino, console, ...)', 'another object');
  }
  return Object.freeze({
    source: options.source ?? 'auto',
    serviceName: name('serviceName', options.serviceName ?? (env.SERVING_CERT_SERVICE || undefined), DNS_LABEL),
    namespace: name('namespace', options.namespace ?? (env.POD_NAMESPACE || undefined), DNS_LABEL),
    secretName: name('secretName', options.secretName, DNS_SUBDOMAIN),
    caSecretName: name('caSecretName', options.caSecretName, DNS_SUBDOMAIN) ?? PLATFORM.caSecretName,
    certDir: path('certDir', options.certDir) ?? DEFAULT_PATHS.certDir,
    caDir: path('caDir', options.caDir) ?? DEFAULT_PATHS.caDir,
    annotate: options.annotate,
    dnsNames: options.dnsNames ? Object.freeze([...options.dnsNames]) : undefined,
    clusterDomain: name('clusterDomain', options.clusterDomain, DNS_SUBDOMAIN) ?? DEFAULT_CLUSTER_DOMAIN,
    timeoutMs: number('timeoutMs', options.timeoutMs, 300_000, 0),
    reloadIntervalMs: number('reloadIntervalMs', options.reloadIntervalMs, 30_000, 1),
    watchTimeoutSeconds: number('watchTimeoutSeconds', options.watchTimeoutSeconds, 300, 1),
    trustGraceMs: number('trustGracePeriodMs', options.trustGracePeriodMs, 90 * DAY_MS, 0),
    stateDir: path('stateDir', options.stateDir),
    renewOnRollover: options.renewOnRollover ?? true,
    rolloverRenewWindowMs: number('rolloverRenewWindowMs', options.rolloverRenewWindowMs, 180_000, 0),
    retiredCaMinHoldMs: number('retiredCaMinHoldMs', options.retiredCaMinHoldMs, 2 * (options.rolloverRenewWindowMs ?? 180_000), 0),
    clockSkewMs: number('clockSkewMs', options.clockSkewMs, 5 * 60_000, 0),
    clientUse: options.clientUse ?? false,
    kubeConfig: options.kubeConfig,
    serviceAccountDir: path('serviceAccountDir', options.serviceAccountDir) ?? DEFAULT_PATHS.serviceAccountDir,
    local: Object.freeze({ ...options.local }),
    logger: options.logger ?? consoleLogger(),
    // resolveOptions checked getMeter above; the rest of the interface is OpenTelemetry's promise.
    meterProvider: options.meterProvider as MeterProvider | undefined,
    events: options.events ?? false,
    signal: options.signal,
  });
}

function fail(option: string, expected: string, got: unknown): never {
  const shown = typeof got === 'string' ? `"${got}"` : Array.isArray(got) ? 'an array with other values' : String(got);
  throw new ServingCertError('E_CONFIG', `${option} must be ${expected}; got ${shown}`, { details: { option } });
}

function number(option: string, value: number | undefined, fallback: number, min: 0 | 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    fail(option, min === 0 ? 'zero or more milliseconds' : 'a positive number', value);
  }
  return value;
}

function name(option: string, value: string | undefined, pattern: RegExp): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > 253 || !pattern.test(value)) {
    fail(option, 'a Kubernetes name (lower-case letters, digits and -)', value);
  }
  return value;
}

function path(option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(option, 'a non-empty path', value);
  return value;
}

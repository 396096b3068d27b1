import { describe, expect, it } from 'vitest';
import { isServingCertError } from '../src/errors.js';
import type { EnsureOptions } from '../src/options/ensureOptions.js';
import { resolveOptions } from '../src/options/resolveOptions.js';

function refusalOf(options: EnsureOptions): string {
  try {
    resolveOptions(options, {});
  } catch (error) {
    if (isServingCertError(error, 'E_CONFIG')) return error.message;
    throw error;
  }
  throw new Error('expected E_CONFIG');
}

describe('resolveOptions checks every option before anything happens', () => {
  it.each<[string, EnsureOptions, string]>([
    ['a negative timeout', { timeoutMs: -1 }, 'timeoutMs must be zero or more milliseconds; got -1'],
    ['a timeout that is not a number', { timeoutMs: Number.NaN }, 'timeoutMs must be zero or more milliseconds; got NaN'],
    ['a zero reload interval', { reloadIntervalMs: 0 }, 'reloadIntervalMs must be a positive number; got 0'],
    ['a zero watch timeout', { watchTimeoutSeconds: 0 }, 'watchTimeoutSeconds must be a positive number; got 0'],
    ['a negative grace period', { trustGracePeriodMs: -5 }, 'trustGracePeriodMs must be zero or more milliseconds; got -5'],
    ['a negative renew window', { rolloverRenewWindowMs: -1 }, 'rolloverRenewWindowMs must be zero or more milliseconds; got -1'],
    ['renewOnRollover that is not a boolean', { renewOnRollover: 'no' as unknown as boolean }, 'renewOnRollover must be true or false; got "no"'],
    ['an empty stateDir', { stateDir: '' }, 'stateDir must be a non-empty path'],
    ['an unknown source', { source: 'disk' as EnsureOptions['source'] }, 'source must be one of auto, files, api, local; got "disk"'],
    ['a service name with capitals', { serviceName: 'Web' }, 'serviceName must be a Kubernetes name'],
    ['a namespace with a dot', { namespace: 'shop.prod' }, 'namespace must be a Kubernetes name'],
    ['an empty certDir', { certDir: '' }, 'certDir must be a non-empty path'],
    ['dnsNames with an empty name', { dnsNames: ['web', ''] }, 'dnsNames must be an array of non-empty names'],
    ['events that is not a boolean', { events: 'yes' as unknown as boolean }, 'events must be true or false; got "yes"'],
    ['a meterProvider without getMeter', { meterProvider: {} as EnsureOptions['meterProvider'] }, 'meterProvider must be an OpenTelemetry MeterProvider (with getMeter)'],
    ['a logger without error()', { logger: { info() {} } as unknown as EnsureOptions['logger'] }, 'logger must be an object with debug, info, warn and error'],
  ])('refuses %s', (_label, options, message) => {
    expect(refusalOf(options)).toContain(message);
  });

  it('applies the defaults and the environment, and freezes the plan', () => {
    const plan = resolveOptions({ certDir: '/mnt/tls' }, { SERVING_CERT_SERVICE: 'web', POD_NAMESPACE: 'shop' });
    expect(plan).toMatchObject({
      source: 'auto', serviceName: 'web', namespace: 'shop', certDir: '/mnt/tls', caDir: '/etc/tls/ca',
      caSecretName: 'service-root-ca', clusterDomain: 'cluster.local', timeoutMs: 300_000, reloadIntervalMs: 30_000,
      watchTimeoutSeconds: 300, trustGraceMs: 90 * 86_400_000, clockSkewMs: 300_000,
      stateDir: undefined, renewOnRollover: true, rolloverRenewWindowMs: 180_000,
    });
    expect(Object.isFrozen(plan)).toBe(true);
  });
});

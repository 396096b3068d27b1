import { createNoopMeter, metrics, ValueType, type Attributes, type MeterProvider } from '@opentelemetry/api';
import type { ServingCertError } from '../errors.js';
import type { LiveObserver } from '../live/observer.js';
import type { CertInfo } from '../types.js';

/** Seconds, for the reload latency: a files rotation takes about a millisecond, an API one tens. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The observer of metrics, plus the api source's watch reconnects. */
export interface MetricsObserver extends Required<Pick<LiveObserver, 'served' | 'refused' | 'trustChanged' | 'closed'>> {
  watchReconnected(reason: string): void;
}

/**
 * The OpenTelemetry instruments of one handle, on `provider` or the global meter provider.
 * Undefined, with no instrument created, when that provider is the API's no-op one (nothing
 * registered): metrics cost nothing unless the application set up an SDK.
 *
 * - `serving_cert.certificate.expiry` (gauge, s): seconds until notAfter of the served
 *   certificate; attributes `serial`, `source`
 * - `serving_cert.rotations`, `serving_cert.refusals` (by `code`), `serving_cert.trust.changes`,
 *   `serving_cert.watch.reconnects` (by `reason`): counters
 * - `serving_cert.reload.duration` (histogram, s): from the source's change event to the new
 *   certificate being served
 */
export function metricsObserver(source: string, provider: MeterProvider = metrics.getMeterProvider()): MetricsObserver | undefined {
  const meter = provider.getMeter('@serving-cert/core');
  if (meter === createNoopMeter()) return undefined;
  const base: Attributes = { source };
  const expiry = meter.createObservableGauge('serving_cert.certificate.expiry', {
    description: 'Seconds until the served certificate expires (notAfter)', unit: 's', valueType: ValueType.DOUBLE,
  });
  const rotations = meter.createCounter('serving_cert.rotations', { description: 'Certificates swapped in after the first', valueType: ValueType.INT });
  const refusals = meter.createCounter('serving_cert.refusals', { description: 'Updates refused by the validation gate, by code', valueType: ValueType.INT });
  const trustChanges = meter.createCounter('serving_cert.trust.changes', { description: 'Changes of the trusted CA bundle', valueType: ValueType.INT });
  const reconnects = meter.createCounter('serving_cert.watch.reconnects', { description: 'Re-opened API watches (api source), by reason', valueType: ValueType.INT });
  const latency = meter.createHistogram('serving_cert.reload.duration', {
    description: 'From a source change event to the new certificate being served', unit: 's', valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
  });
  let served: CertInfo | undefined;
  const observeExpiry = (result: { observe(value: number, attributes?: Attributes): void }): void => {
    if (served) result.observe((served.notAfter.getTime() - Date.now()) / 1000, { ...base, serial: served.serialNumber });
  };
  expiry.addCallback(observeExpiry);
  return {
    served(next: CertInfo, previous: CertInfo | undefined, changedAt: number | undefined): void {
      served = next;
      if (!previous) return;
      rotations.add(1, base);
      if (changedAt !== undefined) latency.record((performance.now() - changedAt) / 1000, base);
    },
    refused(error: ServingCertError): void {
      refusals.add(1, { ...base, code: error.code });
    },
    trustChanged(): void {
      trustChanges.add(1, base);
    },
    watchReconnected(reason: string): void {
      reconnects.add(1, { ...base, reason });
    },
    closed(): void {
      served = undefined;
      expiry.removeCallback(observeExpiry);
    },
  };
}

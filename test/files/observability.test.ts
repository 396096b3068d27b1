import * as diagnosticsChannel from 'node:diagnostics_channel';
import { createNoopMeter, metrics } from '@opentelemetry/api';
import {
  AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader,
  type HistogramMetricData, type MetricData,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ensureServingCert, type EnsureOptions, type ServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ca = CertificateAuthority.create();
const otherCa = CertificateAuthority.create({ commonName: 'next root CA' });
const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function start(options: EnsureOptions = {}) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(dir, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
  const cert = await ensureServingCert({
    source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, caDir: `${dir}/ca`, logger: recordingLogger(), ...options,
  });
  cleanups.push(() => cert.close());
  return { cert, dir };
}

/** 3 rotations (the third from another CA: a trust change) and 2 refusals of distinct codes. */
async function rotateThriceRefuseTwice(cert: ServingCert, dir: string): Promise<ServingCertError[]> {
  for (const issuer of [ca, ca, otherCa]) {
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(dir, payloadOf(issuer.issue({ dnsNames: WEB_NAMES })));
    await rotated;
  }
  const errors: ServingCertError[] = [];
  const good = otherCa.issue({ dnsNames: WEB_NAMES });
  for (const bad of [{ ...payloadOf(good), 'tls.key': otherCa.issue().keyPem }, payloadOf(otherCa.issue({ dnsNames: ['elsewhere.example'] }))]) {
    const refused = nextEvent<[ServingCertError]>(cert, 'error');
    await writeAtomicVolume(dir, bad);
    errors.push((await refused)[0]);
  }
  return errors;
}

function inMemoryProvider() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  cleanups.push(() => provider.shutdown());
  const collect = async (): Promise<Map<string, MetricData>> => {
    exporter.reset();
    await reader.forceFlush();
    const all = exporter.getMetrics().flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
    return new Map(all.map((metric) => [metric.descriptor.name, metric]));
  };
  return { provider, collect };
}

const sumOf = (metric: MetricData | undefined, attributes: Record<string, string> = {}) =>
  (metric?.dataPoints ?? []).filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value))
    .reduce((total, point) => total + (point.value as number), 0);

describe('OpenTelemetry metrics', () => {
  it('counts 3 rotations, 2 refusals by code and the trust change, gauges the expiry and times 3 reloads', async () => {
    const { provider, collect } = inMemoryProvider();
    const { cert, dir } = await start({ meterProvider: provider });
    const source = `files ${dir}`;
    const errors = await rotateThriceRefuseTwice(cert, dir);
    expect(errors.map((error) => error.code)).toEqual(['E_KEY_MISMATCH', 'E_DNS_NAME']);

    const found = await collect();
    expect(sumOf(found.get('serving_cert.rotations'), { source })).toBe(3);
    expect(sumOf(found.get('serving_cert.refusals'))).toBe(2);
    expect(sumOf(found.get('serving_cert.refusals'), { code: 'E_KEY_MISMATCH' })).toBe(1);
    expect(sumOf(found.get('serving_cert.refusals'), { code: 'E_DNS_NAME' })).toBe(1);
    expect(sumOf(found.get('serving_cert.trust.changes'))).toBeGreaterThanOrEqual(1);
    const expiry = found.get('serving_cert.certificate.expiry')!;
    expect(expiry.dataPoints).toHaveLength(1);
    expect(expiry.dataPoints[0]!.attributes).toEqual({ source, serial: cert.current.info.serialNumber });
    const expected = (cert.current.info.notAfter.getTime() - Date.now()) / 1000;
    expect(Math.abs((expiry.dataPoints[0]!.value as number) - expected)).toBeLessThan(1);
    const latency = found.get('serving_cert.reload.duration') as HistogramMetricData;
    expect(latency.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(latency.descriptor.unit).toBe('s');
    expect(latency.dataPoints[0]!.value.count).toBe(3);
    expect(latency.dataPoints[0]!.value.min).toBeGreaterThan(0);

    // health() tells the same story: ready, and the last refusal since the served certificate came.
    expect(cert.health()).toMatchObject({ ready: true, source, notAfter: cert.current.info.notAfter, lastRefusal: { code: 'E_DNS_NAME' } });
    expect(cert.health().expiresInMs).toBeGreaterThan(80 * 24 * 3_600_000);
    await cert.close();
    // Its callback is gone: the SDK keeps the last cumulative point, which no longer moves with time.
    const lastSeen = (await collect()).get('serving_cert.certificate.expiry')?.dataPoints[0]?.value;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await collect()).get('serving_cert.certificate.expiry')?.dataPoints[0]?.value).toBe(lastSeen);
    expect(cert.health()).toMatchObject({ ready: false, source });
  });

  it('uses the global meter provider once one is registered', async () => {
    const { provider, collect } = inMemoryProvider();
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    cleanups.push(() => metrics.disable());
    const { cert, dir } = await start();
    const rotated = nextEvent(cert, 'rotate');
    await writeAtomicVolume(dir, payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
    await rotated;
    expect(sumOf((await collect()).get('serving_cert.rotations'))).toBe(1);
  });

  it('creates no instrument when no meter provider is registered', async () => {
    metrics.disable();
    const noop = createNoopMeter(); // what the API hands out when nothing is registered
    const creators = ['createCounter', 'createHistogram', 'createGauge', 'createUpDownCounter', 'createObservableGauge',
      'createObservableCounter', 'createObservableUpDownCounter', 'addBatchObservableCallback'] as const;
    const spies = creators.map((name) => vi.spyOn(noop, name));
    cleanups.push(() => spies.forEach((spy) => spy.mockRestore()));
    const { cert, dir } = await start();
    await rotateThriceRefuseTwice(cert, dir);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    // The spies do see calls: the same meter, used directly, is caught.
    noop.createCounter('control');
    expect(spies[0]).toHaveBeenCalledTimes(1);
  });
});

describe('diagnostics_channel', () => {
  it('publishes rotate, refuse and trust messages to subscribers', async () => {
    const messages: Record<string, Array<Record<string, unknown>>> = { rotate: [], refuse: [], trust: [] };
    for (const name of Object.keys(messages)) {
      const listener = (message: unknown): void => { messages[name]!.push(message as Record<string, unknown>); };
      diagnosticsChannel.subscribe(`serving-cert:${name}`, listener);
      cleanups.push(() => diagnosticsChannel.unsubscribe(`serving-cert:${name}`, listener));
    }
    const { cert, dir } = await start();
    const first = cert.current.info;
    await rotateThriceRefuseTwice(cert, dir);
    const source = `files ${dir}`;
    expect(messages.rotate).toHaveLength(3);
    expect(messages.rotate![0]).toMatchObject({ source, previous: first, latencyMs: expect.any(Number) });
    expect(messages.rotate![2]!.next).toEqual(cert.current.info);
    expect(messages.refuse!.map((message) => message.code)).toEqual(['E_KEY_MISMATCH', 'E_DNS_NAME']);
    expect(messages.refuse![0]).toMatchObject({ source, error: expect.objectContaining({ code: 'E_KEY_MISMATCH' }) });
    expect(messages.trust!.length).toBeGreaterThanOrEqual(1);
    expect(messages.trust!.at(-1)).toMatchObject({ source, trust: cert.trust });
  });
});

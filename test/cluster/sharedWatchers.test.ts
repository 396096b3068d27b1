import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureServingCert, serviceDnsNames, silentLogger, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startFaultProxy, type ProxiedRequest } from '@serving-cert/testkit';
import { controlPlane, createNamespace, eventually } from '../helpers/cluster.js';
import { secretData } from '../helpers/apiSecrets.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

// A CA Secret of this test's own: the platform's Kyverno policy would put service-root-ca back.
const CA_SECRET = 'shared-root-ca';
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Service `service` and its Secret, unannotated (cert-manager leaves them alone), with `ca`. */
async function serviceWithSecret(core: CoreV1Api, namespace: string, service: string, ca: CertificateAuthority): Promise<void> {
  await core.createNamespacedService({ namespace, body: { metadata: { name: service }, spec: { ports: [{ port: 443 }] } } });
  const leaf = ca.issue({ dnsNames: serviceDnsNames(service, namespace) });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: `${service}-tls` }, type: 'kubernetes.io/tls', data: secretData(leaf) } });
}

/** The sum of the `serving_cert.watch.reconnects` counter a provider recorded. */
function reconnectCounter() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  cleanups.push(() => provider.shutdown());
  const total = async (): Promise<number> => {
    exporter.reset();
    await reader.forceFlush();
    return exporter.getMetrics().flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics))
      .filter((metric) => metric.descriptor.name === 'serving_cert.watch.reconnects')
      .flatMap((metric) => metric.dataPoints as Array<{ value: unknown }>).reduce((sum, point) => sum + (point.value as number), 0);
  };
  return { provider, total };
}

describe('api-source handles in one process share their watchers', () => {
  it('one list and watch per Secret for handles of the same KubeConfig, kept until the last one closes', async () => {
    const admin = controlPlane().kubeConfig;
    const core = admin.makeApiClient(CoreV1Api);
    const namespace = await createNamespace('shared');
    const ca = CertificateAuthority.create();
    for (const service of ['web', 'api']) await serviceWithSecret(core, namespace, service, ca);
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: CA_SECRET }, data: { 'ca.crt': b64(ca.certPem) } } });
    const proxy = await startFaultProxy(admin);
    cleanups.push(() => proxy.close());
    const start = (serviceName: string, kubeConfig: KubeConfig): Promise<ServingCert> => ensureServingCert({ renewOnRollover: false,
      kubeConfig, source: 'api', annotate: false, serviceName, namespace, caSecretName: CA_SECRET, timeoutMs: 30_000, logger: silentLogger,
      watchTimeoutSeconds: 1, // every watch is renewed each second: a watcher left running shows at once
    });
    const of = (name: string, requests: readonly ProxiedRequest[] = proxy.requests) => requests.filter((request) => request.path.includes(`/secrets`) && request.path.includes(name));
    const lists = (name: string) => of(name).filter((request) => !request.watch).length;

    // Two handles of one KubeConfig object: the CA Secret is listed (and watched) once for both.
    const web = await start('web', proxy.kubeConfig);
    cleanups.push(() => web.close());
    const api = await start('api', proxy.kubeConfig);
    cleanups.push(() => api.close());
    await eventually('both serving Secrets and the CA Secret watched', () => Promise.resolve(proxy.requests),
      (requests) => ['web-tls', 'api-tls', CA_SECRET].every((name) => of(name, requests).some((request) => request.watch)));
    expect(lists(CA_SECRET)).toBe(1);
    expect(lists('web-tls')).toBe(1);
    expect(lists('api-tls')).toBe(1);

    // The same configuration in another KubeConfig object is another client: its own watchers.
    const copy = new KubeConfig();
    copy.loadFromString(proxy.kubeConfig.exportConfig());
    const other = await start('web', copy);
    cleanups.push(() => other.close());
    expect(lists(CA_SECRET)).toBe(2);
    expect(lists('web-tls')).toBe(2);

    // The first sharer closes: the other still follows the shared CA Secret.
    await web.close();
    const nextCa = CertificateAuthority.create();
    const secret = await core.readNamespacedSecret({ namespace, name: CA_SECRET });
    await core.replaceNamespacedSecret({ namespace, name: CA_SECRET, body: { ...secret, data: { 'ca.crt': b64(`${ca.certPem}${nextCa.certPem}`) } } });
    const nextFingerprint = nextCa.cert.fingerprint256;
    await eventually('the new CA trusted by the handle that still shares the watcher', () => Promise.resolve(api.trust.cas.map((info) => info.fingerprint256)),
      (fingerprints) => fingerprints.includes(nextFingerprint));
    await eventually('the new CA trusted by the handle with its own watcher', () => Promise.resolve(other.trust.cas.map((info) => info.fingerprint256)),
      (fingerprints) => fingerprints.includes(nextFingerprint));

    // The last sharers close: nothing watches any more (a watcher left running renews every second).
    await api.close();
    await other.close();
    const closedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const late = proxy.requests.filter((request) => request.at > closedAt + 100 && request.path.includes('/secrets'));
    expect(late.map((request) => `${request.method} ${request.path}`)).toEqual([]);
  });

  it("tells each sharer's metrics of the shared watcher's reconnects, not only the first one's", async () => {
    const admin = controlPlane().kubeConfig;
    const core = admin.makeApiClient(CoreV1Api);
    const namespace = await createNamespace('shared-metrics');
    const ca = CertificateAuthority.create();
    for (const service of ['web', 'api']) await serviceWithSecret(core, namespace, service, ca);
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: CA_SECRET }, data: { 'ca.crt': b64(ca.certPem) } } });
    const proxy = await startFaultProxy(admin);
    cleanups.push(() => proxy.close());
    const watchesOf = (name: string, after = 0) => proxy.requests.filter((request) => request.watch && request.at > after && request.path.includes(name)).length;
    const start = async (serviceName: string) => {
      const counter = reconnectCounter();
      const cert = await ensureServingCert({ renewOnRollover: false,
        kubeConfig: proxy.kubeConfig, source: 'api', annotate: false, serviceName, namespace, caSecretName: CA_SECRET, timeoutMs: 30_000,
        logger: silentLogger, watchTimeoutSeconds: 1, meterProvider: counter.provider,
      });
      cleanups.push(() => cert.close());
      return counter;
    };
    await start('web'); // opens the CA Secret's watcher
    const api = await start('api'); // shares it
    const joinedAt = Date.now();
    // The CA Secret's watch renewed 3 times since the second handle joined (each renewal follows a reconnect it must hear of).
    await eventually('3 renewals of the shared watch', () => Promise.resolve(watchesOf(CA_SECRET, joinedAt)), (count) => count >= 3);
    const caRenewals = watchesOf(CA_SECRET, joinedAt);
    const ownWatches = watchesOf('api-tls');
    // Its own watcher's reconnects (one before each watch after the first) plus the shared one's.
    // Were only the first sharer told, this handle would count its own at most (one more in flight).
    expect(await api.total()).toBeGreaterThanOrEqual(ownWatches - 1 + caRenewals);
  });
});

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureServingCert, type ServingCert } from '@serving-cert/core';
import { PLATFORM, startFaultProxy, type FaultProxy, type PlatformClient, type ProxiedRequest } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';
import { nextEvent, recordingLogger } from '../helpers/tls.js';
import { CoreV1Api } from '@kubernetes/client-node';

let platform: PlatformClient;
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  platform = await connectPlatform();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** An app reading its Secrets through the fault proxy, as a least-privilege user. */
async function appBehindProxy(options: { secretExists?: boolean } = {}): Promise<{ namespace: string; proxy: FaultProxy; cert: ServingCert }> {
  const namespace = await createNamespace('resilience');
  const core = controlPlane().kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespacedService({ namespace, body: {
    metadata: { name: 'web', annotations: options.secretExists ? { [PLATFORM.annotation]: 'web-tls' } : {} }, spec: { ports: [{ port: 443 }] },
  } });
  if (options.secretExists) {
    await eventually('Secret web-tls', () => core.readNamespacedSecret({ namespace, name: 'web-tls' }), () => true);
    await eventually('service-root-ca', () => core.readNamespacedSecret({ namespace, name: 'service-root-ca' }), () => true);
  }
  await applyAppRbac(namespace, 'web', `app-${namespace}`);
  const proxy = await startFaultProxy(controlPlane().addUser(`app-${namespace}`));
  cleanups.push(() => proxy.close());
  const cert = await ensureServingCert({ renewOnRollover: false, kubeConfig: proxy.kubeConfig, source: 'api', serviceName: 'web', namespace, timeoutMs: 30_000, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  return { namespace, proxy, cert };
}

const watchesOf = (requests: readonly ProxiedRequest[], secret: string) =>
  requests.filter((request) => request.watch && request.path.includes(`metadata.name%3D${secret}`));

describe('the api source through faults', () => {
  it('makes 4 requests to start when the Secret exists (the Service, two Secrets, the trust ConfigMap), then one watch per Secret', async () => {
    const { proxy } = await appBehindProxy({ secretExists: true });
    // The proxy records a watch once it is answered, later on a loaded machine: wait for both, then
    // a moment more for any request that should not be there.
    await eventually('both watches', () => Promise.resolve(proxy.requests.filter((request) => request.watch).length), (watches) => watches >= 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [get, ...rest] = proxy.requests.filter((request) => !request.watch);
    expect(get?.method).toBe('GET');
    expect(get?.path).toMatch(/\/services\/web$/);
    expect(rest.map((request) => request.path.replace(/\?.*/, ''))).toEqual(expect.arrayContaining([expect.stringMatching(/\/secrets$/), expect.stringMatching(/\/secrets$/),
      expect.stringMatching(/\/configmaps\/web-tls-serving-cert-trust$/)])); // where a restart finds the retired CAs of a rollover
    expect(rest).toHaveLength(3);
    expect(proxy.requests.filter((request) => request.watch)).toHaveLength(2);
  });

  it('a dropped watch: re-watches from where it was and catches up with a renewal', async () => {
    const { namespace, proxy, cert } = await appBehindProxy();
    const before = proxy.requests.length;
    proxy.dropConnections();
    const rotated = nextEvent(cert, 'rotate', 15_000);
    const serial = await platform.renew(namespace, 'web-cert');
    expect((await rotated)[0]).toMatchObject({ serialNumber: serial });
    const after = proxy.requests.slice(before);
    expect(after.filter((request) => !request.watch)).toEqual([]); // no relist was needed
  });

  it('500s and a 410: keeps the last good certificate, relists on 410, catches up', async () => {
    const { namespace, proxy, cert } = await appBehindProxy();
    const serving = cert.current.info.serialNumber;
    proxy.failNext(500, { count: 3, match: (request) => request.watch });
    proxy.failNext(410, { count: 1, match: (request) => request.watch && request.path.includes('web-tls') });
    proxy.dropConnections();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(cert.current.info.serialNumber).toBe(serving);
    const rotated = nextEvent(cert, 'rotate', 20_000);
    const serial = await platform.renew(namespace, 'web-cert');
    expect((await rotated)[0]).toMatchObject({ serialNumber: serial });
    const statuses = proxy.requests.map((request) => request.status);
    expect(statuses.filter((status) => status === 500)).toHaveLength(3);
    expect(statuses).toContain(410);
    // The 410 made it list again, from scratch, before watching.
    const relists = proxy.requests.filter((request) => !request.watch && request.path.includes('/secrets') && request.path.includes('web-tls'));
    expect(relists.length).toBe(2);
  });

  it('429 with Retry-After: waits as long as the server asks, no less', async () => {
    const { namespace, proxy, cert } = await appBehindProxy();
    proxy.failNext(429, { count: 3, retryAfterSeconds: 1, match: (request) => request.watch && request.path.includes('web-tls') });
    proxy.dropConnections();
    const rotated = nextEvent(cert, 'rotate', 20_000);
    const serial = await platform.renew(namespace, 'web-cert');
    expect((await rotated)[0]).toMatchObject({ serialNumber: serial });
    const watches = watchesOf(proxy.requests, 'web-tls');
    const throttled = watches.filter((request) => request.status === 429);
    expect(throttled).toHaveLength(3);
    const retries = watches.slice(watches.indexOf(throttled[0]!));
    for (let index = 1; index < retries.length; index += 1) {
      expect(retries[index]!.at - retries[index - 1]!.at).toBeGreaterThanOrEqual(950);
    }
  });

  it('the API server going away and coming back: backs off while down, catches up after', async () => {
    const { namespace, proxy, cert } = await appBehindProxy();
    const serving = cert.current.info.serialNumber;
    await proxy.goDown();
    const serial = await platform.renew(namespace, 'web-cert'); // renewed while the app cannot see it
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(cert.current.info.serialNumber).toBe(serving);
    const before = proxy.requests.length;
    const rotated = nextEvent(cert, 'rotate', 30_000);
    await proxy.comeBack();
    expect((await rotated)[0]).toMatchObject({ serialNumber: serial });
    // Two watchers, each reconnecting with a backoff: a handful of requests, not a flood.
    expect(proxy.requests.length - before).toBeLessThanOrEqual(8);
  });
});

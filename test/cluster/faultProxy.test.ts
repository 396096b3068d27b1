import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import { startFaultProxy, type FaultProxy } from '@serving-cert/testkit';
import { controlPlane, createNamespace } from '../helpers/cluster.js';

let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('the fault proxy in front of the real API server', () => {
  it('passes requests through, and its faults reach client-node as real faults', async () => {
    const ns = await createNamespace();
    proxy = await startFaultProxy(controlPlane().kubeConfig);
    const core = proxy.kubeConfig.makeApiClient(CoreV1Api);
    await expect(core.readNamespace({ name: ns })).resolves.toMatchObject({ metadata: { name: ns } });

    proxy.failNext(500);
    await expect(core.readNamespace({ name: ns })).rejects.toMatchObject({ code: 500 });
    proxy.failNext(429, { retryAfterSeconds: 3 });
    const throttled = await core.readNamespace({ name: ns }).catch((error: unknown) => error) as { code: number; headers: Record<string, string>; body: string };
    expect(throttled.code).toBe(429);
    expect(throttled.headers['retry-after']).toBe('3');
    expect(JSON.parse(throttled.body)).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });

    await proxy.goDown();
    await expect(core.readNamespace({ name: ns })).rejects.toThrow(/ECONNREFUSED/);
    await proxy.comeBack();
    await expect(core.readNamespace({ name: ns })).resolves.toMatchObject({ metadata: { name: ns } });
    expect(proxy.requests.map((request) => request.status)).toEqual([200, 500, 429, 200]);
  });

  it('cuts a real watch in the middle of its stream', async () => {
    const ns = await createNamespace();
    proxy = await startFaultProxy(controlPlane().kubeConfig);
    const events: string[] = [];
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(proxy!.kubeConfig).watch(`/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: 60 },
        (phase, object: { metadata: { name: string } }) => events.push(`${phase} ${object.metadata.name}`),
        (error) => resolve(error ?? 'closed'));
    });
    const admin = controlPlane().kubeConfig.makeApiClient(CoreV1Api);
    await admin.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'one' } } });
    while (!events.includes('ADDED one')) await new Promise((resolve) => setTimeout(resolve, 20));
    proxy.dropConnections();
    expect(await ended).toBeTruthy();
    expect(proxy.requests.find((request) => request.watch)?.status).toBe(200); // answered, then cut
  });
});

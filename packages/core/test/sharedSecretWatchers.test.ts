import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import type { MeterProvider } from '@opentelemetry/api';
import { ensureServingCert } from '../src/ensureServingCert.js';
import { ClusterAccess } from '../src/kube/clusterAccess.js';
import { acquireSecretWatcher, sharedWatcherUsers } from '../src/sources/api/sharedSecretWatchers.js';
import { recordingLogger } from './recordingLogger.js';

// The bookkeeping only: no watcher here is started, so nothing reaches the (unroutable) server.
// test/cluster/sharedWatchers.test.ts shows the sharing on a real kube-apiserver.
function kubeConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://192.0.2.1:6443', skipTLSVerify: false }],
    users: [{ name: 'u', token: 'not-used' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return config;
}

describe('shared Secret watchers', () => {
  const lease = (config: KubeConfig, name = 'service-root-ca', watchTimeoutSeconds = 300) => acquireSecretWatcher({
    access: ClusterAccess.resolve({ kubeConfig: config })!, namespace: 'shop', name, watchTimeoutSeconds, logger: recordingLogger(),
  });

  it('shares one watcher per Secret among the leases of one KubeConfig object, and counts each lease once', async () => {
    const config = kubeConfig();
    const first = lease(config);
    const second = lease(config);
    expect(second.watcher).toBe(first.watcher);
    expect(lease(config, 'web-tls').watcher).not.toBe(first.watcher); // another Secret
    expect(lease(config, 'service-root-ca', 1).watcher).not.toBe(first.watcher); // another renewal period
    expect(lease(kubeConfig()).watcher).not.toBe(first.watcher); // the same settings, another object
    expect(sharedWatcherUsers(config, 'shop', 'service-root-ca', 300)).toBe(2);

    await first.release();
    await first.release(); // a second release of the same lease changes nothing
    expect(sharedWatcherUsers(config, 'shop', 'service-root-ca', 300)).toBe(1);
    // (That the remaining sharer still follows its Secret is shown on a real API server.)
    await second.release();
    expect(sharedWatcherUsers(config, 'shop', 'service-root-ca', 300)).toBe(0);
    await expect(second.watcher.current()).rejects.toMatchObject({ code: 'E_CLOSED' }); // the last lease stopped it

    const third = lease(config);
    expect(third.watcher).not.toBe(first.watcher); // a stopped watcher is never handed out again
    await third.release();
  });

  it('a start that fails after its sources were opened keeps no share of their watchers', async () => {
    const config = kubeConfig();
    // Fails while the observers open, after the api source took its two shares.
    const meterProvider = { getMeter: () => { throw new Error('a broken meter provider'); } } as unknown as MeterProvider;
    const start = ensureServingCert({ kubeConfig: config, source: 'api', annotate: false, serviceName: 'web', namespace: 'shop', renewOnRollover: false, meterProvider, logger: recordingLogger() });
    await expect(start).rejects.toThrow('a broken meter provider');
    expect(sharedWatcherUsers(config, 'shop', 'web-tls', 300)).toBe(0);
    expect(sharedWatcherUsers(config, 'shop', 'service-root-ca', 300)).toBe(0);
  });
});

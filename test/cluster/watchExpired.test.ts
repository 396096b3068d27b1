import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, serviceDnsNames } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startFaultProxy } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually } from '../helpers/cluster.js';
import { prepareNamespace, secretData } from '../helpers/apiSecrets.js';
import { recordingLogger } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('the api source and an in-stream 410', () => {
  it('relists at once, without a backoff, and serves the next update', async () => {
    const admin = controlPlane().kubeConfig;
    const namespace = await createNamespace('expired');
    const ca = CertificateAuthority.create();
    const { core } = await prepareNamespace(admin, namespace, ca);
    await applyAppRbac(namespace, 'web', `app-${namespace}`);
    const proxy = await startFaultProxy(controlPlane().addUser(`app-${namespace}`));
    cleanups.push(() => proxy.close());
    const logger = recordingLogger();
    const cert = await ensureServingCert({ renewOnRollover: false, kubeConfig: proxy.kubeConfig, source: 'api', annotate: false, serviceName: 'web', namespace, timeoutMs: 30_000, logger,
      watchTimeoutSeconds: 1 }); // the server ends each watch after 1 s: the watcher opens the next one itself
    cleanups.push(() => cert.close());
    const isServingSecret = (path: string) => path.includes('/secrets') && path.includes('web-tls');
    await eventually('the serving Secret watched', () => Promise.resolve(proxy.requests), (requests) => requests.some((request) => request.watch && isServingSecret(request.path)));

    // The next watch of the serving Secret gets what kube-apiserver sends for a resourceVersion it
    // no longer has: 200, one ERROR event with a 410 Status, end of stream.
    proxy.expireNextWatch({ match: (request) => isServingSecret(request.path) });
    const seen = proxy.requests.length;
    await eventually('the expired watch, then a relist', () => Promise.resolve(proxy.requests.slice(seen).filter((request) => isServingSecret(request.path))),
      (requests) => {
        const expired = requests.findIndex((request) => request.watch && request.status === 200);
        return expired >= 0 && requests.slice(expired + 1).some((request) => !request.watch);
      });
    const after = proxy.requests.slice(seen).filter((request) => isServingSecret(request.path));
    const expiredAt = after.findIndex((request) => request.watch && request.status === 200);
    // Right after the expired watch comes the list (no watch from the stale resourceVersion again),
    // sooner than any backoff the watcher can take (500 ms with jitter down to half: 250 ms).
    expect(after[expiredAt + 1]?.watch).toBe(false);
    expect(after[expiredAt + 1]!.at - after[expiredAt]!.at).toBeLessThan(250);
    // ...with no backoff: the watcher logs every wait it takes ("retrying in N ms"), and took none.
    expect(logger.lines.filter((line) => line.message.includes('web-tls') && line.message.includes('retrying in'))).toEqual([]);

    const next = ca.issue({ dnsNames: serviceDnsNames('web', namespace) });
    const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
    await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: { ...secret, data: secretData(next) } });
    await eventually('the next update served', () => Promise.resolve(cert.current.info.serialNumber), (serial) => serial === next.leaf.serialNumber);
  });
});

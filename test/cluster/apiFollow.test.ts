import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { ensureServingCert, serviceDnsNames, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startFaultProxy, type FaultProxy } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually } from '../helpers/cluster.js';
import { prepareNamespace, secretData } from '../helpers/apiSecrets.js';
import { recordingLogger } from '../helpers/tls.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with what `promise` gave, or rejects when it has not settled within `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Namespace, Service web and Secret web-tls written by the test, an app user, and the fault proxy in front of the API server as that user. */
async function setUp(prefix: string) {
  const namespace = await createNamespace(prefix);
  const ca = CertificateAuthority.create();
  const { core } = await prepareNamespace(controlPlane().kubeConfig, namespace, ca);
  await applyAppRbac(namespace, 'web', `app-${namespace}`);
  const proxy = await startFaultProxy(controlPlane().addUser(`app-${namespace}`));
  cleanups.push(() => proxy.close());
  /** Writes a new leaf into web-tls and returns its serial. */
  const rotate = async (): Promise<string> => {
    const leaf = ca.issue({ dnsNames: serviceDnsNames('web', namespace) });
    const secret = await core.readNamespacedSecret({ namespace, name: 'web-tls' });
    await core.replaceNamespacedSecret({ namespace, name: 'web-tls', body: { ...secret, data: secretData(leaf) } });
    return leaf.leaf.serialNumber;
  };
  return { namespace, proxy, rotate };
}

async function start(kubeConfig: KubeConfig, namespace: string): Promise<{ cert: ServingCert; lines: ReturnType<typeof recordingLogger>['lines'] }> {
  const logger = recordingLogger();
  const cert = await ensureServingCert({ renewOnRollover: false, kubeConfig, source: 'api', annotate: false, serviceName: 'web', namespace, timeoutMs: 30_000, logger });
  cleanups.push(() => cert.close());
  return { cert, lines: logger.lines };
}

/**
 * A kubeconfig FILE for the proxy whose CA, client certificate and key are files, as kubectl
 * writes them: client-node reads these files again for each connection it opens.
 */
function kubeconfigWithFiles(proxy: FaultProxy): { kubeConfig: KubeConfig; caFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'api-follow-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const cluster = proxy.kubeConfig.getCurrentCluster()!;
  const user = proxy.kubeConfig.getCurrentUser()!;
  const file = (name: string, base64: string | undefined) => {
    writeFileSync(path.join(dir, name), Buffer.from(base64!, 'base64'), { mode: 0o600 });
    return path.join(dir, name);
  };
  const caFile = file('ca.crt', cluster.caData);
  writeFileSync(path.join(dir, 'config'), [
    'apiVersion: v1', 'kind: Config', 'current-context: app',
    `clusters: [{ name: proxy, cluster: { server: "${cluster.server}", certificate-authority: "${caFile}" } }]`,
    `users: [{ name: app, user: { client-certificate: "${file('client.crt', user.certData)}", client-key: "${file('client.key', user.keyData)}" } }]`,
    'contexts: [{ name: app, context: { cluster: proxy, user: app } }]',
  ].join('\n'));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path.join(dir, 'config'));
  return { kubeConfig, caFile };
}

describe('the api source never stops following rotations', () => {
  it('a watch that cannot open (its CA file gone for a moment) is retried: the next rotation is served, no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));
    const { namespace, proxy, rotate } = await setUp('cafile');
    const { kubeConfig, caFile } = kubeconfigWithFiles(proxy);
    const { cert, lines } = await start(kubeConfig, namespace);
    await eventually('the serving Secret watched', () => Promise.resolve(proxy.requests), (requests) => requests.some((request) => request.watch));

    // The CA file disappears (a config-management tool rewriting it), and the watches are cut:
    // reopening them fails in client-node (ENOENT) before a connection is made.
    renameSync(caFile, `${caFile}.away`);
    proxy.dropConnections();
    await sleep(1_500); // the watcher reconnects at once: its first attempts fail
    renameSync(`${caFile}.away`, caFile);

    const serial = await rotate();
    await eventually('the new certificate served', () => Promise.resolve(cert.current.info.serialNumber), (served) => served === serial, 15_000);
    expect(unhandled).toEqual([]);
    expect(lines.some((line) => line.message.includes('ENOENT'))).toBe(true); // the fault did happen
  });

  describe('a list that gets no answer (the connection accepted, then silence)', () => {
    /** An app following web-tls, whose next relist of web-tls hangs in the proxy. */
    async function relistHangs() {
      const { namespace, proxy, rotate } = await setUp('nolist');
      const { cert, lines } = await start(proxy.kubeConfig, namespace);
      const isServingSecret = (request: { path: string }) => request.path.includes('/secrets') && request.path.includes('web-tls');
      await eventually('the serving Secret watched', () => Promise.resolve(proxy.requests), (requests) => requests.some((request) => request.watch && isServingSecret(request)));
      let hanging = false;
      proxy.delay(600_000, { match: (request) => (!request.watch && isServingSecret(request) ? (hanging = true) : false) });
      proxy.expireNextWatch({ match: isServingSecret }); // 410: the watcher must relist
      proxy.dropConnections();
      await eventually('the relist sent, and hanging', () => Promise.resolve(hanging), Boolean);
      return { proxy, cert, lines, rotate };
    }

    it('close() settles', async () => {
      const { cert } = await relistHangs();
      await within(10_000, 'close()', cert.close());
    });

    it('the list times out, is retried, and once the server answers again the next rotation is served', async () => {
      const { proxy, cert, lines, rotate } = await relistHangs();
      proxy.delay(0); // the hanging list stays unanswered; the next ones are answered
      const serial = await rotate();
      await eventually('the new certificate served', () => Promise.resolve(cert.current.info.serialNumber), (served) => served === serial, 60_000);
      expect(lines.some((line) => line.message.includes('no answer within 30 s'))).toBe(true);
    }, 90_000);
  });
});

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, KubernetesObjectApi, loadAllYaml, PatchStrategy, setHeaderOptions, type KubernetesObject, type V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { ensureServingCert, serviceDnsNames } from '@serving-cert/core';
import { CertificateAuthority, type IssuedLeaf } from '@serving-cert/core/pki';
import { keepCaBundle, type CaBundleKeeper } from '@serving-cert/core/webhook';
import { createTeamLabelWebhook } from '@serving-cert/examples/teamLabelWebhook';
import { LOOPBACK_PORT_ANNOTATION, startFaultProxy, type PlatformClient } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';
import { recordingLogger, rejection } from '../helpers/tls.js';

let platform: PlatformClient;
const cleanups: Array<() => Promise<unknown>> = [];
const admin = () => controlPlane().kubeConfig;
beforeAll(async () => {
  platform = await connectPlatform();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** deploy/webhook-rbac.yaml for a webhook configuration `name`, bound to client-certificate user `user`. */
async function applyWebhookRbac(name: string, user: string): Promise<void> {
  const text = (await readFile(new URL('../../deploy/webhook-rbac.yaml', import.meta.url), 'utf8')).replaceAll('require-team-label', name);
  for (const object of loadAllYaml(text) as Array<KubernetesObject & { subjects?: unknown[] }>) {
    if (object.subjects) object.subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }];
    await KubernetesObjectApi.makeApiClient(admin()).create(object);
  }
}

/** The example webhook, served on the platform certificate, reachable from the API server as its Service. */
async function webhook(options: { rbac?: boolean; ownCa?: CertificateAuthority; logger?: ReturnType<typeof recordingLogger> } = {}) {
  const namespace = await createNamespace('hook');
  const guarded = await createNamespace('guarded');
  const core = admin().makeApiClient(CoreV1Api);
  await core.createNamespacedService({ namespace, body: { metadata: { name: 'team-label-webhook' }, spec: { ports: [{ port: 443, targetPort: 8443 }] } } });
  if (options.ownCa) {
    // The test writes every version of the Secret itself (the Service stays unannotated).
    const leaf = options.ownCa.issue({ dnsNames: serviceDnsNames('team-label-webhook', namespace) });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'team-label-webhook-tls' }, type: 'kubernetes.io/tls', data: tlsData(leaf) } });
  }
  const user = `hook-${namespace}`;
  await applyAppRbac(namespace, 'team-label-webhook', user);
  const configName = `require-team-label-${namespace}`;
  if (options.rbac !== false) await applyWebhookRbac(configName, user);
  const kubeConfig = controlPlane().addUser(user);
  const cert = await ensureServingCert({ renewOnRollover: false, kubeConfig, source: 'api', serviceName: 'team-label-webhook', namespace, timeoutMs: 30_000, trustGracePeriodMs: 3_000,
    logger: options.logger ?? recordingLogger(), ...(options.ownCa ? { annotate: false } : {}) });
  cleanups.push(() => cert.close());
  const server = createTeamLabelWebhook(cert);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  // The Service "network": the API server reaches the Service's cluster IP on this loopback port.
  await core.patchNamespacedService({ namespace, name: 'team-label-webhook', body: { metadata: { annotations: { [LOOPBACK_PORT_ANNOTATION]: String((server.address() as AddressInfo).port) } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const config: V1ValidatingWebhookConfiguration = {
    metadata: { name: configName },
    webhooks: [{
      name: 'require-team-label.example.dev', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5,
      clientConfig: { service: { name: 'team-label-webhook', namespace, path: '/validate', port: 443 } },
      rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': guarded } }, // this test's namespace only
    }],
  };
  const registration = admin().makeApiClient(AdmissionregistrationV1Api);
  await registration.createValidatingWebhookConfiguration({ body: config });
  cleanups.push(() => registration.deleteValidatingWebhookConfiguration({ name: configName }));
  return { namespace, guarded, cert, configName, kubeConfig, registration };
}

const tlsData = (leaf: IssuedLeaf) => Object.fromEntries(Object.entries({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem })
  .map(([key, value]) => [key, Buffer.from(value).toString('base64')]));

function deployment(name: string, labels: Record<string, string>) {
  return {
    metadata: { name, labels },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'example' }] } } },
  };
}

/**
 * Waits until the API server calls the webhook with the caBundle just written: it reads webhook
 * configurations from a watch cache, so the first request after the patch can still go out
 * without it. A dry run (sent to webhooks with sideEffects None) refused by the webhook itself.
 */
async function webhookInEffect(guarded: string): Promise<void> {
  const apps = admin().makeApiClient(AppsV1Api);
  await eventually('the webhook in effect', () => apps.createNamespacedDeployment({ namespace: guarded, body: deployment('probe', {}), dryRun: 'All' })
    .then(() => 'admitted', (error: { body?: string; message?: string }) => String(error.body ?? error.message)), (body) => body.includes('has no \\"team\\" label'), 15_000);
}

const bundleOf = async (registration: AdmissionregistrationV1Api, name: string) =>
  Buffer.from((await registration.readValidatingWebhookConfiguration({ name })).webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString();
const countCas = (pem: string) => pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;

describe('an admission webhook on the platform certificate', () => {
  it('is called by the real API server over TLS: a Deployment without the label is refused, one with it admitted', async () => {
    const { guarded, cert, configName, kubeConfig, registration } = await webhook();
    const keeper = await keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: configName }], { kubeConfig, logger: recordingLogger() });
    cleanups.push(() => keeper.close());
    expect(await bundleOf(registration, configName)).toBe(keeper.bundle);
    await webhookInEffect(guarded);
    expect(keeper.bundle).toContain(platform.caPem.trim());
    const apps = admin().makeApiClient(AppsV1Api);
    const refused = await apps.createNamespacedDeployment({ namespace: guarded, body: deployment('unowned', {}) }).catch((error: { body?: string }) => error);
    expect(String((refused as { body?: string }).body)).toContain('Deployment unowned has no \\"team\\" label');
    await expect(apps.createNamespacedDeployment({ namespace: guarded, body: deployment('owned', { team: 'shop' }) })).resolves.toMatchObject({ metadata: { name: 'owned' } });
  });

  it('keeps admitting through a leaf rotation and a platform CA rollover; the caBundle goes [old] -> [old, new] -> [new]', async () => {
    const { namespace, guarded, cert, configName, kubeConfig, registration } = await webhook();
    const keeper: CaBundleKeeper = await keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: configName }], { kubeConfig, logger: recordingLogger() });
    cleanups.push(() => keeper.close());
    await webhookInEffect(guarded);
    const oldCa = platform.caPem.trim();
    const apps = admin().makeApiClient(AppsV1Api);
    let requests = 0;
    const failures: string[] = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i += 1) {
        const name = `loop-${i}`;
        try {
          await apps.createNamespacedDeployment({ namespace: guarded, body: deployment(name, { team: 'shop' }) });
          await apps.deleteNamespacedDeployment({ namespace: guarded, name });
        } catch (error) {
          failures.push(String((error as { body?: string }).body ?? error));
        }
        requests += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const bundles = new Set<number>();
    const seen = async () => {
      const pem = await bundleOf(registration, configName);
      bundles.add(countCas(pem));
      return pem;
    };
    await seen();
    await platform.renew(namespace, 'team-label-webhook-cert');
    await platform.rotateCA();
    const newCa = platform.caPem.trim();
    await eventually('the caBundle to hold the old and the new CA', seen, (pem) => pem.includes(oldCa) && pem.includes(newCa));
    await platform.renew(namespace, 'team-label-webhook-cert'); // now from the new CA
    await eventually('the served leaf to come from the new CA', () => Promise.resolve(cert.current.caPem ?? ''), (pem) => pem.includes(newCa));
    await eventually('the caBundle to drop the old CA', seen, (pem) => !pem.includes(oldCa) && pem.includes(newCa), 20_000);
    running = false;
    await loop;
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(10);
    expect([...bundles].sort()).toEqual([1, 2]);
  });

  it('puts the caBundle back when someone overwrites it', async () => {
    const { cert, configName, kubeConfig, registration } = await webhook();
    const keeper = await keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: configName }], { kubeConfig, logger: recordingLogger() });
    cleanups.push(() => keeper.close());
    await registration.patchValidatingWebhookConfiguration({ name: configName, body: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from('bogus').toString('base64') }] });
    expect(await bundleOf(registration, configName)).toBe('bogus');
    await eventually('the caBundle to be restored', () => bundleOf(registration, configName), (pem) => pem === keeper.bundle, 5_000);
  });

  it('a read that never gets an answer does not stop the keeper: past the request deadline it reads again and puts the caBundle back', async () => {
    const { cert, configName, kubeConfig, registration } = await webhook();
    const proxy = await startFaultProxy(kubeConfig);
    cleanups.push(() => proxy.close());
    const logger = recordingLogger();
    const keeper = await keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: configName }], { kubeConfig: proxy.kubeConfig, logger, resyncIntervalMs: 1_000 });
    cleanups.push(() => keeper.close());
    // The connection is accepted and then silent, as behind a cut link TCP has not noticed.
    proxy.delay(600_000, { match: (request) => !request.watch && request.method === 'GET' && request.path.includes(`/validatingwebhookconfigurations/${configName}`) });
    await registration.patchValidatingWebhookConfiguration({ name: configName, body: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from('bogus').toString('base64') }] });
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the keeper's read is sent, and hangs
    expect(await bundleOf(registration, configName)).toBe('bogus');
    proxy.delay(0); // the hanging read stays unanswered; the next ones are answered
    await eventually('the caBundle to be restored', () => bundleOf(registration, configName), (pem) => pem === keeper.bundle, 60_000);
    expect(logger.lines.some((line) => line.message.includes('no answer from the API server within 30 s'))).toBe(true);
  }, 90_000);

  it('without the ClusterRole, fails with E_FORBIDDEN naming the rule to grant', async () => {
    const { cert, configName, kubeConfig } = await webhook({ rbac: false });
    const error = await rejection(keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: configName }], { kubeConfig, logger: recordingLogger() }));
    expect(error.code).toBe('E_FORBIDDEN');
    expect(error.message).toContain(`Grant it with a ClusterRole rule { apiGroups: ["admissionregistration.k8s.io"], resources: ["validatingwebhookconfigurations"], verbs: ["get"], resourceNames: ["${configName}"] }`);
    expect(error.message).toContain('deploy/webhook-rbac.yaml');
  });

  it('gains the CA of a new leaf before the server presents it, when the leaf comes before the CA', async () => {
    // The order the platform does not give: the Secret names a new CA that service-root-ca does not.
    const logger = recordingLogger();
    const { namespace, guarded, cert, configName, kubeConfig, registration } = await webhook({ ownCa: CertificateAuthority.create(), logger });
    const keeper = await keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: configName }], { kubeConfig, logger });
    cleanups.push(() => keeper.close());
    await webhookInEffect(guarded);
    const apps = admin().makeApiClient(AppsV1Api);
    const failures: string[] = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i += 1) {
        await apps.createNamespacedDeployment({ namespace: guarded, body: deployment(`loop-${i}`, { team: 'shop' }) })
          .catch((error: { body?: string; message?: string }) => failures.push(error.body ?? error.message ?? 'failed'));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const newCa = CertificateAuthority.create();
    const leaf = newCa.issue({ dnsNames: serviceDnsNames('team-label-webhook', namespace) });
    const before = logger.lines.length;
    const rotated = new Promise((resolve) => cert.once('rotate', resolve));
    const secret = await admin().makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name: 'team-label-webhook-tls' });
    await admin().makeApiClient(CoreV1Api).replaceNamespacedSecret({ namespace, name: 'team-label-webhook-tls', body: { ...secret, data: tlsData(leaf) } });
    await rotated;
    const lines = logger.lines.slice(before).map((line) => line.message);
    const patched = lines.findIndex((message) => message.startsWith(`caBundle of ValidatingWebhookConfiguration ${configName} set`));
    const served = lines.findIndex((message) => message.endsWith('serving certificate rotated'));
    expect(patched).toBeGreaterThanOrEqual(0);
    expect(served).toBeGreaterThan(patched); // the caBundle had the new CA before a server presented the leaf
    // ... and the API server's watch cache (every replica's, in a real cluster) had time to take it.
    expect(logger.lines.slice(before)[served]!.at - logger.lines.slice(before)[patched]!.at).toBeGreaterThanOrEqual(1_900);
    expect(await bundleOf(registration, configName)).toContain(newCa.certPem.trim());
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // admissions on the new leaf
    running = false;
    await loop;
    expect(failures).toEqual([]);
  });
});

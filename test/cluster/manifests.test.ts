import { readdir, readFile, writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubernetesObjectApi, loadAllYaml, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { PLATFORM, type PlatformClient } from '@serving-cert/testkit';
import { controlPlane, createNamespace, eventually, platform as connectPlatform } from '../helpers/cluster.js';
import { servingCert } from '../helpers/cli.js';
import { tempDir } from '../helpers/tls.js';

const deploy = new URL('../../deploy/', import.meta.url);
async function manifests(): Promise<Array<{ file: string; objects: KubernetesObject[] }>> {
  const files = ['platform/kyverno-policies.yaml', 'platform/kyverno-rbac.yaml', 'platform/corrected/kyverno-policies.yaml', 'platform/restrict-certificate-names.yaml', 'app-rbac.yaml', 'example-app.yaml', 'webhook-rbac.yaml', 'webhook-example.yaml'];
  expect((await readdir(new URL('platform/', deploy))).sort()).toEqual(['README.md', 'corrected', 'kyverno-policies.yaml', 'kyverno-rbac.yaml', 'restrict-certificate-names.yaml']);
  return Promise.all(files.map(async (file) => ({ file, objects: loadAllYaml(await readFile(new URL(file, deploy), 'utf8')) as KubernetesObject[] })));
}

describe('deploy/', () => {
  it('every manifest passes a server-side apply dry run on the real API server', async () => {
    const api = KubernetesObjectApi.makeApiClient(controlPlane().kubeConfig);
    await createNamespace('unused'); // make sure the API is warm
    const core = controlPlane().kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'my-namespace' } } }).catch(() => undefined);
    let count = 0;
    for (const { file, objects } of await manifests()) {
      for (const object of objects) {
        // Server-side apply, dry run: what `kubectl apply --server-side --dry-run=server` does;
        // it validates the object whether or not another test already made one of that name.
        const created = await api.patch(object, undefined, 'All', 'serving-cert-manifests-test', true, PatchStrategy.ServerSideApply).catch((error: Error & { body?: string }) => {
          throw new Error(`${file}: ${object.kind}/${object.metadata?.name}: ${error.body ?? error.message}`);
        });
        expect(created.metadata?.name).toBe(object.metadata?.name);
        count += 1;
      }
    }
    expect(count).toBe(4 + 3 + 1 + 10 + 3 + 2 + 4); // app-rbac.yaml: the Role, the diagnosis, renew and Events Roles, with their bindings
  });
});

describe('serving-cert doctor against the real platform', () => {
  let platform: PlatformClient;
  let kubeconfigFile: string;
  beforeAll(async () => {
    platform = await connectPlatform(); // the policies are installed from deploy/platform by the testkit
    const { dir } = await tempDir();
    kubeconfigFile = `${dir}/kubeconfig`;
    await writeFile(kubeconfigFile, controlPlane().kubeConfig.exportConfig());
  });

  it('passes every check when all is well', async () => {
    const ns = await createNamespace('doctor');
    await controlPlane().kubeConfig.makeApiClient(CoreV1Api).createNamespacedService({ namespace: ns, body: {
      metadata: { name: 'web', annotations: { [PLATFORM.annotation]: 'web-tls' } }, spec: { ports: [{ port: 443 }] },
    } });
    await eventually('Ready', async () => (await servingCert(['doctor', '--service', 'web', '--namespace', ns], { KUBECONFIG: kubeconfigFile })), (result) => result.code === 0, 20_000);
    const result = await servingCert(['doctor', '--service', 'web', '--namespace', ns, '--json'], { KUBECONFIG: kubeconfigFile });
    const report = JSON.parse(result.stdout) as { ok: boolean; namespace: string; checks: Array<{ id: string; title: string; status: string }> };
    expect(report).toMatchObject({ ok: true, namespace: ns });
    // Stable ids for scripts; the titles name the objects for people.
    expect(report.checks.map((check) => `${check.status} ${check.id}`)).toEqual([
      'pass api-server', 'pass service', 'pass rbac', 'pass certificate', 'pass cluster-issuer', 'pass ca-secret',
      'pass policy.clone-ca-secret', 'pass policy.sync-ca-rotation', 'pass policy.generate-service-cert',
    ]);
    expect(report.checks.slice(1).map((check) => check.title)).toEqual([
      `Service ${ns}/web`, 'RBAC of the current identity', `Certificate ${ns}/web-cert`, 'ClusterIssuer cpaas-ca',
      `Secret ${ns}/service-root-ca`, 'ClusterPolicy clone-ca-secret', 'ClusterPolicy sync-ca-rotation', 'ClusterPolicy generate-service-cert',
    ]);
  });

  it('fails, with the fix, when a piece is missing', async () => {
    const ns = await createNamespace('doctor');
    await controlPlane().kubeConfig.makeApiClient(CoreV1Api).createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 443 }] } } });
    await platform.setIssuer('missing');
    try {
      const result = await servingCert(['doctor', '--service', 'web', '--namespace', ns], { KUBECONFIG: kubeconfigFile });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`FAIL  Service ${ns}/web: has no service.alauda.io/serving-cert-secret-name annotation`);
      expect(result.stdout).toContain(`FAIL  Certificate ${ns}/web-cert: does not exist`);
      expect(result.stdout).toContain('FAIL  ClusterIssuer cpaas-ca: does not exist');
      expect(result.stdout).toContain('fix: install the platform CA issuer');
    } finally {
      await platform.setIssuer('ready');
    }
  });
});

describe('the dry run catches mistakes', () => {
  it.each([
    ['a misspelt field', (spec: Record<string, unknown>) => { spec.backgrund = true; }],
    ['a wrong type', (spec: Record<string, unknown>) => { spec.background = 'yes'; }],
  ])('refuses a ClusterPolicy with %s', async (_label, spoil) => {
    const [policy] = (await manifests())[0]!.objects as Array<KubernetesObject & { spec: Record<string, unknown> }>;
    spoil(policy!.spec);
    const api = KubernetesObjectApi.makeApiClient(controlPlane().kubeConfig);
    await expect(api.patch(policy!, undefined, 'All', 'serving-cert-manifests-test', true, PatchStrategy.ServerSideApply)).rejects.toMatchObject({ code: expect.any(Number) });
  });
});

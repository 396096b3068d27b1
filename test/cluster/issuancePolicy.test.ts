import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, loadAllYaml } from '@kubernetes/client-node';
import { PLATFORM } from '@serving-cert/testkit';
import { controlPlane, createNamespace, eventually, userWithRole } from '../helpers/cluster.js';

// deploy/platform/restrict-certificate-names.yaml on the testkit's platform (the real Kyverno,
// started once per run by the global setup): a Certificate in namespace N may name only
// Services of N.

const admin = () => controlPlane().kubeConfig;
const CM = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const;
const POLICY = new URL('../../deploy/platform/restrict-certificate-names.yaml', import.meta.url);

beforeAll(async () => {
  const [policy] = loadAllYaml(await fs.readFile(POLICY, 'utf8')) as Array<{ metadata: { name: string } }>;
  const custom = admin().makeApiClient(CustomObjectsApi);
  await custom.createClusterCustomObject({ group: 'kyverno.io', version: 'v1', plural: 'clusterpolicies', body: policy! });
  // Kyverno enforces a policy once it reports it Ready (its webhook then has the rule).
  await eventually('ClusterPolicy restrict-certificate-names to be Ready',
    async () => await custom.getClusterCustomObject({ group: 'kyverno.io', version: 'v1', plural: 'clusterpolicies', name: policy!.metadata.name }) as { status?: { conditions?: Array<{ type: string; status: string }> } },
    (object) => object.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') === true, 60_000);
});
afterAll(async () => {
  await admin().makeApiClient(CustomObjectsApi).deleteClusterCustomObject({ group: 'kyverno.io', version: 'v1', plural: 'clusterpolicies', name: 'restrict-certificate-names' }).catch(() => undefined);
});

const certificate = (name: string, dnsNames: string[]) => ({
  apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name },
  spec: { secretName: `${name}-tls`, dnsNames, issuerRef: { name: 'cpaas-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
});

async function certificateUser(namespace: string) {
  const kubeConfig = await userWithRole(namespace, 'cert-requester', [{ apiGroups: ['cert-manager.io'], resources: ['certificates'], verbs: ['create', 'get'] }]);
  return kubeConfig.makeApiClient(CustomObjectsApi);
}

describe('restrict-certificate-names (real Kyverno)', () => {
  it('refuses a Certificate that names another namespace\'s Service', async () => {
    const ns = await createNamespace('attacker');
    const user = await certificateUser(ns);
    for (const dnsNames of [['orders.shop.svc'], ['orders.shop.svc.cluster.local'], ['web', 'orders.shop']]) {
      const refusal = await user.createNamespacedCustomObject({ ...CM, namespace: ns, body: certificate('steal', dnsNames) })
        .then(() => undefined, (error: unknown) => error as { code?: number; body?: string });
      expect(refusal, `a Certificate for ${dnsNames.join(', ')} in ${ns}`).toBeDefined();
      expect(refusal!.code).toBe(400);
      expect(String(refusal!.body)).toContain('restrict-certificate-names');
    }
  });

  it('allows a Certificate for the names of its own namespace', async () => {
    const ns = await createNamespace('own');
    const user = await certificateUser(ns);
    await user.createNamespacedCustomObject({ ...CM, namespace: ns, body: certificate('web', ['web', `web.${ns}`, `web.${ns}.svc`, `web.${ns}.svc.cluster.local`]) });
  });

  it('allows the Certificates the platform generates for an annotated Service', async () => {
    const ns = await createNamespace('generated');
    await admin().makeApiClient(CoreV1Api).createNamespacedService({ namespace: ns, body: {
      metadata: { name: 'web', annotations: { [PLATFORM.annotation]: 'web-tls' } },
      spec: { ports: [{ port: 443, targetPort: 8443 }], selector: { app: 'web' } },
    } });
    await eventually('Secret web-tls', () => admin().makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: ns, name: 'web-tls' }), () => true, 60_000);
  });
});

import { RbacAuthorizationV1Api, type KubeConfig, type V1ClusterRole, type V1PolicyRule } from '@kubernetes/client-node';

/** The identities the platform's controllers run as: each its real service account. */
export const IDENTITIES = {
  certManager: { namespace: 'cert-manager', serviceAccount: 'cert-manager' },
  kyvernoAdmission: { namespace: 'kyverno', serviceAccount: 'kyverno-admission-controller' },
  kyvernoBackground: { namespace: 'kyverno', serviceAccount: 'kyverno-background-controller' },
} as const;

/** The user name kube-apiserver gives a service account's token, and its groups. */
export function serviceAccountUser(identity: { namespace: string; serviceAccount: string }): { name: string; groups: string[] } {
  return {
    name: `system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${identity.namespace}`],
  };
}

const events: V1PolicyRule = { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] };

/**
 * The ClusterRoles of cert-manager's Helm chart (deploy/charts/cert-manager/templates/rbac.yaml,
 * same release) for the controllers go/platform links: issuers, clusterissuers, certificates
 * and the approver. The chart is a Helm template, so its rules are transcribed here; the ACME,
 * ingress-shim and CertificateSigningRequest roles are left out with their controllers.
 */
export const CERT_MANAGER_CLUSTER_ROLES: Record<string, V1PolicyRule[]> = {
  'cert-manager-controller-issuers': [
    { apiGroups: ['cert-manager.io'], resources: ['issuers', 'issuers/status'], verbs: ['update', 'patch'] },
    { apiGroups: ['cert-manager.io'], resources: ['issuers'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    events,
  ],
  'cert-manager-controller-clusterissuers': [
    { apiGroups: ['cert-manager.io'], resources: ['clusterissuers', 'clusterissuers/status'], verbs: ['update', 'patch'] },
    { apiGroups: ['cert-manager.io'], resources: ['clusterissuers'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    events,
  ],
  'cert-manager-controller-certificates': [
    { apiGroups: ['cert-manager.io'], resources: ['certificates', 'certificates/status', 'certificaterequests', 'certificaterequests/status'], verbs: ['update', 'patch'] },
    { apiGroups: ['cert-manager.io'], resources: ['certificates', 'certificaterequests', 'clusterissuers', 'issuers'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['cert-manager.io'], resources: ['certificates/finalizers', 'certificaterequests/finalizers'], verbs: ['update'] },
    { apiGroups: ['acme.cert-manager.io'], resources: ['orders'], verbs: ['create', 'delete', 'get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete', 'patch'] },
    events,
  ],
  // The certificates controllers create CertificateRequests: in the chart this comes from the
  // ingress-shim role's create on certificaterequests, bound to the same service account.
  'cert-manager-controller-ingress-shim': [
    { apiGroups: ['cert-manager.io'], resources: ['certificates', 'certificaterequests'], verbs: ['create', 'update', 'delete'] },
    { apiGroups: ['cert-manager.io'], resources: ['certificates', 'certificaterequests', 'issuers', 'clusterissuers'], verbs: ['get', 'list', 'watch'] },
    events,
  ],
  'cert-manager-controller-approve:cert-manager-io': [
    { apiGroups: ['cert-manager.io'], resources: ['signers'], verbs: ['approve'], resourceNames: ['issuers.cert-manager.io/*', 'clusterissuers.cert-manager.io/*'] },
  ],
};

/** Creates cert-manager's ClusterRoles and binds them to its service account. */
export async function applyCertManagerRbac(kubeConfig: KubeConfig): Promise<void> {
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const { namespace, serviceAccount } = IDENTITIES.certManager;
  for (const [name, rules] of Object.entries(CERT_MANAGER_CLUSTER_ROLES)) {
    await ignoreConflict(rbac.createClusterRole({ body: { metadata: { name, labels: { 'app.kubernetes.io/name': 'cert-manager' } }, rules } }));
    await ignoreConflict(rbac.createClusterRoleBinding({ body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    } }));
  }
}

/**
 * Does once what kube-controller-manager's clusterrole-aggregation controller does all the
 * time: each ClusterRole with an aggregationRule gets the rules of every ClusterRole its
 * selectors match. There is no controller manager here, and without this Kyverno's aggregated
 * roles (and deploy/platform/kyverno-rbac.yaml, which joins them by label) grant nothing.
 * Call it after the last labelled ClusterRole is created; returns the aggregated roles' names.
 */
export async function aggregateClusterRoles(kubeConfig: KubeConfig): Promise<string[]> {
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const roles = (await rbac.listClusterRole()).items;
  const aggregated: string[] = [];
  for (const role of roles) {
    const selectors = role.aggregationRule?.clusterRoleSelectors;
    if (!selectors?.length) continue;
    const rules: V1PolicyRule[] = [];
    const seen = new Set<string>();
    for (const source of roles) {
      if (source.metadata?.name === role.metadata?.name) continue;
      if (!selectors.some((selector) => matches(source, selector.matchLabels ?? {}, selector.matchExpressions ?? []))) continue;
      for (const rule of source.rules ?? []) {
        const key = JSON.stringify(rule);
        if (seen.has(key)) continue;
        seen.add(key);
        rules.push(rule);
      }
    }
    await rbac.replaceClusterRole({ name: role.metadata!.name!, body: { ...role, rules } });
    aggregated.push(role.metadata!.name!);
  }
  return aggregated;
}

type Expression = { key: string; operator: string; values?: string[] };
function matches(role: V1ClusterRole, labels: Record<string, string>, expressions: Expression[]): boolean {
  const have = role.metadata?.labels ?? {};
  if (!Object.entries(labels).every(([key, value]) => have[key] === value)) return false;
  return expressions.every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In': return key in have && values.includes(have[key]!);
      case 'NotIn': return !(key in have) || !values.includes(have[key]!);
      case 'Exists': return key in have;
      case 'DoesNotExist': return !(key in have);
      default: return false;
    }
  });
}

async function ignoreConflict(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 409) throw error;
  }
}

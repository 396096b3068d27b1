import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inject } from 'vitest';
import {
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { connectToControlPlane, connectToPlatform, type ControlPlaneClient, type PlatformClient } from '@serving-cert/testkit';

let client: ControlPlaneClient | undefined;

/** The control plane of this run (started by cluster/globalSetup.ts). */
export function controlPlane(): ControlPlaneClient {
  client ??= connectToControlPlane(inject('controlPlane'));
  return client;
}

let platformClient: Promise<PlatformClient> | undefined;

/** The real platform of this run (cert-manager and Kyverno, started by cluster/globalSetup.ts). */
export function platform(): Promise<PlatformClient> {
  platformClient ??= connectToPlatform(controlPlane().kubeConfig);
  return platformClient;
}

/** A new namespace with a unique name, so that tests never see each other's objects (on `admin`'s cluster, default this run's). */
export async function createNamespace(prefix = 'test', admin?: KubeConfig): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await (admin ?? controlPlane().kubeConfig).makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** A user bound to a Role with exactly `rules` in `namespace`. */
export async function userWithRole(namespace: string, name: string, rules: V1PolicyRule[]): Promise<KubeConfig> {
  const rbac = controlPlane().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({ namespace, body: {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name }],
  } });
  return controlPlane().addUser(name);
}

/** Polls `read` until `until` holds, or fails after `timeoutMs` naming what it waited for. */
export async function eventually<T>(what: string, read: () => Promise<T>, until: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (until(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last ?? String(lastError)).slice(0, 500)}`);
}

/**
 * Applies deploy/app-rbac.yaml for one app, its names replaced, bound to the client-certificate
 * user `user` instead of a ServiceAccount. The Role rules are the file's, untouched: the SDK
 * must work under exactly them. `diagnosis` adds the optional diagnosis Role and ClusterRole,
 * `events` the optional Events Role, `renew` the optional Role that lets it ask for its own re-issue.
 */
export async function applyAppRbac(namespace: string, serviceName: string, user: string, options: { diagnosis?: boolean; events?: boolean; renew?: boolean; secretName?: string; admin?: KubeConfig } = {}): Promise<void> {
  const text = (await readFile(new URL('../../deploy/app-rbac.yaml', import.meta.url), 'utf8'))
    .replaceAll('my-secure-service-tls', options.secretName ?? `${serviceName}-tls`)
    .replaceAll('my-secure-service', serviceName)
    .replaceAll('my-namespace', namespace);
  const objects = loadAllYaml(text) as KubernetesObject[];
  const api = KubernetesObjectApi.makeApiClient(options.admin ?? controlPlane().kubeConfig);
  for (const object of objects) {
    if (!options.diagnosis && object.metadata?.name?.startsWith('serving-cert-diagnosis')) continue;
    if (!options.events && object.metadata?.name?.startsWith('serving-cert-events')) continue;
    if (!options.renew && object.metadata?.name?.startsWith('serving-cert-renew')) continue;
    const binding = object as KubernetesObject & { subjects?: Array<Record<string, string>> };
    if (binding.subjects) binding.subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }];
    if (object.kind === 'ClusterRoleBinding') object.metadata!.name = `serving-cert-diagnosis-${namespace}-${user}`;
    // Several apps may share a namespace: one Role (and binding) per app.
    if (object.kind === 'Role' || object.kind === 'RoleBinding') object.metadata!.name = `${object.metadata!.name!}-${serviceName}`;
    const roleRef = (object as { roleRef?: { kind: string; name: string } }).roleRef;
    if (object.kind === 'RoleBinding' && roleRef) roleRef.name = `${roleRef.name}-${serviceName}`;
    try {
      await api.create(object);
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error; // the shared ClusterRole
    }
  }
}

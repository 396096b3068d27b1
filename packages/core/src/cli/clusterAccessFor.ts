// The cluster a command talks to, from kubectl's flags. Loaded only by the commands that need
// a cluster: @kubernetes/client-node takes a good part of a second to import.
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ServingCertError } from '../errors.js';
import { ClusterAccess } from '../kube/clusterAccess.js';
import { noCluster, type CommonOptions } from './args.js';

/**
 * With `--kubeconfig` or `--context`: that file (or KUBECONFIG, ~/.kube/config) and that
 * context, even in a pod. Without: what ensureServingCert uses (in-cluster, else the kubeconfig).
 * Undefined when there is no cluster configured; E_CONFIG for a file or context that is not there.
 */
export function clusterAccessFor(options: Pick<CommonOptions, 'kubeconfig' | 'context'>): ClusterAccess | undefined {
  if (options.kubeconfig === undefined && options.context === undefined) return ClusterAccess.resolve({});
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig !== undefined) {
      if (!existsSync(options.kubeconfig)) throw new ServingCertError('E_CONFIG', `--kubeconfig ${options.kubeconfig}: no such file`);
      kc.loadFromFile(options.kubeconfig);
    } else {
      kc.loadFromDefault();
    }
  } catch (error) {
    if (error instanceof ServingCertError) throw error;
    // Never quote the file: the text around a YAML error may be a client key.
    throw new ServingCertError('E_CONFIG', `the kubeconfig ${options.kubeconfig ?? '(KUBECONFIG or ~/.kube/config)'} does not load: fix it or pass another with --kubeconfig`, { cause: error });
  }
  if (options.context !== undefined) {
    const names = kc.getContexts().map((context) => context.name);
    if (!names.includes(options.context)) {
      throw new ServingCertError('E_CONFIG', `--context ${options.context}: the kubeconfig has no such context (it has: ${names.join(', ') || 'none'})`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw new ServingCertError('E_CONFIG', 'the kubeconfig names no cluster for its current context: pass --context');
  return ClusterAccess.resolve({ kubeConfig: kc });
}

/** kubectl's order: -n, then (in a pod) POD_NAMESPACE, then the context's namespace, then "default". */
export function namespaceFor(options: Pick<CommonOptions, 'namespace'>, access: ClusterAccess): string {
  return options.namespace ?? (process.env.POD_NAMESPACE || undefined) ?? access.namespace ?? 'default';
}

/**
 * The cluster and the namespace of a command (a command with `-A` lists across namespaces
 * instead: `options.allNamespaces`). Throws E_NO_CLUSTER (exit 2) when nothing is configured.
 */
export function clusterFor(options: CommonOptions): { access: ClusterAccess; namespace: string } {
  const access = clusterAccessFor(options);
  if (!access) throw noCluster();
  return { access, namespace: namespaceFor(options, access) };
}

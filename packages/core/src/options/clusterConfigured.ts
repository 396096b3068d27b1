import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Whether a cluster is configured at all: in a pod, a kubeConfig given, or a kubeconfig file
 * (KUBECONFIG or ~/.kube/config). Cheap and free of @kubernetes/client-node, whose import takes
 * half a second: a local or files-only start never loads it.
 */
export function clusterConfigured(options: { kubeConfig?: unknown }): boolean {
  if (options.kubeConfig !== undefined || process.env.KUBERNETES_SERVICE_HOST) return true;
  return kubeconfigFiles().some((file) => existsSync(file));
}

/** The kubeconfig files client-node's loadFromDefault would read. */
export function kubeconfigFiles(): string[] {
  return (process.env.KUBECONFIG ?? path.join(os.homedir(), '.kube', 'config')).split(path.delimiter).filter(Boolean);
}

import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ServingCertError } from '../errors.js';
import { kubeconfigFiles } from '../options/clusterConfigured.js';
import { DEFAULT_PATHS } from '../options/platformNames.js';

/**
 * Access to the cluster: a KubeConfig that is rebuilt when the service-account token file
 * changes. client-node's token-file auth re-reads the file only once a minute, and a bound
 * token that the kubelet rotated is refused (401) in the meantime.
 */
export class ClusterAccess {
  readonly inCluster: boolean;
  readonly #build: () => KubeConfig;
  readonly #tokenFile: string | undefined;
  #kubeConfig: KubeConfig;
  #tokenStamp: string | undefined;

  private constructor(inCluster: boolean, build: () => KubeConfig, tokenFile: string | undefined) {
    this.inCluster = inCluster;
    this.#build = build;
    this.#tokenFile = tokenFile;
    this.#tokenStamp = stampOf(tokenFile);
    this.#kubeConfig = build();
  }

  /**
   * In a pod (KUBERNETES_SERVICE_HOST set), the in-cluster configuration, explicitly: a
   * kubeconfig baked into an image must not win. Else `kubeConfig` if given, else KUBECONFIG or
   * ~/.kube/config when one exists. Undefined when no cluster is reachable.
   */
  static resolve(options: { kubeConfig?: KubeConfig; serviceAccountDir?: string }): ClusterAccess | undefined {
    if (options.kubeConfig) return new ClusterAccess(Boolean(process.env.KUBERNETES_SERVICE_HOST), () => options.kubeConfig!, undefined);
    const host = process.env.KUBERNETES_SERVICE_HOST;
    if (host) {
      const dir = options.serviceAccountDir ?? DEFAULT_PATHS.serviceAccountDir;
      const tokenFile = path.join(dir, 'token');
      return new ClusterAccess(true, () => inClusterConfig(host, process.env.KUBERNETES_SERVICE_PORT ?? '443', dir), tokenFile);
    }
    if (!kubeconfigFiles().some((file) => existsSync(file))) return undefined;
    return new ClusterAccess(false, loadKubeconfigFiles, undefined);
  }

  /** The KubeConfig to use for the next request: rebuilt if the token file changed since. */
  get kubeConfig(): KubeConfig {
    const stamp = stampOf(this.#tokenFile);
    if (stamp !== this.#tokenStamp) {
      this.#tokenStamp = stamp;
      this.#kubeConfig = this.#build();
    }
    return this.#kubeConfig;
  }

  /** The namespace the configuration names: the service-account file in a pod, else the context's. */
  get namespace(): string | undefined {
    if (this.#tokenFile) return readTrimmed(path.join(path.dirname(this.#tokenFile), 'namespace'));
    return this.#kubeConfig.getContextObject(this.#kubeConfig.getCurrentContext())?.namespace;
  }
}

/**
 * KUBECONFIG or ~/.kube/config, as client-node loads it. A file that does not parse is named
 * with its line, and never quoted: the text around a YAML error may be a client key.
 */
function loadKubeconfigFiles(): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (error) {
    const line = (error as { mark?: { line?: number } }).mark?.line;
    throw new ServingCertError('E_CONFIG',
      `the kubeconfig (${kubeconfigFiles().join(', ')}) does not parse${line === undefined ? '' : ` at line ${line + 1}`}: ` +
      'fix it, point KUBECONFIG at another file, or pass the kubeConfig option', { details: { files: kubeconfigFiles(), line } });
  }
  return kc;
}

/** What client-node's loadFromCluster builds, from a folder we can name (tests, custom mounts). */
function inClusterConfig(host: string, port: string, dir: string): KubeConfig {
  const kc = new KubeConfig();
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile: path.join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: path.join(dir, 'token') } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', namespace: readTrimmed(path.join(dir, 'namespace')) }],
    currentContext: 'in-cluster',
  });
  return kc;
}

function stampOf(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    const stat = statSync(file);
    return `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
  } catch {
    return 'missing';
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The versions the testkit provisions; `npm run envtest:setup` builds exactly these. */
export interface EnvtestVersions {
  kubernetes: string;
  etcd: string;
  certManager: string;
  kyverno: string;
}

/** Where the control plane's binaries and the CRDs are. */
export interface ControlPlaneAssets {
  kubeApiserver: string;
  etcd: string;
  /** cert-manager's and Kyverno's CRD files, read from their Go modules at set-up time. */
  crdDir: string;
  versions: EnvtestVersions;
}

export function envtestVersions(): EnvtestVersions {
  return JSON.parse(readFileSync(new URL('../../envtest-versions.json', import.meta.url), 'utf8')) as EnvtestVersions;
}

/** The cache folder of `npm run envtest:setup`: `$SERVING_CERT_ENVTEST_DIR`, else under the user's cache directory. */
export function envtestCacheDir(): string {
  return process.env.SERVING_CERT_ENVTEST_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'serving-cert', 'envtest');
}

/**
 * Finds kube-apiserver and etcd: `TEST_ASSET_KUBE_APISERVER` and `TEST_ASSET_ETCD`, else
 * `KUBEBUILDER_ASSETS` (setup-envtest's folder), else what `npm run envtest:setup` built.
 */
export function controlPlaneAssets(): ControlPlaneAssets {
  const versions = envtestVersions();
  const cache = envtestCacheDir();
  const crdDir = path.join(cache, `crds_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`);
  const built = path.join(cache, `kubernetes-${versions.kubernetes}_etcd-${versions.etcd}`);
  const fromEnv = process.env.KUBEBUILDER_ASSETS;
  const kubeApiserver = process.env.TEST_ASSET_KUBE_APISERVER ?? path.join(fromEnv ?? built, 'kube-apiserver');
  const etcd = process.env.TEST_ASSET_ETCD ?? path.join(fromEnv ?? built, 'etcd');
  for (const [name, file] of [['kube-apiserver', kubeApiserver], ['etcd', etcd], ['the CRDs', path.join(crdDir, 'ready')]] as const) {
    if (!existsSync(file)) {
      throw new Error(`${name} not found at ${file}: run \`npm run envtest:setup\` (it builds kube-apiserver ` +
        `${versions.kubernetes} and etcd ${versions.etcd} from Go modules, once), or set KUBEBUILDER_ASSETS`);
    }
  }
  return { kubeApiserver, etcd, crdDir, versions };
}

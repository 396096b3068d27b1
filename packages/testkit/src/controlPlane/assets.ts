import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SETUP_COMMAND, TestkitError } from '../errors.js';

/** The versions the testkit provisions; `npx serving-cert-envtest` builds exactly these. */
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
  /**
   * Where the setup puts cert-manager's and Kyverno's CRD files (read from their Go modules).
   * The control plane needs none of them; {@link startPlatform} does, and checks.
   */
  crdDir: string;
  versions: EnvtestVersions;
}

export function envtestVersions(): EnvtestVersions {
  return JSON.parse(readFileSync(new URL('../../envtest-versions.json', import.meta.url), 'utf8')) as EnvtestVersions;
}

/** The setup's cache folder: `$SERVING_CERT_ENVTEST_DIR`, else `serving-cert/envtest` under the user's cache directory. */
export function envtestCacheDir(): string {
  return process.env.SERVING_CERT_ENVTEST_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'serving-cert', 'envtest');
}

/** The folders of the cache, keyed by version: a new release of the testkit never reads an old build. */
export function envtestCachePaths(versions: EnvtestVersions = envtestVersions(), cache: string = envtestCacheDir()) {
  return {
    cache,
    controlPlaneBin: path.join(cache, `kubernetes-${versions.kubernetes}_etcd-${versions.etcd}`),
    crds: path.join(cache, `crds_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`),
    platformBin: path.join(cache, `platform_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`),
  };
}

/**
 * Finds kube-apiserver and etcd: `TEST_ASSET_KUBE_APISERVER` and `TEST_ASSET_ETCD`, else
 * `KUBEBUILDER_ASSETS` (setup-envtest's folder), else what `npx serving-cert-envtest` built.
 * Throws {@link TestkitError} `E_ASSETS_MISSING` saying which to set or run.
 */
export function controlPlaneAssets(): ControlPlaneAssets {
  const versions = envtestVersions();
  const paths = envtestCachePaths(versions);
  const fromEnv = process.env.KUBEBUILDER_ASSETS;
  const kubeApiserver = process.env.TEST_ASSET_KUBE_APISERVER ?? path.join(fromEnv ?? paths.controlPlaneBin, 'kube-apiserver');
  const etcd = process.env.TEST_ASSET_ETCD ?? path.join(fromEnv ?? paths.controlPlaneBin, 'etcd');
  for (const [name, file] of [['kube-apiserver', kubeApiserver], ['etcd', etcd]] as const) {
    if (existsSync(file)) continue;
    const variable = name === 'etcd' ? 'TEST_ASSET_ETCD' : 'TEST_ASSET_KUBE_APISERVER';
    const from = process.env[variable] ? `${variable}` : fromEnv ? 'KUBEBUILDER_ASSETS' : `the cache of \`${SETUP_COMMAND}\``;
    throw new TestkitError('E_ASSETS_MISSING', `${name} not found at ${file} (from ${from}): run \`${SETUP_COMMAND}\` once ` +
      `(it builds kube-apiserver ${versions.kubernetes} and etcd ${versions.etcd} from Go modules into ${paths.controlPlaneBin}), ` +
      'or set KUBEBUILDER_ASSETS to a folder that holds kube-apiserver and etcd');
  }
  return { kubeApiserver, etcd, crdDir: paths.crds, versions };
}

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { EnvtestVersions } from '../controlPlane/assets.js';
import { goBuild, goModDownload } from './goBuild.js';
import { checkGoMod, goModuleWorkdir, versionOf } from './goModules.js';

/** Where the control plane's binaries come from, and whether they are there. */
export async function controlPlaneBinariesReady(binDir: string, versions: EnvtestVersions, log: (message: string) => void): Promise<boolean> {
  if (process.env.TEST_ASSET_KUBE_APISERVER && process.env.TEST_ASSET_ETCD) {
    log(`using TEST_ASSET_KUBE_APISERVER=${process.env.TEST_ASSET_KUBE_APISERVER} and TEST_ASSET_ETCD=${process.env.TEST_ASSET_ETCD}`);
    return true;
  }
  if (process.env.KUBEBUILDER_ASSETS) {
    log(`using KUBEBUILDER_ASSETS=${process.env.KUBEBUILDER_ASSETS}`);
    return true;
  }
  const apiserver = await versionOf(path.join(binDir, 'kube-apiserver'));
  const etcd = await versionOf(path.join(binDir, 'etcd'));
  return Boolean(apiserver?.includes(versions.kubernetes) && etcd?.includes(versions.etcd.slice(1)));
}

/** Builds kube-apiserver and etcd from the shipped go/envtest module into binDir, all or nothing. */
export async function buildControlPlaneBinaries(binDir: string, versions: EnvtestVersions, log: (message: string) => void): Promise<void> {
  checkGoMod('envtest', versions);
  const cache = path.dirname(binDir);
  log(`building kube-apiserver ${versions.kubernetes} and etcd ${versions.etcd} from Go modules into ${binDir}`);
  log('the first build downloads about 800 MB of modules and compiles for 5 to 15 minutes on 2 cores; later runs reuse the cache');
  const staging = await fs.mkdtemp(path.join(cache, '.building-'));
  const source = await goModuleWorkdir('envtest', cache);
  try {
    await goModDownload(source);
    await goBuild('etcd', ['-trimpath', '-o', path.join(staging, 'etcd'), 'go.etcd.io/etcd/server/v3'], source, log);
    const [major, minor] = versions.kubernetes.slice(1).split('.');
    const ldflags = [
      '-s', '-w',
      `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
      `-X k8s.io/component-base/version.gitMajor=${major}`,
      `-X k8s.io/component-base/version.gitMinor=${minor}`,
      '-X k8s.io/component-base/version.gitTreeState=clean',
    ].join(' ');
    await goBuild('kube-apiserver', ['-trimpath', '-ldflags', ldflags, '-o', path.join(staging, 'kube-apiserver'), 'k8s.io/kubernetes/cmd/kube-apiserver'], source, log);
    await fs.rm(binDir, { recursive: true, force: true });
    await fs.rename(staging, binDir); // all or nothing: a half build never looks ready
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
    await fs.rm(source, { recursive: true, force: true });
  }
}

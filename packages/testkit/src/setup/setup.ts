import * as fs from 'node:fs/promises';
import { envtestCachePaths, envtestVersions } from '../controlPlane/assets.js';
import { buildControlPlaneBinaries, controlPlaneBinariesReady } from './controlPlaneBinaries.js';
import { provisionCrds } from './crds.js';
import { buildPlatformBinaries, platformBinariesReady } from './platformBinaries.js';

/** Options of {@link setupEnvtest}. */
export interface SetupOptions {
  /** Also build the real platform (cert-manager, Kyverno) and copy their CRDs. Default true. */
  platform?: boolean;
  /** Progress lines, one every 10 s during a build. Default: stderr, prefixed `envtest:`. */
  log?: (message: string) => void;
}

/** What {@link setupEnvtest} provisioned. */
export interface SetupResult {
  /** The folder of kube-apiserver and etcd (KUBEBUILDER_ASSETS, when that was set). */
  controlPlaneBin: string;
  /** The platform's binaries and the CRDs, when `platform` was not false. */
  platformBin?: string;
  crdDir?: string;
}

/**
 * What `npx serving-cert-envtest` does: builds kube-apiserver and etcd (and, unless
 * `platform: false`, the cert-manager controller and Kyverno's two controllers) from the Go
 * modules the package ships, into the cache folder {@link startControlPlane} and
 * {@link startPlatform} read (`~/.cache/serving-cert/envtest`, or `$SERVING_CERT_ENVTEST_DIR`),
 * keyed by version. Idempotent: a second call checks and returns in seconds. KUBEBUILDER_ASSETS
 * (or TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD) skip the control plane build,
 * SERVING_CERT_PLATFORM_BIN the platform build. Needs Go 1.26 for what it builds; every failure
 * is a {@link TestkitError}.
 */
export async function setupEnvtest(options: SetupOptions = {}): Promise<SetupResult> {
  const log = options.log ?? ((message: string) => process.stderr.write(`envtest: ${message}\n`));
  const versions = envtestVersions();
  const paths = envtestCachePaths(versions);
  await fs.mkdir(paths.cache, { recursive: true });
  const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)} s`;
  const started = Date.now();
  if (await controlPlaneBinariesReady(paths.controlPlaneBin, versions, log)) log(`kube-apiserver and etcd are ready (${process.env.KUBEBUILDER_ASSETS ?? paths.controlPlaneBin})`);
  else await buildControlPlaneBinaries(paths.controlPlaneBin, versions, log);
  log(`control plane: ${seconds(started)}`);
  const controlPlaneBin = process.env.KUBEBUILDER_ASSETS ?? paths.controlPlaneBin;
  if (options.platform === false) return { controlPlaneBin };

  const platformStarted = Date.now();
  const platformBin = process.env.SERVING_CERT_PLATFORM_BIN ?? paths.platformBin;
  if (await platformBinariesReady(paths.platformBin, versions, log)) log(`cert-manager and Kyverno are ready (${platformBin})`);
  else await buildPlatformBinaries(paths.platformBin, versions, log);
  log(`platform: ${seconds(platformStarted)}`);
  await provisionCrds(paths.crds, versions, log);
  log(`ready in ${seconds(started)}: binaries in ${controlPlaneBin} and ${platformBin}, CRDs in ${paths.crds}`);
  return { controlPlaneBin, platformBin, crdDir: paths.crds };
}

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { envtestCachePaths, envtestVersions, type EnvtestVersions } from '../controlPlane/assets.js';
import { SETUP_COMMAND, TestkitError } from '../errors.js';

/** Where the real platform's binaries and manifests are. */
export interface PlatformAssets {
  /** The testkit's cert-manager controller (cert-manager's own controllers, our small main in go/platform). */
  certManagerController: string;
  /** Kyverno's admission controller (`cmd/kyverno`). */
  kyverno: string;
  /** Kyverno's background controller: generate and mutate-existing rules. */
  backgroundController: string;
  /** The CRDs of both, and kyverno-install.yaml (Kyverno's namespace, ConfigMaps and RBAC). */
  crdDir: string;
  versions: EnvtestVersions;
}

/**
 * Finds what `npx serving-cert-envtest` built from the testkit's go/platform module:
 * `$SERVING_CERT_PLATFORM_BIN` (a folder with the three binaries), else the cache folder.
 * Throws {@link TestkitError} `E_ASSETS_MISSING` saying what to run.
 */
export function platformAssets(): PlatformAssets {
  const versions = envtestVersions();
  const paths = envtestCachePaths(versions);
  const binDir = process.env.SERVING_CERT_PLATFORM_BIN ?? paths.platformBin;
  const assets = {
    certManagerController: path.join(binDir, 'cert-manager-controller'),
    kyverno: path.join(binDir, 'kyverno'),
    backgroundController: path.join(binDir, 'background-controller'),
    crdDir: paths.crds,
    versions,
  };
  for (const file of [assets.certManagerController, assets.kyverno, assets.backgroundController, path.join(paths.crds, 'kyverno-install.yaml')]) {
    if (!existsSync(file)) {
      throw new TestkitError('E_ASSETS_MISSING', `${path.basename(file)} not found at ${file}: run \`${SETUP_COMMAND}\` once (it builds ` +
        `cert-manager ${versions.certManager} and Kyverno ${versions.kyverno} from Go modules, about 5 minutes, and copies their CRDs ` +
        `into ${paths.crds}), or set SERVING_CERT_PLATFORM_BIN to a folder with the three binaries (the CRDs still come from the setup)`);
    }
  }
  return assets;
}

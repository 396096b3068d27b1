import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { envtestCacheDir, envtestVersions, type EnvtestVersions } from '../controlPlane/assets.js';

/** Where the real platform's binaries and manifests are. */
export interface PlatformAssets {
  /** tools/platform's cert-manager controller (cert-manager's own controllers, our small main). */
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
 * Finds what `npm run envtest:setup` built from tools/platform: `$SERVING_CERT_PLATFORM_BIN`
 * (a folder with the three binaries), else the envtest cache folder.
 */
export function platformAssets(): PlatformAssets {
  const versions = envtestVersions();
  const cache = envtestCacheDir();
  const binDir = process.env.SERVING_CERT_PLATFORM_BIN ??
    path.join(cache, `platform_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`);
  const crdDir = path.join(cache, `crds_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`);
  const assets = {
    certManagerController: path.join(binDir, 'cert-manager-controller'),
    kyverno: path.join(binDir, 'kyverno'),
    backgroundController: path.join(binDir, 'background-controller'),
    crdDir,
    versions,
  };
  for (const file of [assets.certManagerController, assets.kyverno, assets.backgroundController, path.join(crdDir, 'kyverno-install.yaml')]) {
    if (!existsSync(file)) {
      throw new Error(`${path.basename(file)} not found at ${file}: run \`npm run envtest:setup\` (it builds cert-manager ` +
        `${versions.certManager} and Kyverno ${versions.kyverno} from Go modules, once, about 5 minutes), or set SERVING_CERT_PLATFORM_BIN`);
    }
  }
  return assets;
}

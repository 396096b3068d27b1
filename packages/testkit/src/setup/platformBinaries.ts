import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { EnvtestVersions } from '../controlPlane/assets.js';
import { goBuild, goModDownload } from './goBuild.js';
import { checkGoMod, goModuleWorkdir, shippedGoModule } from './goModules.js';

const PLATFORM_BINARIES = ['cert-manager-controller', 'kyverno', 'background-controller'];

/** What the platform binaries were built from: a change to any of these files rebuilds them. */
function platformSourceStamp(versions: EnvtestVersions): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'cmd/cert-manager-controller/main.go']) hash.update(readFileSync(path.join(shippedGoModule('platform'), file)));
  return JSON.stringify({ ...versions, source: hash.digest('hex').slice(0, 16) });
}

export async function platformBinariesReady(binDir: string, versions: EnvtestVersions, log: (message: string) => void): Promise<boolean> {
  if (process.env.SERVING_CERT_PLATFORM_BIN) {
    log(`using SERVING_CERT_PLATFORM_BIN=${process.env.SERVING_CERT_PLATFORM_BIN}`);
    return true;
  }
  const stamp = await fs.readFile(path.join(binDir, 'ready'), 'utf8').catch(() => '');
  return stamp === platformSourceStamp(versions) && PLATFORM_BINARIES.every((binary) => existsSync(path.join(binDir, binary)));
}

/** Builds the cert-manager controller and Kyverno's two controllers from go/platform into binDir, all or nothing. */
export async function buildPlatformBinaries(binDir: string, versions: EnvtestVersions, log: (message: string) => void): Promise<void> {
  checkGoMod('platform', versions);
  const cache = path.dirname(binDir);
  log(`building the cert-manager controller ${versions.certManager} and Kyverno ${versions.kyverno} from Go modules into ${binDir}`);
  log('the first build downloads about 2.3 GB of modules and compiles about 3,200 packages for about 5 minutes on 2 cores (2.3 GB RAM); later runs reuse the cache');
  const staging = await fs.mkdtemp(path.join(cache, '.building-platform-'));
  const source = await goModuleWorkdir('platform', cache);
  try {
    await goModDownload(source);
    // One go build for the three: they share most packages, and -o into a folder writes each.
    await goBuild('cert-manager and Kyverno', ['-trimpath', '-ldflags', '-s -w', '-o', `${staging}${path.sep}`,
      './cmd/cert-manager-controller', 'github.com/kyverno/kyverno/cmd/kyverno', 'github.com/kyverno/kyverno/cmd/background-controller'], source, log);
    await fs.writeFile(path.join(staging, 'ready'), platformSourceStamp(versions));
    await fs.rm(binDir, { recursive: true, force: true });
    await fs.rename(staging, binDir);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
    await fs.rm(source, { recursive: true, force: true });
  }
}

import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EnvtestVersions } from '../controlPlane/assets.js';
import { goModuleDir } from './goBuild.js';

/** Kyverno's install manifest without what runs in a cluster only: CRDs (copied apart), Deployments, Services. */
export function kyvernoInstallObjects(text: string): string {
  return text.split(/^---\s*$/m)
    .filter((document) => /^kind: /m.test(document))
    .filter((document) => !/^kind: (CustomResourceDefinition|Deployment|Service)\s*$/m.test(document))
    .map((document) => document.trim())
    .join('\n---\n');
}

async function copyYamlTree(from: string, to: string): Promise<void> {
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    if (entry.isDirectory()) await copyYamlTree(path.join(from, entry.name), to);
    else if (entry.name.endsWith('.yaml')) await fs.copyFile(path.join(from, entry.name), path.join(to, entry.name));
  }
}

/**
 * Copies cert-manager's and Kyverno's CRDs (6.6 MB of YAML, too much to ship in the package) and
 * Kyverno's install objects from their Go modules into crdDir, all or nothing.
 */
export async function provisionCrds(crdDir: string, versions: EnvtestVersions, log: (message: string) => void): Promise<void> {
  if (existsSync(path.join(crdDir, 'ready')) && existsSync(path.join(crdDir, 'kyverno-install.yaml'))) return;
  log(`reading cert-manager ${versions.certManager} and Kyverno ${versions.kyverno} CRDs from their Go modules`);
  const staging = await fs.mkdtemp(path.join(path.dirname(crdDir), '.crds-'));
  try {
    const certManager = await goModuleDir('github.com/cert-manager/cert-manager', versions.certManager, os.tmpdir());
    for (const file of await fs.readdir(path.join(certManager, 'deploy', 'crds'))) {
      if (file.endsWith('.yaml')) await fs.copyFile(path.join(certManager, 'deploy', 'crds', file), path.join(staging, file));
    }
    const kyverno = await goModuleDir('github.com/kyverno/kyverno', versions.kyverno, os.tmpdir());
    // All of Kyverno's CRDs: its controllers watch policy reports, ephemeral reports and the
    // policies.kyverno.io kinds too, and wait for them at start.
    await copyYamlTree(path.join(kyverno, 'config', 'crds'), staging);
    const install = await fs.readFile(path.join(kyverno, 'config', 'install-latest-testing.yaml'), 'utf8');
    await fs.writeFile(path.join(staging, 'kyverno-install.yaml'), `# From Kyverno ${versions.kyverno} config/install-latest-testing.yaml: ` +
      'its namespace, ServiceAccounts, ConfigMaps and RBAC (no CRDs, Deployments or Services)\n' + kyvernoInstallObjects(install) + '\n');
    await fs.writeFile(path.join(staging, 'ready'), JSON.stringify(versions));
    await fs.rm(crdDir, { recursive: true, force: true });
    await fs.rename(staging, crdDir);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

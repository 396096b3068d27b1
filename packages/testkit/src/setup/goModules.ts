import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EnvtestVersions } from '../controlPlane/assets.js';
import { TestkitError } from '../errors.js';

const run = promisify(execFile);

/** The Go modules the package ships (go/envtest, go/platform): the same folder from src/ and dist/. */
export function shippedGoModule(name: 'envtest' | 'platform'): string {
  return fileURLToPath(new URL(`../../go/${name}/`, import.meta.url));
}

/** The version a go.mod requires of a module, if it does. */
export function requiredVersion(goMod: string, module: string): string | undefined {
  return goMod.match(new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm'))?.[1];
}

/** Fails with E_VERSION when a shipped go.mod builds other versions than envtest-versions.json names. */
export function checkGoMod(name: 'envtest' | 'platform', versions: EnvtestVersions): void {
  const goMod = readFileSync(path.join(shippedGoModule(name), 'go.mod'), 'utf8');
  const expected: Record<string, string> = name === 'envtest'
    ? { 'k8s.io/kubernetes': versions.kubernetes, 'go.etcd.io/etcd/server/v3': versions.etcd }
    : { 'github.com/cert-manager/cert-manager': versions.certManager, 'github.com/kyverno/kyverno': versions.kyverno };
  for (const [module, version] of Object.entries(expected)) {
    const required = requiredVersion(goMod, module);
    if (required !== version) {
      throw new TestkitError('E_VERSION', `the testkit's go/${name}/go.mod requires ${module} ${required}, but envtest-versions.json ` +
        `says ${version}: this copy of @serving-cert/testkit is inconsistent; reinstall it`);
    }
  }
}

/**
 * Copies a shipped Go module into a fresh folder under `parent`: Go may write go.sum lines,
 * and an installed package's folder may be read-only or shared. The caller removes it.
 */
export async function goModuleWorkdir(name: 'envtest' | 'platform', parent: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(parent, `.go-${name}-`));
  await fs.cp(shippedGoModule(name), dir, { recursive: true });
  return dir;
}

/** A binary's `--version` output, or undefined when it does not run. */
export async function versionOf(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(binary, ['--version'], { timeout: 30_000 });
    return stdout;
  } catch {
    return undefined;
  }
}

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { tempDir, WEB_NAMES } from '../helpers/tls.js';

// What a files-only service loads: a real child process imports core with module hooks in
// place (fixtures/loaded-modules.mjs) and lists every module file it loaded.
const probe = fileURLToPath(new URL('./fixtures/loaded-modules.mjs', import.meta.url));
let dir: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ dir, remove } = await tempDir());
  const ca = CertificateAuthority.create({ commonName: 'platform root' });
  const leaf = ca.issue({ dnsNames: WEB_NAMES });
  await writeAtomicVolume(`${dir}/certs`, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': leaf.caPem });
});
afterAll(async () => {
  await remove();
});

async function loadedModules(scenario: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [probe, scenario, `${dir}/${scenario}.log`, `${dir}/certs`, `${dir}/ca`], { timeout: 30_000 });
  return JSON.parse(stdout) as string[];
}
const fromPackage = (modules: string[], name: string) => modules.filter((url) => url.includes(`/node_modules/${name}/`));

describe('what importing core loads', () => {
  it('a files-source start loads no node-forge, undici or @kubernetes/client-node module', async () => {
    const modules = await loadedModules('files-start');
    // The probe sees what did load: core itself and chokidar, which the files source watches with.
    expect(modules.some((url) => /\/core\/dist\/index\.js$/.test(url))).toBe(true);
    expect(fromPackage(modules, 'chokidar').length).toBeGreaterThan(0);
    expect(fromPackage(modules, 'node-forge')).toEqual([]);
    expect(fromPackage(modules, 'undici')).toEqual([]);
    expect(fromPackage(modules, '@kubernetes/client-node')).toEqual([]);
  });

  it('node-forge loads when something issues (the pki entry), and the probe sees it', async () => {
    const modules = await loadedModules('issue');
    expect(fromPackage(modules, 'node-forge').length).toBeGreaterThan(10);
  });

  it('undici loads when a dispatcher is made', async () => {
    const modules = await loadedModules('dispatcher');
    expect(fromPackage(modules, 'undici').length).toBeGreaterThan(10);
    expect(fromPackage(modules, 'node-forge')).toEqual([]);
  });
});

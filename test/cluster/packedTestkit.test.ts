// The testkit as another project gets it: packed as npm publishes it, installed into a project
// outside this repository, with no cache of ours (an empty XDG_CACHE_HOME and HOME) and
// KUBEBUILDER_ASSETS as its only pointer to kube-apiserver and etcd.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneAssets } from '@serving-cert/testkit';

const run = promisify(execFile);
const repository = fileURLToPath(new URL('../..', import.meta.url));
let work: string;
let project: string;
let kubebuilderAssets: string;

/** The consumer's environment: no HOME or cache of ours, nothing from this process but PATH. */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: path.join(work, 'home'), XDG_CACHE_HOME: path.join(work, 'home', '.cache'), TMPDIR: os.tmpdir(), ...extra };
}

async function runIn(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(command, args, { cwd: project, env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
}

/**
 * npm install in the consumer project, as a consumer's shell would run it: without the npm_*
 * variables of the `npm test` that runs this file, stdin closed, the user's npm cache first
 * (--prefer-offline: every package is there after the repository's own npm ci). One retry, after
 * saying why the first try failed (a registry or shared-cache hiccup is not a testkit defect); a
 * second failure fails with npm's own words.
 */
async function npmInstall(): Promise<void> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  const install = () => new Promise<void>((resolve, reject) => {
    const child = execFile('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'],
      { cwd: project, env, timeout: 100_000 }, (error, _stdout, stderr) => {
        if (error) reject(new Error(`${error.killed ? 'killed after 100 s' : error.message}: ${stderr}`));
        else resolve();
      });
    child.stdin?.end();
  });
  await install().catch(async (first: Error) => {
    process.stderr.write(`packedTestkit: npm install failed, trying once more: ${first.message}\n`);
    await install().catch((second: Error) => {
      throw new Error(`npm install of the packed testkit failed twice: ${second.message}`);
    });
  });
}

beforeAll(async () => {
  // The folder this repository's own set-up built, handed over as setup-envtest's would be.
  const assets = controlPlaneAssets();
  kubebuilderAssets = path.dirname(assets.kubeApiserver);
  work = mkdtempSync(path.join(os.tmpdir(), 'serving-cert-packed-testkit-'));
  project = path.join(work, 'project');
  mkdirSync(path.join(work, 'home', '.cache'), { recursive: true });
  mkdirSync(project);
  const { stdout } = await run(process.execPath, [path.join(repository, 'scripts', 'pack-published.mjs'), path.join(work, 'tarballs')], { cwd: repository });
  const tarballs = JSON.parse(stdout) as Record<string, string>;
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({
    name: 'testkit-consumer', private: true, type: 'module',
    devDependencies: { '@serving-cert/core': `file:${tarballs['@serving-cert/core']}`, '@serving-cert/testkit': `file:${tarballs['@serving-cert/testkit']}` },
  }));
  // npm's own cache stays the user's: a consumer's npm install is not what this test is about.
  await npmInstall();
  copyFileSync(fileURLToPath(new URL('./fixtures/packed-testkit-consumer.mjs', import.meta.url)), path.join(project, 'consumer.mjs'));
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed testkit in a project outside the repository', () => {
  it('starts a control plane with only KUBEBUILDER_ASSETS set', async () => {
    const result = await runIn(process.execPath, ['consumer.mjs'], consumerEnv({ KUBEBUILDER_ASSETS: kubebuilderAssets }));
    expect(result.stderr).toBe('');
    const answer = JSON.parse(result.stdout) as { server: string; namespace: string; kubeApiserver: string };
    expect(answer).toMatchObject({ namespace: 'default', kubeApiserver: path.join(kubebuilderAssets, 'kube-apiserver') });
    expect(answer.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(result.code).toBe(0);
  }, 120_000);

  it('without KUBEBUILDER_ASSETS or a set-up, fails with a TestkitError that names the setup command', async () => {
    const result = await runIn(process.execPath, ['consumer.mjs'], consumerEnv());
    expect(result.code).toBe(1);
    const error = JSON.parse(result.stdout) as { name: string; code: string; message: string };
    expect(error).toMatchObject({ name: 'TestkitError', code: 'E_ASSETS_MISSING' });
    expect(error.message).toContain(path.join(work, 'home', '.cache', 'serving-cert', 'envtest'));
    expect(error.message).toContain('run `npx serving-cert-envtest` once');
    expect(error.message).not.toContain('npm run');
  });

  it('has the setup command: npx serving-cert-envtest finds KUBEBUILDER_ASSETS and builds nothing', async () => {
    const result = await runIn('npx', ['--no-install', 'serving-cert-envtest', '--control-plane-only'], consumerEnv({ KUBEBUILDER_ASSETS: kubebuilderAssets }));
    expect(result.stderr).toContain(`envtest: using KUBEBUILDER_ASSETS=${kubebuilderAssets}`);
    expect(result.stderr).not.toContain('building');
    expect(result.code).toBe(0);
    const help = await runIn('npx', ['--no-install', 'serving-cert-envtest', '--help'], consumerEnv());
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('usage: serving-cert-envtest [--control-plane-only]') });
    const usage = await runIn('npx', ['--no-install', 'serving-cert-envtest', '--platfrom'], consumerEnv());
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("Unknown option '--platfrom'");
  });
});

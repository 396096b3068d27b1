#!/usr/bin/env node
// npm run envtest:setup: provisions kube-apiserver and etcd (built from Go modules by this
// folder's go.mod) and cert-manager's and Kyverno's CRDs (read from their Go modules) into
// the user's cache directory, keyed by version. Idempotent: a second run checks and exits.
// KUBEBUILDER_ASSETS, or TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD, skip the build.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const versions = JSON.parse(readFileSync(path.join(here, '../../packages/testkit/envtest-versions.json'), 'utf8'));
const cacheRoot = process.env.SERVING_CERT_ENVTEST_DIR ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'serving-cert', 'envtest');
const binDir = path.join(cacheRoot, `kubernetes-${versions.kubernetes}_etcd-${versions.etcd}`);
const crdDir = path.join(cacheRoot, `crds_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`);
const run = promisify(execFile);
const log = (message) => process.stderr.write(`envtest: ${message}\n`);

function checkGoMod() {
  const goMod = readFileSync(path.join(here, 'go.mod'), 'utf8');
  const required = (module) => goMod.match(new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm'))?.[1];
  const kubernetes = required('k8s.io/kubernetes');
  const etcd = required('go.etcd.io/etcd/server/v3');
  if (kubernetes !== versions.kubernetes || etcd !== versions.etcd) {
    throw new Error(`tools/envtest/go.mod requires kubernetes ${kubernetes} and etcd ${etcd}, but ` +
      `packages/testkit/envtest-versions.json says ${versions.kubernetes} and ${versions.etcd}: make them agree`);
  }
}

async function versionOf(binary) {
  try {
    const { stdout } = await run(binary, ['--version'], { timeout: 30_000 });
    return stdout;
  } catch {
    return undefined;
  }
}

async function binariesReady() {
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

/** Runs `go build -v`, printing a progress line every 10 s: the first build takes minutes. */
function goBuild(label, args, env) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let packages = 0;
    let tail = '';
    const child = spawn('go', ['build', '-v', ...args], { cwd: here, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'pipe'] });
    child.stderr.on('data', (chunk) => {
      const text = chunk.toString();
      packages += text.split('\n').filter((line) => line.trim() && !line.startsWith('#')).length;
      tail = (tail + text).slice(-4000);
    });
    const progress = setInterval(() => {
      log(`${label}: ${Math.round((Date.now() - started) / 1000)} s, ${packages} packages compiled so far`);
    }, 10_000);
    child.on('error', (error) => {
      clearInterval(progress);
      reject(new Error(`cannot run go (${error.message}): install Go 1.26 or set KUBEBUILDER_ASSETS`));
    });
    child.on('exit', (code) => {
      clearInterval(progress);
      if (code === 0) {
        log(`${label}: built in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
      } else {
        reject(new Error(`go build of ${label} failed (exit ${code}):\n${tail}`));
      }
    });
  });
}

async function buildBinaries() {
  checkGoMod();
  log(`building kube-apiserver ${versions.kubernetes} and etcd ${versions.etcd} from Go modules into ${binDir}`);
  log('the first build downloads about 800 MB of modules and compiles for 5 to 15 minutes on 2 cores; later runs reuse the cache');
  const staging = await fs.mkdtemp(path.join(cacheRoot, '.building-'));
  try {
    const env = { CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
    await run('go', ['mod', 'download'], { cwd: here, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    await goBuild('etcd', ['-trimpath', '-o', path.join(staging, 'etcd'), 'go.etcd.io/etcd/server/v3'], env);
    const [major, minor] = versions.kubernetes.slice(1).split('.');
    const ldflags = [
      '-s', '-w',
      `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
      `-X k8s.io/component-base/version.gitMajor=${major}`,
      `-X k8s.io/component-base/version.gitMinor=${minor}`,
      '-X k8s.io/component-base/version.gitTreeState=clean',
    ].join(' ');
    await goBuild('kube-apiserver', ['-trimpath', '-ldflags', ldflags, '-o', path.join(staging, 'kube-apiserver'), 'k8s.io/kubernetes/cmd/kube-apiserver'], env);
    await fs.rm(binDir, { recursive: true, force: true });
    await fs.rename(staging, binDir); // all or nothing: a half build never looks ready
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

async function moduleDir(module, version) {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${module}@${version}`], { cwd: os.tmpdir(), maxBuffer: 16 * 1024 * 1024 });
  const info = JSON.parse(stdout);
  if (info.Error) throw new Error(`go mod download ${module}@${version}: ${info.Error}`);
  return info.Dir;
}

async function provisionCrds() {
  if (existsSync(path.join(crdDir, 'ready'))) return;
  log(`reading cert-manager ${versions.certManager} and Kyverno ${versions.kyverno} CRDs from their Go modules`);
  const staging = await fs.mkdtemp(path.join(cacheRoot, '.crds-'));
  try {
    const certManager = await moduleDir('github.com/cert-manager/cert-manager', versions.certManager);
    for (const file of await fs.readdir(path.join(certManager, 'deploy', 'crds'))) {
      if (file.endsWith('.yaml')) await fs.copyFile(path.join(certManager, 'deploy', 'crds', file), path.join(staging, file));
    }
    const kyverno = await moduleDir('github.com/kyverno/kyverno', versions.kyverno);
    const kyvernoCrds = path.join(kyverno, 'config', 'crds', 'kyverno');
    for (const file of await fs.readdir(kyvernoCrds)) {
      if (file.endsWith('.yaml')) await fs.copyFile(path.join(kyvernoCrds, file), path.join(staging, file));
    }
    await fs.writeFile(path.join(staging, 'ready'), JSON.stringify(versions));
    await fs.rm(crdDir, { recursive: true, force: true });
    await fs.rename(staging, crdDir);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

await fs.mkdir(cacheRoot, { recursive: true });
const started = Date.now();
if (await binariesReady()) log(`kube-apiserver and etcd are ready (${binDir})`);
else await buildBinaries();
await provisionCrds();
log(`ready in ${Math.round((Date.now() - started) / 1000)} s: binaries in ${binDir}, CRDs in ${crdDir}`);

#!/usr/bin/env node
// npm run envtest:setup: provisions kube-apiserver and etcd (built from Go modules by this
// folder's go.mod), the real platform (the cert-manager controller and Kyverno's admission and
// background controllers, built by tools/platform/go.mod), and cert-manager's and Kyverno's
// CRDs and Kyverno's install objects (read from their Go modules) into the user's cache
// directory, keyed by version. Idempotent: a second run checks and exits.
// KUBEBUILDER_ASSETS, or TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD, skip the control plane
// build; SERVING_CERT_PLATFORM_BIN (a folder with the three binaries) skips the platform build.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
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
const platformDir = path.join(here, '..', 'platform');
const platformBinDir = path.join(cacheRoot, `platform_cert-manager-${versions.certManager}_kyverno-${versions.kyverno}`);
const platformBinaries = ['cert-manager-controller', 'kyverno', 'background-controller'];
const run = promisify(execFile);
const log = (message) => process.stderr.write(`envtest: ${message}\n`);

const requiredIn = (goMod) => (module) => goMod.match(new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm'))?.[1];

function checkGoMod() {
  const required = requiredIn(readFileSync(path.join(here, 'go.mod'), 'utf8'));
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
function goBuild(label, args, env, cwd = here) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let packages = 0;
    let tail = '';
    const child = spawn('go', ['build', '-v', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'pipe'] });
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

// ---- the real platform: cert-manager and Kyverno -------------------------------------------

/** What the platform binaries were built from: a change to any of these files rebuilds them. */
function platformSourceStamp() {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'cmd/cert-manager-controller/main.go']) hash.update(readFileSync(path.join(platformDir, file)));
  return JSON.stringify({ ...versions, source: hash.digest('hex').slice(0, 16) });
}

function checkPlatformGoMod() {
  const required = requiredIn(readFileSync(path.join(platformDir, 'go.mod'), 'utf8'));
  const certManager = required('github.com/cert-manager/cert-manager');
  const kyverno = required('github.com/kyverno/kyverno');
  if (certManager !== versions.certManager || kyverno !== versions.kyverno) {
    throw new Error(`tools/platform/go.mod requires cert-manager ${certManager} and Kyverno ${kyverno}, but ` +
      `packages/testkit/envtest-versions.json says ${versions.certManager} and ${versions.kyverno}: make them agree ` +
      '(the testkit installs the CRDs of the versions it runs)');
  }
}

async function platformReady() {
  if (process.env.SERVING_CERT_PLATFORM_BIN) {
    log(`using SERVING_CERT_PLATFORM_BIN=${process.env.SERVING_CERT_PLATFORM_BIN}`);
    return true;
  }
  const stamp = await fs.readFile(path.join(platformBinDir, 'ready'), 'utf8').catch(() => '');
  return stamp === platformSourceStamp() && platformBinaries.every((binary) => existsSync(path.join(platformBinDir, binary)));
}

async function buildPlatform() {
  checkPlatformGoMod();
  log(`building the cert-manager controller ${versions.certManager} and Kyverno ${versions.kyverno} from Go modules into ${platformBinDir}`);
  log('the first build downloads about 2.3 GB of modules and compiles about 3,200 packages for about 5 minutes on 2 cores (2.3 GB RAM); later runs reuse the cache');
  const staging = await fs.mkdtemp(path.join(cacheRoot, '.building-platform-'));
  try {
    const env = { CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
    await run('go', ['mod', 'download'], { cwd: platformDir, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    // One go build for the three: they share most packages, and -o into a folder writes each.
    await goBuild('cert-manager and Kyverno', ['-trimpath', '-ldflags', '-s -w', '-o', `${staging}${path.sep}`,
      './cmd/cert-manager-controller', 'github.com/kyverno/kyverno/cmd/kyverno', 'github.com/kyverno/kyverno/cmd/background-controller'], env, platformDir);
    await fs.writeFile(path.join(staging, 'ready'), platformSourceStamp());
    await fs.rm(platformBinDir, { recursive: true, force: true });
    await fs.rename(staging, platformBinDir);
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

/** Kyverno's install manifest without what runs in a cluster only: CRDs (copied apart), Deployments, Services. */
function kyvernoInstallObjects(text) {
  return text.split(/^---\s*$/m)
    .filter((document) => /^kind: /m.test(document))
    .filter((document) => !/^kind: (CustomResourceDefinition|Deployment|Service)\s*$/m.test(document))
    .map((document) => document.trim())
    .join('\n---\n');
}

async function copyYamlTree(from, to) {
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    if (entry.isDirectory()) await copyYamlTree(path.join(from, entry.name), to);
    else if (entry.name.endsWith('.yaml')) await fs.copyFile(path.join(from, entry.name), path.join(to, entry.name));
  }
}

async function provisionCrds() {
  // kyverno-install.yaml came with the real platform: an older folder lacks it.
  if (existsSync(path.join(crdDir, 'ready')) && existsSync(path.join(crdDir, 'kyverno-install.yaml'))) return;
  log(`reading cert-manager ${versions.certManager} and Kyverno ${versions.kyverno} CRDs from their Go modules`);
  const staging = await fs.mkdtemp(path.join(cacheRoot, '.crds-'));
  try {
    const certManager = await moduleDir('github.com/cert-manager/cert-manager', versions.certManager);
    for (const file of await fs.readdir(path.join(certManager, 'deploy', 'crds'))) {
      if (file.endsWith('.yaml')) await fs.copyFile(path.join(certManager, 'deploy', 'crds', file), path.join(staging, file));
    }
    const kyverno = await moduleDir('github.com/kyverno/kyverno', versions.kyverno);
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

const seconds = (since) => `${Math.round((Date.now() - since) / 1000)} s`;
await fs.mkdir(cacheRoot, { recursive: true });
const started = Date.now();
if (await binariesReady()) log(`kube-apiserver and etcd are ready (${binDir})`);
else await buildBinaries();
log(`control plane: ${seconds(started)}`);
const platformStarted = Date.now();
if (await platformReady()) log(`cert-manager and Kyverno are ready (${process.env.SERVING_CERT_PLATFORM_BIN ?? platformBinDir})`);
else await buildPlatform();
log(`platform: ${seconds(platformStarted)}`);
await provisionCrds();
log(`ready in ${seconds(started)}: binaries in ${binDir} and ${platformBinDir}, CRDs in ${crdDir}`);

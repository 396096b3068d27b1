#!/usr/bin/env node
// CI's check of what would be published (node scripts/check-packages.mjs, after npm run build):
//  1. publint --strict and @arethetypeswrong/cli --pack --profile esm-only on each published package;
//  2. each tarball holds LICENSE (the repository's), README.md, source maps that carry their
//     sources, and nothing of the build's leftovers (declaration maps, tsbuildinfo, tests);
//  3. the tarballs installed into a fresh project under os.tmpdir() (outside the workspace, so
//     nothing resolves through the monorepo's node_modules): a TypeScript consumer type-checks
//     under moduleResolution node16 and bundler, and a JavaScript consumer serves and verifies
//     one HTTPS request on the embedded default (the local development CA), on Node 20, 22 and 24.
// Prints a line per step with its time; exits 1 on the first failure.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { packPublished, publishedWorkspaces, root } from './pack-published.mjs';

const run = promisify(execFile);
const say = (message) => process.stdout.write(`check-packages: ${message}\n`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

const temporaryDirs = [];

async function step(label, fn) {
  const started = Date.now();
  try {
    const detail = await fn();
    say(`ok   ${label} (${seconds(started)})${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    say(`FAIL ${label} (${seconds(started)})`);
    process.stderr.write(`${String(error.stdout ?? '')}${String(error.stderr ?? '')}${error.stdout || error.stderr ? '' : error.message}\n`);
    // process.exit skips the finally below: remove the consumer project here.
    for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
}

function filesUnder(dir, prefix = '') {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`]);
}

/** What a tarball must and must not hold; returns a short description. */
async function checkTarball(tarball) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'serving-cert-tarball-'));
  try {
    await run('tar', ['-xzf', tarball, '-C', dir]);
    const pkgDir = path.join(dir, 'package');
    const files = filesUnder(pkgDir);
    const problems = [];
    if (!files.includes('README.md')) problems.push('no README.md');
    if (!files.includes('LICENSE')) problems.push('no LICENSE');
    else if (readFileSync(path.join(pkgDir, 'LICENSE'), 'utf8') !== readFileSync(path.join(root, 'LICENSE'), 'utf8')) problems.push('LICENSE differs from the repository\'s');
    for (const file of files) {
      if (/\.d\.ts\.map$|\.tsbuildinfo$|\.test\.[jt]s$|(^|\/)test\//.test(file)) problems.push(`ships ${file}`);
      if (file.endsWith('.js.map')) {
        const map = JSON.parse(readFileSync(path.join(pkgDir, file), 'utf8'));
        if (!Array.isArray(map.sourcesContent) || map.sourcesContent.length !== map.sources.length || map.sourcesContent.some((text) => typeof text !== 'string')) {
          problems.push(`${file} points at sources it does not carry`);
        }
      }
    }
    if (problems.length > 0) throw new Error(`${path.basename(tarball)}: ${problems.join('; ')}`);
    return `${files.length} files, ${(statSync(tarball).size / 1024).toFixed(0)} kB`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** scripts/node-version.mjs's binary for a line; its progress lines (stderr) go to the log. */
function installedNode(line) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'node-version.mjs'), line], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout.trim()) : reject(new Error(`cannot install Node ${line}`))));
  });
}

const started = Date.now();
for (const { name, dir } of publishedWorkspaces()) {
  await step(`publint --strict ${name}`, () => run(bin('publint'), ['--strict', dir]).then(() => ''));
  await step(`attw --pack --profile esm-only ${name}`, () => run(bin('attw'), ['--pack', dir, '--profile', 'esm-only', '--format', 'table-flipped']).then(() => ''));
}

const work = mkdtempSync(path.join(os.tmpdir(), 'serving-cert-consumer-'));
temporaryDirs.push(work);
try {
  let tarballs = {};
  await step('npm pack of the published packages', async () => {
    tarballs = await packPublished(path.join(work, 'tarballs'));
    return Object.keys(tarballs).join(', ');
  });
  for (const [name, tarball] of Object.entries(tarballs)) await step(`contents of ${name}`, () => checkTarball(tarball));

  const project = path.join(work, 'project');
  const typescript = JSON.parse(readFileSync(path.join(root, 'node_modules', 'typescript', 'package.json'), 'utf8')).version;
  await step('install the tarballs into a project outside the workspace', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(project);
    const dependencies = Object.fromEntries(Object.entries(tarballs).map(([name, tarball]) => [name, `file:${tarball}`]));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({
      name: 'serving-cert-consumer', private: true, type: 'module',
      dependencies: { ...dependencies, express: '^5.0.0', fastify: '^5.0.0' },
      // @types/ws: @kubernetes/client-node's declarations import isomorphic-ws, whose types need
      // it; any TypeScript user of client-node installs it (or skips lib checks). Ours need nothing.
      devDependencies: { typescript, '@types/node': `^${process.versions.node.split('.')[0]}`, '@types/express': '^5.0.0', '@types/ws': '^8.0.0' },
    }, null, 2));
    // --prefer-offline: the packages are in npm's cache after the repository's npm ci; the
    // registry is asked only for what is not.
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, maxBuffer: 16 * 1024 * 1024 });
    return project;
  });

  copyFileSync(path.join(root, 'scripts', 'consumer', 'consumer.ts'), path.join(project, 'consumer.ts'));
  copyFileSync(path.join(root, 'scripts', 'consumer', 'consumer.mjs'), path.join(project, 'consumer.mjs'));
  for (const [resolution, module] of [['node16', 'node16'], ['bundler', 'esnext']]) {
    await step(`TypeScript consumer, moduleResolution ${resolution}`, async () => {
      const config = path.join(project, `tsconfig.${resolution}.json`);
      writeFileSync(config, JSON.stringify({
        compilerOptions: { module, moduleResolution: resolution, target: 'es2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
        files: ['consumer.ts'],
      }, null, 2));
      await run(path.join(project, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: project });
      return `tsc ${typescript} --noEmit`;
    });
  }
  // The JavaScript consumer on each tested line: this Node, then 22 and 24 (scripts/node-version.mjs
  // installs them into the user's cache, where the test matrix finds them again).
  for (const line of ['current', '22', '24']) {
    let node = process.execPath;
    if (line !== 'current') await step(`Node ${line} from the npm registry`, async () => (node = await installedNode(line)));
    const version = (await run(node, ['--version'])).stdout.trim();
    await step(`JavaScript consumer on node ${version}`, async () => {
      const { stdout } = await run(node, ['consumer.mjs'], {
        cwd: project, timeout: 60_000,
        env: { ...process.env, SERVING_CERT_SERVICE: 'orders', POD_NAMESPACE: 'shop', SERVING_CERT_LOCAL_CA_DIR: path.join(work, `local-ca-${line}`), KUBERNETES_SERVICE_HOST: '' },
      });
      return stdout.trim();
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
say(`all checks passed in ${seconds(started)}`);

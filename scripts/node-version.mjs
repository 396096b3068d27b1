#!/usr/bin/env node
// Installs the newest Node.js of a major line (or an exact version) into the user's cache, from
// the npm registry's node-<platform>-<arch> package, and prints the binary's path on stdout:
//
//   node scripts/node-version.mjs 22          # ~/.cache/serving-cert/node/22.x.y/bin/node
//   PATH="$(dirname "$(node scripts/node-version.mjs 24)"):$PATH" npx vitest run ...
//
// Nothing goes into the repository. A second call with the same version only prints the path.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const wanted = process.argv[2];
if (!wanted || !/^\d+(\.\d+\.\d+)?$/.test(wanted)) {
  process.stderr.write('usage: node scripts/node-version.mjs MAJOR|X.Y.Z   (for example 22, or 24.22.3)\n');
  process.exit(2);
}
const progress = (message) => process.stderr.write(`node-version: ${message}\n`);
const pkg = `node-${process.platform}-${process.arch}`;
const cacheRoot = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'serving-cert', 'node');

try {
  const version = await newestVersion(wanted);
  const binary = path.join(cacheRoot, version, 'bin', 'node');
  if (!existsSync(binary)) await install(version);
  const { stdout } = await run(binary, ['--version']);
  progress(`${binary} is Node ${stdout.trim()}`);
  process.stdout.write(`${binary}\n`);
} catch (error) {
  progress(error.message);
  process.exit(1);
}

async function newestVersion(spec) {
  if (spec.includes('.')) return spec;
  const { stdout } = await run('npm', ['view', `${pkg}@${spec}`, 'version', '--json']).catch((error) => {
    throw new Error(`npm found no ${pkg}@${spec}: ${String(error.stderr || error.message).split('\n')[0]}`);
  });
  const versions = [JSON.parse(stdout)].flat();
  if (versions.length === 0) throw new Error(`npm found no ${pkg}@${spec}`);
  return versions.sort((a, b) => compare(a, b)).at(-1);
}

function compare(a, b) {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

async function install(version) {
  mkdirSync(cacheRoot, { recursive: true });
  // Unpack beside the final folder, then rename: a concurrent or interrupted run never leaves a
  // half-written Node in place.
  const work = mkdtempSync(path.join(cacheRoot, `.installing-${version}-`));
  const started = Date.now();
  const ticker = setInterval(() => {
    const tgz = path.join(work, `${pkg}-${version}.tgz`);
    const size = existsSync(tgz) ? ` (${(statSync(tgz).size / 1e6).toFixed(0)} MB so far)` : '';
    progress(`still fetching ${pkg}@${version} after ${Math.round((Date.now() - started) / 1000)} s${size}`);
  }, 10_000);
  try {
    progress(`fetching ${pkg}@${version} from the npm registry into ${cacheRoot}`);
    const { stdout } = await run('npm', ['pack', `${pkg}@${version}`, '--pack-destination', work, '--silent']);
    const tgz = path.join(work, stdout.trim().split('\n').at(-1));
    await run('tar', ['-xzf', tgz, '-C', work]);
    if (!existsSync(path.join(work, 'package', 'bin', 'node'))) throw new Error(`${pkg}@${version} has no bin/node`);
    try {
      renameSync(path.join(work, 'package'), path.join(cacheRoot, version));
    } catch (error) {
      // Another run installed it first: theirs is as good as ours.
      if (!existsSync(path.join(cacheRoot, version, 'bin', 'node'))) throw error;
    }
    progress(`installed Node ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    clearInterval(ticker);
    rmSync(work, { recursive: true, force: true });
  }
}

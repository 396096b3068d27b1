// Sums the vitest JSON reports of every workspace into one line, `tests: N passed, N failed, N skipped`,
// so that a reader of CI's log (and CI itself) sees at a glance what ran. Exits 1 when no test
// ran at all, when a test or a test file failed, or when a report is missing for a workspace that
// has tests.
//
// Usage: node scripts/test-summary.mjs [ROOT]
//   ROOT: the folder whose package.json lists the workspaces (default: this repository; the
//   TEST_SUMMARY_ROOT environment variable sets it too). Each workspace with a `test` script is
//   expected to have written ROOT/<workspace>/test-results/vitest.json.
//   TEST_SUMMARY_WORKSPACES (comma-separated, as package.json lists them) limits the summary to
//   those workspaces, for a run of part of the suite.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? process.env.TEST_SUMMARY_ROOT ?? fileURLToPath(new URL('..', import.meta.url)));

/** Reads a JSON file, or exits with a message that names it. */
function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    console.error(`test-summary: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}

const { workspaces } = readJson(join(root, 'package.json'));
if (!Array.isArray(workspaces)) {
  console.error(`test-summary: ${join(root, 'package.json')} has no "workspaces" list`);
  process.exit(2);
}

const only = process.env.TEST_SUMMARY_WORKSPACES?.split(',').map((name) => name.trim()).filter(Boolean);
const unknown = only?.filter((name) => !workspaces.includes(name)) ?? [];
if (unknown.length > 0) {
  console.error(`test-summary: TEST_SUMMARY_WORKSPACES names ${unknown.join(', ')}, which ${join(root, 'package.json')} does not list`);
  process.exit(2);
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const missing = [];
const withFailures = [];
const failedToRun = [];
for (const workspace of only ?? workspaces) {
  const pkg = readJson(join(root, workspace, 'package.json'));
  if (!pkg.scripts?.test) continue;
  const report = join(root, workspace, 'test-results', 'vitest.json');
  if (!existsSync(report)) {
    missing.push(workspace);
    continue;
  }
  const results = readJson(report);
  totals.passed += results.numPassedTests ?? 0;
  totals.failed += results.numFailedTests ?? 0;
  if (results.numFailedTests > 0) withFailures.push(workspace);
  totals.skipped += (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0);
  // A test file that fails to load, or an unhandled error, fails the run without failing a test.
  if (results.success === false && !(results.numFailedTests > 0)) failedToRun.push(workspace);
}

console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (withFailures.length > 0) console.error(`failed tests in: ${withFailures.join(', ')}`);
if (missing.length > 0) console.error(`no test report from: ${missing.join(', ')}`);
if (failedToRun.length > 0) console.error(`test run failed without a failing test (a file did not load, or an unhandled error) in: ${failedToRun.join(', ')}`);
if (totals.passed === 0) console.error('no test passed: did any run?');
const ok = totals.passed > 0 && totals.failed === 0 && missing.length === 0 && failedToRun.length === 0;
process.exit(ok ? 0 : 1);

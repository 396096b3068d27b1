// Sums the vitest JSON reports of every workspace into one line, `tests: N passed, N failed`,
// so that a reader of CI's log (and CI itself) sees at a glance what ran. Exits 1 when no test
// ran at all, or when a report is missing for a workspace that has tests.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const workspace of workspaces) {
  const pkg = JSON.parse(readFileSync(join(root, workspace, 'package.json'), 'utf8'));
  if (!pkg.scripts?.test) continue;
  const report = join(root, workspace, 'test-results', 'vitest.json');
  if (!existsSync(report)) {
    missing.push(workspace);
    continue;
  }
  const results = JSON.parse(readFileSync(report, 'utf8'));
  passed += results.numPassedTests;
  failed += results.numFailedTests;
  skipped += results.numPendingTests + (results.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (missing.length > 0) console.error(`no test report from: ${missing.join(', ')}`);
process.exit(passed === 0 || failed > 0 || missing.length > 0 ? 1 : 0);

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The script .ci/run ends with; its exit code decides CI when the tests themselves passed. */
const SCRIPT = fileURLToPath(new URL('../../scripts/test-summary.mjs', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/test-summary/${name}`, import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the summary script as CI does, as a child process, on one fixture repository. */
function summarize(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [SCRIPT, ...args], { env }, (error, stdout, stderr) => {
      // An exit code other than 0 is an answer; anything else (the script did not run) is not.
      if (error && typeof error.code !== 'number') {
        reject(new Error(`cannot run ${SCRIPT}: ${error.message}`));
        return;
      }
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

describe('scripts/test-summary.mjs', () => {
  it('exits 0 with the totals when every workspace with tests has a passing report', async () => {
    const run = await summarize([fixture('all-pass')]);
    // 3 + 2 passed; one skipped and one todo; the workspace without a test script needs no report.
    expect(run).toEqual({ code: 0, stdout: 'tests: 5 passed, 0 failed, 2 skipped\n', stderr: '' });
  });

  it('fails and names the workspace whose report is missing', async () => {
    const run = await summarize([fixture('missing-report')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('tests: 3 passed, 0 failed, 0 skipped\n');
    expect(run.stderr).toContain('no test report from: packages/b');
    expect(run.stderr).not.toContain('packages/a');
  });

  it('fails when a report has a failed test, and names its workspace', async () => {
    const run = await summarize([fixture('failing')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('tests: 4 passed, 1 failed, 0 skipped\n');
    expect(run.stderr).toContain('failed tests in: packages/b');
  });

  it('fails when no test ran, skipped ones aside', async () => {
    const run = await summarize([fixture('no-tests')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('tests: 0 passed, 0 failed, 2 skipped\n');
    expect(run.stderr).toContain('no test passed');
  });

  it('fails when a test file did not load, though no test failed', async () => {
    const run = await summarize([fixture('file-failed-to-load')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('tests: 3 passed, 0 failed, 0 skipped\n');
    expect(run.stderr).toContain('test run failed without a failing test');
    expect(run.stderr).toContain('packages/a');
  });

  it('reads the folder from TEST_SUMMARY_ROOT when no argument names one', async () => {
    const run = await summarize([], { ...process.env, TEST_SUMMARY_ROOT: fixture('missing-report') });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no test report from: packages/b');
  });

  it('says which file it cannot read when the folder is not a workspace root', async () => {
    const run = await summarize([fixture('does-not-exist')]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/test-summary: cannot read .*does-not-exist.*package\.json/);
  });

  it('sums only the workspaces TEST_SUMMARY_WORKSPACES names (a run of part of the suite)', async () => {
    const run = await summarize([fixture('missing-report')], { ...process.env, TEST_SUMMARY_WORKSPACES: 'packages/a' });
    expect(run).toEqual({ code: 0, stdout: 'tests: 3 passed, 0 failed, 0 skipped\n', stderr: '' });
  });

  it('refuses a TEST_SUMMARY_WORKSPACES entry that is no workspace, instead of summing nothing', async () => {
    const run = await summarize([fixture('all-pass')], { ...process.env, TEST_SUMMARY_WORKSPACES: 'packages/a, packages/zz' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('TEST_SUMMARY_WORKSPACES names packages/zz');
  });
});

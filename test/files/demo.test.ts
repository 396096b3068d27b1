import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const demo = fileURLToPath(new URL('../../packages/examples/dist/demo.js', import.meta.url));

describe('npm run demo', () => {
  it('runs for --duration, rotates, and no request fails', async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [demo, '--duration', '9', '--rotate-every', '2'], { timeout: 60_000 }, (error, out) => {
        resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stdout: out });
      });
    });
    const summary = stdout.trim().split('\n').at(-1)!;
    const match = /^rotations: (\d+), requests: (\d+), failed: (\d+)$/.exec(summary);
    expect(match, `last line: ${summary}`).not.toBeNull();
    const [, rotations, requests, failed] = match!.map(Number);
    expect(rotations).toBeGreaterThanOrEqual(4); // both services, every 2 s, plus the CA rollover
    expect(requests).toBeGreaterThanOrEqual(14);
    expect(failed).toBe(0);
    expect(code).toBe(0);
    expect(stdout).toContain('rolling the development CA over');
    expect(stdout).toMatch(/payments saw caller "orders"/);
  });
});

import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

/** The committed bin entry of @serving-cert/core, as npm links it. */
export const servingCertBin = createRequire(import.meta.url).resolve('@serving-cert/core/package.json').replace(/package\.json$/, 'bin/serving-cert.js');

/** Runs the serving-cert command as a real child process. */
export async function servingCert(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [servingCertBin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

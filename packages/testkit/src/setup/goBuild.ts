import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { TestkitError } from '../errors.js';

const run = promisify(execFile);

/** Go's environment for the builds: static binaries, go.mod may gain missing go.sum lines. */
export const GO_ENV = { CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };

/** `go mod download` in a module folder; a missing Go is {@link TestkitError} E_NO_GO. */
export async function goModDownload(cwd: string): Promise<void> {
  await run('go', ['mod', 'download'], { cwd, env: { ...process.env, ...GO_ENV }, maxBuffer: 64 * 1024 * 1024 }).catch((error: unknown) => {
    throw goError('go mod download', error);
  });
}

/** Where `go mod download -json module@version` put a module. */
export async function goModuleDir(module: string, version: string, cwd: string): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${module}@${version}`], { cwd, maxBuffer: 16 * 1024 * 1024 }).catch((error: unknown) => {
    throw goError(`go mod download ${module}@${version}`, error);
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (info.Error || !info.Dir) throw new TestkitError('E_BUILD', `go mod download ${module}@${version}: ${info.Error ?? 'no folder'}`);
  return info.Dir;
}

/** Runs `go build -v`, with a progress line every 10 s (the first build takes minutes). */
export function goBuild(label: string, args: string[], cwd: string, log: (message: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let packages = 0;
    let tail = '';
    const child = spawn('go', ['build', '-v', ...args], { cwd, env: { ...process.env, ...GO_ENV }, stdio: ['ignore', 'inherit', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      packages += text.split('\n').filter((line) => line.trim() && !line.startsWith('#')).length;
      tail = (tail + text).slice(-4000);
    });
    const progress = setInterval(() => {
      log(`${label}: ${Math.round((Date.now() - started) / 1000)} s, ${packages} packages compiled so far`);
    }, 10_000);
    child.on('error', (error) => {
      clearInterval(progress);
      reject(goError(`go build of ${label}`, error));
    });
    child.on('exit', (code) => {
      clearInterval(progress);
      if (code === 0) {
        log(`${label}: built in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
      } else {
        reject(new TestkitError('E_BUILD', `go build of ${label} failed (exit ${code}); Go said:\n${tail}`));
      }
    });
  });
}

function goError(what: string, error: unknown): TestkitError {
  const err = error as NodeJS.ErrnoException & { stderr?: string };
  if (err.code === 'ENOENT') {
    return new TestkitError('E_NO_GO', `${what}: Go is not on PATH. Install Go 1.26 or newer (https://go.dev/dl/), ` +
      'or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd (setup-envtest\'s) to skip the control plane build', { cause: error });
  }
  return new TestkitError('E_BUILD', `${what} failed: ${String(err.stderr || err.message).trim().slice(-4000)}`, { cause: error });
}

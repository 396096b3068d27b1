import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TestkitError } from '../errors.js';

/**
 * The starting process's side of supervisor.ts: the temporary folder the supervisor made, and the
 * socket that tells it which processes to kill should this process die without stop().
 */
export interface Supervisor {
  /** The control plane's temporary folder, made by the supervisor and removed by it on our death. */
  readonly dir: string;
  /** Kill this process if we die. */
  watch(pid: number): void;
  /** It ended on its own: its pid may be given to another process. */
  forget(pid: number): void;
  /** stop() removed everything: the supervisor exits without doing anything. Safe to call twice. */
  release(): Promise<void>;
  /** Why the supervisor is gone while we still need it, or undefined. */
  lost(): string | undefined;
}

const script = fileURLToPath(new URL('./supervisor.js', import.meta.url));

/** Starts the supervisor with a folder `${prefix}XXXXXX` and waits until it watches us. */
export async function startSupervisor(prefix: string, timeoutMs: number): Promise<Supervisor> {
  if (!existsSync(script)) {
    throw new TestkitError('E_ASSETS_MISSING', `the control plane's supervisor is not at ${script}: reinstall @serving-cert/testkit ` +
      '(in its own repository: `npm run build`) and import it from its dist folder');
  }
  // detached: a session of its own, so that a signal to our process group (Ctrl-C, a runner's
  // group kill) leaves it alive to clean up after us.
  const child = spawn(process.execPath, [script, prefix], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
  let exit: string | undefined;
  let released: Promise<void> | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = `the control plane's supervisor exited with ${signal ?? code}`;
      resolve();
    });
    child.once('error', (error) => {
      exit = `the control plane's supervisor could not start: ${error.message}`;
      resolve();
    });
  });
  // Writes after its death fail with EPIPE; lost() reports that, the write must not crash us.
  child.stdin?.on('error', () => {});
  const dir = await readDir(child, exited, () => exit, timeoutMs);
  // It must not keep our event loop alive: a script that forgets stop() still ends, and then the
  // supervisor cleans up.
  child.unref();
  (child.stdin as Socket | null)?.unref();
  const send = (line: string): void => {
    if (exit === undefined) child.stdin?.write(`${line}\n`);
  };
  return {
    dir,
    watch: (pid) => send(`watch ${pid}`),
    forget: (pid) => send(`forget ${pid}`),
    release: () => {
      released ??= (async () => {
        child.ref();
        send('release');
        child.stdin?.end();
        await exited;
      })();
      return released;
    },
    lost: () => (released ? undefined : exit),
  };
}

async function readDir(child: ChildProcess, exited: Promise<void>, exit: () => string | undefined, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  let text = '';
  const firstLine = new Promise<string>((resolve) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
  });
  try {
    const line = await Promise.race([
      firstLine,
      exited.then(() => Promise.reject(new TestkitError('E_START', exit() ?? 'the control plane\'s supervisor exited'))),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new TestkitError('E_TIMEOUT', `the control plane's supervisor did not start within ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
    return (JSON.parse(line) as { dir: string }).dir;
  } catch (error) {
    // Its input closing tells it to remove whatever it made and exit.
    child.stdin?.end();
    throw error;
  } finally {
    clearTimeout(timer);
    // The supervisor writes nothing more; a pipe left open would only hold our event loop.
    child.stdout?.destroy();
  }
}

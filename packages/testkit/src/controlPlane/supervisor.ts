/**
 * The control plane's supervisor: a small process of its own that cleans up after the process
 * that started etcd and kube-apiserver when that process dies without stop(), however it dies
 * (an uncaught exception, process.exit(), a signal, SIGKILL, the OOM killer).
 *
 * It learns of that death from the kernel, not from the dying process's event loop: its standard
 * input is a socket whose other end only the starting process holds, and the kernel closes that
 * end when the process ends. Protocol, one line each, on that socket:
 * - it writes `{"dir": "..."}` on stdout once it has made the control plane's temporary folder;
 * - it reads `watch PID` (a process to kill), `forget PID` (it ended on its own) and `release`
 *   (stop() did the work: exit without doing anything).
 * When its input closes without `release`, it SIGKILLs every watched process, waits until each is
 * dead, removes the folder, and exits. It runs in a session of its own (spawned detached), so the
 * Ctrl-C or group kill that ends the starting process does not end it first.
 *
 * Run as `node supervisor.js PREFIX`; spawned by {@link startControlPlane} only.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** How long to wait for a killed process to be dead before removing the folder anyway. */
const DEATH_TIMEOUT_MS = 10_000;

const prefix = process.argv[2];
if (!prefix) {
  process.stderr.write('usage: supervisor.js TEMP_DIR_PREFIX\n');
  process.exit(2);
}
process.title = 'serving-cert-control-plane-supervisor'; // what `ps` shows
const dir = mkdtempSync(prefix);
// pid -> its start time, so that a pid the kernel gave to another process since is never killed.
const watched = new Map<number, string | undefined>();
let released = false;

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, argument] = line.split(' ');
  const pid = Number(argument);
  if (command === 'watch' && Number.isInteger(pid) && pid > 0) watched.set(pid, startTime(pid));
  else if (command === 'forget') watched.delete(pid);
  else if (command === 'release') released = true;
});
// 'close' comes after EOF and after a reset alike (a Unix socket closed with unread data resets).
lines.on('close', () => {
  if (released) process.exit(0);
  void cleanUp().finally(() => process.exit(0));
});
process.stdin.on('error', () => {}); // the reset also surfaces here; 'close' handles it
process.stdout.on('error', () => {}); // the starting process may be gone before it reads the line
process.stdout.write(`${JSON.stringify({ dir })}\n`);

async function cleanUp(): Promise<void> {
  const victims = [...watched].filter(([pid, started]) => started === startTime(pid)).map(([pid]) => pid);
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // etcd writes into the folder until it is dead: remove the folder after, not during.
  const deadline = Date.now() + DEATH_TIMEOUT_MS;
  while (victims.some((pid) => !isDead(pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
}

/** Field 22 of /proc/PID/stat (Linux); undefined elsewhere or when the process is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Gone, or a zombie: its memory, ports and open files are released either way. */
function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return ['Z', 'X', 'x'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch (error) {
    if (process.platform === 'linux') return (error as NodeJS.ErrnoException).code === 'ENOENT';
    // No /proc (macOS): signal 0 tells whether the pid still exists.
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { TestkitError } from '../errors.js';

/** Files of one volume revision by relative path: a Secret's keys and decoded values. */
export type VolumePayload = Readonly<Record<string, string | Buffer>>;

/** What one write did. */
export interface AtomicWriteResult {
  /** False when the payload equals what `..data` already shows: kubelet skips such a write. */
  written: boolean;
  /** The timestamped directory `..data` points at afterwards (its name, not a path). */
  dataDir: string;
  /** `performance.now()` right after the atomic rename: when readers could first see it. */
  swappedAt: number | undefined;
}

const DATA_LINK = '..data';
const DATA_TMP_LINK = '..data_tmp';

/**
 * Writes `payload` into `dir` exactly as kubelet's AtomicWriter
 * (pkg/volume/util/atomic_writer.go) updates a Secret volume: all files go into a new hidden
 * timestamped directory, a `..data_tmp` symlink to it is renamed over `..data` (the one atomic
 * step), each user-visible name is a symlink `key -> ..data/key`, names no longer in the payload
 * are removed, and the old directory is deleted last. A reader that resolves `..data` once sees
 * one whole revision, never a mix.
 */
export async function writeAtomicVolume(dir: string, payload: VolumePayload): Promise<AtomicWriteResult> {
  // (1) validate the payload
  const keys = Object.keys(payload).sort();
  for (const key of keys) validateKey(key);
  await fs.mkdir(dir, { recursive: true });

  // (2) the current timestamped directory, and (3) what it holds
  const oldDataDir = await fs.readlink(path.join(dir, DATA_LINK)).catch(() => undefined);
  const oldKeys = oldDataDir ? await listFiles(path.join(dir, oldDataDir)) : [];

  // (4) skip the write when nothing changed
  if (oldDataDir && (await sameContent(path.join(dir, oldDataDir), oldKeys, payload))) {
    return { written: false, dataDir: oldDataDir, swappedAt: undefined };
  }

  // (5) a new hidden timestamped directory, (6) the files, (7) permissions
  const tsDir = await fs.mkdtemp(path.join(dir, `..${timestamp(new Date())}.`));
  await fs.chmod(tsDir, 0o755);
  for (const key of keys) {
    const file = path.join(tsDir, key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, payload[key]!, { mode: 0o644 });
  }

  // (8) ..data_tmp -> new directory, (9) renamed over ..data: the atomic step
  const tmpLink = path.join(dir, DATA_TMP_LINK);
  await fs.rm(tmpLink, { force: true });
  await fs.symlink(path.basename(tsDir), tmpLink);
  await fs.rename(tmpLink, path.join(dir, DATA_LINK));
  const swappedAt = performance.now();

  // (10) user-visible links for new top-level names
  const visible = new Set(keys.map((key) => key.split('/')[0]!));
  for (const name of visible) {
    const link = path.join(dir, name);
    const existing = await fs.lstat(link).catch(() => undefined);
    if (!existing) await fs.symlink(path.join(DATA_LINK, name), link);
  }

  // (11) remove user-visible names that left the payload
  for (const name of new Set(oldKeys.map((key) => key.split('/')[0]!))) {
    if (!visible.has(name)) await fs.rm(path.join(dir, name), { force: true, recursive: true });
  }

  // (12) remove the old timestamped directory
  if (oldDataDir) await fs.rm(path.join(dir, oldDataDir), { recursive: true, force: true });
  return { written: true, dataDir: path.basename(tsDir), swappedAt };
}

function validateKey(key: string): void {
  if (key === '' || path.isAbsolute(key) || key.split('/').some((part) => part === '..' || part === '') || key.startsWith('..')) {
    throw new TestkitError('E_USAGE', `invalid volume path "${key}": relative, no '..' segments, and not starting with '..'`);
  }
}

/** kubelet's layout: `..2006_01_02_15_04_05.` followed by mkdtemp's random suffix. */
function timestamp(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}_${two(date.getUTCMonth() + 1)}_${two(date.getUTCDate())}_` +
    `${two(date.getUTCHours())}_${two(date.getUTCMinutes())}_${two(date.getUTCSeconds())}`;
}

async function listFiles(root: string, prefix = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, prefix), { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await listFiles(root, relative)));
    else files.push(relative);
  }
  return files;
}

async function sameContent(root: string, existing: string[], payload: VolumePayload): Promise<boolean> {
  const keys = Object.keys(payload);
  if (existing.length !== keys.length || !keys.every((key) => existing.includes(key))) return false;
  for (const key of keys) {
    const current = await fs.readFile(path.join(root, key)).catch(() => undefined);
    if (!current?.equals(Buffer.from(payload[key]!))) return false;
  }
  return true;
}

import * as fs from 'node:fs/promises';
import { ServingCertError } from '../../errors.js';

// The local development CA signs what every local peer trusts: its folder and key must be the
// user's own and private, or another user could plant a CA (or read its key). POSIX only:
// Windows has no uid or mode bits to check.

const checksOwnership = typeof process.getuid === 'function';

/**
 * Makes sure `dir` is a real folder (not a symlink), owned by this user, with mode 0700:
 * created so when missing, else refused with E_CONFIG saying how to fix it.
 */
export async function ensurePrivateFolder(dir: string): Promise<void> {
  let stat = await fs.lstat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stat) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    stat = await fs.lstat(dir);
  }
  const fix = `use a folder of your own (local.dir or SERVING_CERT_LOCAL_CA_DIR), or remove ${dir} to start afresh`;
  if (stat.isSymbolicLink() || !stat.isDirectory()) {
    throw new ServingCertError('E_CONFIG', `the local CA folder ${dir} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; it must be a real folder: ${fix}`);
  }
  if (checksOwnership && stat.uid !== process.getuid!()) {
    throw new ServingCertError('E_CONFIG', `the local CA folder ${dir} belongs to uid ${stat.uid}, not to this user (uid ${process.getuid!()}): ${fix}`);
  }
  if (checksOwnership && (stat.mode & 0o077) !== 0) {
    throw new ServingCertError('E_CONFIG',
      `the local CA folder ${dir} has mode ${(stat.mode & 0o777).toString(8)}; others could plant a CA there: run chmod 700 ${dir}, or ${fix}`);
  }
}

/** Makes sure the CA key file is a regular file of this user with mode 0600. */
export async function assertPrivateKeyFile(file: string): Promise<void> {
  const stat = await fs.lstat(file);
  const fix = `remove the local CA folder to start afresh`;
  if (!stat.isFile()) throw new ServingCertError('E_CONFIG', `${file} is not a regular file: ${fix}`);
  if (checksOwnership && stat.uid !== process.getuid!()) {
    throw new ServingCertError('E_CONFIG', `${file} belongs to uid ${stat.uid}, not to this user: another user may have planted this CA; ${fix}`);
  }
  if (checksOwnership && (stat.mode & 0o077) !== 0) {
    throw new ServingCertError('E_CONFIG', `${file} has mode ${(stat.mode & 0o777).toString(8)}; a CA key must be private: run chmod 600 ${file}, or ${fix}`);
  }
}

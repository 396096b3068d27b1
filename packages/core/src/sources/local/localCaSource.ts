import { randomBytes, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { watch as chokidarWatch } from 'chokidar';
import { ServingCertError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type * as Pki from '../../pki/certificateAuthority.js';
import type { CertificateAuthority, IssuedLeaf } from '../../pki/certificateAuthority.js';
import type { LocalCaOptions } from '../../options/ensureOptions.js';
import type { MaterialSources } from '../source.js';
import { assertPrivateKeyFile, ensurePrivateFolder } from './localCaFolder.js';

export type { LocalCaOptions } from '../../options/ensureOptions.js';

/** The issuing code (node-forge), loaded only when a local CA is used: a files or api start never pays for it. */
async function loadPki(): Promise<typeof Pki> {
  return import('../../pki/certificateAuthority.js');
}

const CA_CERT = 'ca.crt';
const CA_KEY = 'ca.key';
/** Reads 20 ms apart that must find the key and certificate apart before they are refused (a rotation's two renames are not). */
const MISMATCHED_READS = 10;

/** The folder of the local development CA. */
export function localCaDir(dir?: string): string {
  return dir ?? process.env.SERVING_CERT_LOCAL_CA_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'serving-cert', 'local-ca');
}

/**
 * Loads the development CA from `dir`, making one (key file 0600, folder 0700) if there is none.
 * Two processes (or two sources) that start together on an empty folder end up with the same
 * CA: the files are linked into place, which fails for the second, and the second loads the
 * first's. A folder or key that is not the user's own and private, a key that does not match
 * the certificate, or files that do not parse fail at once with E_CONFIG naming the file (no
 * wait cures them). A CA in the last tenth of its lifetime is replaced (see rotateLocalCa):
 * the sources then trust the new CA first and issue from it after the rollover delay.
 */
export async function loadOrCreateLocalCa(dir: string): Promise<CertificateAuthority> {
  const { CertificateAuthority } = await loadPki();
  await ensurePrivateFolder(dir);
  const certFile = path.join(dir, CA_CERT);
  const keyFile = path.join(dir, CA_KEY);
  let mismatches = 0;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const [certPem, keyPem] = await Promise.all([readIfThere(certFile), readIfThere(keyFile)]);
    if (certPem !== undefined && keyPem !== undefined) {
      await assertPrivateKeyFile(keyFile);
      const ca = parseLocalCa(CertificateAuthority, certFile, certPem, keyFile, keyPem);
      if (!ca.cert.checkPrivateKey(ca.key)) {
        // rotateLocalCa renames the new key into place, then the new certificate: a read
        // between the two finds a pair that does not match yet. Only a lasting mismatch is one.
        mismatches += 1;
        if (mismatches >= MISMATCHED_READS) {
          throw new ServingCertError('E_CONFIG', `the local CA key ${keyFile} does not belong to ${certFile}; remove the folder to start afresh`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      const notAfter = new Date(ca.cert.validTo).getTime();
      if (notAfter - Date.now() > (notAfter - new Date(ca.cert.validFrom).getTime()) / 10) return ca;
      return rotateLocalCa(dir); // expired or soon to be: a new CA, trusted first by the sources
    }
    if (certPem !== undefined) {
      // The key is linked before the certificate, so a certificate alone is no writer's middle state.
      throw new ServingCertError('E_CONFIG', `the local CA in ${dir} has ${CA_CERT} but no ${CA_KEY}; remove ${certFile} (or the folder) to start afresh`);
    }
    if (keyPem !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, 20)); // another writer is between its two links
      continue;
    }
    const ca = newLocalCa(CertificateAuthority);
    const suffix = randomBytes(4).toString('hex');
    const tmpKey = path.join(dir, `.${CA_KEY}.${suffix}`);
    const tmpCert = path.join(dir, `.${CA_CERT}.${suffix}`);
    await fs.writeFile(tmpKey, ca.keyPem, { mode: 0o600 });
    await fs.writeFile(tmpCert, ca.certPem, { mode: 0o644 });
    try {
      await fs.link(tmpKey, keyFile); // fails with EEXIST for the second writer
      await fs.link(tmpCert, certFile);
      return ca;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await fs.rm(tmpKey, { force: true });
      await fs.rm(tmpCert, { force: true });
    }
  }
  throw new ServingCertError('E_CONFIG', `the local CA in ${dir} has ${CA_KEY} but no ${CA_CERT}; remove the folder to start afresh`);
}

function certParses(pem: string): boolean {
  try {
    new X509Certificate(pem); // only whether OpenSSL reads it
    return true;
  } catch {
    return false;
  }
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ServingCertError('E_IO', `the local CA file ${file} cannot be read (${String(error)})`, { cause: error });
  }
}

function parseLocalCa(authority: typeof CertificateAuthority, certFile: string, certPem: string, keyFile: string, keyPem: string): CertificateAuthority {
  let ca: CertificateAuthority;
  try {
    ca = authority.fromPem(certPem, keyPem);
  } catch (cause) {
    throw new ServingCertError('E_CONFIG', `the local CA file ${certParses(certPem) ? keyFile : certFile} does not parse; remove the folder to start afresh`, { cause });
  }
  return ca;
}

function newLocalCa(authority: typeof CertificateAuthority): CertificateAuthority {
  return authority.create({ commonName: `serving-cert local development CA ${new Date().toISOString().slice(0, 19)}` });
}

/**
 * Replaces the development CA in `dir` with a new one (for demos of a CA rollover). The key is
 * written 0600 and both files land by rename, so a reader never sees half a file; between the
 * two renames the pair does not match, which readers wait out (see loadOrCreateLocalCa).
 */
export async function rotateLocalCa(dir?: string): Promise<CertificateAuthority> {
  const target = localCaDir(dir);
  await ensurePrivateFolder(target);
  const ca = newLocalCa((await loadPki()).CertificateAuthority);
  const suffix = randomBytes(4).toString('hex');
  await fs.writeFile(path.join(target, `.${CA_KEY}.${suffix}`), ca.keyPem, { mode: 0o600 });
  await fs.writeFile(path.join(target, `.${CA_CERT}.${suffix}`), ca.certPem, { mode: 0o644 });
  // The key first: a reader that sees the new certificate finds its key already there.
  await fs.rename(path.join(target, `.${CA_KEY}.${suffix}`), path.join(target, CA_KEY));
  await fs.rename(path.join(target, `.${CA_CERT}.${suffix}`), path.join(target, CA_CERT));
  return ca;
}

/**
 * The embedded default outside a cluster: a development CA kept on disk, and a leaf for the
 * service's names plus `localhost` and `127.0.0.1`, renewed before it expires (and on an
 * interval when asked). A new CA on disk (another process ran `rotateLocalCa`) is followed:
 * the trust source changes, and the next leaf comes from the new CA.
 */
export function localCaSources(options: LocalCaOptions & { dnsNames: readonly string[]; logger: Logger }): MaterialSources & { ca: NonNullable<MaterialSources['ca']> } {
  const dir = localCaDir(options.dir);
  const lifetimeMs = options.leafLifetimeMs ?? 24 * 3_600_000;
  const rolloverDelayMs = options.caRolloverDelayMs ?? 2_000;
  let ca: CertificateAuthority | undefined;
  let leaf: IssuedLeaf | undefined;
  let issuedAt = 0;
  let newCaSeenAt: number | undefined;
  let nudge: (() => void) | undefined;
  let rolloverTimer: NodeJS.Timeout | undefined;

  const current = async (): Promise<{ ca: CertificateAuthority; leaf: IssuedLeaf }> => {
    const loaded = await loadOrCreateLocalCa(dir);
    let caChanged = !ca || loaded.cert.fingerprint256 !== ca.cert.fingerprint256;
    if (caChanged && ca && leaf) {
      // A rollover: trust first (the trust source shows the new CA at once), issue later.
      newCaSeenAt ??= Date.now();
      const wait = rolloverDelayMs - (Date.now() - newCaSeenAt);
      if (wait > 0) {
        caChanged = false;
        clearTimeout(rolloverTimer);
        rolloverTimer = setTimeout(() => nudge?.(), wait + 10);
        rolloverTimer.unref();
      }
    }
    const due = Date.now() - issuedAt >= Math.min(lifetimeMs * (2 / 3), options.rotateIntervalMs ?? Infinity);
    if (caChanged) {
      ca = loaded;
      newCaSeenAt = undefined;
    }
    if (!leaf || caChanged || due) {
      const notBefore = new Date(Date.now() - 60_000);
      leaf = ca!.issue({
        dnsNames: [...new Set([...options.dnsNames, 'localhost'])],
        ipAddresses: ['127.0.0.1', '::1'],
        notBefore,
        // Rounded up to a whole second, as X.509 keeps it: else the leaf could expire up to a
        // second before the renewal at 2/3 of lifetimeMs that is planned from it.
        notAfter: new Date(Math.ceil((notBefore.getTime() + lifetimeMs + 60_000) / 1_000) * 1_000),
      });
      issuedAt = Date.now();
    }
    return { ca: ca!, leaf };
  };

  const watchCa = async (onMaybeChanged: () => void, signal: AbortSignal, intervalMs: number): Promise<void> => {
    // chokidar sees nothing inside a folder that did not exist when the watch began. A folder
    // that is not the user's own is watched by the interval only: read() reports it (E_CONFIG).
    const privateFolder = await ensurePrivateFolder(dir).then(() => true, () => false);
    const watcher = privateFolder ? chokidarWatch(dir, { depth: 0, ignoreInitial: true, persistent: false, atomic: false }) : undefined;
    watcher?.on('all', () => onMaybeChanged());
    const timer = setInterval(onMaybeChanged, intervalMs);
    timer.unref();
    return new Promise((resolve) => {
      const stop = (): void => {
        clearInterval(timer);
        if (watcher) void watcher.close().then(resolve, resolve);
        else resolve();
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
  };
  const checkEvery = Math.max(50, Math.min(options.rotateIntervalMs ?? 60_000, lifetimeMs / 30, 60_000));

  return {
    serving: {
      description: `local CA ${dir}`,
      async read() {
        const { leaf: issued } = await current();
        return { present: true, files: { 'tls.crt': Buffer.from(issued.certPem), 'tls.key': Buffer.from(issued.keyPem), 'ca.crt': Buffer.from(issued.caPem) } };
      },
      watch: (onMaybeChanged, signal) => {
        nudge = onMaybeChanged;
        signal.addEventListener('abort', () => clearTimeout(rolloverTimer), { once: true });
        return watchCa(onMaybeChanged, signal, checkEvery);
      },
    },
    ca: {
      description: `local CA ${dir} (trust)`,
      async read() {
        const loaded = await loadOrCreateLocalCa(dir);
        return { present: true, files: { 'ca.crt': Buffer.from(loaded.certPem) } };
      },
      watch: (onMaybeChanged, signal) => watchCa(onMaybeChanged, signal, 60_000),
    },
  };
}

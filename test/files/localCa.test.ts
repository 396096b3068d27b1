import * as fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { recordingLogger, rejection, servedSerial, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

// The local development CA trusts only a folder and key of the user's own (issue 12, item 6).

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const DAY = 86_400_000;
const start = (caDir: string) => ensureServingCert({
  source: 'local', serviceName: 'orders', namespace: 'demo', local: { dir: caDir }, logger: recordingLogger(),
});

async function writeCa(caDir: string, ca: { certPem: string; keyPem: string }, keyMode = 0o600): Promise<void> {
  await fs.mkdir(caDir, { recursive: true, mode: 0o700 });
  await fs.writeFile(`${caDir}/ca.key`, ca.keyPem, { mode: keyMode });
  await fs.chmod(`${caDir}/ca.key`, keyMode);
  await fs.writeFile(`${caDir}/ca.crt`, ca.certPem);
}

describe('the local CA refuses what is not the user\'s own, at once', () => {
  const runsAsRoot = process.getuid?.() === 0;
  const cases: Array<[string, (dir: string) => Promise<string>, RegExp]> = [
    ['a world-writable folder', async (dir) => {
      await fs.mkdir(`${dir}/ca`, { mode: 0o777 });
      await fs.chmod(`${dir}/ca`, 0o777);
      return `${dir}/ca`;
    }, /has mode 777; others could plant a CA there: run chmod 700/],
    ['a symlinked folder', async (dir) => {
      await fs.mkdir(`${dir}/elsewhere`, { mode: 0o700 });
      await fs.symlink(`${dir}/elsewhere`, `${dir}/ca`);
      return `${dir}/ca`;
    }, /is a symbolic link; it must be a real folder/],
    ['a ca.key readable by others', async (dir) => {
      await writeCa(`${dir}/ca`, CertificateAuthority.create(), 0o644);
      return `${dir}/ca`;
    }, /ca\.key has mode 644; a CA key must be private: run chmod 600/],
    ['a key that does not match ca.crt', async (dir) => {
      await writeCa(`${dir}/ca`, { certPem: CertificateAuthority.create().certPem, keyPem: CertificateAuthority.create().keyPem });
      return `${dir}/ca`;
    }, /ca\.key does not belong to .*ca\.crt/],
    ['a ca.crt whose key was deleted', async (dir) => {
      await writeCa(`${dir}/ca`, CertificateAuthority.create());
      await fs.rm(`${dir}/ca/ca.key`);
      return `${dir}/ca`;
    }, /has ca\.crt but no ca\.key/],
    ['a corrupt ca.crt', async (dir) => {
      const ca = CertificateAuthority.create();
      await writeCa(`${dir}/ca`, { certPem: ca.certPem.slice(0, 120), keyPem: ca.keyPem });
      return `${dir}/ca`;
    }, /local CA file .*ca\.crt does not parse/],
    ...(runsAsRoot ? [['a folder owned by another user', async (dir: string) => {
      await fs.mkdir(`${dir}/ca`, { mode: 0o700 });
      await fs.chown(`${dir}/ca`, 65534, 65534);
      return `${dir}/ca`;
    }, /belongs to uid 65534, not to this user/] as [string, (dir: string) => Promise<string>, RegExp]] : []),
  ];

  it.each(cases)('%s: E_CONFIG naming the file, without waiting for timeoutMs', async (_label, prepare, message) => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const caDir = await prepare(dir);
    const started = Date.now();
    const error = await rejection(start(caDir)); // timeoutMs is the default 5 minutes
    expect(error.code).toBe('E_CONFIG');
    expect(error.message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(60_000); // a liveness bound: far below the 5-minute wait
  });

  it('creates a missing folder with mode 0700', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const cert = await start(`${dir}/new/ca`);
    cleanups.push(() => cert.close());
    expect((await fs.lstat(`${dir}/new/ca`)).mode & 0o777).toBe(0o700);
  });

  it('waits out a rotation caught between its two renames (the new key, the old certificate) instead of refusing the folder', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const caDir = `${dir}/ca`;
    const [old, next] = [CertificateAuthority.create({ commonName: 'old local CA' }), CertificateAuthority.create({ commonName: 'new local CA' })];
    // rotateLocalCa's middle state: the new key renamed into place, the certificate not yet.
    await writeCa(caDir, { certPem: old.certPem, keyPem: next.keyPem });
    await fs.writeFile(`${caDir}/.ca.crt.next`, next.certPem);
    const renamed = new Promise((resolve) => setTimeout(resolve, 150)).then(() => fs.rename(`${caDir}/.ca.crt.next`, `${caDir}/ca.crt`));
    const cert = await start(caDir);
    cleanups.push(() => cert.close());
    await renamed;
    expect(cert.current.info.issuer).toContain('new local CA');
  });

  it('rolls an expired local CA over to a new one, which a real client then verifies', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const expired = CertificateAuthority.create({ commonName: 'old local CA', notBefore: new Date(Date.now() - 20 * DAY), notAfter: new Date(Date.now() - DAY) });
    await writeCa(`${dir}/ca`, expired);
    const cert = await start(`${dir}/ca`);
    cleanups.push(() => cert.close());
    const newCa = await fs.readFile(`${dir}/ca/ca.crt`, 'utf8');
    expect(newCa).not.toBe(expired.certPem);
    expect(cert.current.info.issuer).not.toContain('old local CA');
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);
    expect(await servedSerial(server.port, newCa, 'orders.demo.svc')).toBe(cert.current.info.serialNumber);
  });
});

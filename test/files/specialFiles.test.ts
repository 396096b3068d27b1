// What a mounted folder may hold besides certificates: a FIFO, a socket or a directory in place
// of tls.crt must be refused with a clear error, never block a read, a close() or the CLI; and a
// certDir that is a symlink must be followed to the real folder.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority, type IssuedLeaf } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { servingCert } from '../helpers/cli.js';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const ca = CertificateAuthority.create({ commonName: 'platform root' });
const payloadOf = (leaf: IssuedLeaf) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
type Entry = string | ((file: string) => Promise<void>);

let revisions = 0;
/**
 * One kubelet-style swap whose files may be anything: a new hidden directory, `..data_tmp`
 * renamed over `..data`. (writeAtomicVolume compares the old revision's bytes, which would
 * block on a FIFO: so every swap after the first goes through here.)
 */
async function swapIn(dir: string, entries: Record<string, Entry>): Promise<void> {
  const revision = `..rev_${process.pid}_${(revisions += 1)}`;
  await fs.mkdir(path.join(dir, revision));
  for (const [key, entry] of Object.entries(entries)) {
    const file = path.join(dir, revision, key);
    if (typeof entry === 'string') await fs.writeFile(file, entry);
    else await entry(file);
  }
  await fs.symlink(revision, path.join(dir, '..data_tmp'));
  await fs.rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
}

const fifo = async (file: string) => {
  await promisify(execFile)('mkfifo', [file]);
};
const socket = async (file: string) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(file, resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
};
const directory = (file: string) => fs.mkdir(file);

async function startWeb(certDirOf: (dir: string) => Promise<string> = (dir) => Promise.resolve(`${dir}/certs`)) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const certDir = await certDirOf(dir);
  await writeAtomicVolume(await fs.realpath(certDir).catch(() => certDir), payloadOf(ca.issue({ dnsNames: WEB_NAMES })));
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  const server = await startAttachedHttpsServer(cert);
  cleanups.push(server.close);
  return { dir, cert, certDir, server };
}

describe('files source: only regular files', () => {
  it.each([
    ['a FIFO', fifo, 'a FIFO'],
    ['a socket', socket, 'a socket'],
    ['a directory', directory, 'a directory'],
  ] as const)('refuses %s in place of tls.crt, then serves the next good version', async (_label, make, type) => {
    const { cert, certDir, server } = await startWeb();
    const serving = cert.current.info.serialNumber;
    const good = ca.issue({ dnsNames: WEB_NAMES });
    const refused = nextEvent<[ServingCertError]>(cert, 'error', 10_000);
    await swapIn(certDir, { ...payloadOf(good), 'tls.crt': make });
    const [error] = await refused;
    expect(error.code).toBe('E_IO');
    expect(error.message).toContain(`tls.crt is ${type}`);
    expect(error.message).toContain(certDir);
    expect(await servedSerial(server.port, ca.certPem)).toBe(serving);

    const rotated = nextEvent(cert, 'rotate', 10_000);
    await swapIn(certDir, payloadOf(good));
    await rotated;
    expect(await servedSerial(server.port, ca.certPem)).toBe(good.leaf.serialNumber);
  });

  it('close() resolves within 2 s with a FIFO in the folder', async () => {
    const { cert, certDir } = await startWeb();
    const refused = nextEvent(cert, 'error', 10_000);
    await swapIn(certDir, { ...payloadOf(ca.issue({ dnsNames: WEB_NAMES })), 'tls.crt': fifo });
    await refused;
    const closed = await Promise.race([cert.close().then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 2_000, 'still open'))]);
    expect(closed).toBe('closed');
  });

  it('serving-cert inspect on a FIFO says so and exits 1 (no hang)', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await fs.writeFile(path.join(dir, 'tls.key'), ca.issue({ dnsNames: WEB_NAMES }).keyPem);
    await fifo(path.join(dir, 'tls.crt'));
    const started = Date.now();
    const result = await servingCert(['inspect', dir, '--service', 'web', '--namespace', 'shop']);
    process.stderr.write(`inspect on a FIFO exited ${result.code} after ${Date.now() - started} ms\n`);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('is a FIFO');
  });
});

describe('files source: a symlinked certDir', () => {
  it('follows rotations in the real folder at once, and the link being pointed elsewhere', async () => {
    const { dir, cert, certDir, server } = await startWeb(async (root) => {
      await fs.mkdir(`${root}/real-a`);
      await fs.symlink(`${root}/real-a`, `${root}/certs`);
      return `${root}/certs`;
    });
    // The periodic re-read is 30 s: anything sooner came from watching the real folder.
    const next = ca.issue({ dnsNames: WEB_NAMES });
    const rotated = nextEvent(cert, 'rotate', 5_000);
    await writeAtomicVolume(`${dir}/real-a`, payloadOf(next));
    await rotated;
    expect(await servedSerial(server.port, ca.certPem)).toBe(next.leaf.serialNumber);

    const other = ca.issue({ dnsNames: WEB_NAMES });
    await writeAtomicVolume(`${dir}/real-b`, payloadOf(other));
    const repointed = nextEvent(cert, 'rotate', 5_000);
    await fs.symlink(`${dir}/real-b`, `${dir}/certs-next`);
    await fs.rename(`${dir}/certs-next`, certDir);
    await repointed;
    expect(cert.current.info.serialNumber).toBe(other.leaf.serialNumber);
    const after = ca.issue({ dnsNames: WEB_NAMES });
    const followed = nextEvent(cert, 'rotate', 5_000);
    await writeAtomicVolume(`${dir}/real-b`, payloadOf(after));
    await followed;
    expect(cert.current.info.serialNumber).toBe(after.leaf.serialNumber);
  });
});

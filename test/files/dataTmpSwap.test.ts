// kubelet points `..data_tmp` at a new revision folder, then renames it over `..data`. Only
// the rename publishes a revision: nothing `..data_tmp` points at may be served (or refused)
// before it, and after it exactly what `..data` points at is served, whatever happened to the
// revision or to `..data_tmp` in between. On tmpfs (kubelet's medium: the synchronous reader)
// and on the default temporary folder (the asynchronous one).
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, type ServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority, type IssuedLeaf } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, recordingLogger, servedSerial, startAttachedHttpsServer, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const ca = CertificateAuthority.create({ commonName: 'platform root' });
const payloadOf = (leaf: IssuedLeaf) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

/** Longer than the settle re-read after an event (60 ms): anything an event would do is done by then. */
const SETTLED_MS = 300;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLED_MS));

const bases = [['tmpfs', '/dev/shm'], ['the default temporary folder', os.tmpdir()]].filter(([, base]) => existsSync(base!));

let revisions = 0;
/** A revision folder as kubelet writes it (hidden, beside `..data`), holding `leaf`. */
async function writeRevision(certDir: string, leaf: IssuedLeaf): Promise<string> {
  const revision = `..rev_${process.pid}_${(revisions += 1)}`;
  await fs.mkdir(path.join(certDir, revision));
  for (const [key, value] of Object.entries(payloadOf(leaf))) await fs.writeFile(path.join(certDir, revision, key), value);
  return revision;
}

const pointTmp = (certDir: string, revision: string) => fs.symlink(revision, path.join(certDir, '..data_tmp'));
const publish = (certDir: string) => fs.rename(path.join(certDir, '..data_tmp'), path.join(certDir, '..data'));

async function startWeb(base: string) {
  const { dir, remove } = await tempDir('serving-cert-datatmp-', base);
  cleanups.push(remove);
  const certDir = path.join(dir, 'certs');
  const first = ca.issue({ dnsNames: WEB_NAMES });
  await writeAtomicVolume(certDir, payloadOf(first));
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir: `${dir}/ca`, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  const server = await startAttachedHttpsServer(cert);
  cleanups.push(server.close);
  // Every rotation and refusal the handle reports, in order.
  const rotations: string[] = [];
  const refusals: ServingCertError[] = [];
  cert.on('rotate', (info: { serialNumber: string }) => rotations.push(info.serialNumber));
  cert.on('error', (error: ServingCertError) => refusals.push(error));
  return { cert, certDir, server, first, rotations, refusals };
}

async function expectServing(cert: ServingCert, port: number, leaf: IssuedLeaf): Promise<void> {
  expect(cert.current.info.serialNumber).toBe(leaf.leaf.serialNumber);
  expect(await servedSerial(port, ca.certPem)).toBe(leaf.leaf.serialNumber);
}

describe.each(bases)('files source on %s: only the rename of ..data publishes a revision', (_label, base) => {
  it('serves nothing ..data_tmp points at before the rename, and the revision as rewritten in place after it', async () => {
    const { cert, certDir, server, first, rotations, refusals } = await startWeb(base);
    const announced = ca.issue({ dnsNames: WEB_NAMES });
    const final = ca.issue({ dnsNames: WEB_NAMES });
    const revision = await writeRevision(certDir, announced);
    await pointTmp(certDir, revision);
    await settle();
    await expectServing(cert, server.port, first);
    expect(rotations).toEqual([]);

    // The folder ..data_tmp points at changes before the rename: what is published is the new content.
    for (const [key, value] of Object.entries(payloadOf(final))) await fs.writeFile(path.join(certDir, revision, key), value);
    const rotated = nextEvent(cert, 'rotate', 10_000);
    await publish(certDir);
    await rotated;
    await settle();
    await expectServing(cert, server.port, final);
    expect(rotations).toEqual([final.leaf.serialNumber]);
    expect(refusals).toEqual([]);
  });

  it('serves the revision ..data_tmp points at when renamed, not one it pointed at before', async () => {
    const { cert, certDir, server, first, rotations } = await startWeb(base);
    const abandoned = ca.issue({ dnsNames: WEB_NAMES });
    const final = ca.issue({ dnsNames: WEB_NAMES });
    await pointTmp(certDir, await writeRevision(certDir, abandoned));
    await settle();
    await expectServing(cert, server.port, first);

    // Re-pointed (kubelet removes a stale ..data_tmp before making its own) to another revision.
    await fs.rm(path.join(certDir, '..data_tmp'));
    await pointTmp(certDir, await writeRevision(certDir, final));
    const rotated = nextEvent(cert, 'rotate', 10_000);
    await publish(certDir);
    await rotated;
    await settle();
    await expectServing(cert, server.port, final);
    expect(rotations).toEqual([final.leaf.serialNumber]);
    expect(rotations).not.toContain(abandoned.leaf.serialNumber);
  });

  it('refuses a bad revision only once it is renamed over ..data, and keeps serving the last good one', async () => {
    const { cert, certDir, server, first, rotations, refusals } = await startWeb(base);
    const wrongNames = ca.issue({ dnsNames: ['other.elsewhere.svc'] });
    await pointTmp(certDir, await writeRevision(certDir, wrongNames));
    await settle();
    expect(refusals).toEqual([]);

    const refused = nextEvent<[ServingCertError]>(cert, 'error', 10_000);
    await publish(certDir);
    const [error] = await refused;
    expect(error.message).toContain(`serial ${wrongNames.leaf.serialNumber}) does not cover`);
    await settle();
    await expectServing(cert, server.port, first);
    expect(rotations).toEqual([]);
  });
});

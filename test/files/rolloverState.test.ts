// A restart in the middle of a platform CA rollover, files source: with a state folder the
// restarted process still trusts the retired CA (peers not yet re-issued keep working); without
// one it trusts only what its inputs name now.
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, type ServingCert } from '@serving-cert/core';
import { rollOver, volumesOnOldCa } from '../helpers/rollover.js';
import { httpsGet, recordingLogger, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const subjects = (cert: ServingCert) => cert.trust.cas.map((ca) => ca.subject).sort();

async function open(dir: string, stateDir: string | undefined, logger = recordingLogger()) {
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`,
    logger, ...(stateDir ? { stateDir } : {}) });
  cleanups.push(() => cert.close());
  return cert;
}

/** A process that lived through a rollover: old CA, then the new CA and a leaf re-issued by it. Then closed. */
async function throughRollover(stateDir: string | undefined) {
  const { dir, oldCa, newCa } = await volumesOnOldCa(cleanups);
  const cert = await open(dir, stateDir);
  await rollOver(cert, dir, newCa);
  expect(cert.trust.platform?.map((ca) => ca.subject)).toEqual(['CN=root 2026']);
  await cert.close(); // the process ends; the state write (if any) is done by then
  return { dir, oldCa, newCa };
}

describe('restart-safe trust, files source', () => {
  it('with stateDir: a restarted process trusts the retired CA, and accepts a peer still on it', async () => {
    const state = await tempDir();
    cleanups.push(state.remove);
    const { dir, oldCa } = await throughRollover(state.dir);
    const stored = JSON.parse(await readFile(`${state.dir}/serving-cert-trust.json`, 'utf8')) as { version: number; retired: Array<{ pem: string }> };
    expect(stored.version).toBe(1);
    expect(stored.retired.map((entry) => entry.pem.trim())).toEqual([oldCa.certPem.trim()]);

    const logger = recordingLogger();
    const restarted = await open(dir, state.dir, logger);
    expect(subjects(restarted)).toEqual(['CN=root 2025', 'CN=root 2026']);
    expect(restarted.trust.retired?.map((ca) => ca.subject)).toEqual(['CN=root 2025']);
    expect(logger.lines.some((line) => line.message.includes(`restored 1 retired CA(s) of a platform CA rollover from file ${state.dir}/serving-cert-trust.json`))).toBe(true);
    // A peer whose leaf the old CA issued, calling with its client certificate: accepted.
    const server = await startAttachedHttpsServer(restarted, { requestCert: true, rejectUnauthorized: true });
    cleanups.push(server.close);
    const oldPeer = oldCa.issue({ dnsNames: ['api.shop.svc'] });
    expect((await httpsGet(server.port, { ca: restarted.trust.pem, cert: oldPeer.certPem, key: oldPeer.keyPem })).status).toBe(200);
  });

  it('without stateDir: the restarted process trusts only what its inputs name now', async () => {
    const { dir, oldCa } = await throughRollover(undefined);
    const restarted = await open(dir, undefined);
    expect(subjects(restarted)).toEqual(['CN=root 2026']);
    // The same peer as above is refused: this is what the state file prevents.
    const server = await startAttachedHttpsServer(restarted, { requestCert: true, rejectUnauthorized: true });
    cleanups.push(server.close);
    const oldPeer = oldCa.issue({ dnsNames: ['api.shop.svc'] });
    await expect(httpsGet(server.port, { ca: restarted.trust.pem, cert: oldPeer.certPem, key: oldPeer.keyPem })).rejects.toThrow(/unknown ca|ECONNRESET|socket hang up/i);
  });

  it('a state file that is not serving-cert\'s is a warning, ignored, and rewritten at the next change', async () => {
    const state = await tempDir();
    cleanups.push(state.remove);
    const { dir } = await throughRollover(undefined);
    await writeFile(`${state.dir}/serving-cert-trust.json`, '{"not": "ours"}');
    const logger = recordingLogger();
    const restarted = await open(dir, state.dir, logger);
    expect(subjects(restarted)).toEqual(['CN=root 2026']);
    const warning = logger.lines.find((line) => line.level === 'warn');
    expect(warning?.message).toContain(`file ${state.dir}/serving-cert-trust.json does not hold serving-cert's trust state`);
    expect(restarted.health().ready).toBe(true);
  });

  it('an unwritable stateDir is one warning; trust still follows the rollover in memory', async () => {
    const logger = recordingLogger();
    const missing = `${(await tempDir()).dir}/does/not/exist`;
    const { dir, newCa } = await volumesOnOldCa(cleanups);
    const cert = await open(dir, missing, logger);
    await rollOver(cert, dir, newCa);
    await cert.close();
    const warnings = logger.lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(`cannot write ${missing}/serving-cert-trust.json`);
    expect(warnings[0]!.message).toContain('give stateDir a folder this process can write');
  });
});

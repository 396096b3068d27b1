// Releasing a retired platform CA before its bound (files source, real TLS): the handle follows
// the CA of each peer it verified, as a server (attach) and as a client (createMtlsDispatcher),
// remembers the peers still on the retired CA in its state file, and lets the CA go once they
// all moved and the minimum hold passed.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMtlsDispatcher, ensureServingCert, type ServingCert } from '@serving-cert/core';
import type { CertificateAuthority } from '@serving-cert/core/pki';
import { rollOver, volumesOnOldCa } from '../helpers/rollover.js';
import { httpsGet, nextEvent, recordingLogger, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const HOLD_MS = 1_500;
const subjects = (cert: ServingCert) => cert.trust.cas.map((ca) => ca.subject).sort();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface StateFile { retired: Array<{ pending?: string[]; untilBound?: boolean }> }
async function pendingIn(stateDir: string): Promise<string[] | undefined> {
  const state = JSON.parse(await readFile(`${stateDir}/serving-cert-trust.json`, 'utf8')) as StateFile;
  return state.retired[0]?.pending;
}

/** `web` on the old CA, with a state folder and a short minimum hold. */
async function webOnOldCa() {
  const { dir, oldCa, newCa, certDir, caDir } = await volumesOnOldCa(cleanups);
  const state = await tempDir();
  cleanups.push(state.remove);
  const logger = recordingLogger();
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir, caDir,
    stateDir: state.dir, retiredCaMinHoldMs: HOLD_MS, logger });
  cleanups.push(() => cert.close());
  /** The platform CA is replaced and web's own leaf re-issued by the new CA: the old CA retires. */
  const rollOverNow = () => rollOver(cert, dir, newCa);
  return { cert, logger, oldCa, newCa, stateDir: state.dir, rollOver: rollOverNow };
}

/** An https server of Service `service` in shop presenting a leaf of `ca`. */
async function peerServer(ca: CertificateAuthority, service: string) {
  const leaf = ca.issue({ dnsNames: [`${service}.shop.svc`] });
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

describe('releasing a retired CA once every leaf seen on it moved, files source', () => {
  it('as a server: a client still on the old CA holds it past the minimum hold; once it moves, the CA leaves the trust set', async () => {
    const { cert, logger, oldCa, newCa, stateDir, rollOver } = await webOnOldCa();
    const server = await startAttachedHttpsServer(cert, { requestCert: true, rejectUnauthorized: true });
    cleanups.push(server.close);
    const apiOld = oldCa.issue({ dnsNames: ['api.shop.svc'] });
    expect((await httpsGet(server.port, { ca: cert.trust.pem, cert: apiOld.certPem, key: apiOld.keyPem })).status).toBe(200);
    await rollOver();
    await sleep(HOLD_MS + 500);
    expect(subjects(cert)).toEqual(['CN=root 2025', 'CN=root 2026']); // api has not moved
    expect(await pendingIn(stateDir)).toEqual(['api.shop']);

    const released = nextEvent<[ServingCert['trust']]>(cert, 'trust');
    const apiNew = newCa.issue({ dnsNames: ['api.shop.svc'] });
    expect((await httpsGet(server.port, { ca: cert.trust.pem, cert: apiNew.certPem, key: apiNew.keyPem })).status).toBe(200);
    const [trust] = await released;
    expect(trust.cas.map((ca) => ca.subject)).toEqual(['CN=root 2026']);
    expect(logger.lines.some((line) => line.level === 'info' && line.message.startsWith('released the retired CA CN=root 2025 before its bound'))).toBe(true);
    // A leaf of the old CA is now refused.
    const other = oldCa.issue({ dnsNames: ['late.shop.svc'] });
    await expect(httpsGet(server.port, { ca: cert.trust.pem, cert: other.certPem, key: other.keyPem })).rejects.toThrow(/unknown ca|ECONNRESET|socket hang up/i);
    await cert.close();
    expect(JSON.parse(await readFile(`${stateDir}/serving-cert-trust.json`, 'utf8'))).toEqual({ version: 1, retired: [] });
  });

  it('as a client: a server still on the old CA (seen through createMtlsDispatcher) holds it; once it moves, the CA goes', async () => {
    const { cert, oldCa, newCa, stateDir, rollOver } = await webOnOldCa();
    const dispatcher = createMtlsDispatcher(cert, { peer: { serviceName: 'api', namespace: 'shop' } });
    cleanups.push(() => dispatcher.close());
    const oldPort = await peerServer(oldCa, 'api');
    expect(await (await dispatcher.fetch(`https://127.0.0.1:${oldPort}/`)).text()).toBe('ok');
    await rollOver();
    await sleep(HOLD_MS + 500);
    expect(subjects(cert)).toEqual(['CN=root 2025', 'CN=root 2026']);
    expect(await pendingIn(stateDir)).toEqual(['api.shop']);

    const released = nextEvent(cert, 'trust');
    const newPort = await peerServer(newCa, 'api');
    expect(await (await dispatcher.fetch(`https://127.0.0.1:${newPort}/`)).text()).toBe('ok');
    await released;
    expect(subjects(cert)).toEqual(['CN=root 2026']);
  });
});

import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { installGlobalTrust } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { mountServingCert, writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A plain https.get through the global agent (no ca of its own), as any library would make it. */
function plainGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('installGlobalTrust', () => {
  it('global fetch and https.get trust the platform CA, through a CA rollover, and no longer after the restore', async () => {
    const oldCa = CertificateAuthority.create({ commonName: 'platform root 2025' });
    const newCa = CertificateAuthority.create({ commonName: 'platform root 2026' });
    const mounted = await mountServingCert({ serviceName: 'web', namespace: 'shop', ca: oldCa, ensure: { trustGracePeriodMs: 60_000 } });
    cleanups.push(() => mounted.close());
    // Another Service of the platform, as seen by this process: a server for "localhost".
    const leafOf = (ca: CertificateAuthority) => ca.issue({ dnsNames: ['localhost'] });
    const first = leafOf(oldCa);
    const server = https.createServer({ key: first.keyPem, cert: first.certPem }, (_req, res) => res.end('ok'));
    server.listen(0, 'localhost');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
    const url = `https://localhost:${(server.address() as AddressInfo).port}/`;

    await expect(fetch(url)).rejects.toThrow(); // not trusted by default
    await expect(plainGet(url)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);

    const restore = installGlobalTrust(mounted.cert);
    let restored = false;
    cleanups.push(() => Promise.resolve(restored || restore()));
    expect(await (await fetch(url)).text()).toBe('ok');
    expect(await plainGet(url)).toBe('ok');

    // The rollover: the new CA arrives (trust event), then the server is re-issued under it.
    const trusted = nextEvent(mounted.cert, 'trust');
    await writeAtomicVolume(mounted.caDir, { 'ca.crt': newCa.certPem });
    await trusted;
    const next = leafOf(newCa);
    server.setSecureContext({ key: next.keyPem, cert: next.certPem });
    server.closeAllConnections(); // new connections, so the new leaf is what gets verified
    expect(await (await fetch(url)).text()).toBe('ok');
    expect(await plainGet(url)).toBe('ok');

    restore();
    restored = true;
    server.closeAllConnections();
    await expect(fetch(url)).rejects.toThrow();
    await expect(plainGet(url)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });
});

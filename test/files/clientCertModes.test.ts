import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert, peerIdentity } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { httpsGet, nextEvent, recordingLogger, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const payload = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

async function start() {
  const ca = CertificateAuthority.create({ commonName: 'root 2025' });
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(`${dir}/certs`, payload(ca.issue({ dnsNames: WEB_NAMES })));
  await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
  const logger = recordingLogger();
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger });
  cleanups.push(() => cert.close());
  return { cert, ca, dir, logger };
}

describe("serverOptions({ clientCert }) and attach()", () => {
  it('gives each mode its TLS options; requestClientCert is the deprecated "require"; bad input is refused', async () => {
    const { cert } = await start();
    expect(Object.keys(cert.serverOptions({ clientCert: 'none' })).sort()).toEqual(['cert', 'key']);
    expect(cert.serverOptions({ clientCert: 'request' })).toMatchObject({ ca: cert.trust.pem, requestCert: true, rejectUnauthorized: false });
    expect(cert.serverOptions({ clientCert: 'require' })).toMatchObject({ ca: cert.trust.pem, requestCert: true, rejectUnauthorized: true });
    expect(cert.serverOptions({ requestClientCert: true })).toEqual(cert.serverOptions({ clientCert: 'require' }));
    expect(() => cert.serverOptions({ clientCert: 'optional' as never })).toThrow(/clientCert must be 'none', 'request' or 'require'; got "optional"/);
    expect(() => cert.serverOptions({ requestClientCert: true, clientCert: 'request' })).toThrow(/pass clientCert only/);
  });

  it("'request': a caller without a certificate passes with no identity, an unverified one is closed before any request, and the trust bundle follows a rollover", async () => {
    const { cert, ca, dir, logger } = await start();
    const seen: Array<string | undefined> = [];
    const server = https.createServer(cert.serverOptions({ clientCert: 'request' }), (req, res) => {
      seen.push(peerIdentity(req.socket as TLSSocket)?.serviceName);
      res.end('ok');
    });
    cert.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
    const port = (server.address() as AddressInfo).port;

    expect(await httpsGet(port, { ca: ca.certPem })).toEqual({ status: 200, body: 'ok' });
    const client = ca.issue({ dnsNames: ['api', 'api.shop', 'api.shop.svc', 'api.shop.svc.cluster.local'] });
    expect(await httpsGet(port, { ca: ca.certPem, cert: client.certPem, key: client.keyPem })).toEqual({ status: 200, body: 'ok' });
    expect(seen).toEqual([undefined, 'api']);

    const newCa = CertificateAuthority.create({ commonName: 'root 2026' });
    const newClient = newCa.issue({ dnsNames: ['api.shop.svc'] });
    await expect(httpsGet(port, { ca: ca.certPem, cert: newClient.certPem, key: newClient.keyPem })).rejects.toThrow(/ECONNRESET|socket hang up/);
    expect(seen).toHaveLength(2); // the handler never ran
    expect(logger.lines.find((line) => line.message.includes('does not verify'))?.fields).toMatchObject({ authorizationError: expect.stringMatching(/^UNABLE_TO_/) });

    const changed = nextEvent(cert, 'trust');
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': newCa.certPem });
    await changed;
    // attach() installed the new trust bundle into the 'request' server too.
    expect(await httpsGet(port, { ca: ca.certPem, cert: newClient.certPem, key: newClient.keyPem })).toEqual({ status: 200, body: 'ok' });
  });
});

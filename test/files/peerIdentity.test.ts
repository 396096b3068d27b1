import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { allowPeers, authorizePeer, ensureServingCert, peerIdentity, type PeerIdentity } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { httpsGet, recordingLogger, tempDir, WEB_NAMES } from '../helpers/tls.js';

// peerIdentity accepts exactly svc.ns.svc, svc.ns.svc.<clusterDomain> and the SPIFFE-style
// service URI; anything else has no identity. Real client certificates on real TLS sockets.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ca = CertificateAuthority.create({ commonName: 'platform root' });

/** A server that answers with what peerIdentity and an authorizer (allowing orders.shop) make of the caller. */
async function startIdentityServer(clusterDomain: string | undefined) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const leaf = ca.issue({ dnsNames: WEB_NAMES });
  await writeAtomicVolume(`${dir}/certs`, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger: recordingLogger() });
  cleanups.push(() => cert.close());
  const allow = allowPeers({ services: ['orders.shop'], ...(clusterDomain ? { clusterDomain } : {}) });
  const server = https.createServer(cert.serverOptions({ requestClientCert: true }), (req, res) => {
    const socket = req.socket as TLSSocket;
    const peer: PeerIdentity | undefined = peerIdentity(socket, clusterDomain);
    res.end(JSON.stringify({ peer: peer ? `${peer.serviceName}.${peer.namespace}` : null, allowed: authorizePeer(socket, allow).allowed }));
  });
  cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return (server.address() as AddressInfo).port;
}

describe('peerIdentity', () => {
  const cases: Array<[string, { dnsNames?: string[]; uris?: string[] }, string | undefined, string | null]> = [
    ['svc.ns.svc', { dnsNames: ['orders.shop.svc'] }, undefined, 'orders.shop'],
    ['the four names the platform issues', { dnsNames: ['orders', 'orders.shop', 'orders.shop.svc', 'orders.shop.svc.cluster.local'] }, undefined, 'orders.shop'],
    ['svc.ns.svc.<the configured domain>', { dnsNames: ['orders.shop.svc.corp.internal'] }, 'corp.internal', 'orders.shop'],
    ['a suffix after .svc (spoofing)', { dnsNames: ['orders.shop.svc.attacker.example'] }, undefined, null],
    ['another cluster domain than the configured one', { dnsNames: ['orders.shop.svc.cluster.local'] }, 'corp.internal', null],
    ['a prefix before svc.ns.svc', { dnsNames: ['evil.orders.shop.svc'] }, undefined, null],
    ['svc.ns alone', { dnsNames: ['orders.shop'] }, undefined, null],
    ['two different Services', { dnsNames: ['orders.shop.svc', 'admin.shop.svc'] }, undefined, null],
    ['a SPIFFE service URI in the cluster\'s trust domain', { dnsNames: [], uris: ['spiffe://cluster.local/ns/shop/svc/orders'] }, undefined, 'orders.shop'],
    ['a SPIFFE URI of another trust domain', { dnsNames: [], uris: ['spiffe://attacker.example/ns/shop/svc/orders'] }, undefined, null],
    ['a SPIFFE URI with a suffix', { dnsNames: [], uris: ['spiffe://cluster.local/ns/shop/svc/orders/extra'] }, undefined, null],
  ];
  it.each(cases)('%s', async (_label, names, clusterDomain, expected) => {
    const port = await startIdentityServer(clusterDomain);
    const client = ca.issue({ ...names, extendedKeyUsage: ['clientAuth'] });
    const reply = await httpsGet(port, { ca: ca.certPem, cert: client.certPem, key: client.keyPem });
    expect(JSON.parse(reply.body)).toEqual({ peer: expected, allowed: expected === 'orders.shop' });
  });

  it('gives no identity to a client certificate the trust bundle does not verify', async () => {
    const port = await startIdentityServer(undefined);
    const stranger = CertificateAuthority.create().issue({ dnsNames: ['orders.shop.svc'], extendedKeyUsage: ['clientAuth'] });
    await expect(httpsGet(port, { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).rejects.toThrow();
  });
});

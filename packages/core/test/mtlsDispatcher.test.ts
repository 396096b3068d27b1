import { EventEmitter, once } from 'node:events';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createMtlsDispatcher } from '../src/connect/createMtlsDispatcher.js';
import { newMtlsDispatcher } from '../src/connect/mtlsDispatcher.js';
import { retirableAgent, retireAgent } from '../src/connect/retireAgent.js';
import { CertificateAuthority, type IssuedLeaf } from '../src/pki/index.js';
import type { ServingCert } from '../src/types.js';
import { followPeerLeaves } from '../src/x509/peerLeaves.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ca = CertificateAuthority.create({ commonName: 'platform root' });
const serverLeaf = ca.issue({ dnsNames: ['api.shop.svc'] });

/** A ServingCert of another make (as followCertificate allows): rotated by `rotate(leaf)`. */
function handleOf(leaf: IssuedLeaf, trustPem = ca.certPem) {
  const emitter = new EventEmitter();
  let current = stateOf(leaf);
  function stateOf(next: IssuedLeaf) {
    const secureContext = tls.createSecureContext({ key: next.keyPem, cert: next.certPem, ...(trustPem ? { ca: trustPem } : {}) });
    return { certPem: next.certPem, keyPem: next.keyPem, info: { serialNumber: next.leaf.serialNumber }, secureContext };
  }
  Object.defineProperty(emitter, 'current', { get: () => current });
  Object.defineProperty(emitter, 'trust', { get: () => ({ cas: [], pem: trustPem }) });
  const rotate = (next: IssuedLeaf) => {
    current = stateOf(next);
    emitter.emit('rotate');
  };
  return { cert: emitter as unknown as ServingCert, rotate };
}

/** An HTTP/2 mTLS server (HTTP/1.1 too) answering with the serial of the caller's certificate after `delayMs`. */
async function mtlsServer(delayMs = 0) {
  const sessions: tls.TLSSocket[] = [];
  const server = http2.createSecureServer({ key: serverLeaf.keyPem, cert: serverLeaf.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, allowHTTP1: true }, (req, res) => {
    const serial = (req.socket as tls.TLSSocket).getPeerX509Certificate()?.serialNumber ?? 'none';
    setTimeout(() => res.end(serial), delayMs);
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => sessions.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => {
    for (const socket of sessions) socket.destroy();
    server.close(resolve);
  }));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`, open: () => sessions.filter((socket) => !socket.destroyed) };
}

/** A plain HTTP server whose `/hang` never answers and whose `/slow` answers after 300 ms. */
async function plainServer() {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 300);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('retireAgent', () => {
  it('lets a request in flight finish, and destroys what still runs at the deadline', async () => {
    const origin = await plainServer();
    const retirable = retirableAgent({});
    const { agent } = retirable;
    const slow = request(`${origin}/slow`, { dispatcher: agent }).then(async (response) => response.body.text());
    const hung = request(`${origin}/hang`, { dispatcher: agent }).then(() => 'answered', (error: Error) => error);
    await sleep(50);
    await retireAgent(retirable, 1_000);
    expect(await slow).toBe('slow');
    expect(await hung).toMatchObject({ code: 'UND_ERR_DESTROYED' });
    expect(agent.destroyed).toBe(true);
  });
});

describe('MtlsDispatcher', () => {
  it('moves requests to a new pool on renew; the old one finishes its requests in flight, then closes; a hung one is destroyed at the deadline', async () => {
    const origin = await plainServer();
    const { dispatcher, renew } = newMtlsDispatcher({}, () => {}, 500);
    cleanups.push(() => dispatcher.destroy());
    const connected: unknown[][] = [];
    dispatcher.on('connect', (_origin, targets) => connected.push([...targets]));
    const slow = request(`${origin}/slow`, { dispatcher }).then(async (response) => response.body.text());
    const hung = request(`${origin}/hang`, { dispatcher }).then(() => 'answered', (error: Error) => error);
    await sleep(50);
    expect(connected[0]?.[0]).toBe(dispatcher); // a pool's events are the dispatcher's
    renew();
    expect(dispatcher.stats).toEqual({}); // the new pool has no connection yet
    const next = request(`${origin}/slow`, { dispatcher }).then(async (response) => response.body.text());
    await sleep(50);
    expect(dispatcher.stats[origin]?.connected).toBe(1); // the new request opened one in the new pool
    expect(await slow).toBe('slow');
    expect(await next).toBe('slow');
    expect(await hung).toMatchObject({ code: 'UND_ERR_DESTROYED' });
    expect(dispatcher.closed).toBe(false);
  });

  it('close() ends the current and the retiring pools; later requests are refused', async () => {
    const origin = await plainServer();
    let detached = 0;
    const { dispatcher, renew } = newMtlsDispatcher({}, () => { detached += 1; });
    const before = request(`${origin}/slow`, { dispatcher }).then(async (response) => response.body.text());
    await sleep(50);
    renew();
    const after = request(`${origin}/slow`, { dispatcher }).then(async (response) => response.body.text());
    await sleep(50);
    await dispatcher.close();
    expect([await before, await after]).toEqual(['slow', 'slow']);
    expect([dispatcher.closed, dispatcher.destroyed, detached]).toEqual([true, true, 1]);
    renew(); // a change heard late makes no new pool, which would take requests again
    await expect(request(`${origin}/slow`, { dispatcher })).rejects.toMatchObject({ code: expect.stringMatching(/^UND_ERR_(CLOSED|DESTROYED)$/) });
  });

  it('destroy() ends the requests in flight of the current and the retiring pools, and a close() in progress', async () => {
    const origin = await plainServer();
    const { dispatcher, renew } = newMtlsDispatcher({}, () => {});
    const hung = request(`${origin}/hang`, { dispatcher }).then(() => 'answered', (error: Error) => error);
    await sleep(50);
    renew();
    const current = request(`${origin}/hang`, { dispatcher }).then(() => 'answered', (error: Error) => error);
    await sleep(50);
    const closing = dispatcher.close().then(() => 'closed', (error: Error) => error); // waits for the hung requests
    await dispatcher.destroy();
    expect(await hung).toMatchObject({ code: 'UND_ERR_DESTROYED' });
    expect(await current).toMatchObject({ code: 'UND_ERR_DESTROYED' });
    expect(await closing).toBe('closed'); // a close() in progress ends too
    expect(dispatcher.destroyed).toBe(true);
  });
});

describe('createMtlsDispatcher', () => {
  for (const allowH2 of [false, true]) {
    it(`under steady traffic${allowH2 ? ' over HTTP/2' : ''}, the connections from before a rotation go, and no request fails`, async () => {
      const { url, open } = await mtlsServer(20);
      const first = ca.issue({ dnsNames: ['web.shop.svc'] });
      const second = ca.issue({ dnsNames: ['web.shop.svc'] });
      const { cert, rotate } = handleOf(first);
      const dispatcher = createMtlsDispatcher(cert, { serverName: 'api.shop.svc', allowH2 });
      cleanups.push(() => dispatcher.close());
      const answers: string[] = [];
      const failures: unknown[] = [];
      let running = true;
      const loop = async () => {
        while (running) {
          await request(url, { dispatcher }).then(async (response) => answers.push(await response.body.text()), (error: unknown) => failures.push(error));
          await sleep(30);
        }
      };
      const loops = [loop(), loop(), loop()];
      cleanups.push(async () => { running = false; await Promise.all(loops); });
      await expect.poll(() => answers.length, { timeout: 5_000 }).toBeGreaterThan(5);
      const before = open();
      rotate(second);
      await expect.poll(() => before.every((socket) => socket.destroyed), { timeout: 10_000, interval: 50 }).toBe(true);
      const moved = answers.length;
      await expect.poll(() => answers.length, { timeout: 5_000 }).toBeGreaterThan(moved + 5);
      running = false;
      await Promise.all(loops);
      expect(failures).toEqual([]);
      expect(answers[0]).toBe(first.leaf.serialNumber);
      expect(new Set(answers.slice(moved))).toEqual(new Set([second.leaf.serialNumber]));
    });
  }

  it('a failure to follow the server\'s CA is reported as a warning and does not fail the call', async () => {
    const { url } = await mtlsServer();
    const { cert } = handleOf(ca.issue({ dnsNames: ['web.shop.svc'] }));
    followPeerLeaves(cert, () => {
      throw new Error('observer bug');
    });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    cleanups.push(() => Promise.resolve(process.off('warning', onWarning)));
    const dispatcher = createMtlsDispatcher(cert, { serverName: 'api.shop.svc' });
    cleanups.push(() => dispatcher.close());
    expect((await request(url, { dispatcher })).statusCode).toBe(200);
    await expect.poll(() => warnings.map((warning) => (warning as { code?: string }).code)).toContain('SERVING_CERT_PEER_FOLLOW');
    expect(warnings[0]?.message).toContain('observer bug');
  });

  it('refuses a handle that trusts no CA (E_CONFIG)', () => {
    const { cert } = handleOf(ca.issue({ dnsNames: ['web.shop.svc'] }), '');
    expect(() => createMtlsDispatcher(cert, { serverName: 'api.shop.svc' })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
  });
});

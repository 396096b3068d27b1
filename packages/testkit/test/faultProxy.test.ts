import type * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../src/faultProxy/faultProxy.js';
import type { FaultProxy } from '../src/faultProxy/faultProxy.js';

const SECRET_PATH = '/api/v1/namespaces/default/secrets/x';
const WATCH_PATH = '/api/v1/namespaces/default/secrets?watch=true';
const USER_CN = 'fault-proxy-test-user';

const secret = {
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: { name: 'x', namespace: 'default', resourceVersion: '1' },
  data: { 'tls.crt': Buffer.from('C1').toString('base64') },
};

/** What the fake API server saw of one request. */
interface UpstreamRequest {
  method: string;
  path: string;
  clientCommonName: string | undefined;
  authorization: string | undefined;
}

/**
 * A stand-in for kube-apiserver that needs a client certificate: it serves one Secret, and a
 * watch that sends an event every 20 ms until its connection closes.
 */
interface FakeApiServer {
  target: KubeConfig;
  seen: UpstreamRequest[];
  /** Watches whose connection the server has seen close. */
  watchesEnded: number;
  close(): Promise<void>;
}

async function startFakeApiServer(): Promise<FakeApiServer> {
  const ca = CertificateAuthority.create({ commonName: 'fake apiserver CA' });
  const serving = ca.issue({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], extendedKeyUsage: ['serverAuth'] });
  const client = ca.issue({ commonName: USER_CN, dnsNames: [], extendedKeyUsage: ['clientAuth'] });
  const intervals = new Set<NodeJS.Timeout>();
  const fake: FakeApiServer = {
    target: new KubeConfig(),
    seen: [],
    watchesEnded: 0,
    close: async () => {
      for (const interval of intervals) clearInterval(interval);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  const server = https.createServer(
    { cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
    (request, response) => {
      const commonName = (request.socket as TLSSocket).getPeerCertificate().subject?.CN;
      fake.seen.push({
        method: request.method ?? '',
        path: request.url ?? '',
        clientCommonName: Array.isArray(commonName) ? commonName.join(',') : commonName,
        authorization: request.headers.authorization,
      });
      if (request.url === WATCH_PATH) {
        response.writeHead(200, { 'content-type': 'application/json' });
        let resourceVersion = 1;
        const interval = setInterval(() => {
          resourceVersion += 1;
          const object = { ...secret, metadata: { ...secret.metadata, resourceVersion: String(resourceVersion) } };
          response.write(`${JSON.stringify({ type: 'MODIFIED', object })}\n`);
        }, 20);
        intervals.add(interval);
        response.once('close', () => {
          clearInterval(interval);
          intervals.delete(interval);
          fake.watchesEnded += 1;
        });
        return;
      }
      if (request.method === 'GET' && request.url === SECRET_PATH) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(secret));
        return;
      }
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base64 = (pem: string): string => Buffer.from(pem).toString('base64');
  fake.target.loadFromOptions({
    clusters: [{ name: 'fake', server: `https://127.0.0.1:${port}`, caData: base64(ca.certPem), skipTLSVerify: false }],
    users: [{ name: 'tester', certData: base64(client.certPem), keyData: base64(client.keyPem) }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'tester', namespace: 'default' }],
    currentContext: 'fake',
  });
  return fake;
}

/** One answer as a plain HTTPS client saw it; `complete` is false when the body was cut. */
interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  complete: boolean;
}

async function requestOptions(kubeConfig: KubeConfig, path: string): Promise<https.RequestOptions> {
  const server = new URL(kubeConfig.getCurrentCluster()!.server);
  const options: https.RequestOptions = { hostname: server.hostname, port: server.port, path, method: 'GET' };
  await kubeConfig.applyToHTTPSOptions(options);
  return options;
}

async function send(kubeConfig: KubeConfig, path: string): Promise<Answer> {
  const options = await requestOptions(kubeConfig, path);
  return new Promise((resolve, reject) => {
    const request = https.request(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      // A cut body shows as `complete: false` below.
      response.on('error', () => undefined);
      response.on('close', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString(),
          complete: response.complete,
        }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let fake: FakeApiServer;
let proxy: FaultProxy;
beforeEach(async () => {
  fake = await startFakeApiServer();
  proxy = await startFaultProxy(fake.target);
});
afterEach(async () => {
  await proxy.close();
  await fake.close();
});

describe('startFaultProxy forwards as the target user', () => {
  it('passes a request through with the user client certificate, for a client-node API client', async () => {
    const api = proxy.kubeConfig.makeApiClient(CoreV1Api);
    const read = await api.readNamespacedSecret({ name: 'x', namespace: 'default' });
    expect(read.metadata?.name).toBe('x');
    expect(read.data?.['tls.crt']).toBe(secret.data['tls.crt']);
    expect(fake.seen).toEqual([{ method: 'GET', path: SECRET_PATH, clientCommonName: USER_CN, authorization: undefined }]);
  });

  it("sends the target user's token upstream, whatever the client sent", async () => {
    await proxy.close();
    const user = fake.target.getCurrentUser()!;
    fake.target.users = [{ ...user, token: 'target-token' }];
    proxy = await startFaultProxy(fake.target);
    const options = await requestOptions(proxy.kubeConfig, SECRET_PATH);
    options.headers = { ...options.headers, Authorization: 'Bearer client-token' };
    const answer = await new Promise<number>((resolve, reject) => {
      const request = https.request(options, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end();
    });
    expect(answer).toBe(200);
    expect(fake.seen).toMatchObject([{ clientCommonName: USER_CN, authorization: 'Bearer target-token' }]);
  });

  it('gives a kubeConfig that points at the proxy, trusts its CA and keeps the user', () => {
    expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const cluster = proxy.kubeConfig.getCurrentCluster();
    expect(cluster?.server).toBe(proxy.url);
    expect(cluster?.caData).not.toBe(fake.target.getCurrentCluster()?.caData);
    expect(proxy.kubeConfig.getCurrentUser()).toEqual(fake.target.getCurrentUser());
    expect(proxy.kubeConfig.getContextObject(proxy.kubeConfig.getCurrentContext())?.namespace).toBe('default');
  });
});

describe('startFaultProxy injects faults', () => {
  it('failNext(500) answers one request with a Status, then forwards again', async () => {
    proxy.failNext(500);
    const api = proxy.kubeConfig.makeApiClient(CoreV1Api);
    const failure: unknown = await api.readNamespacedSecret({ name: 'x', namespace: 'default' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiException);
    expect((failure as ApiException<string>).code).toBe(500);
    expect(JSON.parse((failure as ApiException<string>).body)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
    });
    expect(fake.seen).toHaveLength(0);
    const read = await api.readNamespacedSecret({ name: 'x', namespace: 'default' });
    expect(read.metadata?.name).toBe('x');
    expect(fake.seen).toHaveLength(1);
  });

  it('failNext(429, { retryAfterSeconds: 2 }) carries Retry-After: 2', async () => {
    proxy.failNext(429, { retryAfterSeconds: 2 });
    const answer = await send(proxy.kubeConfig, SECRET_PATH);
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('2');
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
  });

  it('failNext applies count and match, in order of registration', async () => {
    proxy.failNext(503, { match: (request) => request.watch });
    proxy.failNext(404, { count: 2, match: (request) => request.path === SECRET_PATH });
    proxy.failNext(500);
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(404);
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(404);
    const unavailable = await send(proxy.kubeConfig, '/api/v1/namespaces/default/secrets?watch=1');
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(unavailable.body)).toMatchObject({ reason: 'ServiceUnavailable' });
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(500);
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(200);
  });

  it('delay(1000) delays the answers of matching requests, and delay(0) turns it off', async () => {
    proxy.delay(1_000, { match: (request) => request.method === 'GET' });
    let startedAt = Date.now();
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(200);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(990);

    proxy.delay(0);
    startedAt = Date.now();
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(200);
    expect(Date.now() - startedAt).toBeLessThan(900); // a margin for a loaded machine
  });

  it('dropConnections cuts a watch in the middle of its stream, on both sides', async () => {
    const options = await requestOptions(proxy.kubeConfig, WATCH_PATH);
    const events: string[] = [];
    const ended = new Promise<{ complete: boolean; error: Error | undefined }>((resolve, reject) => {
      const request = https.request(options, (response) => {
        let error: Error | undefined;
        let buffered = '';
        response.setEncoding('utf8');
        response.on('data', (text: string) => {
          buffered += text;
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          events.push(...lines);
        });
        response.on('error', (cause) => (error = cause));
        response.on('close', () => resolve({ complete: response.complete, error }));
      });
      request.on('error', reject);
      request.end();
    });
    await until(() => events.length >= 3);
    proxy.dropConnections();
    const { complete, error } = await ended;
    expect(complete).toBe(false);
    expect(error).toBeInstanceOf(Error);
    expect(events.every((line) => (JSON.parse(line) as { type: string }).type === 'MODIFIED')).toBe(true);
    // The upstream watch is gone too, so the fake server stops sending.
    await until(() => fake.watchesEnded === 1);
    // The proxy itself keeps serving.
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(200);
  });

  it('dropNext({ afterBytes: 10 }) passes the headers and 10 bytes, then cuts', async () => {
    proxy.dropNext({ afterBytes: 10 });
    const cut = await send(proxy.kubeConfig, SECRET_PATH);
    expect(cut.status).toBe(200);
    expect(cut.body).toBe(JSON.stringify(secret).slice(0, 10));
    expect(cut.complete).toBe(false);
    const whole = await send(proxy.kubeConfig, SECRET_PATH);
    expect(whole).toMatchObject({ status: 200, body: JSON.stringify(secret), complete: true });
  });

  it('dropNext() cuts right after the headers, a watch too', async () => {
    proxy.dropNext({ match: (request) => request.watch });
    const cut = await send(proxy.kubeConfig, WATCH_PATH);
    expect(cut).toMatchObject({ status: 200, body: '', complete: false });
    await until(() => fake.watchesEnded === 1);
  });

  it('goDown refuses connections, and comeBack serves again on the same port', async () => {
    const url = proxy.url;
    await proxy.goDown();
    await expect(send(proxy.kubeConfig, SECRET_PATH)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.comeBack();
    expect(proxy.url).toBe(url);
    expect((await send(proxy.kubeConfig, SECRET_PATH)).status).toBe(200);
  });

  it('goDown cuts an open watch', async () => {
    const options = await requestOptions(proxy.kubeConfig, WATCH_PATH);
    let received = 0;
    const ended = new Promise<boolean>((resolve, reject) => {
      const request = https.request(options, (response) => {
        response.on('data', () => (received += 1));
        response.on('error', () => undefined);
        response.on('close', () => resolve(response.complete));
      });
      request.on('error', reject);
      request.end();
    });
    await until(() => received >= 2);
    await proxy.goDown();
    expect(await ended).toBe(false);
    await until(() => fake.watchesEnded === 1);
  });
});

describe('startFaultProxy records and cleans up', () => {
  it('requests records every request in order, with its outcome', async () => {
    const before = Date.now();
    await send(proxy.kubeConfig, SECRET_PATH);
    proxy.failNext(503, { retryAfterSeconds: 1 });
    await send(proxy.kubeConfig, SECRET_PATH);
    proxy.dropNext({ afterBytes: 5 });
    await send(proxy.kubeConfig, SECRET_PATH);
    await send(proxy.kubeConfig, '/api/v1/namespaces/default/secrets/missing');
    proxy.dropNext({ match: (request) => request.watch });
    await send(proxy.kubeConfig, WATCH_PATH);
    await proxy.goDown();
    await send(proxy.kubeConfig, SECRET_PATH).catch(() => undefined);
    await proxy.comeBack();

    expect(proxy.requests.map(({ method, path, status, watch }) => ({ method, path, status, watch }))).toEqual([
      { method: 'GET', path: SECRET_PATH, status: 200, watch: false },
      { method: 'GET', path: SECRET_PATH, status: 503, watch: false },
      { method: 'GET', path: SECRET_PATH, status: 'dropped', watch: false },
      { method: 'GET', path: '/api/v1/namespaces/default/secrets/missing', status: 404, watch: false },
      { method: 'GET', path: WATCH_PATH, status: 'dropped', watch: true },
    ]);
    for (const request of proxy.requests) {
      expect(request.at).toBeGreaterThanOrEqual(before);
      expect(request.at).toBeLessThanOrEqual(Date.now());
    }
  });

  it('records "refused" when the upstream refuses, and cuts the client', async () => {
    await fake.close();
    await expect(send(proxy.kubeConfig, SECRET_PATH)).rejects.toThrow();
    expect(proxy.requests.map((request) => request.status)).toEqual(['refused']);
  });

  it('rejects a target without a current context, and faults that make no sense', async () => {
    await expect(startFaultProxy(new KubeConfig())).rejects.toThrow(/current context/);
    expect(() => proxy.failNext(200)).toThrow(RangeError);
    expect(() => proxy.dropNext({ count: 0 })).toThrow(RangeError);
    expect(() => proxy.delay(-1)).toThrow(RangeError);
  });

  it('close is idempotent and ends everything', async () => {
    const url = proxy.url;
    await Promise.all([proxy.close(), proxy.close()]);
    await proxy.close();
    await expect(send(proxy.kubeConfig, SECRET_PATH)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(proxy.comeBack()).rejects.toThrow(/closed/);
    expect(proxy.url).toBe(url);
  });
});

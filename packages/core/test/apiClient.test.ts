import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { apiClient, isAborted } from '../src/kube/apiClient.js';
import { apiError, isConnectionError } from '../src/kube/apiErrors.js';

// A server that accepts the connection and never answers (not even the TLS handshake): what a client sees behind a link cut
// without a reset, or a proxy that hangs.
let server: Server | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
});

async function silentServer(): Promise<KubeConfig> {
  server = createServer((socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'silent', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}` }],
    users: [{ name: 'nobody' }],
    contexts: [{ name: 'silent', cluster: 'silent', user: 'nobody' }],
    currentContext: 'silent',
  });
  return kc;
}

describe('apiClient', () => {
  it('ends a request that gets no answer at its deadline, with an error that says so', async () => {
    const kc = await silentServer();
    const started = Date.now();
    const error = await apiClient(kc, CoreV1Api, 300).readNamespacedSecret({ namespace: 'default', name: 'web-tls' }).then(() => undefined, (e: unknown) => e);
    expect(isAborted(error)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(isConnectionError(error)).toBe(true); // retried like a cut connection
    const failure = apiError(error, { verb: 'get', resource: 'secrets', namespace: 'default', name: 'web-tls' });
    expect(failure.code).toBe('E_API');
    expect(failure.message).toBe('get secrets "web-tls" in namespace default failed: no answer from the API server within 30 s');
  });

  it('sets a deadline per request, not per client: a client used later still gets its full time', async () => {
    const kc = await silentServer();
    const client = apiClient(kc, CoreV1Api, 400);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = Date.now();
    await client.readNamespacedSecret({ namespace: 'default', name: 'web-tls' }).catch(() => undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });
});

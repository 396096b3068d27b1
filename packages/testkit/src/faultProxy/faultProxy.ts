import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { OpenConnections } from './connections.js';
import { handleExchange, type ExchangeContext } from './exchange.js';
import { FaultPlan } from './faults.js';
import { LOOPBACK, createProxyServer, proxiedKubeConfig, proxyCredentials, targetIdentity } from './proxyTls.js';
import type { FaultProxy } from './types.js';
import { upstreamOf } from './upstream.js';

export type { FaultOptions, FaultProxy, ProxiedRequest } from './types.js';

/**
 * Starts a fault-injecting proxy on 127.0.0.1 in front of `target`'s current cluster.
 *
 * Clients built from {@link FaultProxy.kubeConfig} reach the proxy over TLS (the proxy has its own
 * CA); the proxy forwards each request to the real API server with the target user's credentials
 * and streams both bodies without buffering, so watches work. Until a fault is armed it is
 * transparent.
 *
 * @param target - a KubeConfig whose current context reaches the API server.
 * @returns the running proxy; call {@link FaultProxy.close} when done.
 */
export async function startFaultProxy(target: KubeConfig): Promise<FaultProxy> {
  // Checked before anything listens, so a bad target leaves nothing behind.
  const identity = targetIdentity(target);
  const context: ExchangeContext = {
    plan: new FaultPlan(),
    upstream: upstreamOf(target, identity.cluster.server),
    connections: new OpenConnections(),
    requests: [],
  };
  const { plan, connections } = context;
  const credentials = proxyCredentials();
  const server = createProxyServer(credentials);
  connections.trackClientsOf(server);
  server.on('request', (incoming, response) => handleExchange(context, incoming, response));

  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  const url = `https://${LOOPBACK}:${port}`;

  async function stopListening(): Promise<void> {
    if (!server.listening) return;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    connections.destroyAll();
    await serverClosed;
  }

  // goDown, comeBack and close run one after another, so a test that fires them quickly still
  // ends up in the state of the last call.
  let lifecycle: Promise<void> = Promise.resolve();
  const inTurn = (step: () => Promise<void>): Promise<void> => {
    const done = lifecycle.then(step);
    lifecycle = done.catch(() => undefined);
    return done;
  };
  let closed = false;
  let closing: Promise<void> | undefined;

  return {
    kubeConfig: proxiedKubeConfig(identity, url, credentials.caPem),
    url,
    requests: context.requests,
    failNext: (status, options) => plan.failNext(status, options),
    delay: (ms, options) => plan.delay(ms, options),
    dropConnections: () => connections.destroyAll(),
    dropNext: (options) => plan.dropNext(options),
    goDown: () => inTurn(stopListening),
    comeBack: () =>
      inTurn(async () => {
        if (closed) throw new Error('comeBack: the fault proxy is closed');
        if (!server.listening) await listen(server, port);
      }),
    close() {
      closing ??= inTurn(async () => {
        closed = true;
        plan.clear();
        await stopListening();
        connections.clearTimers();
      });
      return closing;
    },
  };
}

function listen(server: https.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, LOOPBACK, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

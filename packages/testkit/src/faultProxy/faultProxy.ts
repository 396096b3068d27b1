import type { KubeConfig } from '@kubernetes/client-node';
import { OpenConnections } from './connections.js';
import { handleExchange, type ExchangeContext } from './exchange.js';
import { FaultPlan } from './faults.js';
import { ProxyListener } from './listener.js';
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
  const listener = await ProxyListener.open(server, connections);
  const url = `https://${LOOPBACK}:${listener.port}`;

  return {
    kubeConfig: proxiedKubeConfig(identity, url, credentials.caPem),
    url,
    requests: context.requests,
    failNext: (status, options) => plan.failNext(status, options),
    expireNextWatch: (options) => plan.expireNextWatch(options),
    delay: (ms, options) => plan.delay(ms, options),
    dropConnections: () => connections.destroyAll(),
    dropNext: (options) => plan.dropNext(options),
    goDown: () => listener.goDown(),
    comeBack: () => listener.comeBack(),
    close: () => listener.close(() => plan.clear()),
  };
}

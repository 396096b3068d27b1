import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * A TCP relay in front of an API server that can end every connection with a real TCP reset
 * (RST, `resetAndDestroy`), as a load balancer's idle timeout or a dying node does. It relays
 * TLS untouched, so the client verifies the API server itself.
 */
export async function startResetRelay(target: KubeConfig) {
  const upstream = new URL(target.getCurrentCluster()!.server);
  const pairs = new Set<[net.Socket, net.Socket]>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    const up = net.connect({ host: upstream.hostname, port: Number(upstream.port) });
    const pair: [net.Socket, net.Socket] = [client, up];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    client.pipe(up);
    up.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cluster = target.getCurrentCluster()!;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ ...cluster, server: url }],
    users: target.users,
    contexts: target.contexts,
    currentContext: target.currentContext,
  });
  return {
    kubeConfig,
    /** Connections accepted so far. */
    get accepted() {
      return accepted;
    },
    /** Resets every open connection, both sides. */
    resetAll(): void {
      for (const [client, up] of pairs) {
        client.resetAndDestroy();
        up.resetAndDestroy();
      }
    },
    close: () => new Promise<void>((resolve) => {
      for (const [client, up] of pairs) {
        client.destroy();
        up.destroy();
      }
      server.close(() => resolve());
    }),
  };
}

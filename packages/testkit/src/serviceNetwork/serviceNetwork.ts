import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';

/**
 * The annotation that puts a Service on the test's loopback: its value is the local port that
 * stands in for every port of the Service (the process serving it listens there).
 */
export const LOOPBACK_PORT_ANNOTATION = 'testkit.serving-cert.dev/loopback-port';

/** A running {@link startServiceNetwork}. */
export interface ServiceNetwork {
  /** `http://127.0.0.1:PORT`: the HTTPS_PROXY the API server is started with. */
  readonly proxyUrl: string;
  /** Sets the admin access once the API server is up (the proxy resolves Services through it). */
  connect(kubeConfig: KubeConfig): void;
  close(): Promise<void>;
}

/**
 * The part of a Service network the API server needs, for the calls it makes itself (admission
 * and conversion webhooks, aggregated APIs): there is no kube-proxy here, so kube-apiserver is
 * started with HTTPS_PROXY pointing at this CONNECT proxy. A connection to a Service's cluster IP
 * (how kube-apiserver reaches a webhook's `service` reference) is forwarded to the loopback port
 * named by the Service's {@link LOOPBACK_PORT_ANNOTATION}; TLS stays end to end, verified by the
 * API server against the Service's DNS name, as in a cluster. Only loopback is ever dialled.
 */
export async function startServiceNetwork(): Promise<ServiceNetwork> {
  let kubeConfig: KubeConfig | undefined;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end('CONNECT only');
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    void (async () => {
      const [host = '', port = ''] = (req.url ?? '').split(/:(?=\d+$)/);
      const target = kubeConfig ? await loopbackPortOf(kubeConfig, host, Number(port)).catch(() => undefined) : undefined;
      if (target === undefined) {
        client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\nno Service with cluster IP ${host} and port ${port} is on the loopback (${LOOPBACK_PORT_ANNOTATION})\r\n`);
        return;
      }
      const upstream = net.connect(target, '127.0.0.1');
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.once('connect', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.once('close', () => upstream.destroy());
    })();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    proxyUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connect: (admin) => {
      kubeConfig = admin;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The loopback port of the Service whose cluster IP is `ip` and which has `port`. */
async function loopbackPortOf(kubeConfig: KubeConfig, ip: string, port: number): Promise<number | undefined> {
  const services = await kubeConfig.makeApiClient(CoreV1Api).listServiceForAllNamespaces();
  const service = services.items.find((candidate: V1Service) =>
    candidate.spec?.clusterIP === ip && (candidate.spec.ports ?? []).some((entry) => entry.port === port));
  const value = Number(service?.metadata?.annotations?.[LOOPBACK_PORT_ANNOTATION]);
  return Number.isInteger(value) && value > 0 && value < 65536 ? value : undefined;
}

import type * as tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { expect } from 'vitest';

/**
 * The certificate each open connection of `server` presented at its handshake, as the server
 * saw it (what a client pool holds on to).
 */
export function servedConnections(server: tls.Server): { openSerials(): string[] } {
  const open = new Map<TLSSocket, string>();
  server.on('secureConnection', (socket: TLSSocket) => {
    open.set(socket, socket.getX509Certificate()!.serialNumber);
    socket.once('close', () => open.delete(socket));
  });
  return { openSerials: () => [...open.values()] };
}

/** An undici keep-alive pool for `servername`. */
export function keepAliveAgent(caPem: string, servername: string, options: { allowH2?: boolean } = {}): Agent {
  return new Agent({ keepAliveTimeout: 60_000, connect: { ca: caPem, servername }, ...(options.allowH2 ? { allowH2: true } : {}) });
}

/** `workers` concurrent loops of GET `url` through `dispatcher`, until stopped. */
export function requestLoop(url: string, dispatcher: Agent, workers: number) {
  let stopped = false;
  let completed = 0;
  const failures: string[] = [];
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        const response = await request(url, { dispatcher });
        await response.body.dump();
        if (response.statusCode !== 200) failures.push(`status ${response.statusCode}`);
        else completed += 1;
      } catch (error) {
        failures.push(String((error as { code?: string }).code ?? error));
      }
    }
  };
  const running = Array.from({ length: workers }, loop);
  return {
    failures,
    get completed() {
      return completed;
    },
    /** Waits until `count` more requests have completed, so that rotations land mid-traffic. */
    async progress(count: number): Promise<void> {
      const target = completed + count;
      await expect.poll(() => completed, { timeout: 10_000, interval: 5 }).toBeGreaterThanOrEqual(target);
    },
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(running);
    },
  };
}

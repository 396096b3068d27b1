import { once } from 'node:events';
import * as tls from 'node:tls';

/** One full TLS handshake against 127.0.0.1:port; resolves with the presented serial. */
export async function handshake(port: number, ca: string, servername = 'web.shop.svc'): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, session: undefined });
  try {
    await once(socket, 'secureConnect');
    return socket.getPeerX509Certificate()!.serialNumber;
  } finally {
    socket.destroy();
  }
}

/** Runs handshakes with `concurrency` clients for `durationMs`; returns handshakes per second. */
export async function handshakesPerSecond(port: number, ca: string, durationMs: number, concurrency = 4): Promise<number> {
  const end = performance.now() + durationMs;
  let count = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await handshake(port, ca);
      count += 1;
    }
  }));
  return count / ((performance.now() - start) / 1000);
}

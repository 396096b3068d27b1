import * as http2 from 'node:http2';
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

/**
 * `workers` concurrent loops of GET `url` over Node's HTTP/2 client, one session at a time: when
 * the server sends GOAWAY the loops open a new session. A stream the server refused with
 * REFUSED_STREAM was never processed and is retried (RFC 9113 section 8.7), as Go's, gRPC's and
 * browsers' clients do; every other error is a failure.
 */
export function http2Loop(url: string, caPem: string, servername: string, workers: number) {
  let stopped = false;
  let completed = 0;
  let refusedAndRetried = 0;
  const failures: string[] = [];
  const sessions = new Set<http2.ClientHttp2Session>();
  let session: http2.ClientHttp2Session;
  const connect = (): void => {
    const opened = http2.connect(url, { ca: caPem, servername });
    sessions.add(opened);
    opened.on('error', () => {}); // its streams report what matters
    opened.once('goaway', () => {
      if (session === opened) connect();
    });
    opened.once('close', () => sessions.delete(opened));
    session = opened;
  };
  connect();
  // 'ok', 'refused', or what went wrong.
  const once = (): Promise<string> => new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':path': '/' });
    } catch (error) {
      resolve(String((error as { code?: string }).code ?? error)); // a session already closing
      return;
    }
    let status = 0;
    stream.once('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.resume();
    stream.once('end', () => resolve(status === 200 ? 'ok' : `status ${status}`));
    stream.once('error', (error: Error & { code?: string }) => {
      resolve(stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? 'refused' : String(error.code ?? error));
    });
  });
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const outcome = await once();
      if (outcome === 'ok') completed += 1;
      else if (outcome === 'refused') refusedAndRetried += 1;
      else if (outcome === 'ERR_HTTP2_GOAWAY_SESSION' || outcome === 'ERR_HTTP2_INVALID_SESSION') {
        await new Promise((resolve) => setImmediate(resolve)); // not sent: the loop moves to the new session
      }
      else failures.push(outcome);
    }
  };
  const running = Array.from({ length: workers }, loop);
  return {
    failures,
    get completed() {
      return completed;
    },
    get refusedAndRetried() {
      return refusedAndRetried;
    },
    async progress(count: number): Promise<void> {
      const target = completed + count;
      await expect.poll(() => completed, { timeout: 10_000, interval: 5 }).toBeGreaterThanOrEqual(target);
    },
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(running);
      for (const open of sessions) open.close();
    },
  };
}

import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { isServingCertError, type Logger, type ServingCert, type ServingCertError } from '@serving-cert/core';

/** The names of Service web in namespace shop. */
export const WEB_NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];

/** A fresh temporary directory (under `base`, the OS temporary directory by default), removed by the returned function. */
export async function tempDir(prefix = 'serving-cert-', base = os.tmpdir()): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(base, prefix));
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** An https server on a free loopback port with `cert` attached. */
export async function startAttachedHttpsServer(cert: ServingCert, options: https.ServerOptions = {}) {
  const server = https.createServer({ ...cert.serverOptions(), ...options }, (_req, res) => {
    res.end('ok');
  });
  const detach = cert.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    detach,
    close: async () => {
      detach();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Connects a real TLS client, verifying against `ca` and `servername`, and returns the serial
 * of the certificate the server presented.
 */
export async function servedSerial(port: number, ca: string, servername = 'web.shop.svc', extra: tls.ConnectionOptions = {}): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, ...extra });
  try {
    await once(socket, 'secureConnect');
    return socket.getPeerX509Certificate()!.serialNumber;
  } finally {
    socket.destroy();
  }
}

/** One line a {@link recordingLogger} kept; `at` is `Date.now()` when it was logged. */
export interface RecordedLine { level: string; message: string; fields: Record<string, unknown>; at: number }

/** A logger that keeps every line, for assertions. */
export function recordingLogger(): Logger & { lines: RecordedLine[] } {
  const lines: RecordedLine[] = [];
  // pino's convention: (fields, message) or (message).
  const at = (level: string) => (first: Record<string, unknown> | string, second?: string): void => {
    const now = Date.now();
    lines.push(typeof first === 'string' ? { level, message: first, fields: {}, at: now } : { level, message: second ?? '', fields: first, at: now });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * Resolves with the arguments of the next event `name` of `emitter` (a ServingCert or any
 * EventEmitter), or rejects after `ms`, and on an `error` event while waiting for another.
 */
export async function nextEvent<T extends unknown[]>(emitter: object, name: string, ms = 5_000): Promise<T> {
  return (await once(emitter as NodeJS.EventEmitter, name, { signal: AbortSignal.timeout(ms) })) as T;
}

/** One HTTPS GET over a new connection; resolves with the status and body, rejects on a TLS failure. */
export function httpsGet(
  port: number,
  options: { ca: string; cert?: string; key?: string; servername?: string; path?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get({
      host: '127.0.0.1', port, path: options.path ?? '/', servername: options.servername ?? 'web.shop.svc',
      ca: options.ca, cert: options.cert, key: options.key, agent: false,
    }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** The ServingCertError a promise rejects with; fails when it resolves or rejects with something else. */
export async function rejection(promise: Promise<unknown>): Promise<ServingCertError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  if (!isServingCertError(error)) throw new Error(`expected a ServingCertError, got ${String(error)}`);
  return error;
}

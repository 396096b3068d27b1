import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { OpenConnections } from './connections.js';
import { LOOPBACK } from './proxyTls.js';
import { TestkitError } from '../errors.js';

/**
 * The proxy's listening socket on 127.0.0.1, which can go down and come back on the same port.
 * `goDown`, `comeBack` and `close` run one after another, so a test that fires them quickly still
 * ends up in the state of the last call.
 */
export class ProxyListener {
  private lifecycle: Promise<void> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: https.Server,
    private readonly connections: OpenConnections,
    /** The port chosen at the first listen, kept across goDown and comeBack. */
    readonly port: number,
  ) {}

  /** Listens on an ephemeral port of 127.0.0.1. */
  static async open(server: https.Server, connections: OpenConnections): Promise<ProxyListener> {
    await listen(server, 0);
    return new ProxyListener(server, connections, (server.address() as AddressInfo).port);
  }

  /** Stops listening and drops every connection. */
  goDown(): Promise<void> {
    return this.inTurn(() => this.stopListening());
  }

  /** Listens again on the same port; rejects once closed. */
  comeBack(): Promise<void> {
    return this.inTurn(async () => {
      if (this.closed) throw new TestkitError('E_USAGE', 'comeBack: the fault proxy is closed');
      if (!this.server.listening) await listen(this.server, this.port);
    });
  }

  /** Stops for good, running `beforeStop` first; idempotent. */
  close(beforeStop: () => void): Promise<void> {
    this.closing ??= this.inTurn(async () => {
      this.closed = true;
      beforeStop();
      await this.stopListening();
      this.connections.clearTimers();
    });
    return this.closing;
  }

  private inTurn(step: () => Promise<void>): Promise<void> {
    const done = this.lifecycle.then(step);
    this.lifecycle = done.catch(() => undefined);
    return done;
  }

  private async stopListening(): Promise<void> {
    if (!this.server.listening) return;
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.connections.destroyAll();
    await serverClosed;
  }
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

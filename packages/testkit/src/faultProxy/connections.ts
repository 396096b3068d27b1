import type * as http from 'node:http';
import type * as https from 'node:https';
import type { Socket } from 'node:net';

/**
 * Everything of the proxy that is open: the client connections, the requests to the upstream and
 * the delay timers, so that a fault or `close` can end them all at once.
 */
export class OpenConnections {
  /** Both the raw TCP sockets and the TLS sockets on them, so a cut happens even mid-handshake. */
  private readonly clientSockets = new Set<Socket>();
  private readonly upstreamRequests = new Set<http.ClientRequest>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Tracks every connection `server` accepts, until it closes. */
  trackClientsOf(server: https.Server): void {
    const track = (socket: Socket): void => {
      this.clientSockets.add(socket);
      socket.once('close', () => this.clientSockets.delete(socket));
    };
    server.on('connection', track);
    server.on('secureConnection', track);
  }

  /** Tracks a request to the upstream until it closes. */
  trackUpstream(request: http.ClientRequest): void {
    this.upstreamRequests.add(request);
    request.once('close', () => this.upstreamRequests.delete(request));
  }

  /** Runs `callback` after `ms`, unless the returned cancel function runs first or {@link clearTimers} does. */
  setTimer(ms: number, callback: () => void): () => void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      callback();
    }, ms);
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** Destroys every client connection and every upstream request, watches mid-stream included. */
  destroyAll(): void {
    for (const socket of this.clientSockets) socket.destroy();
    for (const request of this.upstreamRequests) request.destroy();
  }

  /** Cancels every pending delay. */
  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

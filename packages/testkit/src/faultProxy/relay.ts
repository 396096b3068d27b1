import { Buffer } from 'node:buffer';
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { endToEndHeaders } from './headers.js';

/** Writes the upstream answer's status line and end-to-end headers to the client. */
export function relayHead(upstreamResponse: http.IncomingMessage, response: http.ServerResponse): number {
  const status = upstreamResponse.statusCode ?? 502;
  response.writeHead(status, upstreamResponse.statusMessage, endToEndHeaders(upstreamResponse.headers));
  return status;
}

/**
 * Streams the upstream body to the client without buffering, so watches flow event by event.
 * Either side failing ends the other: an upstream cut reaches the client as a cut.
 */
export function relayBody(upstreamResponse: http.IncomingMessage, response: http.ServerResponse): void {
  pipeline(upstreamResponse, response, () => undefined);
}

/**
 * Passes the first `afterBytes` bytes of the body to the client, then cuts both connections. The
 * cut waits until what was written has been flushed, so the client really receives the headers
 * and those bytes first. A body shorter than `afterBytes` is still cut rather than ended: the
 * fault promises a cut.
 */
export function relayThenCut(
  upstreamResponse: http.IncomingMessage,
  response: http.ServerResponse,
  clientSocket: Socket,
  afterBytes: number,
): void {
  let passed = 0;
  let pendingWrites = 0;
  let cutRequested = false;
  const cut = (): void => {
    upstreamResponse.destroy();
    clientSocket.destroy();
  };
  const cutWhenFlushed = (): void => {
    cutRequested = true;
    upstreamResponse.pause();
    upstreamResponse.removeAllListeners('data');
    if (pendingWrites === 0) cut();
  };
  const write = (chunk: Buffer): void => {
    pendingWrites += 1;
    const flowing = response.write(chunk, () => {
      pendingWrites -= 1;
      if (cutRequested && pendingWrites === 0) cut();
    });
    if (!flowing && !cutRequested) {
      upstreamResponse.pause();
      response.once('drain', () => upstreamResponse.resume());
    }
  };
  // An empty write still sends the headers, and its callback says when they are out.
  write(Buffer.alloc(0));
  if (afterBytes === 0) {
    cutWhenFlushed();
    return;
  }
  upstreamResponse.on('data', (chunk: Buffer) => {
    const room = afterBytes - passed;
    if (chunk.length < room) {
      passed += chunk.length;
      write(chunk);
      return;
    }
    write(chunk.subarray(0, room));
    passed = afterBytes;
    cutWhenFlushed();
  });
  upstreamResponse.once('end', cutWhenFlushed);
  upstreamResponse.once('error', cut);
}

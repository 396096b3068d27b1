import { Buffer } from 'node:buffer';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { relayBody, relayHead, relayThenCut } from '../src/faultProxy/relay.js';

/** Servers opened by a test, closed after it. */
const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function serve(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** An upstream that writes `chunks` 10 ms apart (so they arrive as separate reads), then ends. */
function upstreamWriting(chunks: string[], headers: http.OutgoingHttpHeaders = {}): http.RequestListener {
  return (_request, response) => {
    response.writeHead(201, { 'content-type': 'text/plain', ...headers });
    const next = (): void => {
      const chunk = chunks.shift();
      if (chunk === undefined) return void response.end();
      response.write(chunk);
      setTimeout(next, 10);
    };
    next();
  };
}

/** A front server that relays each request's answer from `upstreamPort` with `relay`. */
async function front(upstreamPort: number, relay: (upstream: http.IncomingMessage, response: http.ServerResponse) => void): Promise<number> {
  return serve((_request, response) => {
    http.get({ host: '127.0.0.1', port: upstreamPort, path: '/', agent: false }, (upstream) => relay(upstream, response));
  });
}

interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  complete: boolean;
}

function fetchFrom(port: number): Promise<Received> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', () => undefined);
        response.on('close', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString(), complete: response.complete }),
        );
      })
      .on('error', reject);
  });
}

describe('relay', () => {
  it('passes the status, the end-to-end headers and the whole body', async () => {
    const upstream = await serve(upstreamWriting(['one ', 'two ', 'three'], { 'x-kept': 'yes', 'keep-alive': 'timeout=99' }));
    const port = await front(upstream, (upstreamResponse, response) => {
      relayHead(upstreamResponse, response);
      relayBody(upstreamResponse, response);
    });
    const received = await fetchFrom(port);
    expect(received).toMatchObject({ status: 201, body: 'one two three', complete: true });
    expect(received.headers['x-kept']).toBe('yes');
    // The upstream hop's keep-alive parameters are not the client's.
    expect(received.headers['keep-alive']).not.toBe('timeout=99');
  });

  it('relayThenCut passes exactly afterBytes across several chunks, then cuts', async () => {
    const upstream = await serve(upstreamWriting(['abc', 'defg', 'hijkl']));
    const port = await front(upstream, (upstreamResponse, response) => {
      relayHead(upstreamResponse, response);
      relayThenCut(upstreamResponse, response, response.socket!, 5);
    });
    expect(await fetchFrom(port)).toMatchObject({ status: 201, body: 'abcde', complete: false });
  });

  it('relayThenCut still cuts a body shorter than afterBytes, rather than ending it', async () => {
    const upstream = await serve(upstreamWriting(['short']));
    const port = await front(upstream, (upstreamResponse, response) => {
      relayHead(upstreamResponse, response);
      relayThenCut(upstreamResponse, response, response.socket!, 1_000);
    });
    expect(await fetchFrom(port)).toMatchObject({ status: 201, body: 'short', complete: false });
  });

  it('relayThenCut with 0 bytes delivers the headers only', async () => {
    const upstream = await serve(upstreamWriting(['never seen']));
    const port = await front(upstream, (upstreamResponse, response) => {
      relayHead(upstreamResponse, response);
      relayThenCut(upstreamResponse, response, response.socket!, 0);
    });
    expect(await fetchFrom(port)).toMatchObject({ status: 201, body: '', complete: false });
  });
});

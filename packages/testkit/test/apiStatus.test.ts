import { Buffer } from 'node:buffer';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { apiStatus, sendStatus } from '../src/faultProxy/apiStatus.js';

describe('apiStatus builds the API server refusal', () => {
  it.each([
    [400, 'BadRequest'],
    [403, 'Forbidden'],
    [404, 'NotFound'],
    [409, 'Conflict'],
    [410, 'Expired'],
    [422, 'Invalid'],
    [429, 'TooManyRequests'],
    [503, 'ServiceUnavailable'],
    [504, 'Timeout'],
    // Codes apimachinery has no reason for read as an internal error.
    [500, 'InternalError'],
    [502, 'InternalError'],
    [418, 'InternalError'],
  ])('%i is a Status with reason %s', (code, reason) => {
    const { headers, body } = apiStatus(code, 'the message');
    expect(JSON.parse(body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the message',
      reason,
      code,
    });
    expect(headers).toEqual({ 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  });

  it.each([429, 503])('%i carries Retry-After in a header and in details', (code) => {
    const { headers, body } = apiStatus(code, 'slow down', 7);
    expect(headers['retry-after']).toBe('7');
    expect(JSON.parse(body)).toMatchObject({ details: { retryAfterSeconds: 7 }, code });
  });

  it('says Retry-After 0 too, since 0 is a real answer', () => {
    expect(apiStatus(429, 'now', 0).headers['retry-after']).toBe('0');
  });

  it.each([500, 410, 404])('%i never carries Retry-After, even when asked', (code) => {
    const { headers, body } = apiStatus(code, 'no', 5);
    expect(headers['retry-after']).toBeUndefined();
    expect(JSON.parse(body)).not.toHaveProperty('details');
  });

  it('counts content-length in bytes, not characters', () => {
    const { headers, body } = apiStatus(500, 'déjà vu: ✓');
    expect(headers['content-length']).toBe(Buffer.byteLength(body));
    expect(headers['content-length']).toBeGreaterThan(body.length);
  });
});

describe('sendStatus', () => {
  /** Serves one request with `answer` on a real socket and returns what a client received. */
  async function serveOnce(answer: (response: http.ServerResponse) => void): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const server = http.createServer((_request, response) => answer(response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      return await new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () =>
              resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }),
            );
          })
          .on('error', reject);
      });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it('answers with the status, its headers and its body', async () => {
    const received = await serveOnce((response) => sendStatus(response, 429, 'wait', 2));
    expect(received.status).toBe(429);
    expect(received.headers['retry-after']).toBe('2');
    expect(received.headers['content-type']).toBe('application/json');
    expect(received.body).toBe(apiStatus(429, 'wait', 2).body);
  });

  it('leaves an answer that has already started alone', async () => {
    const received = await serveOnce((response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      sendStatus(response, 500, 'too late');
      response.end('the real answer');
    });
    expect(received).toMatchObject({ status: 200, body: 'the real answer' });
  });
});

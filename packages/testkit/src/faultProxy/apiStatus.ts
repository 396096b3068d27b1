import { Buffer } from 'node:buffer';
import type * as http from 'node:http';

/** apimachinery's `StatusReason` for the codes a test is likely to inject. */
const STATUS_REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** An answer as the API server gives it when it refuses a request: headers and a `Status` body. */
export interface ApiStatusAnswer {
  headers: http.OutgoingHttpHeaders;
  body: string;
}

/**
 * Builds the API server's refusal for `code`: a `Status` object whose reason is apimachinery's
 * (`InternalError` for codes it has no name for). Retry-After, header and `details`, only for 429
 * and 503, and only when `retryAfterSeconds` is given.
 */
export function apiStatus(code: number, message: string, retryAfterSeconds?: number): ApiStatusAnswer {
  const reason = STATUS_REASONS[code] ?? 'InternalError';
  const carriesRetryAfter = retryAfterSeconds !== undefined && (code === 429 || code === 503);
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    // The API server repeats Retry-After here; client-go reads either.
    ...(carriesRetryAfter ? { details: { retryAfterSeconds } } : {}),
    code,
  });
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(carriesRetryAfter ? { 'retry-after': String(retryAfterSeconds) } : {}),
  };
  return { headers, body };
}

/** Answers with {@link apiStatus}, unless an answer has already started or the response is gone. */
export function sendStatus(response: http.ServerResponse, code: number, message: string, retryAfterSeconds?: number): void {
  if (response.headersSent || response.destroyed) return;
  const { headers, body } = apiStatus(code, message, retryAfterSeconds);
  response.writeHead(code, headers);
  response.end(body);
}

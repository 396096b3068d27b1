import type * as http from 'node:http';

/**
 * Headers that describe one hop of a connection rather than the request or response, so a proxy
 * must not pass them on (RFC 9110 section 7.6.1).
 */
const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The headers of `incoming` that a proxy passes on: all but the hop-by-hop ones, those that its
 * `Connection` header names, and any in `alsoDrop` (lower case).
 */
export function endToEndHeaders(
  incoming: http.IncomingHttpHeaders,
  alsoDrop: ReadonlySet<string> = new Set(),
): http.OutgoingHttpHeaders {
  const connectionScoped = connectionHeaderNames(incoming.connection);
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || connectionScoped.has(name) || alsoDrop.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}

/** Headers that a `Connection` header names are scoped to that hop as well. */
function connectionHeaderNames(connection: string | undefined): Set<string> {
  return new Set(
    (connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
  );
}

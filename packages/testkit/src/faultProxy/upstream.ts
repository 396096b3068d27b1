import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { endToEndHeaders } from './headers.js';

/** The API server behind the proxy, reached as the target KubeConfig's user. */
export interface Upstream {
  /**
   * Options that forward `incoming` upstream: its method, path (behind the server's path prefix)
   * and end-to-end headers, with the target user's credentials and an agent of its own.
   */
  options(incoming: http.IncomingMessage): Promise<https.RequestOptions>;
  /** Starts a request with {@link Upstream.options}. */
  request(options: https.RequestOptions): http.ClientRequest;
}

/**
 * Headers the proxy never passes up: the upstream request sets its own Host, and the proxy speaks
 * as the target user whatever credentials the client sent it.
 */
const REPLACED_HEADERS: ReadonlySet<string> = new Set(['host', 'authorization']);

/** The upstream at `server` (the target's current cluster), authenticated by `target`. */
export function upstreamOf(target: KubeConfig, server: string): Upstream {
  const base = new URL(server);
  // The server URL may carry a path prefix (a cluster behind a gateway such as Rancher's).
  const pathPrefix = base.pathname.replace(/\/+$/, '');
  const plainHttp = base.protocol === 'http:';
  return {
    async options(incoming) {
      const options: https.RequestOptions = {
        protocol: base.protocol,
        // URL keeps IPv6 literals in brackets; the request wants the bare address.
        hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: base.port || (plainHttp ? 80 : 443),
        method: incoming.method ?? 'GET',
        path: pathPrefix + (incoming.url ?? '/'),
      };
      // Fills in the CA, the client certificate and key, bearer or basic auth, impersonation, and a
      // fresh agent (keep-alive off) for this one request, so no pooled socket outlives a drop.
      await target.applyToHTTPSOptions(options);
      const headers = endToEndHeaders(incoming.headers, REPLACED_HEADERS);
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        if (value !== undefined) headers[name.toLowerCase()] = value;
      }
      options.headers = headers;
      return options;
    },
    request(options) {
      return plainHttp ? http.request(options) : https.request(options);
    },
  };
}

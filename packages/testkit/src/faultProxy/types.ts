import type { KubeConfig } from '@kubernetes/client-node';

/** One request as the proxy saw it. */
export interface ProxiedRequest {
  method: string;
  /** The request target as the client sent it, query string included. */
  path: string;
  /**
   * The status the client was answered with; `'dropped'` when its connection was cut before or
   * while it was answered (by {@link FaultProxy.dropNext}, {@link FaultProxy.dropConnections},
   * {@link FaultProxy.goDown}, or the client leaving); `'refused'` when the upstream API server
   * refused the proxy's connection (the proxy then cuts the client's connection too).
   */
  status: number | 'dropped' | 'refused';
  /** `Date.now()` when the request arrived at the proxy. */
  at: number;
  /** Whether the query has `watch=true` or `watch=1`. */
  watch: boolean;
}

/** What a fault's `match` is shown of a request. */
export interface RequestSummary {
  method: string;
  path: string;
  watch: boolean;
}

/** Which requests a fault applies to, and how many times. */
export interface FaultOptions {
  /** Which requests; default all. */
  match?: (request: RequestSummary) => boolean;
  /** How many; default 1. `Infinity` keeps the fault until the proxy closes. */
  count?: number;
}

/**
 * A loopback HTTPS proxy in front of a kube-apiserver that forwards requests with the target
 * user's credentials and injects faults on demand. See {@link startFaultProxy}.
 */
export interface FaultProxy {
  /**
   * A copy of the target KubeConfig whose current cluster's server is the proxy
   * (https://127.0.0.1:PORT) and whose CA is the proxy's own CA; same user.
   */
  readonly kubeConfig: KubeConfig;
  /** `https://127.0.0.1:PORT`; the port stays the same across {@link FaultProxy.goDown} and {@link FaultProxy.comeBack}. */
  readonly url: string;
  /**
   * Every request the proxy saw (faulted ones included), in the order their outcome became known:
   * answered, faulted, refused or dropped.
   */
  readonly requests: readonly ProxiedRequest[];
  /**
   * Answer the next matching requests with this status instead of forwarding (a Kubernetes Status
   * JSON body; 429 and 503 carry Retry-After when retryAfterSeconds is set).
   */
  failNext(status: number, options?: FaultOptions & { retryAfterSeconds?: number }): void;
  /**
   * Answer the next matching watch requests as kube-apiserver does when their resourceVersion is
   * too old: 200, one ERROR event carrying a 410 Expired Status, end of stream.
   */
  expireNextWatch(options?: FaultOptions): void;
  /** Delay the start of the answers of matching requests by ms (0 turns it off). */
  delay(ms: number, options?: { match?: FaultOptions['match'] }): void;
  /** Destroy every open connection now, both sides, watches in the middle of their stream included. */
  dropConnections(): void;
  /**
   * Cut the connection of the next matching request after `afterBytes` bytes of the answer body
   * have passed (default 0: right after the headers).
   */
  dropNext(options?: FaultOptions & { afterBytes?: number }): void;
  /** Stop listening and drop every connection: new connections are refused (ECONNREFUSED). */
  goDown(): Promise<void>;
  /** Listen again on the same port. */
  comeBack(): Promise<void>;
  /** Stop for good: idempotent; resolves when the server is closed and every connection is gone. */
  close(): Promise<void>;
}

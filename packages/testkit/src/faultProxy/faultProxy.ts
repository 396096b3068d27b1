import { Buffer } from 'node:buffer';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';

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

/** Which requests a fault applies to, and how many times. */
export interface FaultOptions {
  /** Which requests; default all. */
  match?: (request: { method: string; path: string; watch: boolean }) => boolean;
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

type RequestMatcher = NonNullable<FaultOptions['match']>;

interface FailFault {
  kind: 'fail';
  status: number;
  retryAfterSeconds: number | undefined;
  match: RequestMatcher | undefined;
  remaining: number;
}

interface DropFault {
  kind: 'drop';
  afterBytes: number;
  match: RequestMatcher | undefined;
  remaining: number;
}

type Fault = FailFault | DropFault;

const LOOPBACK = '127.0.0.1';

/**
 * Headers that describe one hop of a connection rather than the request or response, so a proxy
 * must not pass them on (RFC 9110 section 7.6.1). `host` is left out on the way up because the
 * upstream request sets its own.
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

/**
 * Starts a fault-injecting proxy on 127.0.0.1 in front of `target`'s current cluster.
 *
 * Clients built from {@link FaultProxy.kubeConfig} reach the proxy over TLS (the proxy has its own
 * CA); the proxy forwards each request to the real API server with the target user's credentials
 * and streams both bodies without buffering, so watches work. Until a fault is armed it is
 * transparent.
 *
 * @param target - a KubeConfig whose current context reaches the API server.
 * @returns the running proxy; call {@link FaultProxy.close} when done.
 */
export async function startFaultProxy(target: KubeConfig): Promise<FaultProxy> {
  // Checked before anything listens, so a bad target leaves nothing behind.
  const identity = currentIdentity(target);
  const { cluster } = identity;
  const upstreamBase = new URL(cluster.server);
  // The server URL may carry a path prefix (a cluster behind a gateway such as Rancher's).
  const upstreamPathPrefix = upstreamBase.pathname.replace(/\/+$/, '');
  const requestUpstream = upstreamBase.protocol === 'http:' ? http.request : https.request;

  const ca = CertificateAuthority.create({ commonName: 'serving-cert fault proxy CA' });
  const serving = ca.issue({
    commonName: 'serving-cert fault proxy',
    dnsNames: ['localhost'],
    ipAddresses: [LOOPBACK],
    extendedKeyUsage: ['serverAuth'],
  });
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem });
  // Watches are long: the default limit on receiving a request must not cut them in tests that
  // run for minutes against a real API server.
  server.requestTimeout = 0;

  const requests: ProxiedRequest[] = [];
  const faults: Fault[] = [];
  let delaySetting: { ms: number; match: RequestMatcher | undefined } = { ms: 0, match: undefined };
  /** Both the raw TCP sockets and the TLS sockets on them, so a cut happens even mid-handshake. */
  const frontSockets = new Set<Socket>();
  const upstreamRequests = new Set<http.ClientRequest>();
  const delayTimers = new Set<NodeJS.Timeout>();
  let closed = false;

  const track = (socket: Socket): void => {
    frontSockets.add(socket);
    socket.once('close', () => frontSockets.delete(socket));
  };
  server.on('connection', track);
  server.on('secureConnection', track);

  function destroyAllConnections(): void {
    for (const socket of frontSockets) socket.destroy();
    for (const request of upstreamRequests) request.destroy();
  }

  /** Takes one use of the first armed fault that matches, in order of registration. */
  function takeFault(request: { method: string; path: string; watch: boolean }): Fault | undefined {
    const index = faults.findIndex((fault) => fault.match === undefined || fault.match(request));
    const fault = faults[index];
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault;
  }

  async function upstreamOptions(incoming: http.IncomingMessage): Promise<https.RequestOptions> {
    const options: https.RequestOptions = {
      protocol: upstreamBase.protocol,
      // URL keeps IPv6 literals in brackets; the request wants the bare address.
      hostname: upstreamBase.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: upstreamBase.port || (upstreamBase.protocol === 'http:' ? 80 : 443),
      method: incoming.method ?? 'GET',
      path: upstreamPathPrefix + (incoming.url ?? '/'),
    };
    // Fills in the CA, the client certificate and key, bearer or basic auth, impersonation, and a
    // fresh agent (keep-alive off) for this one request, so no pooled socket outlives a drop.
    await target.applyToHTTPSOptions(options);
    const headers: http.OutgoingHttpHeaders = {};
    const connectionScoped = connectionHeaderNames(incoming.headers.connection);
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || connectionScoped.has(name)) continue;
      // The upstream request sets its own Host; the proxy speaks as the target user, whatever
      // credentials the client sent it.
      if (name === 'host' || name === 'authorization') continue;
      headers[name] = value;
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name.toLowerCase()] = value;
    }
    options.headers = headers;
    return options;
  }

  function handleRequest(incoming: http.IncomingMessage, response: http.ServerResponse): void {
    const arrivedAt = Date.now();
    const method = incoming.method ?? 'GET';
    const path = incoming.url ?? '/';
    const watch = isWatchRequest(path);
    // Captured now because `response.socket` is detached once the response is done.
    const clientSocket = incoming.socket;
    let recorded = false;
    const record = (status: ProxiedRequest['status']): void => {
      if (recorded) return;
      recorded = true;
      requests.push({ method, path, status, at: arrivedAt, watch });
    };
    let exchangeOver = false;
    let delayTimer: NodeJS.Timeout | undefined;
    let upstreamRequest: http.ClientRequest | undefined;
    /** True once nothing more can be said to the client: it left, or its connection was cut. */
    const clientGone = (): boolean => exchangeOver || clientSocket.destroyed;

    response.once('close', () => {
      exchangeOver = true;
      if (delayTimer !== undefined) {
        clearTimeout(delayTimer);
        delayTimer = undefined;
      }
      // Closed before an answer: the client's connection was cut (by a fault or by the client).
      record('dropped');
      // A client that leaves a watch must not leave the upstream watch running.
      upstreamRequest?.destroy();
    });

    const afterDelay = (ms: number, answer: () => void): void => {
      if (ms <= 0) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        delayTimers.delete(timer);
        delayTimer = undefined;
        if (!clientGone()) answer();
      }, ms);
      delayTimer = timer;
      delayTimers.add(timer);
      response.once('close', () => delayTimers.delete(timer));
    };

    const request = { method, path, watch };
    let fault: Fault | undefined;
    let delayMs: number;
    try {
      fault = takeFault(request);
      delayMs = delaySetting.match === undefined || delaySetting.match(request) ? delaySetting.ms : 0;
    } catch (error) {
      // A throwing `match` is a bug in the test; say so to the client rather than crash the proxy.
      incoming.resume();
      record(500);
      sendStatus(response, 500, `fault proxy: a match function threw: ${errorMessage(error)}`);
      return;
    }

    if (fault?.kind === 'fail') {
      const { status, retryAfterSeconds } = fault;
      // The body is not forwarded, but it must be read for the connection to be reusable.
      incoming.resume();
      afterDelay(delayMs, () => {
        record(status);
        sendStatus(response, status, `fault proxy: injected ${status} instead of forwarding`, retryAfterSeconds);
      });
      return;
    }
    const dropAfterBytes = fault?.kind === 'drop' ? fault.afterBytes : undefined;

    const relay = (upstreamResponse: http.IncomingMessage): void => {
      if (clientGone()) {
        upstreamResponse.destroy();
        return;
      }
      const status = upstreamResponse.statusCode ?? 502;
      response.writeHead(status, upstreamResponse.statusMessage, responseHeaders(upstreamResponse));
      if (dropAfterBytes === undefined) {
        record(status);
        // Either side failing ends the other: an upstream cut reaches the client as a cut.
        pipeline(upstreamResponse, response, () => undefined);
        return;
      }
      record('dropped');
      relayThenCut(upstreamResponse, response, clientSocket, dropAfterBytes);
    };

    const forward = async (): Promise<void> => {
      let options: https.RequestOptions;
      try {
        options = await upstreamOptions(incoming);
      } catch (error) {
        incoming.resume();
        if (clientGone()) return;
        record(502);
        sendStatus(response, 502, `fault proxy: cannot authenticate to the upstream: ${errorMessage(error)}`);
        return;
      }
      if (clientGone()) return;
      const agent = options.agent;
      const outgoing = requestUpstream(options);
      upstreamRequest = outgoing;
      upstreamRequests.add(outgoing);
      outgoing.once('close', () => {
        upstreamRequests.delete(outgoing);
        // The agent was made for this request alone; destroying it frees its sockets at once.
        if (agent instanceof http.Agent) agent.destroy();
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (clientGone()) return;
        if (response.headersSent) {
          response.destroy();
          return;
        }
        if (error.code === 'ECONNREFUSED') {
          // Mirror an API server that is down: the client sees a network failure, not a status.
          record('refused');
          clientSocket.destroy();
          return;
        }
        record(502);
        sendStatus(response, 502, `fault proxy: the upstream request failed: ${error.message}`);
      });
      outgoing.on('response', (upstreamResponse) => {
        // Until the delay is over the response stays paused; a failure in between must not crash.
        upstreamResponse.on('error', () => {
          if (!response.headersSent) clientSocket.destroy();
        });
        afterDelay(delayMs, () => relay(upstreamResponse));
      });
      // `pipe`, not `pipeline`: an upstream failure must not destroy the client's request (which
      // would cut its socket) before the proxy has answered it with a 502.
      incoming.pipe(outgoing);
    };
    forward().catch((error: unknown) => {
      // Only a bug in the proxy gets here; answer rather than leave the client hanging.
      if (clientGone() || response.headersSent) {
        clientSocket.destroy();
        return;
      }
      record(502);
      sendStatus(response, 502, `fault proxy: ${errorMessage(error)}`);
    });
  }

  server.on('request', handleRequest);

  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  const url = `https://${LOOPBACK}:${port}`;
  const kubeConfig = proxiedKubeConfig(identity, url, ca.certPem);

  async function stopListening(): Promise<void> {
    if (!server.listening) return;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    destroyAllConnections();
    await serverClosed;
  }

  // goDown, comeBack and close run one after another, so a test that fires them quickly still
  // ends up in the state of the last call.
  let lifecycle: Promise<void> = Promise.resolve();
  const inTurn = (step: () => Promise<void>): Promise<void> => {
    const done = lifecycle.then(step);
    lifecycle = done.catch(() => undefined);
    return done;
  };
  let closing: Promise<void> | undefined;

  return {
    kubeConfig,
    url,
    requests,
    failNext(status, options = {}) {
      // A fault is an error answer; 1xx-3xx would not read as one to any client.
      if (!Number.isInteger(status) || status < 400 || status > 599) {
        throw new RangeError(`failNext: ${status} is not an HTTP error status (400-599)`);
      }
      const { retryAfterSeconds } = options;
      if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 0)) {
        throw new RangeError(`failNext: retryAfterSeconds must be a whole number of seconds, got ${retryAfterSeconds}`);
      }
      faults.push({ kind: 'fail', status, retryAfterSeconds, match: options.match, remaining: faultCount(options.count) });
    },
    delay(ms, options = {}) {
      if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`delay: ms must be 0 or more, got ${ms}`);
      delaySetting = { ms, match: options.match };
    },
    dropConnections() {
      destroyAllConnections();
    },
    dropNext(options = {}) {
      const afterBytes = options.afterBytes ?? 0;
      if (!(Number.isInteger(afterBytes) && afterBytes >= 0)) {
        throw new RangeError(`dropNext: afterBytes must be a whole number, 0 or more, got ${afterBytes}`);
      }
      faults.push({ kind: 'drop', afterBytes, match: options.match, remaining: faultCount(options.count) });
    },
    goDown() {
      return inTurn(stopListening);
    },
    comeBack() {
      return inTurn(async () => {
        if (closed) throw new Error('comeBack: the fault proxy is closed');
        if (!server.listening) await listen(server, port);
      });
    },
    close() {
      closing ??= inTurn(async () => {
        closed = true;
        faults.length = 0;
        await stopListening();
        for (const timer of delayTimers) clearTimeout(timer);
        delayTimers.clear();
      });
      return closing;
    },
  };
}

interface Identity {
  cluster: Cluster;
  user: User;
  context: Context;
}

function currentIdentity(target: KubeConfig): Identity {
  const cluster = target.getCurrentCluster();
  const user = target.getCurrentUser();
  const context = target.getContextObject(target.getCurrentContext());
  if (!cluster || !user || !context) {
    throw new Error('startFaultProxy: the target KubeConfig needs a current context with a cluster and a user');
  }
  return { cluster, user, context };
}

/** The target's current cluster, user and context, with the server and CA swapped for the proxy's. */
function proxiedKubeConfig({ cluster, user, context }: Identity, url: string, caPem: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    // Only name, server and CA: the target's TLS server name and HTTP proxy belong to the upstream hop.
    clusters: [{ name: cluster.name, server: url, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ ...user }],
    contexts: [{ ...context }],
    currentContext: context.name,
  });
  return kubeConfig;
}

/**
 * Passes the first `afterBytes` bytes of the body to the client, then cuts both connections. The
 * cut waits until what was written has been flushed, so the client really receives the headers
 * and those bytes first.
 */
function relayThenCut(
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
  // A body shorter than afterBytes is still cut rather than ended: the fault promises a cut.
  upstreamResponse.once('end', cutWhenFlushed);
  upstreamResponse.once('error', cut);
}

function responseHeaders(upstreamResponse: http.IncomingMessage): http.OutgoingHttpHeaders {
  const connectionScoped = connectionHeaderNames(upstreamResponse.headers.connection);
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstreamResponse.headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || connectionScoped.has(name)) continue;
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

/** Answers as the API server does when it refuses a request: a `Status` object. */
function sendStatus(response: http.ServerResponse, code: number, message: string, retryAfterSeconds?: number): void {
  if (response.headersSent || response.destroyed) return;
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
  response.writeHead(code, headers);
  response.end(body);
}

function isWatchRequest(path: string): boolean {
  // The base only makes a relative request target parseable.
  const watch = new URL(path, 'https://fault-proxy.invalid').searchParams.get('watch');
  return watch === 'true' || watch === '1';
}

function faultCount(count: number | undefined): number {
  const value = count ?? 1;
  if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
    throw new RangeError(`count must be a whole number, 1 or more, or Infinity; got ${value}`);
  }
  return value;
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

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import * as http from 'node:http';
import type * as https from 'node:https';
import type { Socket } from 'node:net';
import { sendStatus } from './apiStatus.js';
import type { OpenConnections } from './connections.js';
import { summarizeRequest, type FaultDecision, type FaultPlan } from './faults.js';
import { relayBody, relayHead, relayThenCut } from './relay.js';
import type { ProxiedRequest, RequestSummary } from './types.js';
import type { Upstream } from './upstream.js';

/** What every exchange of one proxy shares. */
export interface ExchangeContext {
  plan: FaultPlan;
  upstream: Upstream;
  connections: OpenConnections;
  /** Where each request's outcome is written, once. */
  requests: ProxiedRequest[];
}

/** Handles one client request: a fault decides, then the proxy answers it itself or relays the upstream's answer. */
export function handleExchange(context: ExchangeContext, incoming: http.IncomingMessage, response: http.ServerResponse): void {
  new Exchange(context, incoming, response).start();
}

/** One request and its answer, from arrival until either side is gone. */
class Exchange {
  private readonly arrivedAt = Date.now();
  private readonly request: RequestSummary;
  /** Captured now because `response.socket` is detached once the response is done. */
  private readonly clientSocket: Socket;
  private recorded = false;
  private over = false;
  private cancelDelay: (() => void) | undefined;
  private upstreamRequest: http.ClientRequest | undefined;

  constructor(
    private readonly context: ExchangeContext,
    private readonly incoming: http.IncomingMessage,
    private readonly response: http.ServerResponse,
  ) {
    this.request = summarizeRequest(incoming.method, incoming.url);
    this.clientSocket = incoming.socket;
  }

  start(): void {
    this.response.once('close', () => this.onResponseClosed());
    let decision: FaultDecision;
    try {
      decision = this.context.plan.decide(this.request);
    } catch (error) {
      // A throwing `match` is a bug in the test; say so to the client rather than crash the proxy.
      this.incoming.resume();
      this.answerWithStatus(500, `fault proxy: a match function threw: ${errorMessage(error)}`);
      return;
    }
    if (decision.action === 'fail') {
      const { status, retryAfterSeconds } = decision;
      // The body is not forwarded, but it must be read for the connection to be reusable.
      this.incoming.resume();
      this.afterDelay(decision.delayMs, () =>
        this.answerWithStatus(status, `fault proxy: injected ${status} instead of forwarding`, retryAfterSeconds),
      );
      return;
    }
    if (decision.action === 'expire') {
      this.incoming.resume();
      this.afterDelay(decision.delayMs, () => this.answerWithExpiredWatch());
      return;
    }
    this.forward(decision.delayMs, decision.dropAfterBytes).catch((error: unknown) => {
      // Only a bug in the proxy gets here; answer rather than leave the client hanging.
      if (this.clientGone() || this.response.headersSent) {
        this.clientSocket.destroy();
        return;
      }
      this.answerWithStatus(502, `fault proxy: ${errorMessage(error)}`);
    });
  }

  /** True once nothing more can be said to the client: it left, or its connection was cut. */
  private clientGone(): boolean {
    return this.over || this.clientSocket.destroyed;
  }

  private record(status: ProxiedRequest['status']): void {
    if (this.recorded) return;
    this.recorded = true;
    const { method, path, watch } = this.request;
    this.context.requests.push({ method, path, status, at: this.arrivedAt, watch });
  }

  private answerWithStatus(code: number, message: string, retryAfterSeconds?: number): void {
    this.record(code);
    sendStatus(this.response, code, message, retryAfterSeconds);
  }

  /** As kube-apiserver answers a watch from a resourceVersion it no longer has. */
  private answerWithExpiredWatch(): void {
    this.record(200);
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410,
      message: 'fault proxy: too old resource version (injected in the watch stream)' };
    this.response.writeHead(200, { 'content-type': 'application/json' });
    this.response.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
  }

  private onResponseClosed(): void {
    this.over = true;
    this.cancelDelay?.();
    this.cancelDelay = undefined;
    // Closed before an answer: the client's connection was cut (by a fault or by the client).
    this.record('dropped');
    // A client that leaves a watch must not leave the upstream watch running.
    this.upstreamRequest?.destroy();
  }

  private afterDelay(ms: number, answer: () => void): void {
    if (ms <= 0) {
      answer();
      return;
    }
    this.cancelDelay = this.context.connections.setTimer(ms, () => {
      this.cancelDelay = undefined;
      if (!this.clientGone()) answer();
    });
  }

  private async forward(delayMs: number, dropAfterBytes: number | undefined): Promise<void> {
    let options: https.RequestOptions;
    try {
      options = await this.context.upstream.options(this.incoming);
    } catch (error) {
      this.incoming.resume();
      if (this.clientGone()) return;
      this.answerWithStatus(502, `fault proxy: cannot authenticate to the upstream: ${errorMessage(error)}`);
      return;
    }
    if (this.clientGone()) return;
    const agent = options.agent;
    const outgoing = this.context.upstream.request(options);
    this.upstreamRequest = outgoing;
    this.context.connections.trackUpstream(outgoing);
    // The agent was made for this request alone; destroying it frees its sockets at once.
    outgoing.once('close', () => {
      if (agent instanceof http.Agent) agent.destroy();
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => this.onUpstreamError(error));
    outgoing.on('response', (upstreamResponse) => {
      // Until the delay is over the response stays paused; a failure in between must not crash.
      upstreamResponse.on('error', () => {
        if (!this.response.headersSent) this.clientSocket.destroy();
      });
      this.afterDelay(delayMs, () => this.relay(upstreamResponse, dropAfterBytes));
    });
    // `pipe`, not `pipeline`: an upstream failure must not destroy the client's request (which
    // would cut its socket) before the proxy has answered it with a 502.
    this.incoming.pipe(outgoing);
  }

  private onUpstreamError(error: NodeJS.ErrnoException): void {
    if (this.clientGone()) return;
    if (this.response.headersSent) {
      this.response.destroy();
      return;
    }
    if (error.code === 'ECONNREFUSED') {
      // Mirror an API server that is down: the client sees a network failure, not a status.
      this.record('refused');
      this.clientSocket.destroy();
      return;
    }
    this.answerWithStatus(502, `fault proxy: the upstream request failed: ${error.message}`);
  }

  private relay(upstreamResponse: http.IncomingMessage, dropAfterBytes: number | undefined): void {
    if (this.clientGone()) {
      upstreamResponse.destroy();
      return;
    }
    const status = relayHead(upstreamResponse, this.response);
    if (dropAfterBytes === undefined) {
      this.record(status);
      relayBody(upstreamResponse, this.response);
      return;
    }
    this.record('dropped');
    relayThenCut(upstreamResponse, this.response, this.clientSocket, dropAfterBytes);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

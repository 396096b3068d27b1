import type { FaultOptions, RequestSummary } from './types.js';

type RequestMatcher = NonNullable<FaultOptions['match']>;

interface ArmedFault {
  match: RequestMatcher | undefined;
  remaining: number;
  effect: { kind: 'fail'; status: number; retryAfterSeconds: number | undefined } | { kind: 'drop'; afterBytes: number } | { kind: 'expire' };
}

/** What the proxy does with one request: answer it with an error, or forward it (and maybe cut it). */
export type FaultDecision =
  | { action: 'fail'; status: number; retryAfterSeconds: number | undefined; delayMs: number }
  /** A watch answered 200 whose stream holds one ERROR event, 410 Expired, and ends. */
  | { action: 'expire'; delayMs: number }
  /** `dropAfterBytes` undefined: relay the whole answer. */
  | { action: 'forward'; dropAfterBytes: number | undefined; delayMs: number };

/**
 * The faults a test has armed, and the decision they make for each request. Pure bookkeeping: it
 * never touches a socket, so the proxy's choices can be tested without one.
 */
export class FaultPlan {
  private readonly faults: ArmedFault[] = [];
  private delaySetting: { ms: number; match: RequestMatcher | undefined } = { ms: 0, match: undefined };

  /** Arms an error answer for the next matching requests; see `FaultProxy.failNext`. */
  failNext(status: number, options: FaultOptions & { retryAfterSeconds?: number } = {}): void {
    // A fault is an error answer; 1xx-3xx would not read as one to any client.
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`failNext: ${status} is not an HTTP error status (400-599)`);
    }
    const { retryAfterSeconds } = options;
    if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 0)) {
      throw new RangeError(`failNext: retryAfterSeconds must be a whole number of seconds, got ${retryAfterSeconds}`);
    }
    this.faults.push({
      match: options.match,
      remaining: faultCount(options.count),
      effect: { kind: 'fail', status, retryAfterSeconds },
    });
  }

  /** Arms a cut of the next matching answers after `afterBytes` body bytes; see `FaultProxy.dropNext`. */
  dropNext(options: FaultOptions & { afterBytes?: number } = {}): void {
    const afterBytes = options.afterBytes ?? 0;
    if (!(Number.isInteger(afterBytes) && afterBytes >= 0)) {
      throw new RangeError(`dropNext: afterBytes must be a whole number, 0 or more, got ${afterBytes}`);
    }
    this.faults.push({ match: options.match, remaining: faultCount(options.count), effect: { kind: 'drop', afterBytes } });
  }

  /**
   * Arms an in-stream 410 for the next matching watches: what kube-apiserver answers to a watch
   * whose resourceVersion it no longer has (200, then an ERROR event with a 410 Status); see
   * `FaultProxy.expireNextWatch`. Requests that are not watches are forwarded as usual.
   */
  expireNextWatch(options: FaultOptions = {}): void {
    const match = options.match;
    this.faults.push({ match: (request) => request.watch && (match === undefined || match(request)), remaining: faultCount(options.count), effect: { kind: 'expire' } });
  }

  /** Sets (replaces) the delay of matching answers; 0 turns it off. */
  delay(ms: number, options: { match?: RequestMatcher } = {}): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`delay: ms must be 0 or more, got ${ms}`);
    this.delaySetting = { ms, match: options.match };
  }

  /**
   * Decides for one request, taking one use of the first armed fault that matches (in order of
   * registration). A `match` that throws makes this throw: that is a bug in the test.
   */
  decide(request: RequestSummary): FaultDecision {
    const fault = this.take(request);
    const { ms, match } = this.delaySetting;
    const delayMs = match === undefined || match(request) ? ms : 0;
    if (fault?.kind === 'fail') return { action: 'fail', status: fault.status, retryAfterSeconds: fault.retryAfterSeconds, delayMs };
    if (fault?.kind === 'expire') return { action: 'expire', delayMs };
    return { action: 'forward', dropAfterBytes: fault?.kind === 'drop' ? fault.afterBytes : undefined, delayMs };
  }

  /** Disarms every fault (the delay stays, as before). */
  clear(): void {
    this.faults.length = 0;
  }

  private take(request: RequestSummary): ArmedFault['effect'] | undefined {
    const index = this.faults.findIndex((fault) => fault.match === undefined || fault.match(request));
    const fault = this.faults[index];
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault.effect;
  }
}

/** What a fault's `match` sees of a request; `path` is the request target, query string included. */
export function summarizeRequest(method: string | undefined, path: string | undefined): RequestSummary {
  const target = path ?? '/';
  return { method: method ?? 'GET', path: target, watch: isWatchRequest(target) };
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

import { describe, expect, it } from 'vitest';
import { FaultPlan, summarizeRequest } from '../src/faultProxy/faults.js';

const get = summarizeRequest('GET', '/api/v1/namespaces/default/secrets/x');
const watch = summarizeRequest('GET', '/api/v1/namespaces/default/secrets?watch=true');
const post = summarizeRequest('POST', '/api/v1/namespaces/default/secrets');
const forward = { action: 'forward', dropAfterBytes: undefined, delayMs: 0 };

describe('summarizeRequest', () => {
  it('reads watch=true and watch=1 as a watch, anything else not', () => {
    expect(watch).toEqual({ method: 'GET', path: '/api/v1/namespaces/default/secrets?watch=true', watch: true });
    expect(summarizeRequest('GET', '/api/v1/secrets?limit=5&watch=1').watch).toBe(true);
    expect(summarizeRequest('GET', '/api/v1/secrets?watch=false').watch).toBe(false);
    expect(summarizeRequest('GET', '/api/v1/secrets?watcher=true').watch).toBe(false);
    expect(get.watch).toBe(false);
  });

  it('reads a missing method and target as GET /', () => {
    expect(summarizeRequest(undefined, undefined)).toEqual({ method: 'GET', path: '/', watch: false });
  });
});

describe('FaultPlan.decide', () => {
  it('expires only watches with expireNextWatch, as many as asked, and forwards the rest', () => {
    const plan = new FaultPlan();
    plan.expireNextWatch({ count: 2, match: (request) => request.path.includes('secrets') });
    const watch = summarizeRequest('GET', '/api/v1/namespaces/a/secrets?watch=1&resourceVersion=5');
    const list = summarizeRequest('GET', '/api/v1/namespaces/a/secrets');
    expect(plan.decide(list)).toEqual({ action: 'forward', dropAfterBytes: undefined, delayMs: 0 });
    expect(plan.decide(watch)).toEqual({ action: 'expire', delayMs: 0 });
    expect(plan.decide(summarizeRequest('GET', '/api/v1/namespaces/a/configmaps?watch=1'))).toMatchObject({ action: 'forward' });
    expect(plan.decide(watch)).toEqual({ action: 'expire', delayMs: 0 });
    expect(plan.decide(watch)).toMatchObject({ action: 'forward' });
  });

  it('forwards everything untouched while nothing is armed', () => {
    const plan = new FaultPlan();
    expect(plan.decide(get)).toEqual(forward);
    expect(plan.decide(watch)).toEqual(forward);
  });

  it('takes the first matching fault in order of registration, and each use counts', () => {
    const plan = new FaultPlan();
    plan.failNext(503, { match: (request) => request.watch });
    plan.failNext(404, { count: 2, match: (request) => request.method === 'GET' });
    plan.dropNext({ afterBytes: 7 });
    expect(plan.decide(get)).toMatchObject({ action: 'fail', status: 404 });
    expect(plan.decide(watch)).toMatchObject({ action: 'fail', status: 503 });
    expect(plan.decide(watch)).toMatchObject({ action: 'fail', status: 404 });
    // Both GET faults are used up; the unconditional drop is next, once.
    expect(plan.decide(get)).toEqual({ action: 'forward', dropAfterBytes: 7, delayMs: 0 });
    expect(plan.decide(get)).toEqual(forward);
  });

  it('leaves a fault armed for requests it does not match', () => {
    const plan = new FaultPlan();
    plan.dropNext({ match: (request) => request.method === 'POST' });
    expect(plan.decide(get)).toEqual(forward);
    expect(plan.decide(post)).toEqual({ action: 'forward', dropAfterBytes: 0, delayMs: 0 });
    expect(plan.decide(post)).toEqual(forward);
  });

  it('keeps a count: Infinity fault until clear()', () => {
    const plan = new FaultPlan();
    plan.failNext(500, { count: Infinity });
    for (let i = 0; i < 50; i += 1) expect(plan.decide(get)).toMatchObject({ action: 'fail', status: 500 });
    plan.clear();
    expect(plan.decide(get)).toEqual(forward);
  });

  it('carries retryAfterSeconds with the failure', () => {
    const plan = new FaultPlan();
    plan.failNext(429, { retryAfterSeconds: 3 });
    expect(plan.decide(get)).toEqual({ action: 'fail', status: 429, retryAfterSeconds: 3, delayMs: 0 });
  });

  it('delays matching requests only, faulted or not, until delay(0)', () => {
    const plan = new FaultPlan();
    plan.delay(250, { match: (request) => request.watch });
    plan.failNext(500, { match: (request) => request.watch });
    expect(plan.decide(watch)).toMatchObject({ action: 'fail', delayMs: 250 });
    expect(plan.decide(watch)).toEqual({ ...forward, delayMs: 250 });
    expect(plan.decide(get)).toEqual(forward);
    plan.delay(0);
    expect(plan.decide(watch)).toEqual(forward);
  });

  it('lets a throwing match through, and leaves that fault armed', () => {
    const plan = new FaultPlan();
    let broken = true;
    plan.failNext(500, {
      match: () => {
        if (broken) throw new Error('bug in a test');
        return true;
      },
    });
    expect(() => plan.decide(get)).toThrow('bug in a test');
    broken = false;
    expect(plan.decide(get)).toMatchObject({ action: 'fail', status: 500 });
  });
});

describe('FaultPlan refuses faults that make no sense, and arms nothing', () => {
  it.each([
    ['a status below 400', (plan: FaultPlan) => plan.failNext(302), /302 is not an HTTP error status/],
    ['a status above 599', (plan: FaultPlan) => plan.failNext(600), /600 is not an HTTP error status/],
    ['a fractional status', (plan: FaultPlan) => plan.failNext(500.5), /not an HTTP error status/],
    ['a negative Retry-After', (plan: FaultPlan) => plan.failNext(429, { retryAfterSeconds: -1 }), /retryAfterSeconds/],
    ['a count of 0', (plan: FaultPlan) => plan.dropNext({ count: 0 }), /count must be/],
    ['a fractional count', (plan: FaultPlan) => plan.failNext(500, { count: 1.5 }), /count must be/],
    ['a negative afterBytes', (plan: FaultPlan) => plan.dropNext({ afterBytes: -1 }), /afterBytes/],
    ['a negative delay', (plan: FaultPlan) => plan.delay(-1), /delay: ms must be 0 or more/],
    ['an infinite delay', (plan: FaultPlan) => plan.delay(Infinity), /delay: ms must be 0 or more/],
  ])('%s', (_name, arm, message) => {
    const plan = new FaultPlan();
    expect(() => arm(plan)).toThrow(RangeError);
    expect(() => arm(new FaultPlan())).toThrow(message);
    expect(plan.decide(get)).toEqual(forward);
  });
});

import { describe, expect, it } from 'vitest';
import type { V1Secret } from '@kubernetes/client-node';
import type { SecretApi, WatchEnd, WatchEvent } from '../src/sources/api/secretApi.js';
import { SecretWatcher, type SecretState, type SecretWatcherOptions } from '../src/sources/api/secretWatcher.js';
import { compareResourceVersions } from '../src/sources/api/resourceVersions.js';
import { recordingLogger } from './recordingLogger.js';

const secret = (resourceVersion: string, serial: string): V1Secret => ({ metadata: { name: 'web-tls', resourceVersion }, data: { 'tls.crt': serial } });
const modified = (resourceVersion: string, serial: string): WatchEvent => ({ type: 'MODIFIED', object: secret(resourceVersion, serial) });
const bookmark = (resourceVersion: string): WatchEvent => ({ type: 'BOOKMARK', object: { metadata: { resourceVersion } } });
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
const status = (code: number) => Object.assign(new Error(`HTTP ${code}`), { code, body: '{}' });

type Step =
  | { list: { secret?: V1Secret; resourceVersion: string } | Error | 'no answer' }
  | { watch: { events?: WatchEvent[]; end: WatchEnd } }
  | { watchThrows: Error };

/** A scripted API: answers each list and watch with the next step; past the script, a watch waits until stopped. */
function scriptedApi(steps: Step[]) {
  const calls: string[] = [];
  const api: SecretApi = {
    list(signal) {
      calls.push('list');
      const step = steps.shift();
      if (!step || !('list' in step)) return Promise.reject(new Error(`unexpected list; next step ${JSON.stringify(step)}`));
      if (step.list instanceof Error) return Promise.reject(step.list);
      // A server that never answers: only the signal ends the request.
      if (step.list === 'no answer') {
        // (A caller that passes no signal waits for ever, as client-node's fetch does.)
        return new Promise((_resolve, reject) => (signal as AbortSignal | undefined)?.addEventListener('abort', () => reject(new Error('aborted'))));
      }
      return Promise.resolve({ secret: step.list.secret, resourceVersion: step.list.resourceVersion });
    },
    async watch(resourceVersion, onEvent, signal) {
      calls.push(`watch ${resourceVersion}`);
      const step = steps.shift();
      if (!step) return new Promise<WatchEnd>((resolve) => signal.addEventListener('abort', () => resolve({ kind: 'closed', established: true })));
      if ('watchThrows' in step) throw step.watchThrows; // what client-node's applyToHTTPSOptions does when a file is missing
      if (!('watch' in step)) throw new Error(`unexpected watch; next step ${JSON.stringify(step)}`);
      for (const event of step.watch.events ?? []) onEvent(event);
      return step.watch.end;
    },
  };
  return { api, calls, done: () => steps.length === 0 };
}

/** A watcher on a scripted API, with recorded sleeps and a clock that sleeping advances. */
async function run(steps: Step[], options: Partial<SecretWatcherOptions> = {}) {
  const scripted = scriptedApi(steps);
  const sleeps: number[] = [];
  let clock = 1_000_000;
  const served: string[] = [];
  const logger = recordingLogger();
  const watcher = new SecretWatcher({
    namespace: 'shop', name: 'web-tls', logger, api: scripted.api, random: () => 0.5, now: () => clock,
    sleep: (ms) => {
      sleeps.push(ms);
      clock += ms;
      return Promise.resolve();
    },
    ...options,
  });
  watcher.onChange((state: SecretState) => served.push(state.exists ? String(state.secret.data?.['tls.crt']) : 'absent'));
  watcher.start();
  for (let turn = 0; turn < 200 && !scripted.done(); turn += 1) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([watcher.stop(), new Promise((_resolve, reject) => (bound = setTimeout(() => reject(new Error('stop() did not settle within 2 s')), 2_000)))]);
  clearTimeout(bound);
  return { calls: scripted.calls, sleeps, served, logger, state: await watcher.current().catch(() => undefined) };
}

const closed = (established = true): WatchEnd => ({ kind: 'closed', established });
const reset = (): WatchEnd => ({ kind: 'failed', established: true, error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });

describe('SecretWatcher', () => {
  it('resumes from the newest resourceVersion seen (events and bookmarks) after a reset, without a relist or a pause', async () => {
    const { calls, sleeps, served } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '12' } },
      { watch: { events: [modified('15', 'b'), bookmark('20')], end: reset() } },
      { watch: { events: [modified('25', 'c')], end: closed() } },
    ]);
    expect(calls).toEqual(['list', 'watch 12', 'watch 20', 'watch 25']);
    expect(sleeps).toEqual([]);
    expect(served).toEqual(['a', 'b', 'c']);
  });

  it('never goes backwards: a replay or a relist of older versions is ignored', async () => {
    const { served, state } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watch: { events: [modified('30', 'c'), modified('20', 'b'), modified('9', 'old')], end: { kind: 'expired', established: true } } },
      { list: { secret: secret('20', 'b'), resourceVersion: '31' } }, // a lagging relist
    ]);
    expect(served).toEqual(['a', 'c']);
    expect(state).toMatchObject({ exists: true, secret: { data: { 'tls.crt': 'c' } } });
  });

  it('a newer version with the same data is no change; a newer deletion is', async () => {
    const { served } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watch: { events: [modified('11', 'a'), { type: 'DELETED', object: secret('12', 'a') }], end: closed() } },
    ]);
    expect(served).toEqual(['a', 'absent']);
  });

  it.each([
    ['inside the stream, after it was established', { kind: 'expired', established: true } as const],
    ['as the status of the watch request', { kind: 'expired', established: false } as const],
  ])('a 410 %s relists at once, without backoff', async (_label, end) => {
    const { calls, sleeps, served } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watch: { end } },
      { list: { secret: secret('40', 'b'), resourceVersion: '41' } },
    ]);
    expect(calls).toEqual(['list', 'watch 10', 'list', 'watch 41']);
    expect(sleeps).toEqual([]);
    expect(served).toEqual(['a', 'b']);
  });

  it('backs off briefly while the API server restarts (refused, then 403 and 429), and resets after an established watch', async () => {
    const { calls, sleeps } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watch: { events: [bookmark('11')], end: reset() } }, // the server dies under the watch
      ...Array.from({ length: 8 }, (): Step => ({ watch: { end: { kind: 'failed', established: false, error: refused() } } })),
      { watch: { end: { kind: 'failed', established: false, error: status(403) } } }, // RBAC not loaded yet
      { watch: { end: { kind: 'failed', established: false, error: status(429) } } },
      { watch: { end: { kind: 'expired', established: true } } }, // the restarted cache does not know 10
      { list: { secret: secret('50', 'b'), resourceVersion: '50' } },
      { watch: { end: { kind: 'failed', established: false, error: status(500) } } },
    ]);
    expect(calls.filter((call) => call === 'list')).toHaveLength(2);
    // The reset watch had run for a while: resumed at once. Then 10 failures, each retried within a second.
    expect(sleeps.slice(0, 10).every((ms) => ms <= 1_000), sleeps.join(', ')).toBe(true);
    expect(sleeps).toHaveLength(11);
    // After the relist, the count starts again: the first failure waits the first step only.
    expect(sleeps[10]).toBe(500);
  });

  it('outside a restart, failures back off exponentially up to 30 s', async () => {
    const { sleeps } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      ...Array.from({ length: 9 }, (): Step => ({ watch: { end: { kind: 'failed', established: false, error: status(403) } } })),
    ]);
    expect(sleeps).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('a watch that throws as it opens (a CA file missing for a moment) is a failure: backs off and retries, never stops', async () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open '/etc/kube/ca.crt'"), { code: 'ENOENT' });
    const { calls, sleeps, served } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watchThrows: missing },
      { watchThrows: missing },
      { watch: { events: [modified('20', 'b')], end: closed() } },
    ]);
    expect(calls).toEqual(['list', 'watch 10', 'watch 10', 'watch 10', 'watch 20']);
    expect(sleeps).toEqual([500, 1_000]);
    expect(served).toEqual(['a', 'b']);
  });

  it('an onReconnect that throws is logged and the following goes on', async () => {
    const { calls, served, logger } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watch: { events: [modified('20', 'b')], end: reset() } },
      { watch: { events: [modified('30', 'c')], end: closed() } },
    ], { onReconnect: () => { throw new Error('metrics exporter down'); } });
    expect(calls).toEqual(['list', 'watch 10', 'watch 20', 'watch 30']);
    expect(served).toEqual(['a', 'b', 'c']);
    expect(logger.lines.filter((line) => line.level === 'warn').map((line) => line.message).join('\n')).toContain('metrics exporter down');
  });

  it('whatever escapes the loop is logged and the loop starts over with a list: it never dies', async () => {
    let draws = 0;
    const random = () => {
      draws += 1;
      if (draws === 1) throw new Error('a bug in the backoff');
      return 0.5;
    };
    const { calls, served, logger } = await run([
      { list: status(500) },
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
    ], { random });
    expect(calls).toEqual(['list', 'list', 'watch 10']);
    expect(served).toEqual(['a']);
    expect(logger.lines.find((line) => line.level === 'error')?.message).toContain('a bug in the backoff');
  });

  it('a list without an answer is ended by stop(): stop settles', async () => {
    const { calls, state } = await run([{ list: 'no answer' }]);
    expect(calls).toEqual(['list']);
    expect(state).toBeUndefined();
  });

  it.each([
    ['3600', 30_000], ['4294967', 30_000], ['2', 2_000],
  ])('Retry-After: %s s is honoured up to the longest backoff (%s ms)', async (retryAfter, expected) => {
    const throttled = Object.assign(status(429), { headers: { 'retry-after': retryAfter } });
    const { sleeps } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      { watch: { end: { kind: 'failed', established: false, error: throttled } } },
    ]);
    expect(sleeps).toEqual([expected]);
  });

  it('slows down a watch that is cut at once again and again, so that nothing spins', async () => {
    const { sleeps } = await run([
      { list: { secret: secret('10', 'a'), resourceVersion: '10' } },
      ...Array.from({ length: 4 }, (): Step => ({ watch: { end: closed() } })),
    ]);
    expect(sleeps).toEqual([500, 1_000, 2_000, 4_000]);
  });
});

describe('compareResourceVersions', () => {
  it.each([
    ['9', '10', -1], ['10', '9', 1], ['10', '10', 0], ['18446744073709551616', '18446744073709551615', 1], ['abc', 'abd', undefined], ['abc', 'abc', 0],
  ] as const)('%s vs %s: %s', (a, b, expected) => {
    expect(compareResourceVersions(a, b)).toBe(expected);
  });
});

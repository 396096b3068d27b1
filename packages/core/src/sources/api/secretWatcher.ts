import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../logger.js';
import { ServingCertError } from '../../errors.js';
import { apiError, isConnectionError, retryAfterMsOf, statusOf } from '../../kube/apiErrors.js';
import type { ClusterAccess } from '../../kube/clusterAccess.js';
import { isOlder, newest } from './resourceVersions.js';
import { secretApi, type SecretApi, type WatchEnd, type WatchEvent } from './secretApi.js';
import { resolvable, sleep as sleepFor } from './waiting.js';

/** Backoff after errors: exponential from 500 ms to 30 s, with jitter. */
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/**
 * While the API server (re)starts it refuses connections, then answers 403 (RBAC not loaded),
 * 429 or 5xx for a few seconds. Retrying those at most every second makes the first successful
 * request come soon after it is ready; a refused connection costs the server nothing.
 */
const STARTING_MAX_BACKOFF_MS = 1_000;
/** How long after a refused connection a 403, 429 or 5xx still counts as the server starting. */
const STARTING_WINDOW_MS = 60_000;
const STARTING_STATUSES = new Set([403, 429, 500, 502, 503, 504]);

/** What the API shows of one Secret: absent, or present. */
export type SecretState = { readonly exists: false } | { readonly exists: true; readonly secret: V1Secret };

/** Options of {@link SecretWatcher}. */
export interface SecretWatcherOptions {
  namespace: string;
  name: string;
  logger: Logger;
  /** The cluster, for the real {@link secretApi}; not needed when `api` is given. */
  access?: ClusterAccess;
  /** Server-side watch timeout; the watch is re-opened from the newest resourceVersion after it. Default 300. */
  watchTimeoutSeconds?: number;
  /** A watch ended and is re-opened: 'expired' (its timeout), 'relist' (410 Gone) or 'failed' (for metrics). */
  onReconnect?: ((reason: 'expired' | 'relist' | 'failed') => void) | undefined;
  /** The transport (tests inject one); default the real API through `access`. */
  api?: SecretApi;
  /** Waits between attempts (tests inject one). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1) (tests inject one). */
  random?: () => number;
  now?: () => number;
}

type Listener = (state: SecretState) => void;

/**
 * Keeps one Secret current through the API, never going backwards. Lists once, then watches
 * from the newest resourceVersion it has seen (every event and bookmark), whatever ended the
 * previous watch; relists only on 410 Gone, at once. A version is applied only when it is newer
 * than the one applied, so a replay or a relist never brings back an older certificate.
 * Backoff (with jitter, honouring Retry-After) grows over failed requests and resets after a
 * watch that was established; while the API server starts it stays under a second.
 */
export class SecretWatcher {
  readonly #options: SecretWatcherOptions;
  readonly #api: SecretApi;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #listeners = new Set<Listener>();
  readonly #abort = new AbortController();
  #state: SecretState | undefined;
  /** The resourceVersion of the state applied (the object's, or the list's when absent). */
  #appliedVersion: string | undefined;
  /** Settles after the first list attempt, whatever its outcome. */
  readonly #firstAttempt = resolvable();
  #loop: Promise<void> | undefined;
  #lastError: ServingCertError | undefined;
  #lastConnectionErrorAt = -Infinity;

  constructor(options: SecretWatcherOptions) {
    this.#options = options;
    const { access, namespace, name, watchTimeoutSeconds = 300 } = options;
    if (!options.api && !access) throw new ServingCertError('E_INTERNAL', 'SecretWatcher needs access or api');
    this.#api = options.api ?? secretApi({ access: access!, namespace, name, watchTimeoutSeconds });
    this.#sleep = options.sleep ?? sleepFor;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  get description(): string {
    return `secret ${this.#options.namespace}/${this.#options.name}`;
  }

  /** Starts the loop (once). */
  start(): void {
    this.#loop ??= this.#supervise();
  }

  /**
   * The current state. Waits for the first list attempt; while no list has succeeded, rejects
   * with the last error (the loop goes on retrying), so a caller can wait and say why.
   */
  async current(): Promise<SecretState> {
    this.start();
    await this.#firstAttempt.promise;
    if (this.#state) return this.#state;
    throw this.#lastError ?? new ServingCertError('E_CLOSED', `${this.description}: stopped`);
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#firstAttempt.resolve();
    await this.#loop;
  }

  /** Runs the loop until stopped: whatever escapes it is logged and it starts over (with a list), never ends. */
  async #supervise(): Promise<void> {
    for (let crashes = 1; !this.#abort.signal.aborted; crashes += 1) {
      try {
        await this.#run();
      } catch (error) {
        this.#options.logger.error({ source: this.description, error: String(error) }, `${this.description}: the watch loop failed, restarting it: ${String(error)}`);
        await this.#sleep(this.#backoff(crashes, MAX_BACKOFF_MS), this.#abort.signal);
      }
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let resumeFrom: string | undefined; // undefined: list first
    let failures = 0; // failed requests in a row
    let quietEnds = 0; // established watches in a row that ended at once without news
    while (!signal.aborted) {
      if (resumeFrom === undefined) {
        try {
          const listed = await this.#api.list(signal);
          if (signal.aborted) return;
          this.#apply(listed.secret ? { exists: true, secret: listed.secret } : { exists: false },
            listed.secret?.metadata?.resourceVersion ?? listed.resourceVersion);
          resumeFrom = listed.resourceVersion;
          failures = 0;
          this.#lastError = undefined;
        } catch (error) {
          if (signal.aborted) return;
          this.#firstAttempt.resolve(); // a reader now gets this error, and can say why it waits
          failures += 1;
          await this.#backOff(error, 'list', failures);
          continue;
        }
      }
      const started = this.#now();
      let news = 0;
      const onEvent = (event: WatchEvent): void => {
        news += 1;
        const version = event.object.metadata?.resourceVersion;
        resumeFrom = newest(resumeFrom, version);
        if (event.type === 'BOOKMARK') return;
        this.#apply(event.type === 'DELETED' ? { exists: false } : { exists: true, secret: event.object }, version);
      };
      let end: WatchEnd;
      try {
        end = await this.#api.watch(resumeFrom, onEvent, signal);
      } catch (error) {
        // Opening a watch can throw: client-node re-reads the CA, certificate and token files and
        // runs exec plugins for each connection. A file missing for a moment is a failure like any other.
        end = { kind: 'failed', established: false, error };
      }
      if (signal.aborted) return;
      this.#reconnected(end.kind === 'expired' ? 'relist' : end.kind === 'failed' ? 'failed' : 'expired');
      if (end.established) {
        failures = 0;
        this.#lastError = undefined;
      }
      if (end.kind === 'expired') {
        resumeFrom = undefined; // too old to resume from: relist at once, no backoff
        continue;
      }
      if (end.kind === 'failed' && !end.established) {
        failures += 1;
        await this.#backOff(end.error, 'watch', failures);
        continue;
      }
      // Ended normally, or cut after it was established (a reset, a proxy's idle timeout):
      // resume at once. Only a watch that ends at once without news, again and again (a proxy
      // that cuts every stream), is slowed down, so that nothing ever spins.
      const quiet = news === 0 && this.#now() - started < Math.min(1_000, this.#watchTimeoutMs() / 2);
      quietEnds = quiet ? quietEnds + 1 : 0;
      if (quiet) await this.#sleep(this.#backoff(quietEnds, MAX_BACKOFF_MS), signal);
    }
  }

  /** Tells onReconnect (metrics); a callback that throws must not stop the following. */
  #reconnected(reason: 'expired' | 'relist' | 'failed'): void {
    try {
      this.#options.onReconnect?.(reason);
    } catch (error) {
      this.#options.logger.warn({ source: this.description, error: String(error) }, `${this.description}: onReconnect threw: ${String(error)}`);
    }
  }

  #watchTimeoutMs(): number {
    return (this.#options.watchTimeoutSeconds ?? 300) * 1000;
  }

  async #backOff(error: unknown, verb: 'list' | 'watch', failures: number): Promise<void> {
    const { namespace, name, logger } = this.#options;
    const failure = apiError(error, { verb, resource: 'secrets', namespace, name });
    this.#lastError = failure;
    const status = statusOf(error);
    if (status === undefined && isConnectionError(error)) this.#lastConnectionErrorAt = this.#now();
    const starting = this.#now() - this.#lastConnectionErrorAt < STARTING_WINDOW_MS && (status === undefined || STARTING_STATUSES.has(status));
    // Retry-After is honoured up to the longest backoff: an hour's pause would stop the following,
    // and setTimeout turns a delay past 2^31-1 ms into 1 ms.
    const delay = Math.min(MAX_BACKOFF_MS, retryAfterMsOf(error) ?? this.#backoff(failures, starting ? STARTING_MAX_BACKOFF_MS : MAX_BACKOFF_MS));
    logger.debug({ source: this.description, code: failure.code, retryInMs: Math.round(delay) }, `${this.description}: ${failure.message}; retrying in ${Math.round(delay)} ms`);
    await this.#sleep(delay, this.#abort.signal);
  }

  /** Exponential in `failures`, with jitter (many pods must not retry in step), never above `cap`. */
  #backoff(failures: number, cap: number): number {
    const base = Math.min(cap, MIN_BACKOFF_MS * 2 ** Math.min(failures - 1, 16));
    return Math.min(cap, base * (0.5 + this.#random()));
  }

  /** Applies a state seen at `version`, unless a newer one is applied already. */
  #apply(state: SecretState, version: string | undefined): void {
    if (isOlder(version, this.#appliedVersion)) {
      this.#options.logger.debug({ source: this.description, resourceVersion: version, applied: this.#appliedVersion },
        `${this.description}: ignored resourceVersion ${version}, older than the applied ${this.#appliedVersion}`);
      return;
    }
    if (version !== undefined) this.#appliedVersion = version;
    const previous = this.#state;
    this.#state = state;
    this.#firstAttempt.resolve();
    // Equal data is no change (a relist, a replay, a metadata-only update): listeners hear nothing.
    if (previous !== undefined && sameData(previous, state)) return;
    for (const listener of this.#listeners) listener(state);
  }
}

function sameData(a: SecretState, b: SecretState): boolean {
  if (!a.exists || !b.exists) return a.exists === b.exists;
  const x = a.secret.data ?? {};
  const y = b.secret.data ?? {};
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((key) => x[key] === y[key]);
}


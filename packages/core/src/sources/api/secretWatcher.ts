import type { ClientRequest, IncomingMessage } from 'node:http';
import * as https from 'node:https';
import { createInterface } from 'node:readline';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../logger.js';
import { ServingCertError } from '../../errors.js';
import { apiError, retryAfterMsOf, statusOf } from '../../kube/apiErrors.js';
import type { ClusterAccess } from '../../kube/clusterAccess.js';
import { resolvable, sleep } from './waiting.js';

/** Backoff bounds after errors. */
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

/** What the API shows of one Secret: absent, or present. */
export type SecretState = { readonly exists: false } | { readonly exists: true; readonly secret: V1Secret };

/** Options of {@link SecretWatcher}. */
export interface SecretWatcherOptions {
  access: ClusterAccess;
  namespace: string;
  name: string;
  logger: Logger;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion after it. Default 300. */
  watchTimeoutSeconds?: number;
  /** A watch ended and is re-opened: 'expired' (its timeout), 'relist' (410 Gone) or 'failed' (for metrics). */
  onReconnect?: ((reason: 'expired' | 'relist' | 'failed') => void) | undefined;
}

type Listener = (state: SecretState) => void;

/**
 * Keeps one Secret current through the API: list (with a field selector on its name), then
 * watch from the list's resourceVersion with bookmarks and a server-side timeout; a watchdog
 * ends a connection that stays silent past that timeout; 410 Gone relists; errors and 429 back
 * off with jitter, honouring Retry-After. Each request goes through client-node's configuration
 * (TLS and credentials); the watch stream is read here because client-node's Watch drops the
 * response headers (Retry-After) and has no client-side timeout.
 */
export class SecretWatcher {
  readonly #options: Required<Pick<SecretWatcherOptions, 'watchTimeoutSeconds'>> & SecretWatcherOptions;
  readonly #listeners = new Set<Listener>();
  readonly #abort = new AbortController();
  #state: SecretState | undefined;
  /** Settles after the first list attempt, whatever its outcome. */
  readonly #firstAttempt = resolvable();
  #loop: Promise<void> | undefined;
  #lastError: ServingCertError | undefined;

  constructor(options: SecretWatcherOptions) {
    this.#options = { watchTimeoutSeconds: 300, ...options };
  }

  get description(): string {
    return `secret ${this.#options.namespace}/${this.#options.name}`;
  }

  /** Starts the loop (once). */
  start(): void {
    this.#loop ??= this.#run();
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

  async #run(): Promise<void> {
    const { namespace, name, logger } = this.#options;
    const signal = this.#abort.signal;
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      let verb: 'list' | 'watch' = 'list';
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.#list();
        }
        verb = 'watch';
        const started = Date.now();
        const outcome = await this.#watch(resourceVersion);
        resourceVersion = outcome.relist ? undefined : outcome.resourceVersion;
        if (!signal.aborted) this.#options.onReconnect?.(outcome.relist ? 'relist' : 'expired');
        // A watch that ends at once without news is a failure in disguise (a proxy that cuts,
        // a server going down): back off as for an error, so nothing ever spins.
        if (outcome.events === 0 && Date.now() - started < 1_000) failures += 1;
        else failures = 0;
        this.#lastError = undefined;
        if (failures > 0) await sleep(this.#backoff(failures), signal);
      } catch (error) {
        if (signal.aborted) return;
        const status = statusOf(error);
        const failure = apiError(error, { verb, resource: 'secrets', namespace, name });
        this.#lastError = failure;
        if (verb === 'watch') this.#options.onReconnect?.(status === 410 ? 'relist' : 'failed');
        if (status === 410) {
          resourceVersion = undefined; // expired resourceVersion: relist at once
          continue;
        }
        this.#firstAttempt.resolve(); // a reader now gets this error, and can say why it waits
        failures += 1;
        const delay = retryAfterMsOf(error) ?? this.#backoff(failures);
        logger.debug({ source: this.description, code: failure.code, retryInMs: Math.round(delay) }, `${this.description}: ${failure.message}; retrying in ${Math.round(delay)} ms`);
        await sleep(delay, signal);
      }
    }
  }

  #backoff(failures: number): number {
    const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(failures - 1, 16));
    return base * (0.5 + Math.random()); // jitter: many pods must not retry in step
  }

  async #list(): Promise<string> {
    const { access, namespace, name } = this.#options;
    const core = access.kubeConfig.makeApiClient(CoreV1Api);
    const list = await core.listNamespacedSecret({ namespace, fieldSelector: `metadata.name=${name}` });
    const secret = list.items[0];
    this.#set(secret ? { exists: true, secret } : { exists: false });
    return list.metadata?.resourceVersion ?? '0';
  }

  /** One watch connection; resolves when it ends normally, with the last resourceVersion seen. */
  async #watch(resourceVersion: string): Promise<{ resourceVersion: string; relist: boolean; events: number }> {
    const { access, namespace, name, watchTimeoutSeconds } = this.#options;
    const kubeConfig = access.kubeConfig;
    const server = new URL(kubeConfig.getCurrentCluster()!.server);
    const query = new URLSearchParams({
      watch: '1',
      fieldSelector: `metadata.name=${name}`,
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(watchTimeoutSeconds),
    });
    const options: https.RequestOptions = {
      protocol: server.protocol,
      hostname: server.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: server.port || 443,
      path: `${server.pathname.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?${query.toString()}`,
      method: 'GET',
      headers: { accept: 'application/json' },
    };
    await kubeConfig.applyToHTTPSOptions(options);
    const signal = this.#abort.signal;

    return new Promise((resolve, reject) => {
      let current = resourceVersion;
      let events = 0;
      let relist = false;
      let settled = false;
      let request: ClientRequest | undefined = undefined;
      // The server closes the watch after timeoutSeconds; silence well past that is a dead
      // connection that TCP has not noticed (client-node's Watch would hang here for good).
      const watchdogMs = (watchTimeoutSeconds + 30) * 1000;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        signal.removeEventListener('abort', onAbort);
        request?.destroy();
        if (error && !signal.aborted) reject(error);
        else resolve({ resourceVersion: current, relist, events });
      };
      const armWatchdog = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish(), watchdogMs);
        watchdog.unref();
      };
      const onAbort = (): void => finish();
      signal.addEventListener('abort', onAbort, { once: true });
      armWatchdog();

      request = https.request(options, (response: IncomingMessage) => {
        if (response.statusCode !== 200) {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => finish(Object.assign(new Error(`HTTP ${response.statusCode}`), {
            code: response.statusCode, body, headers: response.headers,
          })));
          response.on('error', finish);
          return;
        }
        const lines = createInterface({ input: response });
        lines.on('error', (error: Error) => finish(error)); // readline re-emits the stream's errors
        lines.on('line', (line) => {
          armWatchdog();
          let event: { type?: string; object?: V1Secret & { code?: number } };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            return; // a partial line from a cut connection
          }
          const object = event.object;
          if (event.type === 'ERROR') {
            if (object?.code === 410) relist = true;
            else finish(Object.assign(new Error(`watch error: ${JSON.stringify(object)}`), { code: object?.code }));
            return;
          }
          const version = object?.metadata?.resourceVersion;
          if (version) current = version;
          if (event.type === 'BOOKMARK') return;
          events += 1;
          if (event.type === 'DELETED') this.#set({ exists: false });
          else if (object && (event.type === 'ADDED' || event.type === 'MODIFIED')) this.#set({ exists: true, secret: object });
        });
        response.on('error', (error) => finish(error));
        response.on('end', () => finish());
        response.on('close', () => finish());
      });
      request.on('error', (error) => finish(error));
      request.end();
    });
  }

  #set(state: SecretState): void {
    const previous = this.#state;
    this.#state = state;
    this.#firstAttempt.resolve();
    const unchanged = previous !== undefined && previous.exists === state.exists &&
      (!state.exists || JSON.stringify(state.secret.data) === JSON.stringify((previous as { secret: V1Secret }).secret.data));
    if (unchanged) return;
    for (const listener of this.#listeners) listener(state);
  }
}

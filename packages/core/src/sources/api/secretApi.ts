// The transport of the api source: one list, or one watch connection that only reports events
// and ends once. What to do next (resume point, relist, backoff) is SecretWatcher's job.
import type { ClientRequest, IncomingMessage } from 'node:http';
import * as https from 'node:https';
import { createInterface } from 'node:readline';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import type { ClusterAccess } from '../../kube/clusterAccess.js';
import { API_REQUEST_TIMEOUT_MS, apiClient, withSignal } from '../../kube/apiClient.js';

/** A list that has had no answer for this long never will; the watcher must retry instead of waiting. */
const LIST_TIMEOUT_MS = API_REQUEST_TIMEOUT_MS;

/** One event of a watch: a change of the Secret, or a bookmark that only moves the resume point. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  /** The object (for DELETED, its last state); for a BOOKMARK only metadata.resourceVersion. */
  object: V1Secret;
}

/**
 * How a watch ended. `established`: the server answered 200 and the stream ran (a backoff built
 * up before can be forgotten). `expired`: the server said 410 Gone (at connect or inside the
 * stream): the resume point is too old and only a relist helps.
 */
export type WatchEnd =
  | { kind: 'closed'; established: boolean }
  | { kind: 'expired'; established: boolean }
  | { kind: 'failed'; established: boolean; error: unknown };

/** What the watcher needs from the API: injectable, so that unit tests drive the watcher. */
export interface SecretApi {
  /** The Secret (undefined when absent) and the list's resourceVersion, to watch from; `signal` aborts it. */
  list(signal: AbortSignal): Promise<{ secret: V1Secret | undefined; resourceVersion: string }>;
  /** One watch from `resourceVersion`; `onEvent` runs for each event; settles once, when the watch ends. */
  watch(resourceVersion: string, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<WatchEnd>;
}

/**
 * The real API: lists with a field selector on the name; watches with bookmarks and a
 * server-side timeout, read here because client-node's Watch drops the response headers
 * (Retry-After) and has no client-side timeout. A watchdog ends a connection that stays silent
 * past the server's timeout (a dead peer that TCP has not noticed).
 */
export function secretApi(options: { access: ClusterAccess; namespace: string; name: string; watchTimeoutSeconds: number }): SecretApi {
  const { access, namespace, name, watchTimeoutSeconds } = options;
  return {
    async list(signal) {
      const core = apiClient(access.kubeConfig, CoreV1Api);
      const deadline = AbortSignal.timeout(LIST_TIMEOUT_MS);
      try {
        const list = await core.listNamespacedSecret({ namespace, fieldSelector: `metadata.name=${name}` }, withSignal(AbortSignal.any([signal, deadline])));
        return { secret: list.items[0], resourceVersion: list.metadata?.resourceVersion ?? '0' };
      } catch (error) {
        if (deadline.aborted && !signal.aborted) throw new Error(`no answer within ${LIST_TIMEOUT_MS / 1000} s`, { cause: error });
        throw error;
      }
    },
    async watch(resourceVersion, onEvent, signal) {
      const kubeConfig = access.kubeConfig;
      const server = new URL(kubeConfig.getCurrentCluster()!.server);
      const query = new URLSearchParams({
        watch: '1', fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(watchTimeoutSeconds),
      });
      const request: https.RequestOptions = {
        protocol: server.protocol,
        hostname: server.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: server.port || 443,
        path: `${server.pathname.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?${query.toString()}`,
        method: 'GET',
        headers: { accept: 'application/json' },
      };
      await kubeConfig.applyToHTTPSOptions(request);
      return streamWatch(request, onEvent, signal, (watchTimeoutSeconds + 30) * 1000);
    },
  };
}

function streamWatch(options: https.RequestOptions, onEvent: (event: WatchEvent) => void, signal: AbortSignal, watchdogMs: number): Promise<WatchEnd> {
  return new Promise((resolve) => {
    let established = false;
    let settled = false;
    let request: ClientRequest | undefined = undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const end = (outcome: { kind: 'closed' } | { kind: 'expired' } | { kind: 'failed'; error: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
      request?.destroy();
      resolve({ ...outcome, established });
    };
    const armWatchdog = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => end({ kind: 'closed' }), watchdogMs);
      watchdog.unref();
    };
    const onAbort = (): void => end({ kind: 'closed' });
    if (signal.aborted) return end({ kind: 'closed' });
    signal.addEventListener('abort', onAbort, { once: true });
    armWatchdog();

    request = https.request(options, (response: IncomingMessage) => {
      if (response.statusCode !== 200) {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => {
          if (response.statusCode === 410) return end({ kind: 'expired' });
          end({ kind: 'failed', error: Object.assign(new Error(`HTTP ${response.statusCode}`), { code: response.statusCode, body, headers: response.headers }) });
        });
        response.on('error', (error) => end({ kind: 'failed', error }));
        return;
      }
      established = true;
      const lines = createInterface({ input: response });
      lines.on('error', (error: Error) => end({ kind: 'failed', error })); // readline re-emits the stream's errors
      lines.on('line', (line) => {
        if (settled) return;
        armWatchdog();
        let event: { type?: string; object?: V1Secret & { code?: number } };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          return; // a partial line from a cut connection
        }
        const { type, object } = event;
        if (type === 'ERROR') {
          // "too old resource version" comes as a 410 Status inside a 200 stream.
          if (object?.code === 410) end({ kind: 'expired' });
          else end({ kind: 'failed', error: Object.assign(new Error(`watch error: ${JSON.stringify(object)}`), { code: object?.code, body: JSON.stringify(object) }) });
          return;
        }
        if (object && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK')) onEvent({ type, object });
      });
      response.on('error', (error) => end({ kind: 'failed', error }));
      response.on('end', () => end({ kind: 'closed' }));
      response.on('close', () => end({ kind: 'closed' }));
    });
    request.on('error', (error) => end({ kind: 'failed', error }));
    request.end();
  });
}

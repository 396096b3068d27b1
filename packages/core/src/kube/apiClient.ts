import {
  createConfiguration, Observable, ServerConfiguration,
  type Configuration, type ConfigurationOptions, type KubeConfig, type Middleware, type ObservableMiddleware,
} from '@kubernetes/client-node';

/**
 * A request to the API server answers in milliseconds, a large list in seconds; one that has
 * had no answer for this long never will (a connection cut without a reset that TCP has not
 * noticed, a proxy that accepted it and hangs). Without a deadline client-node's fetch waits
 * for ever, and whatever awaits it (a reconcile loop, an event queue) stops with it.
 */
export const API_REQUEST_TIMEOUT_MS = 30_000;

/** The `name` of the error a request fails with when its deadline passes (node-fetch's AbortError). */
const ABORT_ERROR = 'AbortError';

/**
 * client-node's `KubeConfig.makeApiClient`, with a deadline on every request of the client.
 * Per-call options can still hand a request a signal of their own ({@link withSignal}): the
 * last `setSignal` wins, so such a signal should include its own deadline.
 */
export function apiClient<T>(kubeConfig: KubeConfig, api: new (configuration: Configuration) => T, timeoutMs = API_REQUEST_TIMEOUT_MS): T {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const deadline: Middleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      return Promise.resolve(context);
    },
    post: (response) => Promise.resolve(response),
  };
  return new api(createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [deadline],
  }));
}

/** Per-call options that hand `signal` to client-node's fetch for this one request. */
export function withSignal(signal: AbortSignal): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** Whether a request failed because its signal aborted it (its deadline, or the caller's stop). */
export function isAborted(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === ABORT_ERROR;
}

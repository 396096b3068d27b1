import { CustomObjectsApi, PatchStrategy, setHeaderOptions, Watch, type KubeConfig } from '@kubernetes/client-node';
import { ServingCertError } from '../errors.js';
import { apiError, statusOf } from '../kube/apiErrors.js';
import { ClusterAccess } from '../kube/clusterAccess.js';
import { Refresher } from '../live/refresher.js';
import { consoleLogger, type Logger } from '../logger.js';
import { sleep } from '../sources/api/waiting.js';
import { followCertificate, prepareServing, type ServingCert } from '../types.js';
import { caBundleFor, caBundleOf } from './bundleFor.js';
import { caBundlePatch, pathOf, type CaBundleTarget } from './caBundleTargets.js';
import { apiClient } from '../kube/apiClient.js';

/** Options of {@link keepCaBundle}. */
export interface KeepCaBundleOptions {
  /** Default: in-cluster in a pod, else KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  logger?: Logger;
  /** Check every target this often besides watching it. Default 60000. */
  resyncIntervalMs?: number;
}

/** A running {@link keepCaBundle}. */
export interface CaBundleKeeper {
  /** The PEM bundle the targets carry (or are being given). */
  readonly bundle: string;
  /** Resolves once every target carries the current bundle; rejects with the last failure of one that does not. */
  synced(): Promise<void>;
  /** Stops watching and patching. Safe to call twice. */
  close(): Promise<void>;
}

const RBAC = { kind: 'ClusterRole', file: 'deploy/webhook-rbac.yaml' } as const;
const WATCH_TIMEOUT_SECONDS = 60;
const PATCH_ATTEMPTS = 5;
/**
 * How long a new leaf waits after its CA was patched into the caBundle: API servers read webhook
 * configurations from a watch cache (each replica its own), so the patch's answer comes before
 * every one of them uses it. Well inside the bound a rotation waits for a preparer (10 s).
 */
const CA_BUNDLE_SETTLE_MS = 2_000;

/**
 * Keeps the caBundle of this process's own webhook configurations, APIServices and CRD
 * conversion webhooks on the bundle that verifies its served certificate ({@link caBundleFor}):
 * during a CA rollover the old and the new CA, afterwards the current one. Patches only the
 * caBundle fields (a JSON patch guarded by resourceVersion), puts them back when someone else
 * changes them (each target is watched), and follows every rotation and trust change. Resolves
 * once every target carries the bundle; rejects with E_FORBIDDEN naming the ClusterRole rule
 * when the API refuses (deploy/webhook-rbac.yaml).
 */
export async function keepCaBundle(cert: ServingCert, targets: readonly CaBundleTarget[], options: KeepCaBundleOptions = {}): Promise<CaBundleKeeper> {
  if (targets.length === 0) throw new ServingCertError('E_CONFIG', 'keepCaBundle: name at least one target');
  const logger = options.logger ?? consoleLogger();
  const access = options.kubeConfig ? undefined : ClusterAccess.resolve({});
  const kubeConfig = (): KubeConfig => options.kubeConfig ?? access?.kubeConfig ?? fail();
  const abort = new AbortController();
  let bundle = caBundleFor(cert);
  const keepers = targets.map((target) => new TargetKeeper(target, kubeConfig, () => bundle, logger, abort.signal));
  const onChange = (): void => {
    const next = caBundleFor(cert);
    if (next === bundle) return;
    bundle = next;
    for (const keeper of keepers) keeper.reconcile();
  };
  // Told before, and apart from, the app's own listeners: a throwing one cannot hold the caBundle back.
  const unfollow = [followCertificate(cert, 'trust', onChange), followCertificate(cert, 'rotate', onChange)];
  // Before the server presents a new leaf, the caBundle gains the CA that issued it (when the
  // leaf's Secret names a CA before service-root-ca does), and the API servers a moment to load
  // it: they never see a certificate their caBundle cannot verify.
  unfollow.push(prepareServing(cert, async (next) => {
    const wanted = caBundleOf(bundle, next.caPem ?? '');
    if (wanted === bundle) return;
    bundle = wanted;
    for (const keeper of keepers) keeper.reconcile();
    await Promise.all(keepers.map((keeper) => keeper.synced()));
    await sleep(CA_BUNDLE_SETTLE_MS, abort.signal);
  }));
  const resync = setInterval(() => keepers.forEach((keeper) => keeper.reconcile()), options.resyncIntervalMs ?? 60_000);
  resync.unref();
  const close = async (): Promise<void> => {
    abort.abort();
    clearInterval(resync);
    for (const stop of unfollow) stop();
    await Promise.allSettled(keepers.map((keeper) => keeper.stopped()));
  };
  const synced = async (): Promise<void> => {
    await Promise.all(keepers.map((keeper) => keeper.synced()));
  };
  try {
    for (const keeper of keepers) keeper.start();
    await synced();
  } catch (error) {
    await close();
    throw error;
  }
  return { get bundle() { return bundle; }, synced, close };
}

function fail(): never {
  throw new ServingCertError('E_CONFIG', 'keepCaBundle needs a cluster: not in a pod, no kubeConfig option, and no KUBECONFIG or ~/.kube/config');
}

/** One target: reconciled one at a time, watched for changes by others. */
class TargetKeeper {
  readonly #refresher: Refresher;
  #lastError: Error | undefined;
  #watching: Promise<void> | undefined;

  constructor(
    readonly target: CaBundleTarget,
    readonly kubeConfig: () => KubeConfig,
    readonly bundle: () => string,
    readonly logger: Logger,
    readonly signal: AbortSignal,
  ) {
    this.#refresher = new Refresher(() => this.#reconcile(), (error) => {
      this.#lastError = error instanceof Error ? error : new Error(JSON.stringify(error));
      this.logger.error({ target: `${target.kind}/${target.name}`, code: (error as ServingCertError).code }, `keepCaBundle: ${String((error as Error).message)}`);
    });
  }

  start(): void {
    this.reconcile();
    this.#watching = this.#watchLoop();
  }

  reconcile(): void {
    if (!this.signal.aborted) this.#refresher.trigger();
  }

  async synced(): Promise<void> {
    await this.#refresher.idle();
    if (this.#lastError) throw this.#lastError;
  }

  async stopped(): Promise<void> {
    await Promise.allSettled([this.#refresher.idle(), this.#watching]);
  }

  async #reconcile(): Promise<void> {
    const { target } = this;
    const path = pathOf(target);
    const api = apiClient(this.kubeConfig(), CustomObjectsApi);
    const want = Buffer.from(this.bundle()).toString('base64');
    for (let attempt = 1; ; attempt += 1) {
      let object: Parameters<typeof caBundlePatch>[1];
      try {
        object = await api.getClusterCustomObject({ ...path, name: target.name }) as typeof object;
      } catch (error) {
        throw this.#failure(error, 'get');
      }
      let patch;
      try {
        patch = caBundlePatch(target, object, want);
      } catch (error) {
        throw new ServingCertError('E_CONFIG', `keepCaBundle: ${(error as Error).message}`, { cause: error });
      }
      if (patch.length === 0) {
        this.#lastError = undefined;
        return;
      }
      try {
        await api.patchClusterCustomObject({ ...path, name: target.name, body: patch },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
        this.#lastError = undefined;
        this.logger.info({ target: `${target.kind}/${target.name}`, entries: patch.length - 1 }, `caBundle of ${target.kind} ${target.name} set`);
        return;
      } catch (error) {
        // The resourceVersion test failed: someone changed the object since the read. Read again.
        const status = statusOf(error);
        if ((status === 422 || status === 409) && attempt < PATCH_ATTEMPTS) continue;
        throw this.#failure(error, 'patch');
      }
    }
  }

  #failure(error: unknown, verb: 'get' | 'patch' | 'watch'): ServingCertError {
    const path = pathOf(this.target);
    return apiError(error, { verb, resource: `${path.plural}.${path.group}`, name: this.target.name, grantedBy: RBAC });
  }

  /** Watches the one object (a field selector on its name, so resourceNames RBAC suffices) and reconciles on every change. */
  async #watchLoop(): Promise<void> {
    const { group, version, plural } = pathOf(this.target);
    let failures = 0;
    while (!this.signal.aborted) {
      const ended = await new Promise<unknown>((resolve) => {
        let controller: AbortController | undefined;
        const stop = (): void => controller?.abort();
        this.signal.addEventListener('abort', stop, { once: true });
        let watch: Watch;
        try {
          watch = new Watch(this.kubeConfig()); // reads the kubeconfig, which can fail like any request
        } catch (error) {
          this.signal.removeEventListener('abort', stop);
          resolve(error);
          return;
        }
        watch.watch(`/apis/${group}/${version}/${plural}`,
          { fieldSelector: `metadata.name=${this.target.name}`, timeoutSeconds: WATCH_TIMEOUT_SECONDS, allowWatchBookmarks: false },
          (phase) => {
            failures = 0;
            if (phase === 'ADDED' || phase === 'MODIFIED') this.reconcile();
          },
          (error: unknown) => {
            this.signal.removeEventListener('abort', stop);
            resolve(error);
          })
          .then((started) => (controller = started), (error: unknown) => {
            this.signal.removeEventListener('abort', stop);
            resolve(error);
          });
      });
      if (this.signal.aborted) return;
      if (ended) {
        failures += 1;
        this.logger.debug({ target: `${this.target.kind}/${this.target.name}`, error: ended instanceof Error ? ended.message : JSON.stringify(ended) }, 'caBundle watch ended; watching again');
      }
      this.reconcile(); // whatever happened while not watching
      await sleep(Math.min(5_000, failures * 500), this.signal);
    }
  }
}

import * as fs from 'node:fs/promises';
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { writeAtomicVolume } from './atomicWriter.js';

/** Options of {@link projectSecretVolume}. */
export interface ProjectSecretVolumeOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName: string;
  /** The volume's mount point. */
  dir: string;
  /** kubelet's propagation delay: a change reaches the volume this long after the Secret changed. Default 0. */
  delayMs?: number;
  /** As `secret.optional` of a volume: a missing Secret mounts an empty volume instead of keeping the pod waiting. Default false. */
  optional?: boolean;
}

/** A running projection. */
export interface SecretVolumeProjection {
  /** How many revisions were written so far. */
  readonly writes: number;
  /** Resolves when the projection has written what the API showed at the time of the call (after the delay). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Follows a Secret through the API and writes it into `dir` as kubelet does for a Secret volume:
 * each revision through the AtomicWriter ({@link writeAtomicVolume}), `delayMs` after the change,
 * the newest revision winning. A missing optional Secret gives an empty volume; a deleted
 * non-optional one leaves the last content, as on a running pod.
 */
export async function projectSecretVolume(options: ProjectSecretVolumeOptions): Promise<SecretVolumeProjection> {
  const { kubeConfig, namespace, secretName, dir } = options;
  const delayMs = options.delayMs ?? 0;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  let latest: Record<string, Buffer> | undefined;
  let writes = 0;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  const timers = new Set<NodeJS.Timeout>();

  const project = (payload: Record<string, Buffer> | undefined): void => {
    latest = payload;
    const timer = setTimeout(() => {
      timers.delete(timer);
      chain = chain.then(async () => {
        if (stopped || latest === undefined) return;
        const result = await writeAtomicVolume(dir, latest);
        if (result.written) writes += 1;
      }).catch((error: unknown) => {
        process.stderr.write(`testkit: projecting ${namespace}/${secretName} into ${dir} failed: ${String(error)}\n`);
      });
    }, delayMs);
    timers.add(timer);
  };
  const payloadOf = (secret: V1Secret): Record<string, Buffer> =>
    Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]));

  if (options.optional) await fs.mkdir(dir, { recursive: true });
  const informer = new ListWatch<V1Secret>(
    `/api/v1/namespaces/${namespace}/secrets`,
    new Watch(kubeConfig),
    () => core.listNamespacedSecret({ namespace, fieldSelector: `metadata.name=${secretName}` }),
    false,
    undefined,
    `metadata.name=${secretName}`,
  );
  informer.on('add', (secret) => project(payloadOf(secret)));
  informer.on('update', (secret) => project(payloadOf(secret)));
  informer.on('delete', () => {
    if (options.optional) project({});
  });
  informer.on('error', () => {
    if (!stopped) setTimeout(() => { if (!stopped) void informer.start().catch(() => {}); }, 500).unref();
  });
  await informer.start();

  return {
    get writes() {
      return writes;
    },
    async settled() {
      while (timers.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await chain;
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await informer.stop();
      await chain;
    },
  };
}

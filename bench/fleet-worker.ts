// One process of the fleet benchmark (fleet.ts): it runs many simulated pods, each one api-source
// handle as a pod's process would hold, and reports to its parent over IPC when each handle's
// trust changed. Started with fork(); never run by hand.
import { ensureServingCert, silentLogger, type ServingCert } from '@serving-cert/core';
import { KubeConfig } from '@kubernetes/client-node';
import { connectToControlPlane, type ControlPlaneConnection } from '@serving-cert/testkit';

/** What the parent sends first. */
export interface FleetWorkerStart {
  kind: 'start';
  connection: ControlPlaneConnection;
  pods: Array<{ id: number; namespace: string; service: string }>;
  watchTimeoutSeconds: number;
  /**
   * true: every handle gets the same KubeConfig object, so handles of one namespace share the
   * service-root-ca watcher (several handles in one process). false: each handle its own
   * KubeConfig, as each pod is a process of its own.
   */
  shareKubeConfig: boolean;
  /** Starts in flight at once in this process: keeps the fleet under the server's max-requests-inflight. */
  concurrency: number;
}

/** What the worker reports. */
export type FleetWorkerReport =
  | { kind: 'progress'; started: number }
  | { kind: 'ready'; started: number; rssBytes: number; rssBeforeBytes: number; startMs: number }
  | { kind: 'trust'; pod: number; at: number; cas: number }
  | { kind: 'closed' }
  | { kind: 'failed'; message: string };

const send = (report: FleetWorkerReport): void => {
  process.send!(report);
};

let handles: ServingCert[] = [];
// The parent is gone (or done with us): a handle left running would retry its watches forever.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: FleetWorkerStart | { kind: 'close' }) => {
  if (message.kind === 'start') {
    start(message).catch((error: unknown) => {
      send({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
    });
  } else {
    void Promise.all(handles.map((handle) => handle.close())).then(() => {
      send({ kind: 'closed' });
      process.disconnect();
    });
  }
});

async function start(request: FleetWorkerStart): Promise<void> {
  const { kubeConfig: shared } = connectToControlPlane(request.connection);
  const configFor = (): KubeConfig => {
    if (request.shareKubeConfig) return shared;
    const own = new KubeConfig();
    own.loadFromString(shared.exportConfig());
    return own;
  };
  const rssBeforeBytes = process.memoryUsage().rss;
  const started = performance.now();
  const slots: ServingCert[] = new Array<ServingCert>(request.pods.length);
  let next = 0;
  let count = 0;
  const progress = setInterval(() => send({ kind: 'progress', started: count }), 2_000);
  await Promise.all(Array.from({ length: request.concurrency }, async () => {
    while (next < request.pods.length) {
      const index = next++;
      const pod = request.pods[index]!;
      const cert = await ensureServingCert({
        source: 'api', kubeConfig: configFor(), namespace: pod.namespace, serviceName: pod.service,
        watchTimeoutSeconds: request.watchTimeoutSeconds, logger: silentLogger, timeoutMs: 120_000,
      });
      // The moment this pod's handle trusts a new set of CAs: the parent takes the fan-out from these.
      cert.on('trust', (trust) => send({ kind: 'trust', pod: pod.id, at: Date.now(), cas: trust.cas.length }));
      slots[index] = cert;
      count += 1;
    }
  }));
  clearInterval(progress);
  handles = slots;
  global.gc?.();
  send({ kind: 'ready', started: count, rssBytes: process.memoryUsage().rss, rssBeforeBytes, startMs: performance.now() - started });
}

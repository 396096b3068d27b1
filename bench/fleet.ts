// The api source at fleet scale: N simulated pods (one api-source handle each, spread over a few
// processes) against one kube-apiserver of their own, measuring what the watches cost the API
// server, how fast a platform CA rotation reaches every pod, and the requests per pod-hour.
// The files source's cost is modelled (kubelet's watch-based Secret manager); see README.md.
import { fork, type ChildProcess } from 'node:child_process';
import { CoreV1Api } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { startControlPlane, type ControlPlane } from '@serving-cert/testkit';
import type { FleetWorkerReport, FleetWorkerStart } from './fleet-worker.js';
import { apiServerPid, processCost, scrapeMetrics, type Metrics } from './lib/apiServerCost.js';
import { quantile, type Row } from './lib/stats.js';

const NAMESPACES = 10;
const WORKERS = 4;
/** Starts in flight per worker: 4 x 16 starts of 3 requests stay far under the default --max-requests-inflight=400. */
const STARTS_PER_WORKER = 16;
/**
 * Watches are renewed every 30 s instead of the default 300 s: time runs 10x faster for the
 * renewals, so that a 30 s window shows what 300 s of a real fleet shows.
 */
const WATCH_TIMEOUT_SECONDS = 30;
const COMPRESSION = 300 / WATCH_TIMEOUT_SECONDS;
const SECRET_RESOURCE = { resource: 'secrets' };

const b64 = (text: string) => Buffer.from(text).toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The files source's cost, modelled: kubelet's Secret manager (ConfigMapAndSecretChangeDetectionStrategy
 * Watch, the default) holds one watch per distinct Secret referenced by the pods of its node,
 * all multiplexed on the node's one HTTP/2 connection; client-go reflectors renew each watch
 * after a random 5 to 10 minutes (7.5 on average). A mounted volume is rewritten at the pod's
 * next sync: every --sync-frequency (60 s) with up to 50 % jitter, so a change waits a uniform
 * share of a 60 to 90 s period (see kubeletSyncWait).
 */
export function kubeletModel(pods: number, podsPerNode = 30, namespaces = NAMESPACES) {
  const nodes = Math.ceil(pods / podsPerNode);
  const perNode = pods / nodes;
  // Pods spread evenly over namespaces: the distinct namespaces among a node's pods, expected.
  const caCopiesPerNode = namespaces * (1 - (1 - 1 / namespaces) ** perNode);
  const watches = pods + nodes * caCopiesPerNode;
  return {
    podsPerNode, nodes, watches, connections: nodes,
    requestsPerPodHour: (watches * (3600 / 450)) / pods,
    rotationMs: kubeletSyncWait(),
  };
}

/**
 * The wait from a Secret change to the pod's next sync: the change lands at a uniform moment of
 * a sync period L, uniform in [60, 90) s; a change more often lands in a long period (length-
 * biased), so P(wait > w) = 1 - w / 75 for w <= 60 s and (90 - w)^2 / 4500 above.
 */
function kubeletSyncWait() {
  const above = (tail: number) => 90 - Math.sqrt(tail * 4500); // valid while the quantile is past 60 s
  return { p50: 37_500, p99: above(0.01) * 1000, max: 90_000 };
}

interface Snapshot { at: number; rssBytes: number; cpuSeconds: number; metrics: Metrics }

async function snapshot(plane: ControlPlane, pid: number): Promise<Snapshot> {
  const [cost, metrics] = await Promise.all([processCost(pid), scrapeMetrics(plane.kubeConfig)]);
  return { at: performance.now(), ...cost, metrics };
}

async function pool<T>(items: readonly T[], concurrency: number, run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

/** A fleet of N pods against a fresh control plane; rows for RSS and CPU per watch, rotation fan-out and requests. */
export async function fleetScale(pods: number, shared: boolean, log: (message: string) => void): Promise<Row[]> {
  const plane = await startControlPlane({ log });
  const workers: ChildProcess[] = [];
  try {
    return await measure(plane, pods, shared, workers, log);
  } finally {
    for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
    await plane.stop();
  }
}

async function measure(plane: ControlPlane, pods: number, shared: boolean, workers: ChildProcess[], log: (message: string) => void): Promise<Row[]> {
  const core = plane.kubeConfig.makeApiClient(CoreV1Api);
  const oldCa = CertificateAuthority.create({ commonName: 'fleet root CA 1' });
  const newCa = CertificateAuthority.create({ commonName: 'fleet root CA 2' });
  const namespaces = Array.from({ length: NAMESPACES }, (_, index) => `fleet-${index}`);
  const fleet = Array.from({ length: pods }, (_, id) => ({ id, namespace: namespaces[id % NAMESPACES]!, service: `pod-${id}` }));

  // The platform's objects, written directly: a Service, its Secret, and each namespace's service-root-ca.
  const preparing = performance.now();
  for (const namespace of namespaces) {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'service-root-ca' }, data: { 'ca.crt': b64(oldCa.certPem) } } });
  }
  await pool(fleet, 32, async ({ namespace, service }) => {
    await core.createNamespacedService({ namespace, body: {
      // Headless: the control plane's service range has 254 addresses.
      metadata: { name: service, annotations: { 'service.alauda.io/serving-cert-secret-name': `${service}-tls` } }, spec: { clusterIP: 'None', ports: [{ port: 443 }] },
    } });
    const leaf = oldCa.issue({ dnsNames: [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`] });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: `${service}-tls` }, type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(leaf.caPem) } } });
  });
  log(`fleet ${pods}${shared ? ' shared' : ''}: ${pods} Services and Secrets written in ${((performance.now() - preparing) / 1000).toFixed(1)} s`);

  const pid = await apiServerPid(plane.server);
  await sleep(2_000);
  const before = await snapshot(plane, pid);

  // The pods: WORKERS processes, each with its share of the handles.
  const trustAt = new Map<number, number>();
  let rotationStarted = Number.POSITIVE_INFINITY;
  const ready: Array<Extract<FleetWorkerReport, { kind: 'ready' }>> = [];
  const started = new Array<number>(WORKERS).fill(0);
  let failure: string | undefined;
  for (let index = 0; index < WORKERS; index += 1) {
    const worker = fork(new URL('./fleet-worker.ts', import.meta.url), { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(worker);
    worker.on('message', (report: FleetWorkerReport) => {
      if (report.kind === 'progress') started[index] = report.started;
      else if (report.kind === 'ready') ready.push(report);
      else if (report.kind === 'failed') failure = report.message;
      else if (report.kind === 'trust' && report.at >= rotationStarted && !trustAt.has(report.pod)) trustAt.set(report.pod, report.at);
    });
    const message: FleetWorkerStart = {
      kind: 'start', connection: plane.connection, pods: fleet.filter((pod) => pod.id % WORKERS === index),
      watchTimeoutSeconds: WATCH_TIMEOUT_SECONDS, concurrency: STARTS_PER_WORKER, shareKubeConfig: shared,
    };
    worker.send(message);
  }
  const starting = performance.now();
  // The server's own in-flight gauge, sampled while the fleet starts: it must stay under the
  // defaults (--max-requests-inflight=400, --max-mutating-requests-inflight=200).
  const inflight = { readOnly: 0, mutating: 0 };
  const sampler = setInterval(() => {
    void scrapeMetrics(plane.kubeConfig).then((metrics) => {
      inflight.readOnly = Math.max(inflight.readOnly, metrics.sum('apiserver_current_inflight_requests', { request_kind: 'readOnly' }));
      inflight.mutating = Math.max(inflight.mutating, metrics.sum('apiserver_current_inflight_requests', { request_kind: 'mutating' }));
    }, () => {});
  }, 1_000);
  await waitFor(() => ready.length === WORKERS, 240_000, () => `fleet ${pods}: ${started.reduce((a, b) => a + b, 0)} of ${pods} handles started`, () => failure, log);
  clearInterval(sampler);
  const startSeconds = (performance.now() - starting) / 1000;
  log(`fleet ${pods}${shared ? ' shared' : ''}: ${pods} handles started in ${startSeconds.toFixed(1)} s`);

  // Steady state: one renewal period (each watch renews once in it, as in 300 s of a real fleet).
  await sleep(5_000);
  const settled = await snapshot(plane, pid);
  log(`fleet ${pods}${shared ? ' shared' : ''}: steady state for ${WATCH_TIMEOUT_SECONDS} s (one watch renewal period)`);
  await sleep(WATCH_TIMEOUT_SECONDS * 1000);
  const steady = await snapshot(plane, pid);

  // The platform rotates its root: service-root-ca becomes old + new CA in every namespace.
  const bundle = b64(`${oldCa.certPem}${newCa.certPem}`);
  rotationStarted = Date.now();
  await Promise.all(namespaces.map(async (namespace) => {
    const secret = await core.readNamespacedSecret({ namespace, name: 'service-root-ca' });
    secret.data = { 'ca.crt': bundle };
    await core.replaceNamespacedSecret({ namespace, name: 'service-root-ca', body: secret });
  }));
  await waitFor(() => trustAt.size === pods, 60_000, () => `fleet ${pods}: the new CA reached ${trustAt.size} of ${pods} pods`, () => failure, log);
  const fanOut = [...trustAt.values()].map((at) => at - rotationStarted);
  const after = await snapshot(plane, pid);

  await Promise.all(workers.map((worker) => new Promise<void>((resolve) => {
    worker.once('disconnect', () => resolve());
    worker.send({ kind: 'close' });
  })));

  // The API server's own informer watches Secrets too: count only the fleet's.
  const secretWatches = (at: Snapshot) => at.metrics.sum('apiserver_longrunning_requests', { verb: 'WATCH', ...SECRET_RESOURCE });
  const watches = secretWatches(settled) - secretWatches(before);
  const rssPerWatch = (settled.rssBytes - before.rssBytes) / watches;
  const heapPerWatch = (settled.metrics.sum('go_memstats_heap_inuse_bytes') - before.metrics.sum('go_memstats_heap_inuse_bytes')) / watches;
  const windowSeconds = (steady.at - settled.at) / 1000;
  const cpuPerWatch = ((steady.cpuSeconds - settled.cpuSeconds) / windowSeconds) * 1000 / watches; // millicores
  const secretRequests = steady.metrics.sum('apiserver_request_total', SECRET_RESOURCE) - settled.metrics.sum('apiserver_request_total', SECRET_RESOURCE);
  const requestsPerPodHour = (secretRequests / pods) * (3600 / windowSeconds) / COMPRESSION;
  const throttled = after.metrics.sum('apiserver_request_total', { code: '429' });
  const kubelet = kubeletModel(pods);
  const p50 = quantile(fanOut, 0.5);
  const p99 = quantile(fanOut, 0.99);
  const max = Math.max(...fanOut);
  const clientRss = ready.reduce((total, report) => total + report.rssBytes, 0);
  const clientGrowth = ready.reduce((total, report) => total + report.rssBytes - report.rssBeforeBytes, 0);
  const label = `fleet ${pods.toLocaleString('en')} pods${shared ? `, ${WORKERS} processes sharing watchers` : ''}`;
  const watchCodes = after.metrics.by('apiserver_request_total', 'code', { verb: 'WATCH', ...SECRET_RESOURCE });
  const listCodes = after.metrics.by('apiserver_request_total', 'code', { verb: 'LIST', ...SECRET_RESOURCE });
  log(`fleet ${pods}${shared ? ' shared' : ''}: ${watches} watches, ${(rssPerWatch / 1024).toFixed(1)} KiB RSS and ${cpuPerWatch.toFixed(3)} millicores each; rotation p99 ${p99.toFixed(0)} ms`);
  return [
    {
      name: `${label}: kube-apiserver RSS per watch (${watches} watches)`, unit: 'KiB', value: rssPerWatch / 1024,
      target: 'informative', met: true,
      detail: {
        watches, heapInUsePerWatchKiB: heapPerWatch / 1024, apiServerRssPerPodKiB: (settled.rssBytes - before.rssBytes) / pods / 1024,
        apiServerRssMiB: { before: before.rssBytes / 2 ** 20, withFleet: settled.rssBytes / 2 ** 20, afterRotation: after.rssBytes / 2 ** 20 },
        kubeletModel: { ...kubelet, apiServerRssMiB: (kubelet.watches * rssPerWatch) / 2 ** 20, note: 'kubelet watch count x the RSS per watch measured here (an upper bound: kubelet shares one HTTP/2 connection per node)' },
        clientRssMiBPerWorker: clientRss / WORKERS / 2 ** 20, clientRssPerHandleKiB: clientGrowth / pods / 1024, workers: WORKERS, startSeconds,
        throttled429: throttled, peakInflight: inflight, watchesAtWindowEnd: secretWatches(steady) - secretWatches(before),
        secretWatchesByCode: watchCodes, secretListsByCode: listCodes,
      },
    },
    {
      name: `${label}: kube-apiserver CPU per watch, steady state (watches renewed 10x faster)`, unit: 'millicores', value: cpuPerWatch,
      target: 'informative (an upper bound: renewals run 10x the default rate)', met: true,
      detail: { windowSeconds, apiServerCpuSeconds: steady.cpuSeconds - settled.cpuSeconds },
    },
    {
      name: `${label}: platform CA rotation to every pod's trust, p99`, unit: 'ms', value: p99,
      baselineName: 'files source, kubelet sync (modelled)', baseline: kubelet.rotationMs.p99, ratio: p99 / kubelet.rotationMs.p99,
      target: 'informative (lower is better)', met: true,
      detail: { p50, p99, max, pods: fanOut.length, secretEventsSent: after.metrics.sum('apiserver_watch_events_total', { resource: 'secrets' }) - steady.metrics.sum('apiserver_watch_events_total', { resource: 'secrets' }), namespaces: NAMESPACES, kubeletModel: kubelet.rotationMs, apiServerCpuSecondsDuringRotation: after.cpuSeconds - steady.cpuSeconds },
    },
    {
      name: `${label}: API requests per pod-hour, steady state`, unit: 'requests', value: requestsPerPodHour,
      baselineName: 'files source, kubelet watches (modelled)', baseline: kubelet.requestsPerPodHour, ratio: requestsPerPodHour / kubelet.requestsPerPodHour,
      target: 'informative', met: true,
      detail: { secretRequestsInWindow: secretRequests, windowSeconds, compression: COMPRESSION, kubeletWatches: kubelet.watches, kubeletNodes: kubelet.nodes },
    },
  ];
}

async function waitFor(done: () => boolean, timeoutMs: number, progress: () => string, failed: () => string | undefined, log: (message: string) => void): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let lastLog = performance.now();
  while (!done()) {
    const failure = failed();
    if (failure) throw new Error(`a fleet worker failed: ${failure}`);
    if (performance.now() > deadline) throw new Error(`timed out: ${progress()}`);
    if (performance.now() - lastLog > 10_000) {
      log(progress());
      lastLog = performance.now();
    }
    await sleep(50);
  }
}

/** Fleet rows for each size, one control plane at a time. */
export async function fleetRows(sizes: readonly number[], shared: readonly number[], log: (message: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of sizes) rows.push(...await fleetScale(size, false, log));
  for (const size of shared) rows.push(...await fleetScale(size, true, log));
  return rows;
}

// npm run bench: every figure beside a baseline measured in the same run. Prints a table and
// writes bench/results.json. BENCH_QUICK=1 makes a short run (fewer rotations and rounds);
// BENCH_FLEET=1 adds the fleet benchmark's largest size (1,000 pods, with and without shared watchers).
// BENCH_ONLY=files,mtls runs only the steps whose key is listed (keys: files, restart, gate,
// soak, handshakes, mtls, import, fleet, rollover, api).
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import { apiRotationToHandshake, restartToHandshake, startControlPlane, startRequests, steadyStateRequests } from './api-source.js';
import { restartRotation } from './peers.js';
import { soak } from './soak.js';
import { filesAgainstCertwatcher, handshakeThroughput, rotationToHandshake } from './files-rotation.js';
import { gateOnCraftedInput } from './gate.js';
import { mtlsThroughput } from './mtls.js';
import { fleetRows } from './fleet.js';
import { importTime } from './importTime.js';
import { rolloverConvergence } from './rollover.js';
import { printTable, type Row } from './lib/stats.js';

const quick = process.env.BENCH_QUICK === '1';
const fleetSizes = process.env.BENCH_FLEET === '1' ? [100, 300, 1_000] : quick ? [100] : [100, 300];
const sharedFleetSizes = process.env.BENCH_FLEET === '1' ? [1_000] : [];
const rows: Row[] = [];

// The control plane starts only after the local benchmarks, so that its processes do not
// share the 2 cores with the handshake measurements.
let plane: Awaited<ReturnType<typeof startControlPlane>> | undefined;
const controlPlane = async () => {
  plane ??= await startControlPlane({ log: (message) => process.stderr.write(`bench: ${message}\n`) });
  return plane;
};
const rotations = quick ? 50 : 250;
const steps: Array<[string, string, () => Promise<Row | Row[]>]> = [
  ['files', 'files source vs controller-runtime certwatcher: rotation to first handshake', () => filesAgainstCertwatcher(rotations)],
  ['restart', 'peer: restart on change', async () => {
    const ours = rows.find((row) => row.name.startsWith('files: swap')) ?? await rotationToHandshake(rotations);
    const restart = await restartRotation(quick ? 10 : 30);
    return { name: 'files: p99 swap to handshake, serving-cert vs restarting the process', unit: 'ms',
      value: ours.value, baselineName: 'process restart', baseline: restart.p99, ratio: ours.value / restart.p99, target: 'informative (lower is better)', met: true, detail: { restart } };
  }],
  ['gate', 'gate: crafted input refused, and its re-read', () => gateOnCraftedInput(quick ? 10 : 50)],
  ['soak', 'soak: 10,000 rotations', () => soak(quick ? 1_000 : 10_000)],
  ['handshakes', 'handshakes per second: attached vs plain', () => handshakeThroughput(quick ? 4 : 12, quick ? 500 : 1_000)],
  ['mtls', 'mTLS requests per second: createMtlsDispatcher vs plain Agent', () => mtlsThroughput(quick ? 4 : 12, quick ? 500 : 1_000)],
  ['import', 'import time: core + files-source start vs node:tls', () => importTime(10)],
  // Each size on a control plane of its own, before the shared one below starts: one at a time.
  ['fleet', 'api source at fleet scale', () => fleetRows(fleetSizes, sharedFleetSizes, (message) => process.stderr.write(`bench: ${message}\n`))],
  // Its own control plane and platform, stopped before the api source rows start theirs.
  ['rollover', 'rollover: platform CA change to last leaf re-issued', () => rolloverConvergence(quick ? 1 : 3)],
  ['api', 'api source: requests of a start', async () => startRequests(await controlPlane())],
  ['api', 'api source: Secret update to first handshake', async () => apiRotationToHandshake(await controlPlane(), quick ? 30 : 200)],
  ['api', 'api source: an hour of steady state', async () => steadyStateRequests(await controlPlane())],
  // Last: it kills and restarts the API server the rows above use.
  ['api', 'api source: rotation served after kube-apiserver restart', async () => restartToHandshake(await controlPlane(), 5)],
];

const only = process.env.BENCH_ONLY?.split(',').map((key) => key.trim()).filter(Boolean);
for (const [key, label, run] of steps) {
  if (only && !only.includes(key)) continue;
  process.stderr.write(`bench: ${label} ...\n`);
  const started = performance.now();
  const result = await run();
  rows.push(...(Array.isArray(result) ? result : [result]));
  process.stderr.write(`bench: ${label} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

await plane?.stop();
console.log();
printTable(rows);
const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  rows,
};
await fs.writeFile(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwritten: bench/results.json');

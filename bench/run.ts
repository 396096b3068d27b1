// npm run bench: every figure beside a baseline measured in the same run. Prints a table and
// writes bench/results.json. BENCH_QUICK=1 makes a short run (fewer rotations and rounds).
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import { apiRotationToHandshake, startControlPlane, startRequests } from './api-source.js';
import { handshakeThroughput, rotationToHandshake } from './files-rotation.js';
import { mtlsThroughput } from './mtls.js';
import { printTable, type Row } from './lib/stats.js';

const quick = process.env.BENCH_QUICK === '1';
const rows: Row[] = [];

// The control plane starts only after the local benchmarks, so that its processes do not
// share the 2 cores with the handshake measurements.
let plane: Awaited<ReturnType<typeof startControlPlane>> | undefined;
const controlPlane = async () => {
  plane ??= await startControlPlane({ log: (message) => process.stderr.write(`bench: ${message}\n`) });
  return plane;
};
const steps: Array<[string, () => Promise<Row>]> = [
  ['files source: rotation to first handshake', () => rotationToHandshake(quick ? 50 : 250)],
  ['handshakes per second: attached vs plain', () => handshakeThroughput(quick ? 2 : 6, quick ? 500 : 1_500)],
  ['mTLS requests per second: createMtlsDispatcher vs plain Agent', () => mtlsThroughput(quick ? 2 : 6, quick ? 500 : 1_500)],
  ['api source: requests of a start', async () => startRequests(await controlPlane())],
  ['api source: Secret update to first handshake', async () => apiRotationToHandshake(await controlPlane(), quick ? 30 : 200)],
];

for (const [label, run] of steps) {
  process.stderr.write(`bench: ${label} ...\n`);
  const started = performance.now();
  rows.push(await run());
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

// npm run bench: every figure beside a baseline measured in the same run. Prints a table and
// writes bench/results.json. BENCH_QUICK=1 makes a short run (fewer rotations and rounds).
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import { handshakeThroughput, rotationToHandshake } from './files-rotation.js';
import { printTable, type Row } from './lib/stats.js';

const quick = process.env.BENCH_QUICK === '1';
const rows: Row[] = [];

const steps: Array<[string, () => Promise<Row>]> = [
  ['files source: rotation to first handshake', () => rotationToHandshake(quick ? 50 : 250)],
  ['handshakes per second: attached vs plain', () => handshakeThroughput(quick ? 2 : 6, quick ? 500 : 1_500)],
];

for (const [label, run] of steps) {
  process.stderr.write(`bench: ${label} ...\n`);
  const started = performance.now();
  rows.push(await run());
  process.stderr.write(`bench: ${label} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

console.log();
printTable(rows);
const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  rows,
};
await fs.writeFile(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwritten: bench/results.json');

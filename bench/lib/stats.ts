/** The q-quantile (0..1) of samples, nearest-rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

/** One row of the results table: a figure, its baseline from the same run, and their ratio. */
export interface Row {
  name: string;
  unit: string;
  value: number;
  baselineName?: string;
  baseline?: number;
  /** value / baseline */
  ratio?: number;
  target: string;
  met: boolean;
  detail?: Record<string, unknown>;
}

export function printTable(rows: readonly Row[]): void {
  const header = ['benchmark', 'value', 'baseline', 'ratio', 'target', 'met'];
  const cells = rows.map((row) => [
    row.name,
    `${format(row.value)} ${row.unit}`,
    row.baseline === undefined ? '-' : `${format(row.baseline)} ${row.unit} (${row.baselineName ?? ''})`,
    row.ratio === undefined ? '-' : row.ratio.toFixed(3),
    row.target,
    row.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  const line = (values: string[]) => values.map((value, column) => value.padEnd(widths[column]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of cells) console.log(line(row));
}

function format(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}

/** A round whose rate is under this share of the contender's median is a stall. */
export const STALL_SHARE = 0.1;
/** More stalls than this, for one contender in one benchmark, fail the benchmark. */
export const STALLS_ALLOWED = 1;

/** The rounds of one contender, with its stalled rounds set apart. */
export interface Rounds {
  /** Every round's rate, in order. */
  rates: number[];
  /** The indexes of the rounds under {@link STALL_SHARE} of the median: left out of `median`. */
  stalled: number[];
  /** The median of the rounds that did not stall. */
  median: number;
  min: number;
  max: number;
}

/** Sets apart the rounds under a tenth of the median of all rounds, and takes the median of the rest. */
export function roundsOf(rates: readonly number[]): Rounds {
  const all = median(rates);
  const stalled = rates.flatMap((rate, index) => (rate < all * STALL_SHARE ? [index] : []));
  const kept = rates.filter((_rate, index) => !stalled.includes(index));
  return { rates: [...rates], stalled, median: median(kept), min: Math.min(...kept), max: Math.max(...kept) };
}

/**
 * A throughput row from alternating rounds: the contender's median over the baseline's, both
 * without their stalled rounds. When either stalled more than {@link STALLS_ALLOWED} times, the
 * row carries no ratio and fails, and says which one stalled: a ratio is never computed from a
 * broken run.
 */
export function throughputRow(row: Omit<Row, 'value' | 'baseline' | 'ratio' | 'met'>, contender: Rounds, baseline: Rounds,
  meets: (ratio: number) => boolean, diagnostics: Record<string, unknown> = {}): Row {
  const detail = { contender, baseline, ...diagnostics };
  const broken = [['contender', contender], ['baseline', baseline]] as const;
  const stalledOnes = broken.filter(([, rounds]) => rounds.stalled.length > STALLS_ALLOWED);
  const stalls = `stalled rounds ${contender.stalled.length}/${contender.rates.length}, baseline ${baseline.stalled.length}/${baseline.rates.length}`;
  if (stalledOnes.length > 0) {
    const who = stalledOnes.map(([name]) => (name === 'baseline' ? row.baselineName ?? 'baseline' : 'serving-cert')).join(' and ');
    process.stderr.write(`bench: ${row.name}: ${who} STALLED repeatedly (${stalls}); no ratio computed\n`);
    process.exitCode = 1;
    return { ...row, name: `${row.name} (${stalls})`, value: contender.median, baseline: baseline.median, met: false,
      target: `${row.target}; FAILED: ${who} stalled repeatedly`, detail };
  }
  const ratio = contender.median / baseline.median;
  return { ...row, name: `${row.name} (${stalls})`, value: contender.median, baseline: baseline.median, ratio, met: meets(ratio), detail };
}

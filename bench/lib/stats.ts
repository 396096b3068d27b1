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

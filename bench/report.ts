// Latency samples and the table the benchmarks print.

export interface Row {
  operation: string;
  count: number;
  /** Per-operation latencies in ms, when each was timed alone. */
  samples?: number[];
  /** Wall time of the whole step, in ms. */
  totalMs: number;
}

/** Nearest-rank percentile of `sorted` (ascending), p in (0, 100]. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summary(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

const ms = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(2));

/** A Markdown table: operation | count | p50 ms | p99 ms | total s | ops/s. */
export function table(rows: Row[]): string {
  const head = ['operation', 'count', 'p50 ms', 'p99 ms', 'total s', 'ops/s'];
  const body = rows.map((r) => {
    const s = r.samples ? summary(r.samples) : { p50: NaN, p99: NaN };
    return [r.operation, String(r.count), ms(s.p50), ms(s.p99), (r.totalMs / 1000).toFixed(2), ((r.count * 1000) / r.totalMs).toFixed(0)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

/** A positive whole number from the environment variable `name`, or `fallback` when it is unset. */
export function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

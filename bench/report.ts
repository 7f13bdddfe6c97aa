// Latency samples and the tables the benchmarks print, and the status line they show while they run.
import { createProgress } from '../src/node/progress.js';

/**
 * The benchmarks' status line (src/node/progress.ts): the step running, with passes or items done
 * where they are counted. On a terminal only (stderr a TTY, CI unset); the tables on stdout stay clean.
 */
export const progress = createProgress();

/** Shows `label` as the step running, with `total` items when known. */
export const step = (label: string, total?: number): void => progress.start(label, total);

/** Moves the running step on: items (or passes) done, and an optional detail. */
export const stepDone = (done: number, detail?: string): void => progress.update(done, detail);

/** Runs `task(i)` for i in 0..count-1 as step `label`, counting the ones finished. */
export function counted<T>(label: string, count: number, task: (i: number) => Promise<T>): (i: number) => Promise<T> {
  let finished = 0;
  step(label, count);
  return async (i) => {
    const result = await task(i);
    stepDone(++finished);
    return result;
  };
}

export interface Row {
  operation: string;
  count: number;
  /** Per-operation latencies in ms, when each was timed alone. */
  samples?: number[];
  /** Wall time of the whole step, in ms. */
  totalMs: number;
  /** What else held during the step (shown in a last column when any row has one). */
  note?: string;
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

/** Operations per second of a row: count over its wall time. */
export const rate = (r: Row): number => (r.count * 1000) / r.totalMs;

const ms = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(2));

/** A number with `digits` decimals, '-' when it is not finite. */
export const fmt = (v: number, digits = 0): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** A Markdown table: the first column (and those in `left`) left-aligned, the others right-aligned. */
export function markdownTable(head: string[], body: string[][], left: number[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const isLeft = (i: number) => i === 0 || left.includes(i);
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (isLeft(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (isLeft(i) ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** A Markdown table: operation | count | p50 ms | p99 ms | total s | ops/s (| note, when a row has one). */
export function table(rows: Row[]): string {
  const notes = rows.some((r) => r.note);
  const head = ['operation', 'count', 'p50 ms', 'p99 ms', 'total s', 'ops/s', ...(notes ? ['during the step'] : [])];
  const body = rows.map((r) => {
    const s = r.samples ? summary(r.samples) : { p50: NaN, p99: NaN };
    return [r.operation, String(r.count), ms(s.p50), ms(s.p99), (r.totalMs / 1000).toFixed(2), rate(r).toFixed(0), ...(notes ? [r.note ?? ''] : [])];
  });
  return markdownTable(head, body, notes ? [6] : []);
}

/** One figure set against the raw libSQL floor under it and the goal it aims at. */
export interface Figure {
  figure: string;
  value: number;
  unit: 'ms' | '/s' | 'core';
  /** The raw libSQL baseline for the same figure, in the same unit; `label` says what it is. */
  raw?: { value: number; label: string };
  goal?: { atMost?: number; atLeast?: number };
}

const withUnit = (v: number, unit: Figure['unit']) =>
  unit === 'ms' ? `${fmt(v, v < 1 ? 3 : v < 100 ? 2 : 0)} ms` : unit === '/s' ? `${fmt(v, 0)}/s` : `${fmt(v * 100, v < 0.1 ? 2 : 1)}% of a core`;

/**
 * figure | measured | raw libSQL | measured / raw | goal | measured / goal | met.
 * Both ratios are measured over the other figure, so for latencies and CPU lower is better, for
 * throughput higher.
 */
export function figureTable(figures: Figure[]): string {
  const body = figures.map((f) => {
    const goal = f.goal?.atMost ?? f.goal?.atLeast;
    const met = goal === undefined || !Number.isFinite(f.value) ? '' : (f.goal!.atMost !== undefined ? f.value <= goal : f.value >= goal) ? 'yes' : 'NO';
    return [
      f.figure,
      withUnit(f.value, f.unit),
      f.raw ? `${withUnit(f.raw.value, f.unit)} (${f.raw.label})` : '-',
      f.raw ? `${fmt(f.value / f.raw.value, f.value / f.raw.value < 10 ? 2 : 0)}x` : '-',
      goal === undefined ? '-' : `${f.goal!.atMost !== undefined ? '<=' : '>='} ${withUnit(goal, f.unit)}`,
      goal === undefined ? '-' : `${fmt(f.value / goal, 2)}x`,
      met,
    ];
  });
  return markdownTable(['figure', 'measured', 'raw libSQL baseline (same run)', 'measured / raw', 'goal', 'measured / goal', 'goal met'], body, [2]);
}

/** A positive whole number from the environment variable `name`, or `fallback` when it is unset. */
export function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

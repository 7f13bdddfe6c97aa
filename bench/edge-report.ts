// The tables `npm run bench:edge` prints: each figure beside its Workers limit, with a yes/no column.
import type { ApiCosts } from './edge-api.js';
import type { Bundle } from './edge-bundle.js';
import type { PassFigures } from './edge-pass.js';
import type { Scenario } from './edge-scenarios.js';

/** The Workers limits compared against (Workers Free for the subrequests, the cron default for CPU). */
export const LIMITS = {
  bundleGzipBytes: 1024 * 1024,
  cronCpuMs: 30_000,
  isolateBytes: 128 * 1000 * 1000,
  subrequests: 50,
};

const KiB = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const int = (n: number) => (Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const within = (value: number, limit: number) => (Number.isNaN(value) ? '-' : value <= limit ? 'yes' : 'NO');

/** A Markdown table; the first `left` columns are left-aligned, the rest right-aligned. */
export function markdownTable(head: string[], body: string[][], left = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (i < left ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(head), rule, ...body.map(line)].join('\n');
}

export function bundleTable(b: Bundle): string {
  return markdownTable(
    ['bundle (wrangler deploy --dry-run)', 'limit', 'measured', 'within'],
    [
      ['worker.js, raw', '-', KiB(b.rawBytes), '-'],
      ['worker.js, gzipped (zlib -9)', KiB(LIMITS.bundleGzipBytes), KiB(b.gzipBytes), within(b.gzipBytes, LIMITS.bundleGzipBytes)],
    ],
  );
}

interface Figure {
  name: string;
  limit: string;
  value: (p: PassFigures) => number;
  format: (n: number) => string;
  /** The limit as a number, when there is one to compare with. */
  max?: number;
  /** Only the Worker has it (HTTP requests, the endpoint's CPU). */
  edgeOnly?: boolean;
}

const FIGURES: Figure[] = [
  { name: 'wall time, ms', limit: '-', value: (p) => p.wallMs, format: int },
  { name: 'CPU of this process, ms', limit: `${int(LIMITS.cronCpuMs)} (cron)`, value: (p) => p.cpuMs, format: int, max: LIMITS.cronCpuMs },
  { name: 'CPU of the libSQL endpoint, ms', limit: '-', value: (p) => p.databaseCpuMs, format: int, edgeOnly: true },
  { name: 'peak heap above base, sampled', limit: MB(LIMITS.isolateBytes), value: (p) => p.heapGrowth, format: MB, max: LIMITS.isolateBytes },
  { name: 'store round trips', limit: '-', value: (p) => p.roundTrips, format: int },
  { name: 'HTTP requests (subrequests)', limit: String(LIMITS.subrequests), value: (p) => p.httpRequests, format: int, max: LIMITS.subrequests, edgeOnly: true },
  { name: 'objects written', limit: '-', value: (p) => p.writes, format: int },
];

/** The scenario's worst pass for this figure. */
const worst = (s: Scenario, value: (p: PassFigures) => number) => Math.max(...s.passes.map(value));

/**
 * One row per scenario and figure; the homes ran the same scenarios in the same order. `edgeLive` is
 * the Worker's run again with garbage collected before each heap sample: its live heap only.
 */
export function passTable(serve: Scenario[], edge: Scenario[], edgeLive?: Scenario[]): string {
  const rows: string[][] = [];
  const cell = (v: number, format: (n: number) => string) => (Number.isNaN(v) ? '-' : format(v));
  const judge = (v: number, max?: number) => (max === undefined ? '-' : within(v, max));
  serve.forEach((s, i) => {
    const e = edge[i];
    const counts = s.passes.length === 1 && e.passes.length === 1 ? '' : ` (worst of ${s.passes.length} / ${e.passes.length} passes)`;
    const unsettled = s.settled && e.settled ? '' : ' NOT SETTLED';
    const scenarioRows = FIGURES.map((f) => {
      const [sv, ev] = [f.edgeOnly ? NaN : worst(s, f.value), worst(e, f.value)];
      return [f.name, f.limit, cell(sv, f.format), judge(sv, f.max), cell(ev, f.format), judge(ev, f.max)];
    });
    if (edgeLive) {
      const lv = worst(edgeLive[i], (p) => p.heapGrowth);
      scenarioRows.splice(4, 0, ['live heap above base (own run)', MB(LIMITS.isolateBytes), '-', '-', MB(lv), judge(lv, LIMITS.isolateBytes)]);
    }
    scenarioRows.forEach((r, j) => rows.push([j === 0 ? s.name + counts + unsettled : '', ...r]));
  });
  return markdownTable(['pass', 'figure', 'limit', 'serve (file:)', 'within', 'edge (HTTP)', 'within'], rows, 2);
}

/** Where each scenario's longest pass spent its time and round trips, controller by controller. */
export function controllerLines(home: string, scenarios: Scenario[]): string[] {
  return scenarios.map((s) => {
    const longest = s.passes.reduce((a, b) => (b.wallMs > a.wallMs ? b : a));
    const parts = longest.controllers.map((c) => `${c.name} ${int(c.ms)} ms/${c.roundTrips} rt${home === 'serve' ? '' : `/${c.httpRequests} http`}/${MB(c.heapGrowth)}`);
    return `  ${home}, ${s.name}: ${parts.join(', ')}`;
  });
}

export function apiTable(costs: ApiCosts[]): string {
  const serve = costs.find((c) => c.home === 'serve')!;
  const edge = costs.find((c) => c.home === 'edge')!;
  const rows = [...serve.calls].map(([call, s]) => {
    const e = edge.calls.get(call)!;
    return [call, String(LIMITS.subrequests), String(s.roundTrips), within(s.roundTrips, LIMITS.subrequests), `${e.roundTrips} (${e.httpRequests})`, within(e.httpRequests, LIMITS.subrequests)];
  });
  return markdownTable(['API call', 'limit', 'serve: round trips', 'within', 'edge: round trips (HTTP requests)', 'within'], rows);
}

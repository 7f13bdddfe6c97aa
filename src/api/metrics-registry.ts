// A small metrics registry in Prometheus' text exposition format (0.0.4): counters, gauges and
// histograms with labels, HELP and TYPE lines, escaping. Runtime-neutral (the Worker serves it too):
// prom-client depends on Node.js.

type Labels = Record<string, string>;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  /** The sample lines, after HELP and TYPE. */
  lines(): string[];
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeValue = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const pairs = names.map((n, i) => `${n}="${escapeValue(values[i] ?? '')}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeValue(extra[1])}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

/** Series of one family, keyed by their label values in the family's label order. */
abstract class Labelled<S> implements Family {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected series = new Map<string, { values: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  protected abstract fresh(): S;
  abstract lines(): string[];

  protected at(labels: Labels): S {
    const values = this.labelNames.map((n) => labels[n] ?? '');
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { values, state: this.fresh() }));
    return s.state;
  }

  protected each(): { values: string[]; state: S }[] {
    // A family without labels has its one series from the start (at zero).
    if (this.labelNames.length === 0 && this.series.size === 0) this.at({});
    return [...this.series.values()];
  }

  /** Forget every series (for values computed afresh at each scrape). */
  reset(): void {
    this.series.clear();
  }
}

export class Counter extends Labelled<{ v: number }> {
  readonly type = 'counter' as const;
  protected fresh() {
    return { v: 0 };
  }
  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`${this.name}: a counter only goes up`);
    this.at(labels).v += by;
  }
  get(labels: Labels = {}): number {
    return this.at(labels).v;
  }
  lines(): string[] {
    return this.each().map(({ values, state }) => `${this.name}${formatLabels(this.labelNames, values)} ${formatNumber(state.v)}`);
  }
}

export class Gauge extends Labelled<{ v: number }> {
  readonly type = 'gauge' as const;
  protected fresh() {
    return { v: 0 };
  }
  set(labels: Labels, value: number): void {
    this.at(labels).v = value;
  }
  inc(labels: Labels = {}, by = 1): void {
    this.at(labels).v += by;
  }
  dec(labels: Labels = {}, by = 1): void {
    this.at(labels).v -= by;
  }
  get(labels: Labels = {}): number {
    return this.at(labels).v;
  }
  lines(): string[] {
    return this.each().map(({ values, state }) => `${this.name}${formatLabels(this.labelNames, values)} ${formatNumber(state.v)}`);
  }
}

export class Histogram extends Labelled<{ counts: number[]; sum: number; count: number }> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  protected fresh() {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  /** Observe `value` (seconds, usually) `times` times. */
  observe(labels: Labels, value: number, times = 1): void {
    if (times <= 0) return;
    const s = this.at(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i] += times;
    s.sum += value * times;
    s.count += times;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const { values, state } of this.each()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${formatLabels(this.labelNames, values, ['le', formatNumber(b)])} ${state.counts[i]}`));
      out.push(`${this.name}_bucket${formatLabels(this.labelNames, values, ['le', '+Inf'])} ${state.count}`);
      out.push(`${this.name}_sum${formatLabels(this.labelNames, values)} ${formatNumber(state.sum)}`);
      out.push(`${this.name}_count${formatLabels(this.labelNames, values)} ${state.count}`);
    }
    return out;
  }
}

export class Registry {
  private families: Family[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  private add<F extends Family>(f: F): F {
    if (this.families.some((o) => o.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
    return f;
  }

  /** Every family in the text exposition format, sorted by name. */
  expose(): string {
    const out: string[] = [];
    for (const f of [...this.families].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines());
    }
    return out.join('\n') + '\n';
  }
}

/** The text exposition format's content type. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

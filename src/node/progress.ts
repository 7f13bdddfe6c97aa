// Progress of long work (`skiff dev`, `skiff migrate`, `skiff agent --simulate N`, the benchmarks) on
// one status line of the terminal, rewritten in place and cleared when done, so logs stay clean.
// Only on an interactive terminal: stderr a TTY, CI unset, TERM not "dumb"; elsewhere (pipes, CI,
// files) every call is a no-op and nothing is written.
// Node-only: the runtime-neutral core (kinds, store, api, control) never reports progress.

/** What progress writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface Progress {
  /** Whether anything is shown (false: a no-op, e.g. in a pipe or CI). */
  readonly enabled: boolean;
  /** Begins a step: `label` is what is being done or waited for; `total` when the count is known. */
  start(label: string, total?: number): void;
  /** Moves the step on: items (or passes) done so far, and an optional detail shown after them. */
  update(done?: number, detail?: string): void;
  /** Ends the step, clearing its line. */
  done(): void;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  env?: Record<string, string | undefined>;
  /** Other streams whose writes clear the line first and redraw it after (default: stdout, with stderr itself). */
  alsoGuard?: ProgressStream[];
  /** Milliseconds between redraws of the elapsed time while nothing moves; 0: none (tests). */
  tickMs?: number;
  now?: () => number;
}

const CLEAR = '\r\x1b[2K';
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
// Redraws on update() are throttled to this; a step's start and end are always drawn.
const MIN_REDRAW_MS = 80;

/** Whether progress shows on `stream`: a TTY, CI unset (or empty), TERM not "dumb". */
export function progressEnabled(stream: ProgressStream = process.stderr, env: Record<string, string | undefined> = process.env): boolean {
  return stream.isTTY === true && !env.CI && env.TERM !== 'dumb';
}

const NOOP: Progress = { enabled: false, start() {}, update() {}, done() {} };

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!progressEnabled(stream, opts.env ?? process.env)) return NOOP;
  return new LineProgress(stream, opts.alsoGuard ?? (opts.stream ? [] : [process.stdout]), opts.tickMs ?? 250, opts.now ?? (() => performance.now()));
}

/** "12.3 s", "4 min 05 s". */
export function formatElapsed(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
}

class LineProgress implements Progress {
  readonly enabled = true;
  private label = '';
  private total: number | undefined;
  private count: number | undefined;
  private detail: string | undefined;
  private startedAt = 0;
  private lastDraw = 0;
  private frame = 0;
  private active = false;
  /** Whether our line is on the screen (foreign output clears it). */
  private shown = false;
  /** Whether the cursor is at the start of a line after foreign output (so redrawing is safe). */
  private atLineStart = true;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private readonly raw: (chunk: string) => unknown;
  private restores: (() => void)[] = [];
  private readonly onExit = () => this.clear();

  constructor(
    private readonly stream: ProgressStream,
    private readonly guarded: ProgressStream[],
    private readonly tickMs: number,
    private readonly now: () => number,
  ) {
    this.raw = stream.write.bind(stream);
  }

  start(label: string, total?: number): void {
    if (!this.active) this.attach();
    this.label = label;
    this.total = total;
    this.count = total === undefined ? undefined : 0;
    this.detail = undefined;
    this.startedAt = this.now();
    this.draw();
  }

  update(done?: number, detail?: string): void {
    if (!this.active) return;
    if (done !== undefined) this.count = done;
    if (detail !== undefined) this.detail = detail;
    const finished = this.total !== undefined && done === this.total;
    if (finished || this.now() - this.lastDraw >= MIN_REDRAW_MS) this.draw();
  }

  done(): void {
    if (!this.active) return;
    this.clear();
    this.detach();
  }

  /** The line as drawn now, cut to the terminal's width. */
  line(): string {
    const elapsedMs = this.now() - this.startedAt;
    const parts = [`${FRAMES[this.frame++ % FRAMES.length]} ${this.label}`];
    if (this.count !== undefined) {
      parts.push(this.total !== undefined ? `${this.count} of ${this.total}` : String(this.count));
      if (this.count > 0 && elapsedMs >= 500) parts.push(`${(this.count / (elapsedMs / 1000)).toFixed(this.count / (elapsedMs / 1000) < 10 ? 1 : 0)}/s`);
    }
    if (this.detail) parts.push(this.detail);
    parts.push(formatElapsed(elapsedMs));
    const text = parts.join(' · ');
    const width = (this.stream.columns || 80) - 1; // a pty with no size set reports 0
    return text.length > width ? text.slice(0, Math.max(0, width - 1)) + '…' : text;
  }

  private draw(): void {
    if (!this.active || !this.atLineStart) return;
    this.lastDraw = this.now();
    this.raw(CLEAR + this.line());
    this.shown = true;
  }

  private clear(): void {
    if (!this.shown) return;
    this.raw(CLEAR);
    this.shown = false;
  }

  /** Starts the ticker and has writes to the guarded streams (and this one) clear the line first. */
  private attach(): void {
    this.active = true;
    this.atLineStart = true;
    // Output to a pipe or a file does not touch the terminal's line: only TTYs are guarded.
    for (const s of new Set([this.stream, ...this.guarded.filter((g) => g.isTTY)])) {
      const original = s.write;
      const own = s === this.stream ? this.raw : original.bind(s);
      s.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.clear();
        const result = (own as (...args: unknown[]) => unknown)(chunk, ...rest);
        const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString() : '';
        if (text.length > 0) this.atLineStart = text.endsWith('\n');
        this.draw();
        return result;
      }) as typeof s.write;
      this.restores.push(() => (s.write = original));
    }
    if (this.tickMs > 0) {
      this.ticker = setInterval(() => this.draw(), this.tickMs);
      this.ticker.unref();
    }
    process.once('exit', this.onExit);
  }

  private detach(): void {
    this.active = false;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const restore of this.restores.splice(0).reverse()) restore();
    process.off('exit', this.onExit);
  }
}

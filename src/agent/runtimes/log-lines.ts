// Container log lines as kubelet serves them: each with the time it was written, in nanoseconds since
// the epoch; tailLines is applied first, then sinceTime, then the optional RFC 3339 prefix (kubelet's
// ReadLogs does it in that order). Shared by the process and simulated runtimes; docker does its own.
import type { LogOptions } from '../runtime.js';

export interface LogLine {
  /** When it was written (or first seen), nanoseconds since the epoch. */
  ns: bigint;
  /** The line's bytes, with its '\n' when it is complete. */
  data: Buffer;
}

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

let anchor: { wall: bigint; mono: bigint } | undefined;
let lastNow = 0n;

/**
 * The wall clock in nanoseconds. Date.now() has milliseconds only, so the rest comes from the monotonic
 * clock, re-anchored when the two drift apart by a millisecond (NTP steps); never goes backwards.
 */
export function nowNs(): bigint {
  const wall = BigInt(Date.now()) * NS_PER_MS;
  const mono = process.hrtime.bigint();
  let t = anchor ? anchor.wall + (mono - anchor.mono) : wall;
  if (!anchor || t < wall || t >= wall + NS_PER_MS) {
    anchor = { wall, mono };
    t = wall;
  }
  if (t < lastNow) t = lastNow;
  lastNow = t;
  return t;
}

export function dateNs(d: Date): bigint {
  return BigInt(d.getTime()) * NS_PER_MS;
}

/** RFC 3339 with nine fractional digits in UTC: kubelet's (and docker's) log timestamp. */
export function formatNs(ns: bigint): string {
  const seconds = ns / NS_PER_S;
  const frac = (ns % NS_PER_S).toString().padStart(9, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${frac}Z`;
}

/** The bytes to send for one line. */
export function renderLine(line: LogLine, timestamps: boolean): Buffer {
  return timestamps ? Buffer.concat([Buffer.from(`${formatNs(line.ns)} `), line.data]) : line.data;
}

/** Whether a line passes sinceTime. */
export function sinceFilter(opts: Pick<LogOptions, 'sinceTime'>): (line: LogLine) => boolean {
  if (!opts.sinceTime) return () => true;
  const since = dateNs(opts.sinceTime);
  return (line) => line.ns >= since;
}

/** Lines as kubelet picks them from a finite source: the last tailLines, then those since sinceTime. */
export async function* selectLines(source: AsyncIterable<LogLine> | Iterable<LogLine>, opts: Pick<LogOptions, 'tailLines' | 'sinceTime'>): AsyncGenerator<LogLine> {
  const keep = sinceFilter(opts);
  const tail = opts.tailLines;
  if (tail === undefined || tail < 0) {
    for await (const line of source) if (keep(line)) yield line;
    return;
  }
  if (tail === 0) return;
  // A ring of the last `tail` lines: a long log is read once without holding all of it.
  const ring: LogLine[] = [];
  let at = 0;
  for await (const line of source) {
    if (ring.length < tail) ring.push(line);
    else {
      ring[at] = line;
      at = (at + 1) % tail;
    }
  }
  for (let i = 0; i < ring.length; i++) {
    const line = ring[(at + i) % ring.length];
    if (keep(line)) yield line;
  }
}

/** Splits a byte stream into lines, keeping track of each line's end offset. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    /** The offset of the first byte that will be pushed. */
    public offset = 0,
  ) {}

  /** Complete lines in this chunk (with what was pending before), each with the offset just past it. */
  push(chunk: Buffer): { data: Buffer; end: number }[] {
    const out: { data: Buffer; end: number }[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
      const part = chunk.subarray(from, nl + 1);
      const data = this.pendingBytes ? Buffer.concat([...this.pending, part]) : Buffer.from(part);
      this.offset += part.length;
      this.pending = [];
      this.pendingBytes = 0;
      out.push({ data, end: this.offset });
      from = nl + 1;
    }
    if (from < chunk.length) {
      const rest = Buffer.from(chunk.subarray(from));
      this.pending.push(rest);
      this.pendingBytes += rest.length;
      this.offset += rest.length;
    }
    return out;
  }

  /** The incomplete line at the end, if any (its start offset is `offset - data.length`). */
  partial(): Buffer | undefined {
    return this.pendingBytes ? Buffer.concat(this.pending) : undefined;
  }
}

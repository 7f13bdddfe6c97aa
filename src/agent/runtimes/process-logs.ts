// A process-runtime container's log on disk, and what the agent does with it.
//
// Why this shape
// - The program's stdout and stderr are one file, <container dir>/log, opened O_APPEND by the agent when
//   it starts the program and inherited by it. The agent is not in the pipe, so the program keeps
//   logging (and never blocks on a full pipe or dies of SIGPIPE) while the agent is stopped, restarting
//   or gone; it is re-adopted with its log intact. One shared O_APPEND description also keeps stdout
//   and stderr interleaved exactly as written, where two files could only be merged by approximate
//   times. The price: the two streams are not told apart (attach gives both on stdout).
// - Times: the writer records none, so the agent keeps a sidecar index, log.idx, of "<end offset> <ns>"
//   lines. Whenever it sees the file grow (every 250 ms for running containers, and before every read)
//   it appends the new size with the file's mtime, which is the time of the last write. A line's time
//   is that of the first entry at or past its end: exact when it was the only write between two looks,
//   else the time of the last write of that look (within a poll). Output written while the agent was
//   down is stamped with the time of the last write before the agent looked again: approximate.
// - Rotation, kubelet's defaults (containerLogMaxSize 10Mi, containerLogMaxFiles 5), by copy-truncate:
//   log is copied to log.1 (log.1..log.3 shift to log.2..log.4, log.4 is dropped) and truncated to zero;
//   the program's next write lands at the new end since its descriptor is O_APPEND. Bytes written between
//   the last copy pass and the truncate (microseconds) are lost, as with logrotate's copytruncate. While
//   the agent is down nothing rotates: the file grows until it is back. Like kubelet, a read shows the
//   current file only; a follower carries on across a rotation.
// - The log is the container's: it is kept, for --previous, as long as the container's record is.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LogOptions } from '../runtime.js';
import { LineSplitter, nowNs, renderLine, selectLines, sinceFilter, type LogLine } from './log-lines.js';

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_MAX_FILES = 5;
/** How often the agent looks at running containers' logs (their times' precision). */
export const LOG_POLL_MS = 250;
/** How often a follower looks for new lines. */
const FOLLOW_POLL_MS = 100;
/** Past this many index entries, the older half is thinned (their times get coarser). */
const INDEX_MAX_ENTRIES = 100_000;
const CHUNK = 64 * 1024;

interface Index {
  offsets: number[];
  stamps: bigint[];
}

export interface StampedLine extends LogLine {
  /** Offset just past the line in its file. */
  end: number;
  complete: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

function stampAt(index: Index, end: number): bigint {
  const { offsets, stamps } = index;
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid] >= end) hi = mid;
    else lo = mid + 1;
  }
  if (lo < offsets.length) return stamps[lo];
  return stamps.at(-1) ?? nowNs();
}

export class ContainerLog {
  readonly file: string;
  /** Bumped by every rotation, so followers in this process know the file started over. */
  generation = 0;
  private index?: Index;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly limits: { maxBytes: number; maxFiles: number } = { maxBytes: LOG_MAX_BYTES, maxFiles: LOG_MAX_FILES },
  ) {
    this.file = path.join(dir, 'log');
  }

  /** log.N, the N-th most recent rotated file. */
  rotated(n: number): string {
    return `${this.file}.${n}`;
  }

  /** The current file's size as of the last update. */
  get size(): number {
    return this.index?.offsets.at(-1) ?? 0;
  }

  /** Stamps what was written since the last look, and rotates past the size limit. One at a time. */
  update(): Promise<void> {
    const run = this.queue.then(() => this.updateNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async updateNow(): Promise<void> {
    const st = await fs.stat(this.file, { bigint: true }).catch(() => undefined);
    if (!st) return;
    const index = await this.currentIndex();
    const size = Number(st.size);
    if (size < this.size) {
      // Cut short by someone else: what is there now starts a new index.
      index.offsets = [];
      index.stamps = [];
      await fs.writeFile(`${this.file}.idx`, '');
    }
    if (size > this.size) {
      const prev = index.stamps.at(-1);
      const ns = prev !== undefined && st.mtimeNs < prev ? prev : st.mtimeNs;
      index.offsets.push(size);
      index.stamps.push(ns);
      if (index.offsets.length > INDEX_MAX_ENTRIES) await this.thin(index);
      else await fs.appendFile(`${this.file}.idx`, `${size} ${ns}\n`);
    }
    if (size > this.limits.maxBytes) await this.rotate();
  }

  private async currentIndex(): Promise<Index> {
    this.index ??= await this.loadIndex(this.file);
    return this.index;
  }

  async loadIndex(file: string): Promise<Index> {
    const text = await fs.readFile(`${file}.idx`, 'utf8').catch(() => '');
    const index: Index = { offsets: [], stamps: [] };
    for (const line of text.split('\n')) {
      const m = /^(\d+) (\d+)$/.exec(line);
      if (!m) continue;
      const offset = Number(m[1]);
      if (index.offsets.length && offset <= index.offsets.at(-1)!) continue;
      index.offsets.push(offset);
      index.stamps.push(BigInt(m[2]));
    }
    return index;
  }

  private async writeIndex(file: string, index: Index): Promise<void> {
    const tmp = `${file}.idx.tmp`;
    await fs.writeFile(tmp, index.offsets.map((o, i) => `${o} ${index.stamps[i]}\n`).join(''));
    await fs.rename(tmp, `${file}.idx`);
  }

  /** Drops every other entry of the older half: a long-lived chatty container's index stays bounded. */
  private async thin(index: Index): Promise<void> {
    const half = index.offsets.length >> 1;
    const keep = (_: unknown, i: number) => i >= half || i % 2 === 1;
    index.offsets = index.offsets.filter(keep);
    index.stamps = index.stamps.filter(keep);
    await this.writeIndex(this.file, index);
  }

  private async rotate(): Promise<void> {
    const { maxFiles } = this.limits;
    const index = await this.currentIndex();
    if (maxFiles >= 2) {
      const oldest = this.rotated(maxFiles - 1);
      await fs.rm(oldest, { force: true });
      await fs.rm(`${oldest}.idx`, { force: true });
      for (let n = maxFiles - 2; n >= 1; n--) {
        for (const suffix of ['', '.idx']) await fs.rename(`${this.rotated(n)}${suffix}`, `${this.rotated(n + 1)}${suffix}`).catch(() => undefined);
      }
      const to = this.rotated(1);
      await fs.copyFile(this.file, to);
      // What the program wrote meanwhile goes after it, a few passes at most; then the cut.
      let copied = (await fs.stat(to)).size;
      for (let pass = 0; pass < 5; pass++) {
        const size = (await fs.stat(this.file)).size;
        if (size <= copied) break;
        await appendRange(this.file, to, copied, size);
        copied = size;
      }
      const st = await fs.stat(this.file, { bigint: true });
      await fs.truncate(this.file, 0);
      if (copied > this.size) {
        const prev = index.stamps.at(-1) ?? 0n;
        index.offsets.push(copied);
        index.stamps.push(st.mtimeNs > prev ? st.mtimeNs : prev);
      }
      await this.writeIndex(to, index);
    } else {
      await fs.truncate(this.file, 0);
    }
    this.index = { offsets: [], stamps: [] };
    await fs.writeFile(`${this.file}.idx`, '');
    this.generation++;
  }

  /** The lines of `file` between two offsets, stamped from its index. */
  async *read(file: string, index: Index, from: number, to: number): AsyncGenerator<StampedLine> {
    if (to <= from) return;
    const handle = await fs.open(file, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      const split = new LineSplitter(from);
      const buf = Buffer.alloc(CHUNK);
      for (let pos = from; pos < to; ) {
        const { bytesRead } = await handle.read(buf, 0, Math.min(CHUNK, to - pos), pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        for (const l of split.push(buf.subarray(0, bytesRead))) yield { ns: stampAt(index, l.end), data: l.data, end: l.end, complete: true };
      }
      const rest = split.partial();
      if (rest) yield { ns: stampAt(index, split.offset), data: rest, end: split.offset, complete: false };
    } finally {
      await handle.close();
    }
  }

  /** Where the log ends now: a follower started from here sees only what comes after (attach). */
  async end(): Promise<{ pos: number; generation: number }> {
    await this.update();
    return { pos: this.size, generation: this.generation };
  }

  /**
   * The log as kubelet serves it: the current file's lines (tail, since, timestamps), then, following,
   * new lines as they are written until `running` says the container is gone. `from` (from end())
   * follows from there instead, for attach. An incomplete last line is held back while following
   * (kubelet sends whole lines).
   */
  async *stream(opts: LogOptions & { from?: { pos: number; generation: number } }, running: () => Promise<boolean>): AsyncGenerator<Buffer> {
    await this.update();
    let generation = opts.from?.generation ?? this.generation;
    let pos = opts.from?.pos ?? 0;
    const keep = sinceFilter(opts);
    if (!opts.from) {
      const index = await this.currentIndex();
      const self = this;
      const size = this.size;
      const source = async function* (): AsyncGenerator<LogLine> {
        for await (const line of self.read(self.file, index, 0, size)) {
          if (!line.complete && opts.follow) return;
          pos = line.end;
          yield line;
        }
      };
      const batch = new Batch();
      for await (const line of selectLines(source(), opts)) {
        const full = batch.add(renderLine(line, opts.timestamps));
        if (full) yield full;
      }
      const rest = batch.take();
      if (rest) yield rest;
      if (!opts.follow) return;
    }
    for (;;) {
      // Whether it still runs is asked before looking: all a finished program wrote is then in the file.
      const alive = await running();
      await this.update();
      if (this.generation !== generation) {
        // What was still to read went to log.N with the N rotations since (then log.N-1 ... log.1 whole),
        // as far as they are kept.
        for (let n = Math.min(this.generation - generation, this.limits.maxFiles - 1); n >= 1; n--) {
          const rotated = this.rotated(n);
          if (!(await exists(rotated))) continue;
          const from = n === this.generation - generation ? pos : 0;
          const size = (await fs.stat(rotated)).size;
          for await (const line of this.read(rotated, await this.loadIndex(rotated), from, size)) if (keep(line)) yield renderLine(line, opts.timestamps);
        }
        pos = 0;
        generation = this.generation;
      } else if (this.size < pos) {
        pos = 0; // cut short by someone else
      }
      const index = await this.currentIndex();
      const batch = new Batch();
      for await (const line of this.read(this.file, index, pos, this.size)) {
        if (!line.complete && alive) break;
        pos = line.end;
        const full = keep(line) && batch.add(renderLine(line, opts.timestamps));
        if (full) yield full;
      }
      const rest = batch.take();
      if (rest) yield rest;
      if (!alive) return;
      await sleep(FOLLOW_POLL_MS);
    }
  }
}

/** Lines gathered into chunks of some size: a long log is not sent a line at a time. */
class Batch {
  private parts: Buffer[] = [];
  private bytes = 0;

  /** The chunk once it is full. */
  add(part: Buffer): Buffer | undefined {
    this.parts.push(part);
    this.bytes += part.length;
    return this.bytes >= CHUNK ? this.take() : undefined;
  }

  take(): Buffer | undefined {
    if (!this.parts.length) return undefined;
    const out = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    this.bytes = 0;
    return out;
  }
}

async function appendRange(from: string, to: string, start: number, end: number): Promise<void> {
  const src = await fs.open(from, 'r');
  const dst = await fs.open(to, 'a');
  try {
    const buf = Buffer.alloc(CHUNK);
    for (let pos = start; pos < end; ) {
      const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK, end - pos), pos);
      if (bytesRead === 0) break;
      await dst.write(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await src.close();
    await dst.close();
  }
}

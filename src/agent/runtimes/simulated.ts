// The simulated runtime (as KWOK's default stages): a container "starts" after a delay and runs
// until it is stopped; nothing is executed. Pods get addresses from the node's podCIDR. Used for
// scale tests and demos (`skiff agent --simulate N`).
//
// So that logs, exec, attach and top can be exercised on simulated nodes, each container has a few log
// lines the simulator writes (started, stopped), exec runs a tiny built-in set of commands (see
// runBuiltin), attach waits for the container to stop, and usage is a deterministic function of time.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerInfo,
  type ContainerUsage,
  type ExecResult,
  type ExecSession,
  type LogOptions,
  type Runtime,
  type Sandbox,
  type SandboxConfig,
} from '../runtime.js';
import { nowNs, renderLine, selectLines, sinceFilter, type LogLine } from './log-lines.js';
import type { Usage } from './proc-usage.js';

/** What a simulated container uses: its CPU limit (else 1m) all the time, and 4 MiB. */
const MEMORY_BYTES = 4 * 1024 * 1024;
const DEFAULT_CPU_MILLIS = 1;
/** The simulated node's own use, beside its containers'. */
const NODE_CPU_MILLIS = 5;
const NODE_MEMORY_BYTES = 32 * 1024 * 1024;

interface Simulated {
  cpuMillis: number;
  startNs: bigint;
  stopNs?: bigint;
  lines: LogLine[];
  /** 'line' (a LogLine), 'exit'. */
  events: EventEmitter;
}

/** CPU nanoseconds used at `millis` millicores from start to end. */
function cpuBetween(millis: number, start: bigint, end: bigint): number {
  return Math.round((Number(end - start) * millis) / 1000);
}

export class SimulatedRuntime implements Runtime {
  readonly name = 'simulated' as const;
  readonly podNetwork = true;
  private containers = new Map<string, ContainerInfo>();
  private sims = new Map<string, Simulated>();
  private ips = new Map<string, string>();
  private nextHost = 2;
  private readonly bornNs = nowNs();
  /** CPU of containers that are gone, so the node's cumulative CPU never goes back. */
  private retiredCpuNs = 0;

  constructor(
    /** podCIDR: the node's, once it has one (asked again until then). */
    private readonly opts: { startDelayMs: number; podCIDR?: () => Promise<string | undefined> },
  ) {}

  async version(): Promise<string> {
    return 'simulated://1.0';
  }

  async ensureSandbox(pod: SandboxConfig): Promise<Sandbox> {
    let ip = this.ips.get(pod.uid);
    if (!ip) {
      ip = addressIn((await this.opts.podCIDR?.()) ?? '10.254.0.0/16', this.nextHost++);
      this.ips.set(pod.uid, ip);
    }
    return { ip };
  }

  async removeSandbox(podUid: string): Promise<void> {
    this.ips.delete(podUid);
    for (const [id, c] of this.containers) if (c.podUid === podUid) this.forget(id);
  }

  async ensureImage(image: string): Promise<string> {
    return `simulated://${image}`;
  }

  async startContainer(pod: SandboxConfig, c: ContainerConfig): Promise<ContainerInfo> {
    if (this.opts.startDelayMs > 0) await new Promise((r) => setTimeout(r, this.opts.startDelayMs));
    const info: ContainerInfo = {
      id: `simulated://${randomUUID()}`,
      podUid: pod.uid,
      name: c.name,
      attempt: c.attempt,
      init: c.init,
      // Init containers complete at once; the others run until stopped.
      state: c.init ? 'exited' : 'running',
      startedAt: new Date().toISOString(),
      ...(c.init ? { finishedAt: new Date().toISOString(), exitCode: 0, reason: 'Completed' } : {}),
      image: c.image,
      imageID: `simulated://${c.image}`,
    };
    const sim: Simulated = { cpuMillis: c.cpuLimitMillis || DEFAULT_CPU_MILLIS, startNs: nowNs(), lines: [], events: new EventEmitter() };
    sim.events.setMaxListeners(0);
    this.containers.set(info.id, info);
    this.sims.set(info.id, sim);
    this.say(sim, `simulated container ${c.name} started`);
    if (c.init) this.finish(info.id, `simulated container ${c.name} completed`);
    return info;
  }

  private say(sim: Simulated, text: string): void {
    const line = { ns: nowNs(), data: Buffer.from(`${text}\n`) };
    sim.lines.push(line);
    sim.events.emit('line', line);
  }

  /** The container stops: its last line, then the end of followers and attach sessions. */
  private finish(id: string, text: string): void {
    const sim = this.sims.get(id);
    if (!sim || sim.stopNs !== undefined) return;
    this.say(sim, text);
    sim.stopNs = nowNs();
    sim.events.emit('exit');
  }

  private forget(id: string): void {
    const c = this.containers.get(id);
    if (c) this.finish(id, `simulated container ${c.name} removed`);
    const sim = this.sims.get(id);
    if (sim) this.retiredCpuNs += cpuBetween(sim.cpuMillis, sim.startNs, sim.stopNs ?? nowNs());
    this.containers.delete(id);
    this.sims.delete(id);
  }

  async listContainers(podUid?: string): Promise<ContainerInfo[]> {
    return [...this.containers.values()].filter((c) => podUid === undefined || c.podUid === podUid);
  }

  async stopContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c?.state === 'running') {
      Object.assign(c, { state: 'exited', finishedAt: new Date().toISOString(), exitCode: 0, reason: 'Completed' });
      this.finish(id, `simulated container ${c.name} stopped`);
    }
  }

  async removeContainer(id: string): Promise<void> {
    this.forget(id);
  }

  async exec(): Promise<ExecResult> {
    return { exitCode: 0, output: '' };
  }

  /** The lines the simulator wrote for the container; following, new ones until it stops. */
  async logs(id: string, opts: LogOptions): Promise<Readable> {
    const sim = this.sims.get(id);
    if (!sim) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
    const keep = sinceFilter(opts);
    let onLine: ((line: LogLine) => void) | undefined;
    const cleanup = () => {
      if (onLine) sim.events.off('line', onLine);
      sim.events.off('exit', onExit);
    };
    const out = new Readable({
      read() {},
      destroy(err, cb) {
        cleanup();
        cb(err);
      },
    });
    const onExit = () => {
      cleanup();
      out.push(null);
    };
    for await (const line of selectLines(sim.lines.slice(), opts)) out.push(renderLine(line, opts.timestamps));
    if (!opts.follow || sim.stopNs !== undefined) out.push(null);
    else {
      onLine = (line) => {
        if (keep(line)) out.push(renderLine(line, opts.timestamps));
      };
      sim.events.on('line', onLine);
      sim.events.once('exit', onExit);
    }
    return out;
  }

  private runningSim(id: string): Simulated {
    const c = this.containers.get(id);
    const sim = this.sims.get(id);
    if (!c || !sim) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
    if (c.state !== 'running') throw new RuntimeError('ContainerNotRunning', `container ${c.name} is not running`);
    return sim;
  }

  /** Runs one of the built-in commands (runBuiltin); anything else exits 126. */
  async execStream(id: string, command: string[], opts: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    this.runningSim(id);
    return runBuiltin(command, opts);
  }

  /** Nothing comes out of a simulated container: the streams end, with its exit code, when it stops. */
  async attach(id: string, opts: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const sim = this.runningSim(id);
    const stdout = new PassThrough();
    const stderr = opts.tty ? undefined : new PassThrough();
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      sim.events.off('exit', onExit);
      stdout.end();
      stderr?.end();
    };
    let settle: (code: number) => void = () => undefined;
    const exit = new Promise<number>((resolve) => (settle = resolve));
    const onExit = () => {
      end();
      settle(this.containers.get(id)?.exitCode ?? 0);
    };
    sim.events.once('exit', onExit);
    return {
      stdin: opts.stdin ? discard() : undefined,
      stdout,
      stderr,
      resize: () => undefined,
      exit,
      close: end,
    };
  }

  /** Running containers' usage: their CPU limit (or 1m) the whole time they ran, 4 MiB each. */
  async usage(): Promise<ContainerUsage[]> {
    const now = nowNs();
    const out: ContainerUsage[] = [];
    for (const [id, c] of this.containers) {
      const sim = this.sims.get(id);
      if (c.state !== 'running' || !sim) continue;
      out.push({ id, cpuNanoSeconds: cpuBetween(sim.cpuMillis, sim.startNs, now), memoryBytes: MEMORY_BYTES });
    }
    return out;
  }

  /** The simulated node's usage (not the host's): its own 5m and 32 MiB plus its containers'. */
  async nodeUsage(): Promise<Usage> {
    const now = nowNs();
    let cpu = this.retiredCpuNs + cpuBetween(NODE_CPU_MILLIS, this.bornNs, now);
    let memory = NODE_MEMORY_BYTES;
    for (const [id, c] of this.containers) {
      const sim = this.sims.get(id);
      if (!sim) continue;
      cpu += cpuBetween(sim.cpuMillis, sim.startNs, sim.stopNs ?? now);
      if (c.state === 'running') memory += MEMORY_BYTES;
    }
    return { cpuNanoSeconds: cpu, memoryBytes: memory };
  }

  async close(): Promise<void> {}
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

/** Words of a `sh -c` script, with '' and "" quoting; undefined for anything beyond one simple command. */
function words(script: string): string[] | undefined {
  const out: string[] = [];
  const re = /\s*(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"]+))/gy;
  let word: string | undefined;
  let at = 0;
  for (let m = re.exec(script); m && m[0]; m = re.exec(script)) {
    const gap = /^\s/.test(m[0]);
    if (gap && word !== undefined) {
      out.push(word);
      word = undefined;
    }
    if (m[3] !== undefined && /[;&|<>`$()]/.test(m[3])) return undefined;
    word = (word ?? '') + (m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? m[3] ?? '');
    at = re.lastIndex;
  }
  if (script.slice(at).trim()) return undefined;
  if (word !== undefined) out.push(word);
  return out;
}

/**
 * The commands a simulated container runs: `echo ARGS...`, `cat` (stdin to stdout), `exit N`, `true`,
 * `false`, each also as `sh -c '...'`. Anything else exits 126 with `simulated runtime: cannot run "CMD"`
 * on stderr. With a terminal, output lines end in CRLF as a pty's would, and stderr goes to stdout.
 */
export function runBuiltin(command: string[], opts: { stdin: boolean; tty: boolean }): ExecSession {
  let argv: string[] | undefined = command;
  if (/^(\/bin\/|\/usr\/bin\/)?(sh|bash|ash|dash)$/.test(command[0] ?? '') && command[1] === '-c' && command.length >= 3) argv = words(command[2]);
  const out = new PassThrough();
  const stdout: Readable = opts.tty ? out.pipe(crlf()) : out;
  const err = opts.tty ? out : new PassThrough();
  const stdin = opts.stdin ? new PassThrough() : undefined;
  let settle: (code: number) => void = () => undefined;
  const exit = new Promise<number>((resolve) => (settle = resolve));
  let ended = false;
  const finish = (code: number) => {
    if (ended) return;
    ended = true;
    if (stdin && !stdin.readableEnded) stdin.resume(); // what is still written goes nowhere
    out.end();
    if (err !== out) err.end();
    settle(code);
  };
  const [name, ...args] = argv ?? [];
  const base = name?.replace(/^.*\//, '');
  // Run once the caller has the session (and its streams) in hand.
  queueMicrotask(() => {
    if (ended) return; // closed before it ran
    if (argv && base === 'echo') {
      const noNewline = args[0] === '-n';
      out.write(`${(noNewline ? args.slice(1) : args).join(' ')}${noNewline ? '' : '\n'}`);
      finish(0);
    } else if (argv && base === 'cat' && args.length === 0) {
      if (!stdin) return finish(0);
      stdin.on('data', (chunk: Buffer) => ended || out.write(chunk));
      stdin.once('end', () => finish(0));
    } else if (argv && base === 'exit' && args.length <= 1 && (args.length === 0 || /^\d+$/.test(args[0]))) {
      finish(Number(args[0] ?? 0) & 255);
    } else if (argv && base === 'true' && args.length === 0) {
      finish(0);
    } else if (argv && base === 'false' && args.length === 0) {
      finish(1);
    } else {
      err.write(`simulated runtime: cannot run "${command.join(' ')}"\n`);
      finish(126);
    }
  });
  return {
    stdin,
    stdout,
    stderr: opts.tty ? undefined : err,
    resize: () => undefined,
    exit,
    close: () => finish(137),
  };
}

/** \n to \r\n, as a terminal's output processing does. */
function crlf(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, Buffer.from(chunk.toString('latin1').replace(/(?<!\r)\n/g, '\r\n'), 'latin1'));
    },
  });
}

/** The n-th address of an IPv4 CIDR (wrapping within it). */
export function addressIn(cidr: string, n: number): string {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const start = base.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const host = 2 + ((n - 2) % Math.max(1, size - 3));
  const v = start + host;
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

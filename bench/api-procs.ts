// The processes `npm run bench:api` starts (`skiff serve --no-agent`, `skiff agent --simulate N`,
// one-shot `skiff token create`), each through bin/skiff.js on this Node.js, so the pid is skiff's own
// and its CPU can be read from /proc. Every child is tracked and killed, and every temp folder
// removed, when this process exits: at the end, on failure, or on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ApiClient } from './client.js';

const skiffBin = fileURLToPath(new URL('../bin/skiff.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;

/** Every child still running, with the promise of its exit. */
const children = new Map<ChildProcess, Promise<void>>();
const tempDirs = new Set<string>();

function killChildren(): void {
  for (const child of children.keys()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function removeTempDirs(): void {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    } catch (err) {
      console.error(`bench:api: could not remove ${dir}: ${(err as Error).message}`);
    }
  }
  tempDirs.clear();
}

// Last resort, synchronous: whatever is still running is killed, and the folders go.
process.once('exit', () => {
  killChildren();
  removeTempDirs();
});
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `on`, not `once`: Ctrl-C reaches this process twice (from the terminal, and relayed by tsx's
  // launcher), and a second signal's default action would end it before the clean-up.
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench:api: ${signal}, stopping what it started`);
    killChildren();
    // The folders go once the children are gone, so none writes into one being removed.
    const gone = Promise.all(children.values());
    void Promise.race([gone, sleep(5000)]).then(() => {
      removeTempDirs();
      process.exit(130);
    });
  });
}

/** A temp folder removed when this process exits (or earlier, by removeTempDir). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  tempDirs.delete(dir);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  pid: number;
  output(): string;
  exited: Promise<void>;
  alive(): boolean;
  /** The exit code, or the signal that ended it, or null while it runs. */
  exitCode(): number | string | null;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

function spawnSkiff(args: string[]): Proc {
  const child = spawn(process.execPath, [skiffBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  children.set(child, exited);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-100_000)));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-100_000)));
  void exited.then(() => children.delete(child));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid!,
    output: () => output,
    exited,
    alive,
    exitCode: () => child.exitCode ?? child.signalCode,
    async stop(graceMs = 15_000) {
      if (!alive()) return;
      const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(force);
    },
  };
}

/** Resolves with the match once `pattern` shows in the output; rejects if the process exits first or time runs out. */
function waitOutput(p: Proc, pattern: RegExp, what: string, timeoutMs = START_TIMEOUT_MS): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error, m?: RegExpExecArray) => {
      clearTimeout(timer);
      clearInterval(poll);
      if (err) reject(err);
      else resolve(m!);
    };
    const check = () => {
      const m = pattern.exec(p.output());
      if (m) done(undefined, m);
      return m;
    };
    const timer = setTimeout(() => done(new Error(`${what} did not start within ${timeoutMs / 1000} s:\n${p.output().slice(-3000)}`)), timeoutMs);
    const poll = setInterval(check, 10);
    void p.exited.then(() => check() ?? done(new Error(`${what} exited before it was up:\n${p.output().slice(-3000)}`)));
  });
}

export interface Server {
  url: string;
  data: string;
  /** The admin bearer token. */
  token: string;
  ca: string;
  proc: Proc;
  /** A join token from `skiff token create`. */
  joinToken(): Promise<string>;
  stop(): Promise<void>;
}

/** `skiff serve --no-agent` (and `flags`) on 127.0.0.1 and a free port, with its state in `data`; resolves once it answers /healthz. */
export async function startServer(data: string, flags: string[] = []): Promise<Server> {
  const proc = spawnSkiff(['serve', '--data', data, '--listen', '127.0.0.1:0', '--no-agent', ...flags]);
  let url: string;
  try {
    [, url] = (await waitOutput(proc, /skiff serving (https:\/\/\S+)/, 'skiff serve')) as unknown as [string, string];
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  const token = readFileSync(join(data, 'token'), 'utf8').trim();
  const ca = readFileSync(join(data, 'ca.crt'), 'utf8');
  const api = new ApiClient(url, token, ca, 1);
  try {
    for (let attempt = 0; ; attempt++) {
      const status = await api.request('GET', '/healthz').then((r) => r.status, () => 0);
      if (status === 200) break;
      if (attempt > 100) throw new Error(`skiff serve at ${url} is not healthy:\n${proc.output().slice(-3000)}`);
      await sleep(100);
    }
  } finally {
    api.close();
  }
  return {
    url,
    data,
    token,
    ca,
    proc,
    joinToken: async () => (await runToEnd(['token', 'create', '--data', data])).trim().split('\n').pop()!.trim(),
    stop: () => proc.stop(),
  };
}

async function runToEnd(args: string[]): Promise<string> {
  const p = spawnSkiff(args);
  const timer = setTimeout(() => void p.stop(1000), 60_000);
  await p.exited;
  clearTimeout(timer);
  if (p.exitCode() !== 0) throw new Error(`skiff ${args.join(' ')} failed (${p.exitCode()}):\n${p.output()}`);
  return p.output();
}

export interface Agent extends Proc {
  /** performance.now() when it was spawned. */
  spawnedAt: number;
  /** Resolves with performance.now() once it printed that it runs (every simulated node joined). */
  ready: Promise<number>;
}

/** `skiff agent --simulate N` joined to `server` with a join token, its state in `data`. */
export function startSimulatedAgent(server: Server, token: string, nodes: number, data: string): Agent {
  const spawnedAt = performance.now();
  const proc = spawnSkiff([
    'agent', '--server', server.url, '--token', token, '--ca-cert', join(server.data, 'ca.crt'), '--data', data,
    '--name', 'sim', '--runtime', 'simulated', '--simulate', String(nodes),
  ]);
  const ready = waitOutput(proc, /skiff agent running/, 'skiff agent', 600_000).then(() => performance.now());
  ready.catch(() => {});
  return { ...proc, spawnedAt, ready };
}

// ---- CPU

const CLK_TCK = 100; // USER_HZ, the unit of /proc/PID/stat's utime and stime on Linux

/** CPU seconds (user + system, all threads) a process has used, from /proc/PID/stat; NaN when it is gone. */
export function processCpuSeconds(pid: number): number {
  return cpuOfStat(`/proc/${pid}/stat`);
}

/** CPU seconds of a process's main thread alone (Node.js's event loop: HTTP, JSON, the API's handlers). */
export function mainThreadCpuSeconds(pid: number): number {
  return cpuOfStat(`/proc/${pid}/task/${pid}/stat`);
}

function cpuOfStat(file: string): number {
  try {
    const text = readFileSync(file, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state); utime is 14, stime 15
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** What the server's GET /metrics says of its reconcile passes (undefined when it has no such endpoint yet). */
export interface PassMetrics {
  passes: number;
  /** CPU seconds of the thread passes run on. */
  cpuSeconds: number;
}

function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export async function passMetrics(api: ApiClient): Promise<PassMetrics | undefined> {
  const reply = await api.request('GET', '/metrics');
  if (reply.status === 404) return undefined;
  if (reply.status !== 200) throw new Error(`GET /metrics: status ${reply.status}: ${reply.body.slice(0, 300)}`);
  const passes = metricValue(reply.body, 'skiff_reconcile_passes_total');
  const cpuSeconds = metricValue(reply.body, 'skiff_reconcile_pass_cpu_seconds_total');
  if (passes === undefined || cpuSeconds === undefined) return undefined;
  return { passes, cpuSeconds };
}

/** A reading of the server's load: pass metrics when /metrics has them, and the whole process's CPU. */
export interface Load {
  at: number;
  metrics?: PassMetrics;
  processCpuS: number;
  mainThreadCpuS: number;
}

export async function readLoad(api: ApiClient, pid: number): Promise<Load> {
  const metrics = await passMetrics(api);
  return { at: performance.now(), metrics, processCpuS: processCpuSeconds(pid), mainThreadCpuS: mainThreadCpuSeconds(pid) };
}

/** The load between two readings: passes run and the share of a core they used, and the whole process's share. */
export interface LoadDelta {
  seconds: number;
  passes?: number;
  /** Pass CPU seconds over wall seconds (from /metrics), undefined without it. */
  passCore?: number;
  /** The server process's CPU seconds (every thread) over wall seconds, from /proc. */
  processCore: number;
  /** Its main thread's alone. */
  mainThreadCore: number;
}

export function loadBetween(a: Load, b: Load): LoadDelta {
  const seconds = (b.at - a.at) / 1000;
  const both = a.metrics && b.metrics;
  return {
    seconds,
    passes: both ? b.metrics!.passes - a.metrics!.passes : undefined,
    passCore: both ? (b.metrics!.cpuSeconds - a.metrics!.cpuSeconds) / seconds : undefined,
    processCore: (b.processCpuS - a.processCpuS) / seconds,
    mainThreadCore: (b.mainThreadCpuS - a.mainThreadCpuS) / seconds,
  };
}

/** The counters of /metrics move when a pass ends: a pass still running when the step ended is not counted in it. */
export function describeLoad(d: LoadDelta): string {
  const passes = d.passCore === undefined ? 'no /metrics' : `${d.passes} passes ended, ${d.passCore.toFixed(2)} core in them`;
  return `${passes}; server process ${d.processCore.toFixed(2)} core (main thread ${d.mainThreadCore.toFixed(2)})`;
}

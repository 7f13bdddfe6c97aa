// The processes `npm run bench:agent` starts: `skiff serve`, `skiff dev` (wrangler dev and its
// libSQL endpoint), `skiff agent`, one-shot `skiff token create`; their CPU and resident memory read
// from /proc; and the clean-up of what process-runtime agents leave running (their pods' processes,
// network namespaces, veths, bridge and iptables rules), as test/helpers/agent.ts cleanUpAgents does.
// Every child is tracked and killed when this process exits, also on failure or a signal.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bridgeFor } from '../src/agent/agent.js';
import { PodNetwork, hostVethName, netnsName } from '../src/agent/runtimes/pod-network.js';
import { ProcessRuntime } from '../src/agent/runtimes/process.js';
import { ApiClient } from './client.js';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const START_TIMEOUT_MS = 90_000;

// ---- bookkeeping: everything started here is stopped at exit

interface Tracked {
  child: ChildProcess;
  /** Also kill these process groups (wrangler's). */
  groups: number[];
  detached: boolean;
}
const children = new Set<Tracked>();
/** Agent data folders (DIR/agent) whose process-runtime pods must not outlive the benchmark. */
const agentDirs = new Set<string>();
const tempDirs: string[] = [];

function killTracked(t: Tracked): void {
  for (const g of [...(t.detached && t.child.pid ? [t.child.pid] : []), ...t.groups]) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGKILL');
}

/** Last resort at exit (synchronous): kill every child, the pods agents left, remove their namespaces and bridges. */
function cleanUpSync(): void {
  for (const t of children) killTracked(t);
  for (const dir of agentDirs) rebootPods(dir, { bridge: true });
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.once('exit', cleanUpSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nbench:agent: ${signal}, cleaning up`);
    void cleanUpAll().finally(() => process.exit(130));
  });
}

/** Stops every child still running and cleans up the pods of every agent started (async, as cleanUpAgents). */
export async function cleanUpAll(): Promise<void> {
  for (const t of children) killTracked(t);
  await cleanUpAgents();
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- children

export interface Proc {
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<void>;
  alive(): boolean;
  /** Sends the signal (SIGKILL by default) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function spawnCli(args: string[], opts: { detached?: boolean; env?: Record<string, string>; built?: boolean } = {}): Proc {
  // node --import tsx, not the tsx CLI: one process, so the pid read from /proc is skiff's own.
  // `built`: the CLI `npm run build` made (dist/cli.js), run by plain Node.js.
  const entry = opts.built ? ['dist/cli.js'] : ['--import', 'tsx', 'src/node/cli.ts'];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: repoRoot,
    detached: opts.detached ?? false,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tracked: Tracked = { child, groups: [], detached: opts.detached ?? false };
  children.add(tracked);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    if (!tracked.detached) children.delete(tracked);
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (alive()) child.kill(signal);
    await exited;
  };
  return {
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    alive,
    kill,
    async stop(graceMs = 15_000) {
      const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await kill('SIGTERM');
      } finally {
        clearTimeout(force);
      }
    },
  };
}

/** Resolves when `pattern` shows in the output; rejects if the process exits first or time runs out. */
function waitOutput(p: Proc, pattern: RegExp, what: string, timeoutMs = START_TIMEOUT_MS): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`${what} did not start within ${timeoutMs / 1000} s:\n${p.output().slice(-3000)}`));
    }, timeoutMs);
    const check = () => {
      const m = pattern.exec(p.output());
      if (!m) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(m);
    };
    const poll = setInterval(check, 5);
    void p.exited.then(() => {
      check();
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`${what} exited before it was up:\n${p.output().slice(-3000)}`));
    });
  });
}

/** A control plane the benchmark talks to: `skiff serve` or `skiff dev`. */
export interface Home {
  kind: 'serve' | 'dev';
  url: string;
  data: string;
  /** The admin bearer token. */
  token: string;
  ca: string;
  api: ApiClient;
  /** What the control plane printed so far. */
  output(): string;
  /** Process ids whose CPU and memory count as the control plane's (with their descendants). */
  rootPids(): number[];
  joinToken(): Promise<string>;
  stop(): Promise<void>;
}

async function runToEnd(args: string[]): Promise<string> {
  const p = spawnCli(args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
  await p.exited;
  clearTimeout(timer);
  if (p.child.exitCode !== 0) throw new Error(`skiff ${args.join(' ')} failed (${p.child.exitCode ?? p.child.signalCode}):\n${p.output()}`);
  return p.output();
}

/** A control plane that printed it serves at `url`: its credentials from the data folder, once healthy. */
async function homeOf(kind: Home['kind'], p: Proc, url: string, data: string, concurrency: number, tokenArgs: string[], stop: () => Promise<void>): Promise<Home> {
  const ca = readFileSync(join(data, 'ca.crt'), 'utf8');
  const token = readFileSync(join(data, 'token'), 'utf8').trim();
  const api = new ApiClient(url, token, ca, concurrency);
  await waitHealthy(api);
  return {
    kind,
    url,
    data,
    token,
    ca,
    api,
    output: () => p.output(),
    rootPids: () => [p.pid],
    joinToken: async () => (await runToEnd(['token', 'create', '--data', data, ...tokenArgs])).trim().split('\n').pop()!,
    async stop() {
      api.close();
      await stop();
    },
  };
}

/** `skiff serve` on 127.0.0.1 (a free port unless `listen` says), no local node. */
export async function startServe(data: string, args: string[] = [], listen = '127.0.0.1:0', concurrency = 16): Promise<Home> {
  const p = spawnCli(['serve', '--listen', listen, '--data', data, '--no-agent', ...args]);
  const [, url] = await waitOutput(p, /skiff serving (https:\/\/\S+)/, 'skiff serve');
  return homeOf('serve', p, url!, data, concurrency, [], () => p.stop());
}

/** `skiff dev`: wrangler dev (workerd) on a free port, over a local libSQL endpoint serving DIR/edge.db. */
export async function startDev(data: string, concurrency = 16): Promise<Home> {
  const port = await freePort();
  // Its own process group (as test/e2e/dev.test.ts), so stopping reaches whatever it leaves running.
  const p = spawnCli(['dev', '--port', String(port), '--data', data], { detached: true });
  await waitOutput(p, /skiff dev serving/, 'skiff dev');
  const tracked = [...children].find((t) => t.child === p.child)!;
  // wrangler's launcher is skiff dev's child and leads the process group wrangler and workerd run in.
  const kids = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(p.pid)], { encoding: 'utf8' }).split('\n');
  const wranglerGroup = Number(kids.find((line) => line.includes('wrangler'))?.trim().split(/\s+/)[0]);
  if (wranglerGroup > 0) tracked.groups.push(wranglerGroup);
  return homeOf('dev', p, `https://127.0.0.1:${port}`, data, concurrency, ['--url', `file:${join(data, 'edge.db')}`], async () => {
    await p.stop(20_000);
    killTracked(tracked); // whatever of wrangler's group lingers
    children.delete(tracked);
  });
}

async function waitHealthy(api: ApiClient): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      if ((await api.request('GET', '/healthz')).status === 200) return;
    } catch (err) {
      if (attempt > 100) throw err;
    }
    if (attempt > 100) throw new Error('the control plane is not healthy');
    await sleep(100);
  }
}

export interface AgentStart {
  home: { url: string; data: string };
  /** Not needed once the data folder holds the node's credential. */
  token?: string;
  name: string;
  /** --data; the agent keeps its state in DATA/agent. */
  data: string;
  runtime: 'process' | 'simulated';
  args?: string[];
  /** Run dist/cli.js (`npm run build`) with plain Node.js instead of the sources through tsx. */
  built?: boolean;
}

export interface AgentProc extends Proc {
  /** performance.now() when it was spawned. */
  spawnedAt: number;
  /** Resolves with performance.now() once it printed that it runs. */
  ready: Promise<number>;
}

export function startAgent(opts: AgentStart): AgentProc {
  const args = ['agent', '--server', opts.home.url, '--ca-cert', join(opts.home.data, 'ca.crt'), '--name', opts.name, '--data', opts.data, '--runtime', opts.runtime];
  if (opts.token) args.push('--token', opts.token);
  if (opts.runtime === 'process') agentDirs.add(join(opts.data, 'agent'));
  const spawnedAt = performance.now();
  const p = spawnCli([...args, ...(opts.args ?? [])], { built: opts.built });
  const ready = waitOutput(p, /skiff agent running/, 'skiff agent', 600_000).then(() => performance.now());
  ready.catch(() => {});
  return { ...p, spawnedAt, ready };
}

// ---- /proc

const CLK_TCK = 100;

/** VmRSS of one process, bytes (NaN when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

function statOf(pid: number): { ppid: number; cpuMs: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return { ppid: Number(f[1]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** The processes of the trees rooted at `roots` (the roots included). */
export function treeOf(roots: number[]): number[] {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = statOf(Number(name));
    if (s) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const stack = [...roots];
  while (stack.length) {
    const pid = stack.pop()!;
    if (out.includes(pid)) continue;
    out.push(pid);
    stack.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

/** CPU time (user + system, ms) and resident memory (bytes) of process trees, summed. */
export function usageOf(roots: number[]): { cpuMs: number; rss: number; processes: number; rssByCommand: Map<string, number> } {
  let cpuMs = 0;
  let rss = 0;
  const rssByCommand = new Map<string, number>();
  const pids = treeOf(roots);
  for (const pid of pids) {
    cpuMs += statOf(pid)?.cpuMs ?? 0;
    const r = rssOf(pid) || 0;
    rss += r;
    let command = '?';
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      command = /workerd$/.test(args[0]) ? 'workerd' : args.some((a) => a.includes('wrangler')) ? 'wrangler' : args.includes('src/node/cli.ts') ? 'skiff' : args[0].split('/').pop()!;
    } catch {
      // gone
    }
    rssByCommand.set(command, (rssByCommand.get(command) ?? 0) + r);
  }
  return { cpuMs, rss, processes: pids.length, rssByCommand };
}

// ---- process-runtime pods

interface ContainerRecordLite {
  pid?: number;
  netns?: string;
  podUid: string;
}

function containerRecords(agentDir: string): ContainerRecordLite[] {
  const dir = join(agentDir, 'containers');
  if (!existsSync(dir)) return [];
  const out: ContainerRecordLite[] = [];
  for (const id of readdirSync(dir)) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, id, 'record.json'), 'utf8')));
    } catch {
      // not a container folder (network/, sandboxes/)
    }
  }
  return out;
}

function podCIDROf(agentDir: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(agentDir, 'node.json'), 'utf8')).podCIDR;
  } catch {
    return undefined;
  }
}

function quiet(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function succeeds(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * What a reboot does to an agent's pods: every pod process killed, the pods' network namespaces and
 * veths gone, and (with `bridge`) the node's bridge gone. The agent's data folder (its pod records,
 * container records and address allocations) is left as it is on disk.
 */
export function rebootPods(agentDir: string, opts: { bridge?: boolean } = {}): { killed: number; namespaces: number } {
  let killed = 0;
  const namespaces = new Set<string>();
  for (const rec of containerRecords(agentDir)) {
    if (rec.pid) {
      try {
        process.kill(-rec.pid, 'SIGKILL');
        killed++;
      } catch {
        try {
          process.kill(rec.pid, 'SIGKILL');
          killed++;
        } catch {
          // gone already
        }
      }
    }
    // Only a pod's own namespace: a host-network pod's record may name the host's (skiffhost-...).
    if (rec.netns?.startsWith('skiff-')) namespaces.add(rec.netns);
    if (rec.podUid) namespaces.add(netnsName(rec.podUid));
  }
  let removed = 0;
  for (const ns of namespaces) {
    if (!existsSync(join('/run/netns', ns))) continue;
    for (const pid of quiet('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
        killed++;
      } catch {
        // gone
      }
    }
    quiet('ip', ['netns', 'delete', ns]);
    removed++;
  }
  for (const rec of containerRecords(agentDir)) if (rec.podUid) quiet('ip', ['link', 'del', 'dev', hostVethName(rec.podUid)]);
  const cidr = podCIDROf(agentDir);
  if (opts.bridge && cidr) {
    const bridge = bridgeFor(cidr);
    quiet('ip', ['link', 'del', 'dev', bridge]);
    const rule = ['FORWARD', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `skiff ${bridge}`, '-j', 'ACCEPT'];
    for (let i = 0; i < 5 && succeeds('iptables', ['-C', ...rule]); i++) succeeds('iptables', ['-D', ...rule]);
  }
  return { killed, namespaces: removed };
}

/** Stops the pods agents left running and removes their namespaces, bridges and rules (cleanUpAgents' way). */
export async function cleanUpAgents(): Promise<void> {
  for (const dir of agentDirs) {
    const podCIDR = podCIDROf(dir);
    const containers = join(dir, 'containers');
    const net = podCIDR ? new PodNetwork({ podCIDR, dataDir: join(containers, 'network'), bridge: bridgeFor(podCIDR) }) : undefined;
    const runtime = new ProcessRuntime({ dataDir: containers, podNetwork: net });
    for (const c of await runtime.listContainers().catch(() => [])) {
      if (c.state === 'running') await runtime.stopContainer(c.id, 0).catch(() => {});
    }
    if (net) {
      for (const uid of await net.pods()) await net.removePod(uid).catch(() => {});
      await net.teardown().catch(() => {});
    }
    rebootPods(dir, { bridge: true }); // anything the runtime's records missed
  }
}

/** The process exists and is not a zombie. */
function isLive(pid: number): boolean {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** What is left of an agent's pods: live container processes, network namespaces, its bridge. */
export function leftBehind(agentDir: string): { processes: number; namespaces: number; bridge: boolean } {
  let processes = 0;
  let namespaces = 0;
  for (const rec of containerRecords(agentDir)) {
    if (rec.pid && isLive(rec.pid)) processes++;
    if (existsSync(join('/run/netns', netnsName(rec.podUid)))) namespaces++;
  }
  const cidr = podCIDROf(agentDir);
  const bridge = !!cidr && quiet('ip', ['link', 'show', 'dev', bridgeFor(cidr)]) !== '';
  return { processes, namespaces, bridge };
}

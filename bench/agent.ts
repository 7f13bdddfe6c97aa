// `npm run bench:agent`: the node agent (`skiff agent`) end to end, against real control planes on
// loopback. Four tables:
//   1. pod startup latency: BENCH_PODS pods over BENCH_NODES simulated nodes (one `skiff agent
//      --simulate` child process), against `skiff serve` and `skiff dev`; from the client sending
//      each create to the watch showing the pod Running with Ready=True, vs Kubernetes' SLO and KubeEdge
//   2. the agent's resident memory (VmRSS) with 0, 10 and 100 process-runtime pods, vs edgecore and k3s
//   3. offline restart to serving: the agent killed and its pods' processes and network namespaces
//      gone (a reboot), the agent started with the control plane down, until a pod answers HTTP again
//   4. `--simulate 1000`: joining 1,000 simulated nodes, and how many stay Ready past the lease period
// Everything started (servers, wrangler, agents, pods, namespaces, bridges) is stopped at the end,
// also on failure. Not part of npm test.
//   BENCH_PODS (1000), BENCH_NODES (100)      section 1's pods and simulated nodes
//   BENCH_CONCURRENCY (16)                     creates in flight in section 1
//   BENCH_START_DELAY (0s)                     --simulate-start-delay of section 1's nodes
//   BENCH_SINGLE (5)                           pods created one at a time for section 1's baseline
//   BENCH_PROCESS_PODS (10,100)                section 2's pod counts (0 is always measured)
//   BENCH_RESTARTS (3)                         section 3's restarts of each kind
//   BENCH_SIM_NODES (1000), BENCH_SIM_WAIT (60) section 4's nodes, and seconds to watch them after joining
//   BENCH_HOMES (serve,dev)                    control planes for sections 1 and 4 (2 and 3 use serve)
//   BENCH_SECTIONS (startup,memory,offline,scale)
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  cleanUpAll,
  cleanUpAgents,
  freePort,
  leftBehind,
  rebootPods,
  repoRoot,
  rssOf,
  sleep,
  startAgent,
  startDev,
  startServe,
  tempDir,
  usageOf,
  type AgentProc,
  type Home,
} from './agent-procs.js';
import { PodWatch, isRunningReady } from './agent-watch.js';
import { timedPool } from './client.js';
import { intFromEnv, percentile, progress, step } from './report.js';

const PODS = intFromEnv('BENCH_PODS', 1000);
const NODES = intFromEnv('BENCH_NODES', 100);
const CONCURRENCY = intFromEnv('BENCH_CONCURRENCY', 16);
const START_DELAY = process.env.BENCH_START_DELAY || '0s';
const SINGLE = intFromEnv('BENCH_SINGLE', 5);
const PROCESS_PODS = (process.env.BENCH_PROCESS_PODS || '10,100').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_PROCESS_PODS entries are positive integers, got "${s}"`);
  return n;
});
const RESTARTS = intFromEnv('BENCH_RESTARTS', 3);
const SIM_NODES = intFromEnv('BENCH_SIM_NODES', 1000);
const SIM_WAIT_S = intFromEnv('BENCH_SIM_WAIT', 60);

const HOMES = listFromEnv('BENCH_HOMES', ['serve', 'dev'] as const);
const SECTIONS = listFromEnv('BENCH_SECTIONS', ['startup', 'memory', 'offline', 'scale'] as const);

function listFromEnv<T extends string>(name: string, all: readonly T[]): Set<T> {
  const names = (process.env[name] || all.join(',')).split(',').map((s) => s.trim());
  for (const n of names) if (!all.includes(n as T)) throw new Error(`${name} entries are ${all.join(', ')}, got "${n}"`);
  return new Set(names as T[]);
}

// Published figures the tables compare with.
const K8S_SLO_P99_MS = 5000; // Kubernetes SIG Scalability: pod startup latency p99 <= 5 s
const KUBEEDGE_P99_MS = 4100; // KubeEdge's 100k-edge-node test: pod startup p99 4.1 s
const EDGECORE_MB = 70; // KubeEdge edgecore's footprint
const K3S_AGENT_MB = 275; // k3s agent's footprint (k3s docs, resource profiling)

const NS = 'bench';
const MiB = (b: number) => b / 1024 / 1024;
const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(head), rule, ...body.map(line)].join('\n');
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  step(`waiting for ${what}`);
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

async function getJson(home: Home, path: string): Promise<any> {
  return JSON.parse((await home.api.expect(200, 'GET', path)).body);
}

const isReadyNode = (n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

async function readyNodes(home: Home): Promise<number> {
  return (await getJson(home, '/api/v1/nodes')).items.filter(isReadyNode).length;
}

async function createNamespace(home: Home): Promise<void> {
  await home.api.expect(201, 'POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));
}

function startHome(kind: 'serve' | 'dev', serveArgs: string[] = [], listen?: string): Promise<Home> {
  const data = tempDir(`skiff-bench-agent-${kind}-`);
  return kind === 'serve' ? startServe(data, serveArgs, listen, CONCURRENCY) : startDev(data, CONCURRENCY);
}

/** A cluster CIDR of our own, so the bridges of this run never meet those of tests running beside it. */
function clusterCidrArgs(): string[] {
  const octet = 200 + Math.floor(Math.random() * 50);
  return ['--cluster-cidr', `10.${octet}.0.0/16`];
}

// ---- 1. pod startup latency

interface Startup {
  home: string;
  single: number[];
  createLatencies: number[];
  createWallMs: number;
  startup: number[];
  allReadyMs: number;
  notReady: number;
  watchStreams: number;
}

const simPod = (name: string, group: string) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'bench', group } }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } });

async function startupIn(kind: 'serve' | 'dev'): Promise<Startup> {
  console.log(`\n${kind}: starting the control plane, ${NODES} simulated nodes (--simulate-start-delay ${START_DELAY})`);
  step(`${kind}: starting the control plane`);
  const home = await startHome(kind, ['--cluster-cidr', '10.128.0.0/12']);
  let agent: AgentProc | undefined;
  let watch: PodWatch | undefined;
  try {
    const token = await home.joinToken();
    agent = startAgent({ home, token, name: 'sim', data: tempDir('skiff-bench-agent-sim-'), runtime: 'simulated', args: ['--simulate', String(NODES), '--simulate-start-delay', START_DELAY] });
    await agent.ready;
    await until(`${NODES} Ready nodes`, async () => (await readyNodes(home)) >= NODES, 180_000, 500);
    console.log(`  ${NODES} nodes Ready ${((performance.now() - agent.spawnedAt) / 1000).toFixed(1)} s after the agent was spawned`);
    await createNamespace(home);
    watch = await PodWatch.start(home.api, home.url, home.token, home.ca, `/api/v1/namespaces/${NS}/pods`);
    const w = watch;
    const path = `/api/v1/namespaces/${NS}/pods`;

    // Baseline: one pod at a time, nothing else going on.
    const single: number[] = [];
    for (let i = 0; i < SINGLE; i++) {
      const name = `single-${i}`;
      const t0 = performance.now();
      await home.api.expect(201, 'POST', path, simPod(name, 'single'));
      if (!(await w.until([name], 60_000))) throw new Error(`${name} was not Running and Ready within 60 s`);
      single.push(w.readyAt.get(name)! - t0);
    }

    // All at once, CONCURRENCY creates in flight.
    const names = Array.from({ length: PODS }, (_, i) => `pod-${String(i).padStart(5, '0')}`);
    const sentAt = new Array<number>(PODS);
    const c0 = performance.now();
    const createLatencies = await timedPool(PODS, CONCURRENCY, async (i) => {
      sentAt[i] = performance.now();
      await home.api.expect(201, 'POST', path, simPod(names[i], 'burst'));
    });
    const createWallMs = performance.now() - c0;
    console.log(`  created ${PODS} pods in ${(createWallMs / 1000).toFixed(1)} s; waiting for them to be Running and Ready`);
    const all = await w.until(names, 300_000);
    const startup = names.filter((n) => w.readyAt.has(n)).map((n) => w.readyAt.get(n)! - sentAt[names.indexOf(n)]);
    const lastReady = Math.max(...names.map((n) => w.readyAt.get(n) ?? NaN).filter(Number.isFinite));
    return {
      home: kind,
      single,
      createLatencies,
      createWallMs,
      startup,
      allReadyMs: lastReady - c0,
      notReady: all ? 0 : PODS - startup.length,
      watchStreams: w.streams,
    };
  } finally {
    await watch?.close();
    await agent?.stop();
    await home.stop();
  }
}

function startupReport(results: Startup[]): void {
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return [fmt(percentile(s, 50)), fmt(percentile(s, 99)), fmt(s[s.length - 1])];
  };
  const rows: string[][] = [];
  for (const r of results) {
    rows.push(
      [`${r.home}: baseline: 1 pod at a time, create -> Running+Ready`, String(r.single.length), ...stats(r.single), fmt(r.single.reduce((a, b) => a + b, 0) / 1000, 1), '-'],
      [`${r.home}: baseline: the ${PODS} creates alone, POST -> 201`, String(PODS), ...stats(r.createLatencies), fmt(r.createWallMs / 1000, 1), '-'],
      [
        `${r.home}: pod startup, create -> watch sees Running+Ready` + (r.notReady ? ` (${r.notReady} NOT READY after 300 s)` : ''),
        String(r.startup.length),
        ...stats(r.startup),
        fmt(r.allReadyMs / 1000, 1),
        `p99 <= ${K8S_SLO_P99_MS} ms`,
      ],
    );
  }
  console.log('');
  console.log(markdownTable(['measurement', 'pods', 'p50 ms', 'p99 ms', 'max ms', 'total s', 'goal'], rows));
  console.log('');
  for (const r of results) {
    const s = [...r.startup].sort((a, b) => a - b);
    const p99 = percentile(s, 99);
    const p50 = percentile(s, 50);
    const single = median(r.single);
    console.log(
      `${r.home}: startup p99 ${fmt(p99)} ms: ${p99 <= K8S_SLO_P99_MS ? 'meets' : 'MISSES'} Kubernetes' SLO (p99 <= 5 s, ${fmt(p99 / K8S_SLO_P99_MS, 2)}x of it); ` +
        `${fmt(p99 / KUBEEDGE_P99_MS, 2)}x KubeEdge's published p99 of 4.1 s`,
    );
    console.log(
      `${r.home}: startup p50 under load / 1-pod-at-a-time p50: ${fmt(p50)} / ${fmt(single)} ms = ${fmt(p50 / single, 1)}x; ` +
        `first create -> last pod Ready / the ${PODS} creates alone: ${fmt(r.allReadyMs / 1000, 1)} / ${fmt(r.createWallMs / 1000, 1)} s = ${fmt(r.allReadyMs / r.createWallMs, 2)}x` +
        (r.home === 'dev' ? ` (the bench's watch stream was resumed ${r.watchStreams - 1} times)` : ''),
    );
  }
}

// ---- 2 and 3. a process-runtime agent against skiff serve

interface MemoryRow {
  label: string;
  pods: number;
  rss: number[];
}

interface RestartRow {
  label: string;
  /** spawn -> serving, ms */
  serving: number[];
  /** spawn -> "skiff agent running", ms */
  running: number[];
}

const sleepPod = (name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'sleep' } },
    spec: { terminationGracePeriodSeconds: 5, containers: [{ name: 'sleep', image: 'busybox', command: ['sleep', '3600'] }] },
  });

const WEB_PORT = 8080;
const WEB_CODE = `require('http').createServer((q, s) => s.end('ok')).listen(${WEB_PORT}, '0.0.0.0')`;
const webPod = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { terminationGracePeriodSeconds: 5, containers: [{ name: 'web', image: 'node', command: [process.execPath, '-e', WEB_CODE], ports: [{ containerPort: WEB_PORT }] }] },
});

/** One GET with a short timeout (before the pod's namespace exists, its address may not answer at all). */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(100) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** ms from `t0` until `url` answers 200, polling every 5 ms. */
async function timeToServe(url: string, t0: number, timeoutMs = 120_000): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    if (await answers(url)) return performance.now() - t0;
    await sleep(5);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

/** RSS of `pid`: median of 5 samples, 1 s apart. */
async function settledRss(pid: number): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssOf(pid));
    await sleep(1000);
  }
  return xs;
}

/** A bare Node.js process, with tsx's loader as the agent runs from its sources (node --import tsx) or without: the platform's floor. */
async function bareNodeRss(tsx: boolean): Promise<number[]> {
  const child = spawn(process.execPath, [...(tsx ? ['--import', 'tsx'] : []), '-e', 'setInterval(() => {}, 1000)'], { cwd: repoRoot, stdio: 'ignore' });
  try {
    await sleep(3000);
    return await settledRss(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

async function podsReady(home: Home, selector: string, count: number, timeoutMs: number): Promise<any[]> {
  return until(
    `${count} Running and Ready pods (${selector})`,
    async () => {
      const items = (await getJson(home, `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
      const ready = items.filter(isRunningReady);
      return ready.length >= count && ready;
    },
    timeoutMs,
    500,
  );
}

async function deleteAll(home: Home, selector: string): Promise<number> {
  const items = (await getJson(home, `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
  await timedPool(items.length, 8, (i) => home.api.expect(200, 'DELETE', `/api/v1/namespaces/${NS}/pods/${items[i].metadata.name}`));
  const t0 = performance.now();
  await until(`the ${selector} pods gone`, async () => (await getJson(home, `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(selector)}`)).items.length === 0, 120_000, 500);
  return performance.now() - t0;
}

async function processAgent(doMemory: boolean, doOffline: boolean): Promise<{ memory: MemoryRow[]; restarts: RestartRow[]; cleanup: string[] }> {
  const memory: MemoryRow[] = [];
  const restarts: RestartRow[] = [];
  const cleanup: string[] = [];
  const serveArgs = [...clusterCidrArgs(), '--reconcile-interval', '500ms'];
  console.log(`\nserve: starting the control plane (${serveArgs.join(' ')}) and one process-runtime agent`);
  let home: Home | undefined = await startHome('serve', serveArgs);
  const data = tempDir('skiff-bench-agent-proc-');
  const agentDir = join(data, 'agent');
  const port = new URL(home.url).port;
  let agent: AgentProc | undefined;
  try {
    const token = await home.joinToken();
    agent = startAgent({ home, token, name: 'bench-node', data, runtime: 'process' });
    await agent.ready;
    const h = home;
    await until('the node Ready', async () => (await readyNodes(h)) === 1, 60_000);
    await createNamespace(home);

    if (doMemory) {
      console.log('  memory: the agent with no pods');
      await sleep(10_000);
      memory.push({ label: 'baseline: bare Node.js + tsx loader (node --import tsx -e setInterval)', pods: 0, rss: await bareNodeRss(true) });
      memory.push({ label: 'agent, process runtime', pods: 0, rss: await settledRss(agent.pid) });
      memory.push({ label: 'baseline: bare Node.js (node -e setInterval)', pods: 0, rss: await bareNodeRss(false) });
      memory.push({ label: 'agent, process runtime, built (npm run build; node dist/cli.js)', pods: 0, rss: await builtAgentRss(h, data) });
      let created = 0;
      for (const target of PROCESS_PODS) {
        const t0 = performance.now();
        const from = created;
        await timedPool(target - from, 4, (i) => h.api.expect(201, 'POST', `/api/v1/namespaces/${NS}/pods`, sleepPod(`sleep-${String(from + i).padStart(3, '0')}`)));
        created = Math.max(created, target);
        await podsReady(h, 'app=sleep', target, 300_000);
        console.log(`  memory: ${target} pods Running and Ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; settling 10 s`);
        await sleep(10_000);
        memory.push({ label: 'agent, process runtime', pods: target, rss: await settledRss(agent.pid) });
      }
      const ms = await deleteAll(h, 'app=sleep');
      const left = leftBehind(agentDir);
      cleanup.push(`deleted the ${created} sleep pods through the API; gone ${(ms / 1000).toFixed(1)} s later; then ${left.processes} of their processes and ${left.namespaces} of their namespaces were left`);
    }

    if (doOffline) {
      console.log('  offline: a pod serving HTTP on its pod IP');
      await h.api.expect(201, 'POST', `/api/v1/namespaces/${NS}/pods`, webPod);
      const [web] = await podsReady(h, 'app=web', 1, 60_000);
      const url = `http://${web.status.podIP}:${WEB_PORT}/`;
      await timeToServe(url, performance.now(), 30_000);

      // Baseline: the same program started as a plain process on loopback.
      const alone: number[] = [];
      for (let i = 0; i < RESTARTS; i++) {
        const p = await freePort();
        const t0 = performance.now();
        const child = spawn(process.execPath, ['-e', WEB_CODE.replace(String(WEB_PORT), String(p)).replace("'0.0.0.0'", "'127.0.0.1'")], { stdio: 'ignore' });
        try {
          alone.push(await timeToServe(`http://127.0.0.1:${p}/`, t0, 30_000));
        } finally {
          child.kill('SIGKILL');
        }
      }
      restarts.push({ label: "baseline: the pod's program alone, spawn -> serving on loopback", serving: alone, running: [] });

      const reboot = async (online: boolean): Promise<{ serving: number; running: number }> => {
        await agent!.kill('SIGKILL');
        rebootPods(agentDir, { bridge: true });
        if (await answers(url)) throw new Error('the pod still answers after the simulated reboot');
        agent = startAgent({ home: h, name: 'bench-node', data, runtime: 'process' });
        const serving = await timeToServe(url, agent.spawnedAt);
        const running = (await agent.ready) - agent.spawnedAt;
        if (online) await sleep(3000); // let it report to the control plane before the next round
        return { serving, running };
      };
      const up: RestartRow = { label: 'control plane up: reboot, agent spawn -> pod serving on its pod IP', serving: [], running: [] };
      for (let i = 0; i < RESTARTS; i++) {
        const r = await reboot(true);
        up.serving.push(r.serving);
        up.running.push(r.running);
      }
      restarts.push(up);
      console.log('  offline: stopping the control plane');
      await home.stop();
      home = undefined;
      const down: RestartRow = { label: 'control plane DOWN: reboot, agent spawn -> pod serving on its pod IP', serving: [], running: [] };
      for (let i = 0; i < RESTARTS; i++) {
        const r = await reboot(false);
        down.serving.push(r.serving);
        down.running.push(r.running);
      }
      restarts.push(down);

      // The control plane back on its address, to delete the pod through the API.
      home = await startServe(h.data, serveArgs, `127.0.0.1:${port}`, CONCURRENCY);
      const back = home;
      await until('the node Ready again', async () => (await readyNodes(back)) === 1, 90_000);
      const ms = await deleteAll(back, 'app=web');
      cleanup.push(`deleted the web pod through the API once the control plane was back; gone ${(ms / 1000).toFixed(1)} s later`);
    }
  } finally {
    await agent?.stop().catch(() => {});
    await home?.stop().catch(() => {});
    await cleanUpAgents();
    const left = leftBehind(agentDir);
    cleanup.push(`after stopping the agent and cleaning up: ${left.processes} pod processes, ${left.namespaces} network namespaces, ${left.bridge ? 'the' : 'no'} bridge left`);
  }
  return { memory, restarts, cleanup };
}

/**
 * The agent as built by `npm run build`, run by plain Node.js, with no pods (tainted, so none come):
 * what a small machine would run.
 */
async function builtAgentRss(home: Home, data: string): Promise<number[]> {
  execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'ignore' });
  const agent = startAgent({ home, token: await home.joinToken(), name: 'bench-built', data: join(data, 'built'), runtime: 'process', built: true, args: ['--register-with-taints', 'skiff.dev/bench=built:NoSchedule'] });
  try {
    await agent.ready;
    await sleep(10_000);
    return await settledRss(agent.pid);
  } finally {
    await agent.stop();
  }
}

function memoryReport(rows: MemoryRow[]): void {
  const zero = rows.find((r) => r.label.startsWith('agent') && r.pods === 0);
  const bare = rows.find((r) => r.label.startsWith('baseline'));
  const body = rows.map((r) => {
    const m = MiB(median(r.rss));
    return [
      r.label,
      String(r.pods),
      fmt(m, 1),
      fmt(MiB(Math.min(...r.rss)), 1) + ' - ' + fmt(MiB(Math.max(...r.rss)), 1),
      zero && r !== zero && r !== bare && r.pods > 0 ? fmt((m - MiB(median(zero.rss))) / r.pods, 2) : '-',
      fmt(m / EDGECORE_MB, 2) + 'x',
      fmt(m / K3S_AGENT_MB, 2) + 'x',
    ];
  });
  console.log('');
  console.log(markdownTable(['process', 'pods', 'VmRSS MiB (median)', 'range', 'MiB per pod over 0', `/ edgecore ${EDGECORE_MB} MB`, `/ k3s agent ${K3S_AGENT_MB} MB`], body));
  console.log('');
  if (zero && bare) console.log(`agent with 0 pods / bare Node.js + tsx: ${fmt(MiB(median(zero.rss)), 1)} / ${fmt(MiB(median(bare.rss)), 1)} MiB = ${fmt(median(zero.rss) / median(bare.rss), 2)}x`);
  const built = rows.find((r) => r.label.includes('built'));
  const plain = rows.find((r) => r.label.startsWith('baseline: bare Node.js ('));
  if (built && plain) console.log(`built agent with 0 pods / bare Node.js: ${fmt(MiB(median(built.rss)), 1)} / ${fmt(MiB(median(plain.rss)), 1)} MiB = ${fmt(median(built.rss) / median(plain.rss), 2)}x`);
  console.log('VmRSS of the agent process alone (/proc/PID/status; its pods are processes of their own), 5 samples 1 s apart after 10 s of settling; goal: under edgecore\'s 70 MB, far under the k3s agent\'s 275 MB.');
}

function restartReport(rows: RestartRow[]): void {
  const body = rows.map((r) => [
    r.label,
    String(r.serving.length),
    fmt(median(r.serving)),
    fmt(Math.max(...r.serving)),
    r.running.length ? fmt(median(r.running)) : '-',
  ]);
  console.log('');
  console.log(markdownTable(['restart', 'runs', 'to serving p50 ms', 'max ms', 'to "agent running" p50 ms'], body));
  console.log('');
  const alone = rows[0] && median(rows[0].serving);
  const up = rows[1] && median(rows[1].serving);
  const down = rows[2] && median(rows[2].serving);
  if (down && up) console.log(`offline restart / online restart: ${fmt(down)} / ${fmt(up)} ms = ${fmt(down / up, 2)}x; offline restart / the program alone: ${fmt(down)} / ${fmt(alone)} ms = ${fmt(down / alone, 1)}x`);
  console.log('A reboot here: the agent SIGKILLed, every pod process killed, the pods\' network namespaces, veths and the node\'s bridge removed (the data folder stays). Goal: serving again offline as fast as online.');
}

// ---- 4. --simulate 1000

interface ScaleRow {
  home: string;
  nodes: number;
  /** spawn -> agent prints it runs (every node joined and started), s */
  joinedS: number;
  /** spawn -> every Node Ready, s (NaN if never) */
  allReadyS: number;
  readyAfter: number;
  waitS: number;
  serverCpuPct: number;
  serverRss: number;
  agentCpuPct: number;
  agentRss: number;
  /** The control plane's RSS by program, MiB. */
  serverRssBy?: string;
  note?: string;
}

async function scaleIn(kind: 'serve' | 'dev'): Promise<ScaleRow> {
  console.log(`\n${kind}: ${SIM_NODES} simulated nodes joining`);
  step(`${kind}: starting the control plane`);
  const home = await startHome(kind, ['--cluster-cidr', '10.128.0.0/12', '--node-cidr-mask-size', '26']);
  let agent: AgentProc | undefined;
  const row: ScaleRow = { home: kind, nodes: SIM_NODES, joinedS: NaN, allReadyS: NaN, readyAfter: NaN, waitS: SIM_WAIT_S, serverCpuPct: NaN, serverRss: NaN, agentCpuPct: NaN, agentRss: NaN };
  try {
    const token = await home.joinToken();
    agent = startAgent({ home, token, name: 'sim', data: tempDir('skiff-bench-agent-scale-'), runtime: 'simulated', args: ['--simulate', String(SIM_NODES)] });
    const a = agent;
    const joinTimeoutMs = 600_000;
    const joined = await Promise.race([a.ready, sleep(joinTimeoutMs).then(() => NaN), a.exited.then(() => NaN)]);
    if (!Number.isFinite(joined)) {
      const ready = await readyNodes(home).catch(() => NaN);
      row.note = a.alive() ? `not joined within ${joinTimeoutMs / 1000} s (${ready} Nodes Ready then)` : `the agent exited: ${a.output().slice(-300)}`;
      return row;
    }
    row.joinedS = (joined - a.spawnedAt) / 1000;
    console.log(`  the agent runs ${SIM_NODES} nodes ${row.joinedS.toFixed(1)} s after it was spawned; waiting for every Node Ready`);
    try {
      await until(`${SIM_NODES} Ready nodes`, async () => (await readyNodes(home)) >= SIM_NODES, 180_000, 1000);
      row.allReadyS = (performance.now() - a.spawnedAt) / 1000;
    } catch (err) {
      row.note = (err as Error).message;
    }
    const server0 = usageOf(home.rootPids());
    const agent0 = usageOf([a.pid]);
    const t0 = performance.now();
    console.log(`  watching them for ${SIM_WAIT_S} s`);
    await sleep(SIM_WAIT_S * 1000);
    const wallMs = performance.now() - t0;
    const server1 = usageOf(home.rootPids());
    const agent1 = usageOf([a.pid]);
    row.readyAfter = await readyNodes(home);
    row.serverCpuPct = (100 * (server1.cpuMs - server0.cpuMs)) / wallMs;
    row.agentCpuPct = (100 * (agent1.cpuMs - agent0.cpuMs)) / wallMs;
    row.serverRss = server1.rss;
    row.serverRssBy = [...server1.rssByCommand].map(([c, b]) => `${c} ${fmt(MiB(b))}`).join(', ');
    row.agentRss = agent1.rss;
    return row;
  } finally {
    await agent?.stop(30_000);
    await home.stop();
  }
}

function scaleReport(rows: ScaleRow[]): void {
  const body = rows.map((r) => [
    r.home + (r.note ? ` (${r.note})` : ''),
    String(r.nodes),
    fmt(r.joinedS, 1),
    fmt(r.allReadyS, 1),
    `${fmt(r.readyAfter)} / ${r.nodes}`,
    fmt(r.serverCpuPct),
    fmt(MiB(r.serverRss)),
    fmt(r.agentCpuPct),
    fmt(MiB(r.agentRss)),
  ]);
  console.log('');
  console.log(
    markdownTable(
      ['control plane', 'nodes', 'agent up s', 'all Ready s', `Ready after ${SIM_WAIT_S} s`, 'server CPU %', 'server RSS MiB', 'agent CPU %', 'agent RSS MiB'],
      body,
    ),
  );
  console.log('');
  console.log(
    `"agent up": spawn -> the agent printed it runs (every node joined, 50 at a time); "all Ready": spawn -> every Node Ready=True. ` +
      `CPU is % of one core over the ${SIM_WAIT_S} s window (user + system, the process and its children: for skiff dev the libSQL endpoint, wrangler and workerd), ` +
      `RSS at its end. Leases are renewed every 10 s and last 40 s (node-monitor-grace-period 40 s): goal all ${SIM_NODES} Ready.`,
  );
  for (const r of rows) {
    if (r.serverRssBy) console.log(`${r.home}: control plane RSS by program, MiB: ${r.serverRssBy}`);
    if (Number.isFinite(r.allReadyS)) console.log(`${r.home}: ${fmt((r.nodes / r.allReadyS), 0)} nodes joined and Ready per second; agent RSS / nodes ${fmt(MiB(r.agentRss) / r.nodes * 1024, 0)} KiB`);
  }
}

// ----

async function main(): Promise<void> {
  console.log(
    `skiff agent benchmark: sections ${[...SECTIONS].join(', ')}; homes ${[...HOMES].join(', ')}; Node ${process.version}, ${
      (await import('node:os')).cpus().length
    } cores`,
  );
  try {
    if (SECTIONS.has('startup')) {
      console.log(`\n## 1. Pod startup latency: ${PODS} pods (created ${CONCURRENCY} at a time) over ${NODES} simulated nodes, start delay ${START_DELAY}`);
      const results: Startup[] = [];
      for (const kind of HOMES) results.push(await startupIn(kind));
      startupReport(results);
      console.log(
        'Latency from just before the client sends the create (client-side clock, not the second-resolution creationTimestamp) to the arrival of the watch event showing the pod Running with Ready=True.',
      );
    }
    if (SECTIONS.has('memory') || SECTIONS.has('offline')) {
      const r = await processAgent(SECTIONS.has('memory'), SECTIONS.has('offline'));
      if (SECTIONS.has('memory')) {
        console.log(`\n## 2. Agent resident memory with process-runtime pods (sleep 3600), against skiff serve`);
        memoryReport(r.memory);
      }
      if (SECTIONS.has('offline')) {
        console.log(`\n## 3. Offline restart to serving: a process-runtime pod (node -e http server) after a simulated reboot`);
        restartReport(r.restarts);
      }
      for (const line of r.cleanup) console.log(`clean-up: ${line}`);
    }
    if (SECTIONS.has('scale')) {
      console.log(`\n## 4. --simulate ${SIM_NODES}: joining, and staying Ready past the lease period`);
      const rows: ScaleRow[] = [];
      for (const kind of HOMES) rows.push(await scaleIn(kind));
      scaleReport(rows);
    }
  } finally {
    progress.done();
    await cleanUpAll();
  }
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
}
// Timers of a step that gave up may still be pending: exit now (the exit handler kills what is left).
process.exit();

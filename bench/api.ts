// `npm run bench:api`: the API server end to end, over HTTPS with keep-alive on 127.0.0.1, each figure
// beside a raw libSQL baseline measured in the same run and the goal it aims at. Three sections:
//   idle     `skiff serve --no-agent` on a fresh data folder, passes idle: create, get, patch, list,
//            watch and delete pods (at BENCH_CONCURRENCY, and creates at BENCH_HIGH_CONCURRENCY), and
//            paced GETs of one object
//   backlog  the same server, then a Deployment of BENCH_BACKLOG replicas in a cluster with no nodes:
//            its ReplicaSet makes BENCH_BACKLOG pods the scheduler cannot place, and the passes work
//            that backlog off. While they do, and again once every pod is made and found
//            unschedulable, create pods at concurrency BENCH_CONCURRENCY and BENCH_HIGH_CONCURRENCY,
//            then GET one object (paced, one at a time on one kept-alive connection). Each row notes
//            the backlog pods made meanwhile, the passes that ended and their CPU, and the server
//            process's CPU (all threads, and its main thread). Goals: GET p99 <= 10 ms and create
//            p99 <= 50 ms while a pass is busy; >= 3,000 creates/s at concurrency 64
//   auth     the cost of authorization: pods created and got at BENCH_CONCURRENCY by a user (`skiff user
//            add`) bound to ClusterRole edit in a namespace (RBAC decides each request) against the same
//            by the admin token (system:masters, no RBAC lookup), the two interleaved in one stream;
//            goal: <= 10% more
//   nodes    a fresh `skiff serve --no-agent` with `skiff agent --simulate BENCH_NODES` joined; once
//            every node is Ready, for BENCH_HEARTBEAT_SECONDS: GET one object (paced) and the share
//            of a core the reconcile passes use (skiff_reconcile_pass_cpu_seconds_total from GET
//            /metrics; while the server has no /metrics, the whole server process's CPU from
//            /proc/PID/stat, labelled so)
// The bench's own pods name a scheduler nobody runs (schedulerName skiff-bench), so only the
// Deployment's pods are the scheduler's backlog. Raw baselines (bench/raw-libsql.ts) run last, with
// every server stopped: INSERTs of the stored pod one execute at a time and in one batch, reads of one
// row by key, and the Lease writes and reads under heartbeating nodes. Every process started is
// stopped and every temp folder removed at the end, also on failure or Ctrl-C. Not part of npm test.
//   BENCH_SECTIONS (idle,backlog,auth,nodes) which sections run
//   BENCH_AUTH_ROUNDS (20)                auth: rounds of BENCH_PODS creates and gets by each side (a p99
//                                         of 20,000 requests: fewer leave it to a handful of slow ones)
//   BENCH_PODS (1000)                     idle: pods created, got, patched and deleted
//   BENCH_CONCURRENCY (8)                 requests in flight (and keep-alive connections), idle and backlog
//   BENCH_HIGH_CONCURRENCY (64)           the second concurrency creates are measured at
//   BENCH_WATCH (200)                     idle: patches whose watch events are timed (at most BENCH_PODS)
//   BENCH_BACKLOG (10000)                 backlog: replicas of the unschedulable Deployment
//   BENCH_CREATES (3000)                  creates per create row at BENCH_HIGH_CONCURRENCY (idle) and in backlog
//   BENCH_GETS (1000)                     GETs per paced GET row (idle, backlog)
//   BENCH_GET_EVERY_MS (10)               paced GETs start this often (at once when the last took longer)
//   BENCH_SETTLE_TIMEOUT (600)            backlog: seconds to wait for every pod made and found unschedulable
//   BENCH_NODES (1000)                    nodes: simulated nodes
//   BENCH_HEARTBEAT_SECONDS (30)          nodes: length of the measured window
//   BENCH_JOIN_TIMEOUT (300)              nodes: seconds to wait for every node Ready
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  describeLoad,
  loadBetween,
  passMetrics,
  processCpuSeconds,
  readLoad,
  removeTempDir,
  sleep,
  startServer,
  startSimulatedAgent,
  tempDir,
  type Agent,
  type LoadDelta,
  type Server,
} from './api-procs.js';
import { ApiClient, pacedProbe, timedPool, warmUp } from './client.js';
import { rawGets, rawInserts, rawLeaseCpu, type RawLeaseCpu, type RawResult } from './raw-libsql.js';
import { counted, figureTable, fmt, intFromEnv, progress, rate, step, summary, table, type Figure, type Row } from './report.js';

const SECTIONS = listFromEnv('BENCH_SECTIONS', ['idle', 'backlog', 'auth', 'nodes'] as const);
const AUTH_ROUNDS = intFromEnv('BENCH_AUTH_ROUNDS', 20);
const PODS = intFromEnv('BENCH_PODS', 1000);
const CONCURRENCY = intFromEnv('BENCH_CONCURRENCY', 8);
const HIGH = intFromEnv('BENCH_HIGH_CONCURRENCY', 64);
const WATCHED = Math.min(PODS, intFromEnv('BENCH_WATCH', 200));
const BACKLOG = intFromEnv('BENCH_BACKLOG', 10_000);
const CREATES = intFromEnv('BENCH_CREATES', 3000);
const GETS = intFromEnv('BENCH_GETS', 1000);
const GET_EVERY_MS = intFromEnv('BENCH_GET_EVERY_MS', 10);
const SETTLE_TIMEOUT_S = intFromEnv('BENCH_SETTLE_TIMEOUT', 600);
const NODES = intFromEnv('BENCH_NODES', 1000);
const HEARTBEAT_S = intFromEnv('BENCH_HEARTBEAT_SECONDS', 30);
const JOIN_TIMEOUT_S = intFromEnv('BENCH_JOIN_TIMEOUT', 300);

// Issue 9's goals.
const GET_P99_GOAL_MS = 10;
const CREATE_P99_GOAL_MS = 50;
const CREATES_PER_S_GOAL = 3000;

const NS = 'bench'; // idle pods
const LOAD_NS = 'load'; // the probe ConfigMap and the pods created under load
const BACKLOG_NS = 'backlog'; // the Deployment
const PROBE_PATH = `/api/v1/namespaces/${LOAD_NS}/configmaps/probe`;
const LIST_RUNS = 3;

function listFromEnv<T extends string>(name: string, all: readonly T[]): Set<T> {
  const names = (process.env[name] || all.join(',')).split(',').map((s) => s.trim());
  for (const n of names) if (!all.includes(n as T)) throw new Error(`${name} entries are ${all.join(', ')}, got "${n}"`);
  return new Set(names as T[]);
}

const t0Run = performance.now();
const log = (msg: string) => {
  console.log(`[${((performance.now() - t0Run) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
  step(msg);
};

const podName = (prefix: string, i: number) => `${prefix}-${String(i).padStart(5, '0')}`;

function podManifest(name: string, i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench', shard: String(i % 16) } },
    spec: {
      schedulerName: 'skiff-bench',
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          ports: [{ name: 'http', containerPort: 80 }],
          env: [{ name: 'INDEX', value: String(i) }],
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
        },
      ],
    },
  });
}

function deploymentManifest(replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'backlog' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'backlog' } },
      template: {
        metadata: { labels: { app: 'backlog' } },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
      },
    },
  });
}

const namespaceManifest = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const probeManifest = () => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' }, data: { hello: 'world' } });

/** A server and the clients the bench talks to it with. */
interface Conn {
  server: Server;
  /** BENCH_CONCURRENCY keep-alive connections. */
  api: ApiClient;
  /** BENCH_HIGH_CONCURRENCY keep-alive connections. */
  high: ApiClient;
  /** One kept-alive connection for the paced GETs. */
  probe: ApiClient;
  /** One for reading /metrics and progress, so those never wait behind the measured requests. */
  admin: ApiClient;
  close(): void;
}

async function connect(server: Server): Promise<Conn> {
  const mk = (n: number) => new ApiClient(server.url, server.token, server.ca, n);
  const conn = { server, api: mk(CONCURRENCY), high: mk(HIGH), probe: mk(1), admin: mk(1) };
  await Promise.all([warmUp(conn.api, CONCURRENCY), warmUp(conn.high, HIGH), warmUp(conn.probe, 1), warmUp(conn.admin, 1)]);
  // The object the paced GETs read, and the namespace pods created under load go to.
  await conn.api.expect(201, 'POST', '/api/v1/namespaces', namespaceManifest(LOAD_NS));
  await conn.api.expect(201, 'POST', `/api/v1/namespaces/${LOAD_NS}/configmaps`, probeManifest());
  return { ...conn, close: () => [conn.api, conn.high, conn.probe, conn.admin].forEach((c) => c.close()) };
}

async function getJson(api: ApiClient, path: string): Promise<any> {
  return JSON.parse((await api.expect(200, 'GET', path)).body);
}

async function timedStep(operation: string, count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<Row> {
  const t0 = performance.now();
  const samples = await timedPool(count, concurrency, counted(operation, count, task));
  return { operation, count, samples, totalMs: performance.now() - t0 };
}

async function pacedGets(operation: string, api: ApiClient, opts: { count?: number; durationMs?: number }): Promise<Row> {
  const t0 = performance.now();
  step(operation, opts.count);
  const samples = await pacedProbe(() => api.expect(200, 'GET', PROBE_PATH), { everyMs: GET_EVERY_MS, ...opts });
  return { operation, count: samples.length, samples, totalMs: performance.now() - t0 };
}

let storedPod: Record<string, any> | undefined;

/** `count` pods created in LOAD_NS (or `ns`) at `concurrency`, named PREFIX-00000 ... */
function createPods(operation: string, api: ApiClient, concurrency: number, prefix: string, count: number, ns = LOAD_NS): Promise<Row> {
  return timedStep(operation, count, concurrency, async (i) => {
    const reply = await api.expect(201, 'POST', `/api/v1/namespaces/${ns}/pods`, podManifest(podName(prefix, i), i));
    if (!storedPod) storedPod = JSON.parse(reply.body);
  });
}

// ---- auth

interface AuthResults {
  rows: Row[];
  /** p50 and p99 of user / admin, for create and get. */
  ratios: { op: string; p50: number; p99: number }[];
}

async function benchAuth(c: Conn): Promise<AuthResults> {
  const ns = 'authz';
  await c.api.expect(201, 'POST', '/api/v1/namespaces', namespaceManifest(ns));
  await c.api.expect(201, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bench-edit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bench-user' }],
  }));
  const kubeconfig = execFileSync(process.execPath, ['--import', 'tsx', 'src/node/cli.ts', 'user', 'add', 'bench-user', '--data', c.server.data], { encoding: 'utf8' });
  const token = /token: (\S+)/.exec(kubeconfig)?.[1];
  if (!token) throw new Error('skiff user add printed no token');
  // Both sides on clients made alike here, so neither has the older, busier connection pool.
  const user = new ApiClient(c.server.url, token, c.server.ca, CONCURRENCY);
  const admin = new ApiClient(c.server.url, c.server.token, c.server.ca, CONCURRENCY);
  await Promise.all([warmUp(user, CONCURRENCY), warmUp(admin, CONCURRENCY)]);
  log(`auth: ${AUTH_ROUNDS} rounds of ${PODS} creates and gets each by the user (RBAC: edit in ${ns}) and the admin, their requests interleaved`);
  const samples = { 'create admin': [] as number[], 'create user': [] as number[], 'get admin': [] as number[], 'get user': [] as number[] };
  const totals = { 'create admin': 0, 'create user': 0, 'get admin': 0, 'get user': 0 };
  const clients = { admin, user };
  // The two identities' requests alternate within one stream at CONCURRENCY, so both meet the same
  // load, collections and passes at the same moments: the difference left is authorization's.
  const interleaved = async (op: 'create' | 'get', round: number, send: (api: ApiClient, prefix: string, i: number) => Promise<unknown>) => {
    const whoOf = (i: number): 'admin' | 'user' => ((i + round) % 2 === 0 ? 'admin' : 'user');
    const step = await timedStep('', 2 * PODS, CONCURRENCY, (i) => send(clients[whoOf(i)], `${whoOf(i)}-${round}`, i >> 1));
    step.samples!.forEach((ms, i) => samples[`${op} ${whoOf(i)}`].push(ms));
    // Wall time is shared; each side is credited half of it.
    totals[`${op} admin`] += step.totalMs / 2;
    totals[`${op} user`] += step.totalMs / 2;
  };
  try {
    for (let round = 0; round < AUTH_ROUNDS; round++) {
      await interleaved('create', round, (api, prefix, i) => api.expect(201, 'POST', `/api/v1/namespaces/${ns}/pods`, podManifest(podName(prefix, i), i)));
      await interleaved('get', round, (api, prefix, i) => api.expect(200, 'GET', `/api/v1/namespaces/${ns}/pods/${podName(prefix, i)}`));
    }
  } finally {
    user.close();
    admin.close();
  }
  const label = { admin: 'admin token (system:masters)', user: 'user bound to edit (RBAC)' };
  const rows: Row[] = (['create', 'get'] as const).flatMap((op) =>
    (['admin', 'user'] as const).map((who) => ({
      operation: `${op} pod (${op === 'create' ? 'POST' : 'GET'}), ${label[who]}, concurrency ${CONCURRENCY}`,
      count: samples[`${op} ${who}`].length,
      samples: samples[`${op} ${who}`],
      totalMs: totals[`${op} ${who}`],
    })),
  );
  const ratios = (['create', 'get'] as const).map((op) => {
    const a = summary(samples[`${op} admin`]);
    const u = summary(samples[`${op} user`]);
    return { op, p50: u.p50 / a.p50, p99: u.p99 / a.p99 };
  });
  return { rows, ratios };
}

// ---- idle

interface IdleResults {
  rows: Row[];
  listBytes: number;
  watchLatencies: number[];
  get?: Row;
  create?: Row;
  createHigh?: Row;
}

async function benchIdle(c: Conn): Promise<IdleResults> {
  const { api } = c;
  const path = `/api/v1/namespaces/${NS}/pods`;
  const rows: Row[] = [];
  await api.expect(201, 'POST', '/api/v1/namespaces', namespaceManifest(NS));

  log(`idle: ${PODS} pods created, got, patched at concurrency ${CONCURRENCY}`);
  const create = await createPods(`create pod (POST), concurrency ${CONCURRENCY}`, api, CONCURRENCY, 'pod', PODS, NS);
  rows.push(create);
  rows.push(await timedStep(`get pod (GET), concurrency ${CONCURRENCY}`, PODS, CONCURRENCY, (i) => api.expect(200, 'GET', `${path}/${podName('pod', i)}`)));
  const get = await pacedGets(`get configmap (GET), 1 at a time every ${GET_EVERY_MS} ms`, c.probe, { count: GETS });
  rows.push(get);
  const labelPatch = JSON.stringify({ metadata: { labels: { round: '1' } } });
  rows.push(
    await timedStep(`patch pod label (merge patch), concurrency ${CONCURRENCY}`, PODS, CONCURRENCY, (i) =>
      api.expect(200, 'PATCH', `${path}/${podName('pod', i)}`, labelPatch, 'application/merge-patch+json'),
    ),
  );

  // The whole list, one request at a time.
  const listSamples: number[] = [];
  let listBytes = 0;
  let listRv = '';
  const l0 = performance.now();
  for (let r = 0; r < LIST_RUNS; r++) {
    const t0 = performance.now();
    const reply = await api.expect(200, 'GET', path);
    listSamples.push(performance.now() - t0);
    const list = JSON.parse(reply.body);
    if (list.items.length !== PODS) throw new Error(`list returned ${list.items.length} pods, expected ${PODS}`);
    listBytes = reply.body.length;
    listRv = list.metadata.resourceVersion;
  }
  rows.push({ operation: `list all ${PODS} pods`, count: LIST_RUNS, samples: listSamples, totalMs: performance.now() - l0 });

  // Watch delivery: from just before a patch is sent to the arrival of its MODIFIED event, one patch at a time.
  log(`idle: ${WATCHED} watched patches, list, delete`);
  const waiting = new Map<string, (at: number) => void>();
  const watch = await api.watch(`${path}?watch=1&resourceVersion=${listRv}`, (event, at) => {
    const labels = event.object?.metadata?.labels ?? {};
    const key = `${event.object?.metadata?.name}=${labels.seq}`;
    if (event.type === 'MODIFIED' && waiting.has(key)) {
      waiting.get(key)!(at);
      waiting.delete(key);
    }
  });
  const watchLatencies: number[] = [];
  const patchSamples: number[] = [];
  const w0 = performance.now();
  try {
    for (let i = 0; i < WATCHED; i++) {
      const name = podName('pod', i);
      const arrived = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no watch event for ${name} within 10 s`)), 10_000);
        waiting.set(`${name}=${i}`, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
      const t0 = performance.now();
      await api.expect(200, 'PATCH', `${path}/${name}`, JSON.stringify({ metadata: { labels: { seq: String(i) } } }), 'application/merge-patch+json');
      patchSamples.push(performance.now() - t0);
      watchLatencies.push((await arrived) - t0);
    }
  } finally {
    watch.close();
  }
  rows.push({ operation: 'patch pod label, watched (1 at a time)', count: WATCHED, samples: patchSamples, totalMs: performance.now() - w0 });
  rows.push(await timedStep(`delete pod (DELETE), concurrency ${CONCURRENCY}`, PODS, CONCURRENCY, (i) => api.expect(200, 'DELETE', `${path}/${podName('pod', i)}`)));

  log(`idle: ${CREATES} pods created and deleted at concurrency ${HIGH}`);
  const createHigh = await createPods(`create pod (POST), concurrency ${HIGH}`, c.high, HIGH, 'idle-high', CREATES, NS);
  rows.push(createHigh);
  rows.push(await timedStep(`delete pod (DELETE), concurrency ${HIGH}`, CREATES, HIGH, (i) => c.high.expect(200, 'DELETE', `${path}/${podName('idle-high', i)}`)));
  return { rows, listBytes, watchLatencies, get, create, createHigh };
}

// ---- backlog

interface PhaseRows {
  get: Row;
  create: Row;
  createHigh: Row;
}

interface BacklogResults {
  rows: Row[];
  working: PhaseRows;
  settled?: PhaseRows;
  /** Deployment created -> its ReplicaSet reports every pod made, s. */
  madeS: number;
  /** Deployment created -> every pod found unschedulable (PodScheduled=False), s. */
  markedS: number;
  /** Passes and CPU while waiting for the backlog to settle. */
  waitLoad?: LoadDelta;
}

async function replicaSetPods(c: Conn): Promise<number> {
  const list = await getJson(c.admin, `/apis/apps/v1/namespaces/${BACKLOG_NS}/replicasets`);
  return list.items.reduce((n: number, rs: any) => n + (rs.status?.replicas ?? 0), 0);
}

/** The share of a core this process (the bench's client) used since `since` (process.cpuUsage()). */
function clientCore(since: NodeJS.CpuUsage, seconds: number): string {
  const d = process.cpuUsage(since);
  return ((d.user + d.system) / 1e6 / seconds).toFixed(2);
}

/** Runs `step` and sets its note to the ReplicaSet's progress and the server's load meanwhile. */
async function underLoad(c: Conn, step: () => Promise<Row>): Promise<Row> {
  const [podsBefore, loadBefore] = [await replicaSetPods(c), await readLoad(c.admin, c.server.proc.pid)];
  const cpu = process.cpuUsage();
  const row = await step();
  const [podsAfter, loadAfter] = [await replicaSetPods(c), await readLoad(c.admin, c.server.proc.pid)];
  const load = loadBetween(loadBefore, loadAfter);
  row.note = `backlog pods made ${podsBefore} -> ${podsAfter}; ${describeLoad(load)}; bench client ${clientCore(cpu, load.seconds)} core`;
  return row;
}

async function phaseRows(c: Conn, phase: string, prefix: string): Promise<PhaseRows> {
  // The creates first: they take a second or two each, so they surely fall while the passes work.
  const create = await underLoad(c, () => createPods(`${phase}: create pod, concurrency ${CONCURRENCY}`, c.api, CONCURRENCY, `${prefix}-c${CONCURRENCY}`, CREATES));
  log(`backlog, ${phase}: ${fmt(rate(create))} creates/s at concurrency ${CONCURRENCY}`);
  const createHigh = await underLoad(c, () => createPods(`${phase}: create pod, concurrency ${HIGH}`, c.high, HIGH, `${prefix}-c${HIGH}`, CREATES));
  log(`backlog, ${phase}: ${fmt(rate(createHigh))} creates/s at concurrency ${HIGH}`);
  const get = await underLoad(c, () => pacedGets(`${phase}: get configmap, 1 at a time every ${GET_EVERY_MS} ms`, c.probe, { count: GETS }));
  log(`backlog, ${phase}: GET p99 ${fmt(summary(get.samples!).p99, 1)} ms`);
  return { get, create, createHigh };
}

async function benchBacklog(c: Conn): Promise<BacklogResults> {
  const { api } = c;
  await api.expect(201, 'POST', '/api/v1/namespaces', namespaceManifest(BACKLOG_NS));
  const nodes = (await getJson(api, '/api/v1/nodes')).items.length;
  if (nodes !== 0) throw new Error(`the cluster has ${nodes} nodes; the backlog needs none`);

  log(`backlog: Deployment of ${BACKLOG} replicas created; measuring while the passes work it off`);
  const d0 = performance.now();
  await api.expect(201, 'POST', `/apis/apps/v1/namespaces/${BACKLOG_NS}/deployments`, deploymentManifest(BACKLOG));
  const working = await phaseRows(c, 'backlog working', 'w');
  const rows = [working.create, working.createHigh, working.get];

  // Settled: every pod made, and each found unschedulable once (the scheduler still reads a batch of
  // them every pass, and counts their FailedScheduling events again every few minutes).
  let madeS = NaN;
  let markedS = NaN;
  const deadline = performance.now() + SETTLE_TIMEOUT_S * 1000;
  const waitFrom = await readLoad(c.admin, c.server.proc.pid);
  let lastLog = 0;
  while (performance.now() < deadline) {
    const made = await replicaSetPods(c);
    if (made >= BACKLOG && Number.isNaN(madeS)) {
      madeS = (performance.now() - d0) / 1000;
      log(`backlog: the ReplicaSet made all ${BACKLOG} pods ${madeS.toFixed(1)} s after the Deployment was created`);
    }
    if (made >= BACKLOG) {
      const pods = (await getJson(c.admin, `/api/v1/namespaces/${BACKLOG_NS}/pods`)).items as any[];
      const marked = pods.filter((p) => p.status?.conditions?.some((k: any) => k.type === 'PodScheduled' && k.status === 'False')).length;
      if (marked >= BACKLOG) {
        markedS = (performance.now() - d0) / 1000;
        log(`backlog: all ${BACKLOG} pods found unschedulable ${markedS.toFixed(1)} s after the Deployment was created`);
        break;
      }
      if (performance.now() - lastLog > 15_000) log(`backlog: ${marked} of ${BACKLOG} pods found unschedulable`);
    } else if (performance.now() - lastLog > 15_000) log(`backlog: ${made} of ${BACKLOG} pods made`);
    if (performance.now() - lastLog > 15_000) lastLog = performance.now();
    await sleep(made >= BACKLOG ? 3000 : 1000);
  }
  const waitLoad = loadBetween(waitFrom, await readLoad(c.admin, c.server.proc.pid));
  if (Number.isNaN(markedS)) {
    log(`backlog: not settled within ${SETTLE_TIMEOUT_S} s (BENCH_SETTLE_TIMEOUT); no settled rows`);
    return { rows, working, madeS, markedS, waitLoad };
  }
  const settled = await phaseRows(c, 'backlog settled', 's');
  rows.push(settled.create, settled.createHigh, settled.get);
  return { rows, working, settled, madeS, markedS, waitLoad };
}

// ---- nodes

interface NodesResults {
  row: Row;
  load: LoadDelta;
  agentCore: number;
  joinedS: number;
  readyAfter: number;
  lease?: Record<string, any>;
}

const isReadyNode = (n: any) => n.status?.conditions?.some((k: any) => k.type === 'Ready' && k.status === 'True');

async function benchNodes(c: Conn, agentData: string): Promise<NodesResults> {
  const { server } = c;
  let agent: Agent | undefined;
  try {
    log(`nodes: skiff agent --simulate ${NODES} joining`);
    agent = startSimulatedAgent(server, await server.joinToken(), NODES, agentData);
    const a = agent;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the agent did not join ${NODES} nodes within ${JOIN_TIMEOUT_S} s:\n${a.output().slice(-2000)}`)), JOIN_TIMEOUT_S * 1000);
    });
    await Promise.race([a.ready, late]).finally(() => clearTimeout(timer));
    const deadline = performance.now() + JOIN_TIMEOUT_S * 1000;
    let ready = 0;
    for (;;) {
      ready = (await getJson(c.admin, '/api/v1/nodes')).items.filter(isReadyNode).length;
      if (ready >= NODES) break;
      if (performance.now() > deadline) throw new Error(`only ${ready} of ${NODES} nodes Ready after ${JOIN_TIMEOUT_S} s`);
      await sleep(2000);
    }
    const joinedS = (performance.now() - a.spawnedAt) / 1000;
    log(`nodes: all ${NODES} nodes Ready ${joinedS.toFixed(1)} s after the agent was spawned; settling 10 s, then ${HEARTBEAT_S} s measured`);
    await sleep(10_000);

    const before = await readLoad(c.admin, server.proc.pid);
    const agentBefore = processCpuSeconds(a.pid);
    const cpu = process.cpuUsage();
    const row = await pacedGets(`${NODES} nodes heartbeating: get configmap, 1 at a time every ${GET_EVERY_MS} ms`, c.probe, { durationMs: HEARTBEAT_S * 1000 });
    const after = await readLoad(c.admin, server.proc.pid);
    const load = loadBetween(before, after);
    const agentCore = (processCpuSeconds(a.pid) - agentBefore) / load.seconds;
    row.note = `${describeLoad(load)}; agent process ${agentCore.toFixed(2)} core; bench client ${clientCore(cpu, load.seconds)} core`;
    const readyAfter = (await getJson(c.admin, '/api/v1/nodes')).items.filter(isReadyNode).length;
    const lease = await c.admin.request('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/sim-0');
    log(`nodes: GET p99 ${fmt(summary(row.samples!).p99, 1)} ms; ${readyAfter} of ${NODES} nodes Ready at the end`);
    return { row, load, agentCore, joinedS, readyAfter, lease: lease.status === 200 ? JSON.parse(lease.body) : undefined };
  } finally {
    await agent?.stop();
  }
}

// ---- figures

const p = (r: Row) => summary(r.samples!);

interface Raw {
  inserts: RawResult;
  insertCount: number;
  gets: number[];
  lease?: RawLeaseCpu;
}

function figures(raw: Raw, idle?: IdleResults, backlog?: BacklogResults, nodes?: NodesResults): Figure[] {
  const ins = summary(raw.inserts.each);
  const get = summary(raw.gets);
  const insertRate = (raw.insertCount * 1000) / raw.inserts.eachTotalMs;
  const batchRate = (raw.insertCount * 1000) / raw.inserts.batchTotalMs;
  const rawGetP99 = { value: get.p99, label: 'SELECT by key, p99' };
  const rawInsP99 = { value: ins.p99, label: 'INSERT, execute each, p99' };
  const rawRate = { value: insertRate, label: `INSERTs executed one at a time; one batch: ${fmt(batchRate)}/s` };
  const out: Figure[] = [];
  const phase = (label: string, rows: PhaseRows, goals: boolean) => {
    out.push({ figure: `${label}: GET p99`, value: p(rows.get).p99, unit: 'ms', raw: rawGetP99, goal: goals ? { atMost: GET_P99_GOAL_MS } : undefined });
    for (const [row, conc] of [[rows.create, CONCURRENCY], [rows.createHigh, HIGH]] as const) {
      out.push({ figure: `${label}: create p99, concurrency ${conc}`, value: p(row).p99, unit: 'ms', raw: rawInsP99, goal: goals ? { atMost: CREATE_P99_GOAL_MS } : undefined });
      out.push({ figure: `${label}: creates/s, concurrency ${conc}`, value: rate(row), unit: '/s', raw: rawRate, goal: conc === 64 ? { atLeast: CREATES_PER_S_GOAL } : undefined });
    }
  };
  if (idle?.get && idle.create && idle.createHigh) phase('idle', { get: idle.get, create: idle.create, createHigh: idle.createHigh }, false);
  if (backlog) {
    phase(`backlog of ${BACKLOG} working`, backlog.working, true);
    if (backlog.settled) phase(`backlog of ${BACKLOG} settled`, backlog.settled, true);
  }
  if (nodes) {
    out.push({ figure: `${NODES} nodes heartbeating: GET p99`, value: p(nodes.row).p99, unit: 'ms', raw: rawGetP99, goal: { atMost: GET_P99_GOAL_MS } });
    const lease = raw.lease;
    if (nodes.load.passCore !== undefined) {
      out.push({
        figure: `${NODES} nodes heartbeating: reconcile passes, share of a core (/metrics)`,
        value: nodes.load.passCore,
        unit: 'core',
        raw: lease ? { value: lease.readCpuS / lease.seconds, label: `every Lease's renewTime read once a second` } : undefined,
      });
    } else {
      out.push({
        figure: `${NODES} nodes heartbeating: WHOLE SERVER PROCESS, share of a core (/proc; no /metrics yet)`,
        value: nodes.load.processCore,
        unit: 'core',
        raw: lease ? { value: (lease.writeCpuS + lease.readCpuS) / lease.seconds, label: `${NODES / 10} Lease UPDATEs/s + every Lease read once a second` } : undefined,
      });
    }
  }
  return out;
}

// ---- main

async function main(): Promise<void> {
  const work = tempDir('skiff-bench-api-');
  const runStart = performance.now();
  console.log(
    `skiff API benchmark: sections ${[...SECTIONS].join(', ')}; ${PODS} idle pods, concurrency ${CONCURRENCY} and ${HIGH}, ` +
      `backlog ${BACKLOG}, ${CREATES} creates a row, ${GETS} GETs a row every ${GET_EVERY_MS} ms, ${NODES} nodes for ${HEARTBEAT_S} s; ` +
        `Node ${process.version}, ${availableParallelism()} CPUs (the bench's client shares them with the server)`,
  );
  let idle: IdleResults | undefined;
  let backlog: BacklogResults | undefined;
  let auth: AuthResults | undefined;
  let nodes: NodesResults | undefined;
  const loadModes: string[] = [];

  const withServer = async <T>(name: string, run: (c: Conn) => Promise<T>): Promise<T> => {
    const data = join(work, name);
    const server = await startServer(data);
    let conn: Conn | undefined;
    try {
      conn = await connect(server);
      const metrics = await passMetrics(conn.admin);
      loadModes.push(metrics ? `${name}: pass CPU from GET /metrics` : `${name}: GET /metrics answers 404 (or lacks the pass lines): only the server process's CPU, from /proc/${server.proc.pid}/stat`);
      return await run(conn);
    } finally {
      conn?.close();
      await server.stop();
      removeTempDir(data);
    }
  };

  try {
    if (SECTIONS.has('idle') || SECTIONS.has('backlog')) {
      await withServer('serve', async (c) => {
        if (SECTIONS.has('idle')) idle = await benchIdle(c);
        if (SECTIONS.has('backlog')) backlog = await benchBacklog(c);
      });
    }
    if (SECTIONS.has('auth')) auth = await withServer('serve-auth', benchAuth);
    if (SECTIONS.has('nodes')) nodes = await withServer('serve-nodes', (c) => benchNodes(c, join(work, 'agent')));

    // The baselines run with every server stopped, so nothing competes with them for the CPU.
    log('raw libSQL baselines');
    const template = storedPod ?? JSON.parse(podManifest('raw', 0));
    const insertCount = Math.max(PODS, CREATES);
    const raw: Raw = {
      inserts: await rawInserts(join(work, 'raw.db'), insertCount, template),
      insertCount,
      gets: [],
    };
    raw.gets = await rawGets(join(work, 'raw.db'), GETS, insertCount);
    if (nodes?.lease) raw.lease = await rawLeaseCpu(join(work, 'lease.db'), NODES, HEARTBEAT_S, nodes.lease);

    const rawRows: Row[] = [
      { operation: 'raw libSQL INSERT (execute each)', count: insertCount, samples: raw.inserts.each, totalMs: raw.inserts.eachTotalMs },
      { operation: 'raw libSQL INSERT (one batch)', count: insertCount, totalMs: raw.inserts.batchTotalMs },
      { operation: 'raw libSQL SELECT one row by key', count: GETS, samples: raw.gets, totalMs: raw.gets.reduce((a, b) => a + b, 0) },
    ];
    console.log('');
    if (idle) {
      console.log(`## idle: ${PODS} pods, concurrency ${CONCURRENCY} (and ${HIGH})`);
      console.log('');
      console.log(table(idle.rows));
      console.log('');
      const list = summary(idle.rows.find((r) => r.operation.startsWith('list'))!.samples!);
      const watch = summary(idle.watchLatencies);
      console.log(`list of ${PODS} pods: p50 ${list.p50.toFixed(0)} ms (${(idle.listBytes / 1024 / 1024).toFixed(1)} MiB of JSON)`);
      console.log(`watch delivery (write sent -> event received), ${idle.watchLatencies.length} patches: p50 ${watch.p50.toFixed(2)} ms, p99 ${watch.p99.toFixed(2)} ms`);
      console.log('');
    }
    if (backlog) {
      console.log(`## backlog: a Deployment of ${BACKLOG} replicas, no nodes (passes busy)`);
      console.log('');
      console.log(table(backlog.rows));
      console.log('');
      console.log(`Deployment created -> ReplicaSet made all ${BACKLOG} pods: ${fmt(backlog.madeS, 1)} s (${fmt(BACKLOG / backlog.madeS)} pods/s); -> every pod found unschedulable: ${fmt(backlog.markedS, 1)} s`);
      if (backlog.waitLoad) console.log(`waiting for it to settle (${fmt(backlog.waitLoad.seconds, 1)} s): ${describeLoad(backlog.waitLoad)}`);
      console.log('');
    }
    if (auth) {
      console.log(`## auth: the cost of authorization, ${AUTH_ROUNDS} rounds, the two interleaved`);
      console.log('');
      console.log(table(auth.rows));
      console.log('');
      for (const r of auth.ratios) console.log(`${r.op}: RBAC user / admin: p50 ${fmt(r.p50, 2)}x, p99 ${fmt(r.p99, 2)}x (goal: at most 1.10x)`);
      console.log('');
    }
    if (nodes) {
      console.log(`## nodes: ${NODES} simulated nodes heartbeating, ${HEARTBEAT_S} s`);
      console.log('');
      console.log(table([nodes.row]));
      console.log('');
      console.log(`agent spawned -> all ${NODES} nodes Ready: ${fmt(nodes.joinedS, 1)} s; Ready at the end of the window: ${nodes.readyAfter} of ${NODES}`);
      console.log('');
    }
    console.log('## raw libSQL baselines (same run, servers stopped)');
    console.log('');
    console.log(table(rawRows));
    if (raw.lease) {
      console.log(
        `Lease floor for ${NODES} nodes over ${raw.lease.seconds} s: ${Math.round((NODES * raw.lease.seconds) / 10)} UPDATEs ${fmt(raw.lease.writeCpuS, 3)} CPU s; ` +
          `${raw.lease.seconds} reads of every renewTime ${fmt(raw.lease.readCpuS, 3)} CPU s`,
      );
    }
    if (storedPod) console.log(`stored pod document: ${JSON.stringify(storedPod).length} bytes of JSON (the raw baseline inserts the same)`);
    console.log('');
    console.log('## figures against the raw baseline and the goals');
    console.log('');
    console.log(figureTable(figures(raw, idle, backlog, nodes)));
    console.log('');
    for (const m of loadModes) console.log(`load: ${m}`);
    console.log(
      `GETs are paced: one started every ${GET_EVERY_MS} ms, one at a time on one kept-alive connection. Creates: as many workers as the concurrency, ` +
        `each on its own kept-alive connection sending its next create once its last one answered; creates/s is count / wall time of the row.`,
    );
    console.log(`whole run: ${((performance.now() - runStart) / 1000).toFixed(0)} s`);
  } finally {
    progress.done();
    removeTempDir(work);
  }
}

await main();

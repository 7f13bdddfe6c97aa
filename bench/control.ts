// `npm run bench:control`: the reconcile pass at cluster scale, straight against a libSQL file (no
// HTTP). Nodes, leases and pods are written directly through the store; the kubelet is simulated
// by set-based SQL between passes; time moves on a ManualClock, so passes run back to back. For
// each size it prints one table: the scheduler binding pending (ownerless) pods, a backlog of pods
// no node takes (tried once each, then a pass with nothing changed), a Deployment scaled from 0, a
// pass with nothing to do after each, 10% of nodes lost until their pods' replacements are bound,
// and raw-SQL baselines writing as many rows in the same database (through its change-log triggers,
// as every write is). Then the goals, each beside what was measured. Times are of the passes alone,
// each timed per controller; the heap is V8's used heap, sampled at every database call and
// controller, from a collected baseline. Not part of npm test.
//   BENCH_SIZES ("1000x10000,5000x20000")    NODESxPODS, comma-separated
//   BENCH_STEPS ("scheduler,backlog,deployment,nodeloss")
//       scheduler: bind pending pods, the raw baselines, an idle pass over them
//       backlog: as many pods no node takes, each tried once, then a pass with nothing changed
//       deployment: scale a Deployment from 0, an idle pass over it
//       nodeloss: lose 10% of the nodes under that Deployment (needs deployment)
//       workloads: a DaemonSet over every node, then BENCH_CRONJOBS CronJobs due in the same minute
//   BENCH_CRONJOBS (1000)                      CronJobs in the workloads step
//   BENCH_MAX_PASSES (200)                     give up on a step after this many passes (a pass does at most batchSize)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Client } from '@libsql/client';
import { defaultControlOptions, eventObject, PassContext } from '../src/control/context.js';
import { CONTROLLERS } from '../src/control/pass.js';
import { addDefaultTolerations } from '../src/kinds/pod.js';
import { kindNamed } from '../src/kinds/registry.js';
import type { KObject } from '../src/kinds/types.js';
import { migrate } from '../src/node/migrate.js';
import { ManualClock } from '../src/store/clock.js';
import { openClient } from '../src/store/db.js';
import { Store, type WriteOp } from '../src/store/store.js';
import { cronJobObjects, daemonSetObject, msToNextMinute } from './workloads.js';
import { leaseObject, microTime, nodeObject, runKubelets, sampledClient, stamp } from './fixtures.js';
import { progress, step, stepDone } from './report.js';

interface Size {
  nodes: number;
  pods: number;
}

function sizesFromEnv(): Size[] {
  const raw = process.env.BENCH_SIZES || '1000x10000,5000x20000';
  return raw.split(',').map((s) => {
    const m = /^\s*(\d+)x(\d+)\s*$/.exec(s);
    if (!m || Number(m[1]) < 10 || Number(m[2]) < 1) throw new Error(`BENCH_SIZES entries are NODESxPODS with at least 10 nodes, got "${s}"`);
    return { nodes: Number(m[1]), pods: Number(m[2]) };
  });
}

type Step = 'scheduler' | 'backlog' | 'deployment' | 'nodeloss' | 'workloads';
const STEPS: Step[] = ['scheduler', 'backlog', 'deployment', 'nodeloss', 'workloads'];

function stepsFromEnv(): Set<Step> {
  const names = (process.env.BENCH_STEPS || STEPS.join(',')).split(',').map((s) => s.trim());
  for (const n of names) if (!STEPS.includes(n as Step)) throw new Error(`BENCH_STEPS entries are ${STEPS.join(', ')}, got "${n}"`);
  const steps = new Set(names as Step[]);
  if (steps.has('nodeloss') && !steps.has('deployment')) throw new Error('BENCH_STEPS: nodeloss needs deployment');
  return steps;
}

const MAX_PASSES = Number(process.env.BENCH_MAX_PASSES || 200);
const NS = 'bench';
const COMMIT_BATCH = 2000;
const CRONJOBS = Number(process.env.BENCH_CRONJOBS || 1000);
const LOST_FRACTION = 0.1;
const opts = defaultControlOptions;

// A real gc() for heap baselines, whether or not node was started with --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Peak of V8's used heap, sampled at every database call and between controllers. */
class HeapPeak {
  peak = 0;
  sample(): void {
    this.peak = Math.max(this.peak, getHeapStatistics().used_heap_size);
  }
  /** Collect garbage and start over from the heap that is left; returns that heap. */
  reset(): number {
    gc();
    this.peak = 0;
    this.sample();
    return this.peak;
  }
}


const MiB = (bytes: number) => bytes / 1024 / 1024;
const nodeName = (i: number) => `node-${String(i).padStart(5, '0')}`;

const CONTAINER = { name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' } } };

/** A node selector no node matches: pods with it are unschedulable. */
const NOWHERE = { 'bench.skiff.dev/nowhere': 'true' };

/** A pending pod as the API server would store it (defaults and default tolerations applied). */
function podObject(name: string, now: Date, nodeSelector?: Record<string, string>): KObject {
  const pod: KObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, uid: crypto.randomUUID(), creationTimestamp: stamp(now), labels: { app: 'bench' } },
    spec: { containers: [structuredClone(CONTAINER)], ...(nodeSelector ? { nodeSelector } : {}) },
  };
  kindNamed('Pod')!.defaults!(pod);
  addDefaultTolerations(pod.spec, opts.defaultNotReadyTolerationSeconds, opts.defaultUnreachableTolerationSeconds);
  return pod;
}

function deploymentObject(now: Date): KObject {
  const d: KObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: NS, uid: crypto.randomUUID(), generation: 1, creationTimestamp: stamp(now), labels: { app: 'web' } },
    spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [structuredClone(CONTAINER)] } } },
  };
  kindNamed('Deployment')!.defaults!(d);
  return d;
}

interface PassStats {
  passes: number;
  /** Time inside passes, ms (the kubelet simulation and the checks between passes are not counted). */
  passMs: number;
  roundTrips: number;
  writes: number;
  /** Objects written by each pass. */
  passWrites: number[];
  /** Pods the scheduler tried to place (placed or not). */
  attempts: number;
  /** ms per controller (and compaction), summed over the passes. */
  perController: Map<string, number>;
  converged: boolean;
}

function emptyStats(): PassStats {
  return { passes: 0, passMs: 0, roundTrips: 0, writes: 0, passWrites: [], attempts: 0, perController: new Map(), converged: false };
}

/** A cluster in a fresh database: the store, its clock, and the raw client for setup and checks. */
class Cluster {
  readonly clock = new ManualClock();
  readonly heap = new HeapPeak();
  readonly raw: Client;
  readonly store: Store;
  readonly nodeNames: string[];

  constructor(
    file: string,
    readonly size: Size,
  ) {
    this.raw = openClient(`file:${file}`);
    this.store = new Store(sampledClient(this.raw, this.heap), this.clock);
    this.nodeNames = Array.from({ length: size.nodes }, (_, i) => nodeName(i));
  }

  async setUp(): Promise<void> {
    await migrate(this.raw);
    await this.store.init();
    const now = this.clock.now();
    await this.store.commit([{ op: 'create', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, uid: crypto.randomUUID(), creationTimestamp: stamp(now) }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } } }]);
    // Room for every pod twice over, so the nodes left after a node loss still take the replacements.
    const podsPerNode = Math.max(110, 2 * Math.ceil(this.size.pods / this.size.nodes));
    const ops: WriteOp[] = this.nodeNames.flatMap((name) => [
      { op: 'create' as const, object: nodeObject(name, podsPerNode, now) },
      { op: 'create' as const, object: leaseObject(name, now) },
    ]);
    await this.commitInBatches(ops);
  }

  async commitInBatches(ops: WriteOp[]): Promise<void> {
    step('setup: writing objects', ops.length);
    for (let i = 0; i < ops.length; i += COMMIT_BATCH) {
      const results = await this.store.commit(ops.slice(i, i + COMMIT_BATCH));
      if (results.some((r) => !r.ok)) throw new Error('a setup write failed');
      stepDone(Math.min(ops.length, i + COMMIT_BATCH));
    }
  }

  async count(sql: string, args: (string | number)[] = []): Promise<number> {
    const rs = await this.raw.execute({ sql, args });
    return Number(rs.rows[0].n);
  }

  /** One pass, as reconcile() runs it (same controllers, order and compaction), timing each controller. */
  async pass(stats: PassStats): Promise<number> {
    const before = this.store.roundTrips;
    const t0 = performance.now();
    const ctx = new PassContext(this.store, this.clock, opts);
    const time = async (name: string, step: () => Promise<void>) => {
      const s = performance.now();
      await step();
      stats.perController.set(name, (stats.perController.get(name) ?? 0) + performance.now() - s);
      this.heap.sample();
    };
    for (const [name, controller] of CONTROLLERS) await time(name, () => controller(ctx));
    await time('compact', async () => {
      await this.store.compact(opts.changeLogSize, ctx.timestamp(-opts.eventTtlSeconds * 1000));
    });
    stats.passMs += performance.now() - t0;
    stats.passes++;
    stepDone(stats.passes, `${stats.writes + ctx.writes} writes`);
    stats.roundTrips += this.store.roundTrips - before;
    stats.writes += ctx.writes;
    stats.attempts += ctx.schedulingAttempts;
    stats.passWrites.push(ctx.writes);
    return ctx.writes;
  }

  /** Passes back to back until `done` (checked before each pass), with `between` run after each. */
  async passesUntil(done: () => Promise<boolean>, between?: () => Promise<void>): Promise<PassStats> {
    const stats = emptyStats();
    while (stats.passes < MAX_PASSES) {
      if (await done()) {
        stats.converged = true;
        break;
      }
      await this.pass(stats);
      await between?.();
    }
    return stats;
  }

  /** Passes until one writes nothing (that last one included), with `between` run after each. */
  async settle(between?: () => Promise<void>): Promise<PassStats> {
    const stats = emptyStats();
    while (stats.passes < MAX_PASSES) {
      if ((await this.pass(stats)) === 0) {
        stats.converged = true;
        break;
      }
      await between?.();
    }
    return stats;
  }

  /** The kubelets that are up renew their leases. */
  async renewLeases(except: string[] = []): Promise<void> {
    await this.raw.execute({
      sql: `UPDATE objects SET object = json_set(object, '$.spec.renewTime', ?)
        WHERE kind = 'Lease' AND namespace = 'kube-node-lease' AND name NOT IN (SELECT value FROM json_each(?))`,
      args: [microTime(this.clock.now()), JSON.stringify(except)],
    });
  }

  /** The kubelets that are up start the pods bound to them: Running and Ready, with a pod IP (summary kept in step). */
  async kubelet(down: string[] = []): Promise<void> {
    await runKubelets(this.raw, this.clock.now(), down);
  }


  pendingPods(): Promise<number> {
    return this.count("SELECT COUNT(*) AS n FROM objects WHERE kind = 'Pod' AND (node_name IS NULL OR node_name = '')");
  }

  /** Pods bound to a node that is up and not being deleted. */
  livePodsOnNodesUp(down: string[]): Promise<number> {
    return this.count(
      `SELECT COUNT(*) AS n FROM objects WHERE kind = 'Pod' AND node_name IS NOT NULL AND node_name != ''
        AND node_name NOT IN (SELECT value FROM json_each(?)) AND json_extract(object, '$.metadata.deletionTimestamp') IS NULL`,
      [JSON.stringify(down)],
    );
  }

  close(): void {
    this.raw.close();
  }
}

interface Measured {
  step: string;
  pods: number;
  stats: PassStats;
  heapBase: number;
  heapPeak: number;
  /** What went wrong, if anything (printed after the step's name). */
  problem?: string;
  /** Whether pods per second means anything for this step. */
  rate: boolean;
}

/** Runs `work` from a collected heap, and reads the peak it reached. */
async function measured(c: Cluster, step: string, pods: number, work: () => Promise<PassStats>): Promise<Measured> {
  const heapBase = c.heap.reset();
  progress.start(`${c.size.nodes}x${c.size.pods} ${step}: passes`);
  const stats = await work();
  c.heap.sample();
  const problem = stats.converged ? undefined : `NOT DONE after ${stats.passes} passes`;
  return { step, pods, stats, heapBase, heapPeak: c.heap.peak, problem, rate: true };
}

/** The scheduler alone: pods created pending, then passes until none is. */
async function bindPending(c: Cluster): Promise<Measured> {
  const now = c.clock.now();
  const width = String(c.size.pods).length;
  const t0 = performance.now();
  await c.commitInBatches(Array.from({ length: c.size.pods }, (_, i) => ({ op: 'create' as const, object: podObject(`pod-${String(i).padStart(width, '0')}`, now) })));
  console.log(`  created ${c.size.pods} pending pods in the store in ${((performance.now() - t0) / 1000).toFixed(1)} s (batches of ${COMMIT_BATCH})`);
  return measured(c, `scheduler: bind ${c.size.pods} pending pods`, c.size.pods, () => c.passesUntil(async () => (await c.pendingPods()) === 0));
}

interface Baseline {
  statementMs: number;
  batchMs: number;
  /** The scheduler's writes: each pod rewritten and an Event inserted for it, one statement each. */
  writesMs: number;
}

/**
 * As many pod rows rewritten by plain SQL in the same database (its triggers and change log
 * included): in one statement, and by key in one batch; then the scheduler's writes, as plain SQL by
 * key in one batch: each pod rewritten (bound) and an Event written for it.
 */
async function rawUpdates(c: Cluster): Promise<Baseline> {
  const t0 = performance.now();
  await c.raw.execute("UPDATE objects SET object = json_set(object, '$.spec.nodeName', node_name) WHERE kind = 'Pod'");
  const statementMs = performance.now() - t0;
  const rows = await c.raw.execute("SELECT namespace, name, uid, object FROM objects WHERE kind = 'Pod'");
  const stmts = rows.rows.map((r) => ({ sql: "UPDATE objects SET object = ? WHERE kind = 'Pod' AND namespace = ? AND name = ?", args: [r.object, r.namespace, r.name] }));
  const t1 = performance.now();
  await c.raw.batch(stmts, 'write');
  const batchMs = performance.now() - t1;
  const now = stamp(c.clock.now());
  const writes = rows.rows.flatMap((r, i) => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: String(r.name), namespace: String(r.namespace), uid: String(r.uid) } };
    const event = eventObject({ involved: pod, type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${r.namespace}/${r.name} to ${c.nodeNames[i % c.nodeNames.length]}`, component: 'raw' }, now);
    return [
      stmts[i],
      {
        sql: "INSERT INTO objects (kind, namespace, name, uid, rv, object) VALUES ('Event', ?, ?, ?, 0, ?)",
        args: [event.metadata!.namespace!, event.metadata!.name!, event.metadata!.uid!, JSON.stringify(event)],
      },
    ];
  });
  const t2 = performance.now();
  await c.raw.batch(writes, 'write');
  return { statementMs, batchMs, writesMs: performance.now() - t2 };
}

/** Back to an empty cluster (nodes and leases only), its change log compacted outside any measurement. */
async function clearPods(c: Cluster): Promise<void> {
  await c.raw.execute("DELETE FROM objects WHERE kind IN ('Pod', 'Event')");
  await c.raw.execute('DELETE FROM schedule_backoff');
  await c.store.compact(opts.changeLogSize);
}

/**
 * As many pods as the size has that no node takes (a nodeSelector nothing matches): passes until each
 * was tried once (and said why it waits), then one pass with nothing changed, which should try none.
 */
async function unschedulableBacklog(c: Cluster): Promise<{ tried: Measured; idle: Measured }> {
  const now = c.clock.now();
  const width = String(c.size.pods).length;
  await c.commitInBatches(Array.from({ length: c.size.pods }, (_, i) => ({ op: 'create' as const, object: podObject(`stuck-${String(i).padStart(width, '0')}`, now, NOWHERE) })));
  const tried = await measured(c, `backlog: ${c.size.pods} pods no node takes, each tried once`, c.size.pods, () => c.settle());
  if (tried.stats.attempts !== c.size.pods) tried.problem = `${tried.stats.attempts} attempts`;
  // Their back-off (10 s at most) is over; nothing changed (the kubelets renew their leases).
  c.clock.advance(15_000);
  await c.renewLeases();
  const idle = await measured(c, `backlog: one pass over ${c.size.pods} unschedulable pods, nothing changed`, c.size.pods, async () => {
    const stats = emptyStats();
    stats.converged = (await c.pass(stats)) === 0;
    return stats;
  });
  if (idle.problem) idle.problem = `it wrote ${idle.stats.writes} objects`;
  if (idle.stats.attempts) idle.problem = `${idle.stats.attempts} pods tried`;
  await clearPods(c);
  return { tried: { ...tried, rate: false }, idle: { ...idle, rate: false } };
}

/** A Deployment created at 0 replicas and settled, then scaled to every pod: passes until all are bound. */
async function scaleDeployment(c: Cluster): Promise<Measured> {
  await c.store.commit([{ op: 'create', object: deploymentObject(c.clock.now()) }]);
  await c.settle();
  const d = (await c.store.get('Deployment', NS, 'web'))!;
  const scaled = structuredClone(d);
  (scaled.spec as { replicas: number }).replicas = c.size.pods;
  scaled.metadata!.generation = (d.metadata!.generation ?? 1) + 1;
  const [written] = await c.store.commit([{ op: 'update', object: scaled, rv: Number(d.metadata!.resourceVersion) }]);
  if (!written.ok) throw new Error('scaling the Deployment failed');
  return measured(c, `deployment: scale 0 -> ${c.size.pods}, all bound`, c.size.pods, () =>
    c.passesUntil(async () => (await c.pendingPods()) === 0 && (await c.livePodsOnNodesUp([])) === c.size.pods),
  );
}

/** Every pod Running and Ready and the statuses caught up, then one pass that should find nothing to do. */
async function idlePass(c: Cluster, what: string): Promise<Measured> {
  await c.kubelet();
  const settled = await c.settle(() => c.kubelet());
  if (!settled.converged) throw new Error(`the cluster did not settle within ${MAX_PASSES} passes`);
  const idle = await measured(c, `one pass with nothing to do: ${what}`, c.size.pods, async () => {
    const stats = emptyStats();
    stats.converged = (await c.pass(stats)) === 0;
    return stats;
  });
  if (idle.problem) idle.problem = `it wrote ${idle.stats.writes} objects`;
  return { ...idle, rate: false };
}

/**
 * 10% of the nodes stop renewing their leases (the others renew in bulk each time the clock moves):
 * first past node-monitor-grace-period (nodes Unknown, tainted, their pods not Ready), then past the
 * 300 s unreachable toleration (pods evicted, replaced, and bound elsewhere), the kubelets that are up
 * starting pods between passes.
 */
async function loseNodes(c: Cluster): Promise<{ detect: Measured; replace: Measured }> {
  const lost = c.nodeNames.slice(0, Math.max(1, Math.round(c.size.nodes * LOST_FRACTION)));
  const lostPods = await c.count("SELECT COUNT(*) AS n FROM objects WHERE kind = 'Pod' AND node_name IN (SELECT value FROM json_each(?))", [JSON.stringify(lost)]);
  const kubelet = () => c.kubelet(lost);

  c.clock.advance((opts.nodeMonitorGracePeriodSeconds + 1) * 1000);
  await c.renewLeases(lost);
  const detect = await measured(c, `node loss: ${lost.length} nodes Unknown, their pods not Ready`, lostPods, () => c.settle(kubelet));

  c.clock.advance((opts.defaultUnreachableTolerationSeconds + 1) * 1000);
  await c.renewLeases(lost);
  const replace = await measured(c, `node loss: ${lostPods} pods evicted, replacements bound`, lostPods, () =>
    c.passesUntil(async () => (await c.pendingPods()) === 0 && (await c.livePodsOnNodesUp(lost)) === c.size.pods, kubelet),
  );
  return { detect, replace };
}

/** Pods owned by objects of `kind` (through their controller ownerReference), bound to a node. */
function boundPodsOf(c: Cluster, kind: string): Promise<number> {
  return c.count(
    `SELECT COUNT(*) AS n FROM objects p WHERE p.kind = 'Pod' AND COALESCE(p.node_name, '') != ''
      AND p.owner_uid IN (SELECT uid FROM objects WHERE kind = ?)`,
    [kind],
  );
}

/**
 * A DaemonSet over every node (a pod each, bound and Running), then `cronJobs` CronJobs made in one
 * minute and all due at the next: each makes its Job, each Job its pod, and the pods are bound.
 */
async function workloads(c: Cluster, cronJobs: number): Promise<Measured[]> {
  const kubelet = () => c.kubelet();
  await c.store.commit([{ op: 'create', object: daemonSetObject(NS, c.clock.now()) }]);
  // Nodes lost in an earlier step are tainted unreachable (NoSchedule): no DaemonSet pod goes there.
  const eligible = await c.count(
    `SELECT COUNT(*) AS n FROM objects WHERE kind = 'Node' AND NOT EXISTS (SELECT 1 FROM json_each(object, '$.spec.taints') WHERE value ->> 'effect' = 'NoSchedule')`,
  );
  const ds = await measured(c, `daemonset: a pod on each of ${eligible} nodes, all bound`, eligible, () =>
    c.passesUntil(async () => (await boundPodsOf(c, 'DaemonSet')) === eligible, kubelet),
  );
  const dsIdle = await idlePass(c, `a DaemonSet on ${eligible} nodes`);

  await c.commitInBatches(cronJobObjects(NS, cronJobs, c.clock.now()).map((object) => ({ op: 'create' as const, object })));
  await c.settle(kubelet);
  c.clock.advance(msToNextMinute(c.clock.now()));
  const cron = await measured(c, `cronjobs: ${cronJobs} due in the same minute, each Job's pod bound`, cronJobs, () =>
    c.passesUntil(async () => (await boundPodsOf(c, 'Job')) === cronJobs, kubelet),
  );
  const cronIdle = await idlePass(c, `${cronJobs} CronJobs, their Jobs running`);
  return [ds, dsIdle, cron, cronIdle];
}

// ---- report

function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(head), rule, ...body.map(line)].join('\n');
}

function measuredRow(m: Measured): string[] {
  const s = m.stats;
  return [
    m.step + (m.problem ? ` (${m.problem})` : ''),
    String(m.pods),
    String(s.passes),
    String(s.roundTrips),
    String(s.writes),
    String(s.attempts),
    s.passMs.toFixed(0),
    m.rate && s.passMs ? ((m.pods * 1000) / s.passMs).toFixed(0) : '-',
    `${MiB(m.heapBase).toFixed(0)} / ${MiB(m.heapPeak).toFixed(0)}`,
  ];
}

function baselineRow(step: string, pods: number, ms: number, writes = pods): string[] {
  return [step, String(pods), '-', '1', String(writes), '-', ms.toFixed(0), ((pods * 1000) / ms).toFixed(0), '-'];
}

/** Where the pass time of each step went, per controller. */
function breakdown(steps: Measured[]): string {
  return steps
    .map((m) => {
      const parts = [...m.stats.perController].map(([name, ms]) => `${name} ${ms.toFixed(0)}`);
      return `  ${m.step}: ${parts.join(', ')}; writes per pass: ${m.stats.passWrites.join(', ')}`;
    })
    .join('\n');
}

/** What the goals are checked against, from one size. */
interface Figures {
  size: Size;
  bind?: Measured;
  baseline?: Baseline;
  backlogIdle?: Measured;
  scale?: Measured;
  ds?: Measured;
  dsIdle?: Measured;
  cron?: Measured;
  cronIdle?: Measured;
}

async function benchSize(size: Size, steps: Set<Step>): Promise<Figures> {
  const work = mkdtempSync(join(tmpdir(), 'skiff-bench-control-'));
  const c = new Cluster(join(work, 'control.db'), size);
  const figures: Figures = { size };
  try {
    console.log(`\n## ${size.nodes} nodes, ${size.pods} pods`);
    const t0 = performance.now();
    await c.setUp();
    console.log(`  created ${size.nodes} nodes and leases in the store in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const measuredSteps: Measured[] = [];
    const baselines: string[][] = [];
    const ratios: string[] = [];
    let baseline: Baseline | undefined;
    if (steps.has('scheduler')) {
      const bind = await bindPending(c);
      baseline = await rawUpdates(c);
      measuredSteps.push(bind, await idlePass(c, `${size.pods} Running pods`));
      await clearPods(c);
      baselines.push(
        baselineRow('baseline: raw UPDATE of every pod row, one statement', size.pods, baseline.statementMs),
        baselineRow('baseline: raw UPDATE by key, one batch of N statements', size.pods, baseline.batchMs),
        baselineRow("baseline: the scheduler's writes raw, each pod UPDATE and Event INSERT by key, one batch", size.pods, baseline.writesMs, 2 * size.pods),
      );
      ratios.push(
        `scheduler bind time / raw one-statement UPDATE: ${(bind.stats.passMs / baseline.statementMs).toFixed(1)}x`,
        `scheduler bind time / raw batch of ${size.pods} UPDATEs: ${(bind.stats.passMs / baseline.batchMs).toFixed(1)}x`,
        `scheduler bind time / raw batch of its writes (${size.pods} UPDATEs, ${size.pods} INSERTs): ${(bind.stats.passMs / baseline.writesMs).toFixed(1)}x`,
      );
      Object.assign(figures, { bind, baseline });
    }
    if (steps.has('backlog')) {
      const backlog = await unschedulableBacklog(c);
      measuredSteps.push(backlog.tried, backlog.idle);
      figures.backlogIdle = backlog.idle;
    }
    if (steps.has('deployment')) {
      const scale = await scaleDeployment(c);
      measuredSteps.push(scale, await idlePass(c, `a Deployment of ${size.pods} Running pods`));
      if (baseline) ratios.push(`deployment scale-up time / raw batch of ${size.pods} UPDATEs: ${(scale.stats.passMs / baseline.batchMs).toFixed(1)}x`);
      figures.scale = scale;
    }
    if (steps.has('nodeloss')) {
      const loss = await loseNodes(c);
      measuredSteps.push(loss.detect, loss.replace);
    }
    if (steps.has('workloads')) {
      const [ds, dsIdle, cron, cronIdle] = await workloads(c, CRONJOBS);
      measuredSteps.push(ds, dsIdle, cron, cronIdle);
      if (baseline) {
        ratios.push(
          `daemonset rollout time / raw batch of ${size.pods} UPDATEs: ${(ds.stats.passMs / baseline.batchMs).toFixed(1)}x`,
          `cronjobs (${CRONJOBS} Jobs and pods) time / raw batch of ${size.pods} UPDATEs: ${(cron.stats.passMs / baseline.batchMs).toFixed(1)}x`,
        );
      }
      Object.assign(figures, { ds, dsIdle, cron, cronIdle });
    }
    progress.done();

    console.log('');
    console.log(
      markdownTable(
        ['step', 'pods', 'passes', 'round trips', 'writes', 'pods tried', 'pass ms', 'pods/s', 'heap MiB base / peak'],
        [...measuredSteps.map(measuredRow), ...baselines],
      ),
    );
    console.log('');
    for (const r of ratios) console.log(r);
    console.log('pass time per controller, ms:');
    console.log(breakdown(measuredSteps));
    return figures;
  } finally {
    c.close();
    rmSync(work, { recursive: true, force: true });
  }
}

const rate = (pods: number, ms: number) => ((pods * 1000) / ms).toFixed(0);

/** The goals (issue 9), each beside what this run measured. */
function goals(all: Figures[]): string {
  const rows: string[][] = [];
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  for (const f of all) {
    const at = `${f.size.nodes.toLocaleString('en')} nodes, ${f.size.pods.toLocaleString('en')} pods`;
    if (f.bind) {
      const s = f.bind.stats;
      const alone = s.perController.get('scheduler') ?? s.passMs;
      const passRate = (f.size.pods * 1000) / s.passMs;
      const goal = f.size.nodes === 1000;
      rows.push([
        `scheduler ${goal ? 'binds at >= 3,000 pods/s' : 'pods/s'} (${at})`,
        `${rate(f.size.pods, s.passMs)} pods/s over whole passes (the scheduler alone ${rate(f.size.pods, alone)})`,
        goal ? yes(passRate >= 3000) : '-',
      ]);
      if (f.baseline) {
        rows.push([
          `scheduler within 2x of a raw batch of its writes (${at})`,
          `${(s.passMs / f.baseline.writesMs).toFixed(1)}x (${s.passMs.toFixed(0)} ms / ${f.baseline.writesMs.toFixed(0)} ms); of its pod UPDATEs alone ${(s.passMs / f.baseline.batchMs).toFixed(1)}x`,
          yes(s.passMs <= 2 * f.baseline.writesMs),
        ]);
      }
    }
    if (f.backlogIdle) {
      const s = f.backlogIdle.stats;
      rows.push([
        `a pass over ${f.size.pods.toLocaleString('en')} unschedulable pods, nothing changed, costs almost nothing (${at})`,
        `${s.passMs.toFixed(0)} ms (the scheduler ${(s.perController.get('scheduler') ?? 0).toFixed(1)} ms, ${s.roundTrips} round trips), ${s.attempts} pods tried`,
        yes(s.attempts === 0),
      ]);
    }
    if (f.scale) {
      const was = f.size.nodes === 1000 && f.size.pods === 10_000 ? ', as fast as can be (was 22.8 s)' : '';
      rows.push([`Deployment scaled 0 -> ${f.size.pods.toLocaleString('en')}, all bound${was} (${at})`, `${(f.scale.stats.passMs / 1000).toFixed(1)} s${f.scale.problem ? ` (${f.scale.problem})` : ''}`, '-']);
    }
    // Issue 12: the new controllers keep a pass bounded (round trips per pass) at this size.
    for (const m of [f.ds, f.cron]) {
      if (!m) continue;
      const perPass = m.stats.roundTrips / Math.max(1, m.stats.passes);
      rows.push([
        `${m.step}: round trips per pass stay bounded (${at})`,
        `${m.stats.passes} passes, ${perPass.toFixed(1)} round trips per pass, ${(m.stats.passMs / 1000).toFixed(1)} s, heap peak ${(m.heapPeak / 2 ** 20).toFixed(0)} MiB${m.problem ? ` (${m.problem})` : ''}`,
        yes(!m.problem && perPass <= CONTROLLERS.length * 3 + 1),
      ]);
    }
    for (const m of [f.dsIdle, f.cronIdle]) {
      if (!m) continue;
      rows.push([`${m.step}: writes nothing (${at})`, `${m.stats.writes} writes, ${m.stats.roundTrips} round trips, ${m.stats.passMs.toFixed(0)} ms`, yes(m.stats.writes === 0)]);
    }
  }
  return markdownTable(['goal', 'measured', 'met'], rows);
}

async function main(): Promise<void> {
  const sizes = sizesFromEnv();
  const steps = stepsFromEnv();
  console.log(`skiff control-plane benchmark: ${sizes.map((s) => `${s.nodes}x${s.pods}`).join(', ')} (nodes x pods), steps ${[...steps].join(', ')}, Node ${process.version}`);
  const all: Figures[] = [];
  for (const size of sizes) all.push(await benchSize(size, steps));
  progress.done();
  console.log('\n## goals\n');
  console.log(goals(all));
}

await main();

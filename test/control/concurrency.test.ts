// Racing reconcile passes, property-based. fast-check generates histories of API writes (Deployments,
// ReplicaSets, pods, cordons, lost nodes, time passing) run at the same time as up to three reconcile
// passes (over two Stores on two libSQL clients of one database file, as two Workers would race) and
// node syncs. Every database round trip waits for fast-check's scheduler, so it picks the interleaving.
// After every step the change log is replayed to check invariants at every revision; at the end,
// passes and node syncs run alone until nothing changes, and the cluster must have converged.
// A second property races bare schedulers, and a last test replays, step by step, the over-commit
// the second property found.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@libsql/client';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { reconcile } from '../../src/control/pass.js';
import { scheduler } from '../../src/control/scheduler.js';
import { MAX_BACKOFF_MS } from '../../src/control/scheduler-reads.js';
import type { KObject } from '../../src/kinds/types.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { jsonRequest } from '../helpers/json-request.js';
import { NodePlayer } from '../helpers/node-player.js';

const NS = 'default';
// Passes that race on purpose: without the lease that would otherwise make all but one wait.
const RACING = { ...defaultControlOptions, passLeaseSeconds: 0 };
const NODES = ['n1', 'n2', 'n3'];
// Tight on purpose (12 pod slots, 3 cpus), so racing schedulers fight over the last room; a roomy
// spare node joins for the final check, when every workload must reach its full size.
const ALLOCATABLE = { cpu: '1', memory: '8Gi', pods: '4' };
const SPARE = { name: 'spare', allocatable: { cpu: '8', memory: '32Gi', pods: '40' } };
const DEPLOYMENTS = ['d1', 'd2'];
const REPLICA_SETS = ['r1', 'r2'];
const APPS = [...DEPLOYMENTS, ...REPLICA_SETS];
const WORKLOAD_CPU = '100m';

// ---------------------------------------------------------------- the cluster under test

type Request = (path: string, init?: RequestInit) => Promise<Response>;
/** What every database call waits for first, when set: fast-check's scheduler, or a test's own hold. */
type Gate = { wait?: (label: string) => Promise<unknown> };

interface Stores {
  dir: string;
  clock: ManualClock;
  /** Two Stores over two libSQL clients of one database file; their calls are labelled A and B. */
  stores: Store[];
  gate: Gate;
}

interface Cluster extends Stores {
  request: Request;
  players: NodePlayer[];
}

/** Every execute and batch of `client` first waits for the gate, when one is set. */
function gateClient(client: Client, gate: Gate, label: string): void {
  for (const method of ['execute', 'batch'] as const) {
    const original = (client[method] as (...args: unknown[]) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      if (gate.wait) await gate.wait(label);
      return original(...args);
    };
  }
}

async function openStores(): Promise<Stores> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-race-'));
  const url = `file:${join(dir, 'skiff.db')}`;
  const clock = new ManualClock();
  const first = openClient(url);
  await migrate(first);
  const second = openClient(url);
  const stores = [new Store(first, clock), new Store(second, clock)];
  await stores[0].init();
  const gate: Gate = {};
  gateClient(first, gate, 'A');
  gateClient(second, gate, 'B');
  return { dir, clock, stores, gate };
}

async function openCluster(): Promise<Cluster> {
  const { dir, clock, stores, gate } = await openStores();
  // The API serves from the first store; passes run on either.
  const app = createApp({ store: stores[0], clock, authenticate: () => true });
  const request: Request = async (path, init = {}) => app.fetch(new Request(`http://skiff${path}`, init));
  const players = NODES.map((name) => new NodePlayer(request, { name, allocatable: ALLOCATABLE }, () => clock.now()));
  for (const p of players) await p.register();
  for (const app of APPS) {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: app }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } };
    await send(request, `/api/v1/namespaces/${NS}/services`, 'POST', svc);
  }
  return { dir, clock, stores, gate, request, players };
}

function closeStores(c: Stores): void {
  for (const s of c.stores) s.close();
  rmSync(c.dir, { recursive: true, force: true });
}

/** An API call that may lose a race (404, 409) but must never fail otherwise. */
async function send(request: Request, path: string, method: string, body?: unknown, type = 'application/json'): Promise<Response> {
  const res = await request(path, jsonRequest(method, body, type));
  if (!res.ok && res.status !== 404 && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

// ---------------------------------------------------------------- histories

type Action =
  | { t: 'deploy'; name: string; replicas: number; image: string; recreate: boolean }
  | { t: 'image'; name: string; image: string }
  | { t: 'replicaset'; name: string; replicas: number }
  | { t: 'scale'; resource: 'deployments' | 'replicasets'; name: string; replicas: number }
  | { t: 'delete'; resource: 'deployments' | 'replicasets'; name: string; foreground: boolean }
  | { t: 'cordon'; node: string; on: boolean }
  | { t: 'pod'; name: string; cpu: string }
  | { t: 'deletePod'; index: number }
  | { t: 'alive'; node: string; alive: boolean }
  | { t: 'advance'; seconds: number };

interface Step {
  actions: Action[];
  /** Passes run at once in this step, each on store 0 or 1. */
  passes: number[];
  /** Nodes whose player syncs in this step. */
  syncs: string[];
}

const replicas = fc.integer({ min: 0, max: 6 });
const image = fc.constantFrom('img:1', 'img:2', 'img:3');
const workload = fc.oneof(
  fc.constantFrom(...DEPLOYMENTS).map((name) => ({ resource: 'deployments' as const, name })),
  fc.constantFrom(...REPLICA_SETS).map((name) => ({ resource: 'replicasets' as const, name })),
);

const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('deploy' as const), name: fc.constantFrom(...DEPLOYMENTS), replicas, image, recreate: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('image' as const), name: fc.constantFrom(...DEPLOYMENTS), image }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('replicaset' as const), name: fc.constantFrom(...REPLICA_SETS), replicas }), weight: 3 },
  { arbitrary: fc.tuple(workload, replicas).map(([w, r]): Action => ({ t: 'scale', ...w, replicas: r })), weight: 3 },
  { arbitrary: fc.tuple(workload, fc.boolean()).map(([w, foreground]): Action => ({ t: 'delete', ...w, foreground })), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('cordon' as const), node: fc.constantFrom(...NODES), on: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('pod' as const), name: fc.integer({ min: 0, max: 5 }).map((i) => `solo-${i}`), cpu: fc.constantFrom('250m', '500m', '750m') }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('deletePod' as const), index: fc.nat(40) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('alive' as const), node: fc.constantFrom(...NODES), alive: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 200 }) }), weight: 1 },
);

const step: fc.Arbitrary<Step> = fc.record({
  actions: fc.array(action, { maxLength: 2 }),
  passes: fc.array(fc.constantFrom(0, 1), { minLength: 0, maxLength: 3 }),
  syncs: fc.subarray(NODES),
});

const container = (img: string) => ({ name: 'app', image: img, ports: [{ containerPort: 8080 }], resources: { requests: { cpu: WORKLOAD_CPU } } });
const template = (app: string, img: string) => ({ metadata: { labels: { app } }, spec: { containers: [container(img)] } });
const apps = (resource: string, name = '') => `/apis/apps/v1/namespaces/${NS}/${resource}${name ? `/${name}` : ''}`;
const MERGE = 'application/merge-patch+json';

async function act(c: Cluster, a: Action): Promise<void> {
  const r = c.request;
  switch (a.t) {
    case 'deploy': {
      const strategy = a.recreate ? { type: 'Recreate' } : { type: 'RollingUpdate' };
      const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: a.name }, spec: { replicas: a.replicas, selector: { matchLabels: { app: a.name } }, strategy, template: template(a.name, a.image) } };
      const res = await send(r, apps('deployments'), 'POST', d);
      if (res.status === 409) await send(r, apps('deployments', a.name), 'PATCH', { spec: { replicas: a.replicas, template: { spec: { containers: [container(a.image)] } } } }, MERGE);
      return;
    }
    case 'image':
      await send(r, apps('deployments', a.name), 'PATCH', { spec: { template: { spec: { containers: [container(a.image)] } } } }, MERGE);
      return;
    case 'replicaset': {
      const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: a.name }, spec: { replicas: a.replicas, selector: { matchLabels: { app: a.name } }, template: template(a.name, 'img:1') } };
      const res = await send(r, apps('replicasets'), 'POST', rs);
      if (res.status === 409) await send(r, apps('replicasets', a.name), 'PATCH', { spec: { replicas: a.replicas } }, MERGE);
      return;
    }
    case 'scale':
      await send(r, `${apps(a.resource, a.name)}/scale`, 'PATCH', { spec: { replicas: a.replicas } }, MERGE);
      return;
    case 'delete':
      await send(r, apps(a.resource, a.name), 'DELETE', { propagationPolicy: a.foreground ? 'Foreground' : 'Background' });
      return;
    case 'cordon':
      await send(r, `/api/v1/nodes/${a.node}`, 'PATCH', { spec: { unschedulable: a.on ? true : null } }, MERGE);
      return;
    case 'pod': {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: a.name, labels: { app: 'solo' } }, spec: { containers: [{ name: 'app', image: 'img:1', resources: { requests: { cpu: a.cpu } } }] } };
      await send(r, `/api/v1/namespaces/${NS}/pods`, 'POST', pod);
      return;
    }
    case 'deletePod': {
      const list = (await (await send(r, `/api/v1/namespaces/${NS}/pods`, 'GET')).json()) as { items: KObject[] };
      if (list.items.length === 0) return;
      const victim = list.items[a.index % list.items.length];
      await send(r, `/api/v1/namespaces/${NS}/pods/${victim.metadata!.name}`, 'DELETE', {});
      return;
    }
    case 'alive':
      c.players[NODES.indexOf(a.node)].alive = a.alive;
      return;
    case 'advance':
      c.clock.advance(a.seconds * 1000);
      return;
  }
}

/** One step: its API writes, passes, node syncs and `extra` tasks all at once, interleaved round trip by round trip. */
async function runStep(c: Cluster, s: fc.Scheduler, st: Step, extra: (() => Promise<unknown>)[] = []): Promise<void> {
  c.gate.wait = (label) => s.schedule(Promise.resolve(), label);
  try {
    const tasks = [
      ...extra.map((run) => run()),
      ...st.actions.map((a) => act(c, a)),
      ...st.passes.map((i) => reconcile(c.stores[i], c.clock, RACING)),
      ...st.syncs.map((n) => c.players[NODES.indexOf(n)].sync()),
    ];
    const results = await s.waitFor(Promise.allSettled(tasks));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    c.gate.wait = undefined;
  }
}

// ---------------------------------------------------------------- invariants at every revision

function milli(q: unknown): number {
  const s = String(q ?? '0');
  return s.endsWith('m') ? Number(s.slice(0, -1)) : Math.round(Number(s) * 1000);
}

interface PodState {
  name: string;
  node: string | null;
  owner: string | null;
  /** Not being deleted and not finished: what a ReplicaSet counts. */
  live: boolean;
  /** Not Succeeded or Failed: what holds its node's resources. */
  holds: boolean;
  cpu: number;
}

function podState(pod: KObject): PodState {
  const spec = pod.spec as { nodeName?: string; containers?: { resources?: { requests?: { cpu?: string } } }[] };
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  const holds = phase !== 'Succeeded' && phase !== 'Failed';
  return {
    name: pod.metadata!.name!,
    node: spec.nodeName || null,
    owner: pod.metadata!.ownerReferences?.find((o) => o.controller)?.uid ?? null,
    live: holds && !pod.metadata!.deletionTimestamp,
    holds,
    cpu: (spec.containers ?? []).reduce((sum, ct) => sum + milli(ct.resources?.requests?.cpu), 0),
  };
}

/**
 * The cluster as the change log tells it, replayed revision by revision. Checks at every revision:
 * a pod once bound never moves; no node holds more cpu or pods than it has; and whenever a
 * ReplicaSet's live pods grow in number, they stay within the largest spec.replicas that ReplicaSet
 * had since the step began (a pass may act on a spec.replicas read a moment ago, never beyond it).
 */
class History {
  private rev = 0;
  private pods = new Map<string, PodState>();
  private nodes = new Map<string, { cpu: number; pods: number }>();
  private replicas = new Map<string, number>();
  private allowed = new Map<string, number>();
  bindings = 0;
  creates = 0;
  rolledOut = 0;

  constructor(private client: Client) {}

  /** A new step: what a ReplicaSet may grow to starts from its spec.replicas now. */
  startStep(): void {
    this.allowed = new Map(this.replicas);
  }

  private liveOwnedBy(owner: string): number {
    let n = 0;
    for (const p of this.pods.values()) if (p.owner === owner && p.live) n++;
    return n;
  }

  async catchUp(): Promise<void> {
    const rs = await this.client.execute({ sql: 'SELECT rev, type, kind, object FROM changes WHERE rev > ? ORDER BY rev', args: [this.rev] });
    for (const row of rs.rows) {
      this.rev = Number(row.rev);
      this.apply(this.rev, String(row.type), String(row.kind), JSON.parse(String(row.object)) as KObject);
    }
  }

  private apply(rev: number, type: string, kind: string, obj: KObject): void {
    const meta = obj.metadata!;
    if (kind === 'Node') {
      const alloc = (obj.status as { allocatable?: Record<string, string> } | undefined)?.allocatable;
      if (type === 'DELETED') this.nodes.delete(meta.name!);
      else if (alloc) this.nodes.set(meta.name!, { cpu: milli(alloc.cpu), pods: Number(alloc.pods) });
    } else if (kind === 'ReplicaSet') {
      if (type === 'DELETED') {
        this.replicas.delete(meta.uid!);
        return;
      }
      const r = (obj.spec as { replicas?: number }).replicas ?? 1;
      this.replicas.set(meta.uid!, r);
      this.allowed.set(meta.uid!, Math.max(this.allowed.get(meta.uid!) ?? 0, r));
    } else if (kind === 'Pod') {
      const prev = this.pods.get(meta.uid!);
      if (type === 'DELETED') {
        this.pods.delete(meta.uid!);
        return;
      }
      const next = podState(obj);
      if (prev?.node) expect(next.node, `pod ${next.name} rebound at revision ${rev}`).toBe(prev.node);
      const owner = next.owner;
      const before = owner ? this.liveOwnedBy(owner) : 0;
      this.pods.set(meta.uid!, next);
      if (!prev?.node && next.node) this.bindings++;
      if (!prev && owner) this.creates++;
      if (next.node) this.checkNode(next.node, rev);
      if (owner) {
        const after = this.liveOwnedBy(owner);
        if (after > before) {
          expect(after, `ReplicaSet ${owner} grew to ${after} live pods at revision ${rev}`).toBeLessThanOrEqual(this.allowed.get(owner) ?? 0);
        }
      }
    }
  }

  private checkNode(name: string, rev: number): void {
    const node = this.nodes.get(name);
    expect(node, `pod bound to unknown node ${name} at revision ${rev}`).toBeDefined();
    const held = [...this.pods.values()].filter((p) => p.node === name && p.holds);
    const cpu = held.reduce((s, p) => s + p.cpu, 0);
    expect(cpu, `cpu on ${name} at revision ${rev}`).toBeLessThanOrEqual(node!.cpu);
    expect(held.length, `pods on ${name} at revision ${rev}`).toBeLessThanOrEqual(node!.pods);
  }
}

// ---------------------------------------------------------------- convergence

const IGNORED_WHEN_SETTLING = new Set(['Lease', 'Event']);

/**
 * Passes and node syncs, one at a time, until a round changes nothing but leases and events, and
 * neither does the round after the longest scheduling back-off (pods that found no node back off).
 */
async function settle(c: Cluster, history: History): Promise<void> {
  const client = c.stores[0].client;
  let quiet = false;
  for (let round = 0; round < 40; round++) {
    const { rev } = await c.stores[0].revision();
    await reconcile(c.stores[round % 2], c.clock, RACING);
    for (const p of c.players) await p.sync();
    await history.catchUp();
    const rs = await client.execute({ sql: 'SELECT DISTINCT kind FROM changes WHERE rev > ?', args: [rev] });
    if (!rs.rows.every((r) => IGNORED_WHEN_SETTLING.has(String(r.kind)))) quiet = false;
    else if (quiet) return;
    else {
      quiet = true;
      c.clock.advance(MAX_BACKOFF_MS);
    }
  }
  throw new Error('the cluster did not settle in 40 rounds');
}

type Pod = KObject & { spec: { nodeName?: string; containers: { image: string; resources?: { requests?: { cpu?: string } } }[] }; status?: { podIP?: string; conditions?: { type: string; status: string }[] } };
type Workload = KObject & { spec: { replicas?: number; template: { spec: { containers: { image: string }[] } } }; status?: Record<string, number | undefined> };

const isReady = (p: Pod) => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const controllerUid = (o: KObject) => o.metadata!.ownerReferences?.find((r) => r.controller)?.uid;
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

/**
 * The settled cluster: nothing left terminating or orphaned; every ReplicaSet has exactly spec.replicas
 * live pods and says so in its status; no pending pod fits on a node that takes pods; Endpoints and one
 * EndpointSlice per Service list the ready pods; each Deployment's status adds up its ReplicaSets, and
 * once all its pods could run (`complete`, or nothing pending), one ReplicaSet with its template has
 * all its replicas and the others none. Returns how many Deployments were checked so.
 */
async function checkConverged(c: Cluster, complete: boolean): Promise<number> {
  const store = c.stores[0];
  const all = async <T extends KObject>(kind: string) => (await store.list(kind)).items as T[];
  const [pods, sets, deployments, nodes, services, endpoints, slices] = await Promise.all([
    all<Pod>('Pod'), all<Workload>('ReplicaSet'), all<Workload>('Deployment'), all('Node'), all('Service'), all('Endpoints'), all('EndpointSlice'),
  ]);
  const uids = new Set([...sets, ...deployments].map((o) => o.metadata!.uid));
  for (const o of [...pods, ...sets, ...deployments]) {
    expect(o.metadata!.deletionTimestamp, `${o.kind} ${o.metadata!.name} still terminating`).toBeUndefined();
    const owner = controllerUid(o);
    if (owner) expect(uids.has(owner), `${o.kind} ${o.metadata!.name} orphaned`).toBe(true);
  }

  for (const rs of sets) {
    const owned = pods.filter((p) => controllerUid(p) === rs.metadata!.uid);
    const ready = owned.filter(isReady).length;
    expect(owned.length, `live pods of ReplicaSet ${rs.metadata!.name}`).toBe(rs.spec.replicas);
    expect(rs.status).toMatchObject({ replicas: owned.length, readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata!.generation });
  }

  // Pending pods fit nowhere: every node that takes pods lacks the cpu or a pod slot.
  const pending = pods.filter((p) => !p.spec.nodeName);
  const podCpu = (p: Pod) => p.spec.containers.reduce((s, ct) => s + milli(ct.resources?.requests?.cpu), 0);
  for (const node of nodes) {
    const spec = node.spec as { unschedulable?: boolean; taints?: { effect: string }[] };
    const status = node.status as { allocatable: Record<string, string>; conditions: { type: string; status: string }[] };
    const takesPods = !spec.unschedulable && !(spec.taints ?? []).some((t) => t.effect !== 'PreferNoSchedule') && status.conditions.some((x) => x.type === 'Ready' && x.status === 'True');
    if (!takesPods) continue;
    const bound = pods.filter((p) => p.spec.nodeName === node.metadata!.name);
    const freeCpu = milli(status.allocatable.cpu) - bound.reduce((s, p) => s + podCpu(p), 0);
    const freeSlots = Number(status.allocatable.pods) - bound.length;
    for (const p of pending) {
      expect(freeSlots < 1 || podCpu(p) > freeCpu, `pod ${p.metadata!.name} fits on ${node.metadata!.name} but is pending`).toBe(true);
    }
  }

  // The `kubernetes` Service has no selector: its endpoints are the API server's own.
  for (const svc of services.filter((s) => (s.spec as { selector?: unknown }).selector)) {
    const app = (svc.spec as { selector: { app: string } }).selector.app;
    const selected = pods.filter((p) => p.metadata!.labels?.app === app && p.status?.podIP);
    const readyIps = selected.filter(isReady).map((p) => p.status!.podIP).sort();
    const ep = endpoints.find((e) => e.metadata!.name === svc.metadata!.name) as { subsets?: { addresses?: { ip: string }[] }[] } | undefined;
    expect(ep, `Endpoints of ${app}`).toBeDefined();
    expect((ep!.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip)).sort(), `Endpoints of ${app}`).toEqual(readyIps);
    const own = slices.filter((s) => s.metadata!.labels?.['kubernetes.io/service-name'] === svc.metadata!.name) as { endpoints: { addresses: string[]; conditions: { ready: boolean } }[] }[];
    expect(own.length, `EndpointSlices of ${app}`).toBe(1);
    expect(own[0].endpoints.filter((e) => e.conditions.ready).flatMap((e) => e.addresses).sort(), `EndpointSlice of ${app}`).toEqual(readyIps);
  }

  const image = (w: Workload) => w.spec.template.spec.containers[0].image;
  let rolledOut = 0;
  for (const d of deployments) {
    const owned = sets.filter((rs) => controllerUid(rs) === d.metadata!.uid);
    const current = owned.filter((rs) => image(rs) === image(d));
    expect(current.length, `ReplicaSets with the template of Deployment ${d.metadata!.name}`).toBeLessThanOrEqual(1);
    const sum = (field: string, rss = owned) => rss.reduce((s, rs) => s + num(rs.status?.[field]), 0);
    const status = d.status ?? {};
    expect(status.observedGeneration).toBe(d.metadata!.generation);
    expect(num(status.replicas), `replicas of ${d.metadata!.name}`).toBe(sum('replicas'));
    expect(num(status.updatedReplicas), `updatedReplicas of ${d.metadata!.name}`).toBe(sum('replicas', current));
    expect(num(status.readyReplicas), `readyReplicas of ${d.metadata!.name}`).toBe(sum('readyReplicas'));
    expect(num(status.availableReplicas), `availableReplicas of ${d.metadata!.name}`).toBe(sum('availableReplicas'));
    if (complete || pending.length === 0) {
      expect(current.length, `new ReplicaSet of ${d.metadata!.name}`).toBe(1);
      expect(current[0].spec.replicas, `new ReplicaSet of ${d.metadata!.name}`).toBe(d.spec.replicas);
      for (const old of owned.filter((rs) => rs !== current[0])) expect(old.spec.replicas, `old ReplicaSet ${old.metadata!.name}`).toBe(0);
      rolledOut++;
    }
  }
  return rolledOut;
}

// ---------------------------------------------------------------- the property

async function runHistory(s: fc.Scheduler, steps: Step[]): Promise<History> {
  const c = await openCluster();
  try {
    const history = new History(c.stores[0].client);
    await history.catchUp();
    for (const st of steps) {
      history.startStep();
      await runStep(c, s, st);
      await history.catchUp();
    }
    // Every machine back; as it is, then with the cordons lifted, the standalone pods gone and a
    // spare node, which leaves room for every workload.
    for (const p of c.players) p.alive = true;
    await settle(c, history);
    await checkConverged(c, false);
    for (const node of NODES) await act(c, { t: 'cordon', node, on: false });
    await send(c.request, `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dsolo`, 'DELETE');
    const spare = new NodePlayer(c.request, SPARE, () => c.clock.now());
    await spare.register();
    c.players.push(spare);
    await settle(c, history);
    history.rolledOut += await checkConverged(c, true);
    return history;
  } finally {
    closeStores(c);
  }
}

it('racing passes never over-create, double-bind or over-commit, and the cluster converges', async () => {
  let bindings = 0;
  let creates = 0;
  let rolledOut = 0;
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(step, { minLength: 1, maxLength: 14 }), async (s, steps) => {
      const h = await runHistory(s, steps);
      bindings += h.bindings;
      creates += h.creates;
      rolledOut += h.rolledOut;
    }),
    { numRuns: 80, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: false },
  );
  console.log(`concurrency: ${creates} pods created by controllers, ${bindings} bindings, ${rolledOut} Deployments rolled out`);
  expect(bindings).toBeGreaterThan(0);
  expect(rolledOut).toBeGreaterThan(0);
}, 120_000);

// The scheduler alone, racing itself over a stream of standalone pods that come and go: the binding
// guards are all that keeps two schedulers with different snapshots from filling a node twice.
interface SchedulingStep {
  actions: Action[];
  schedulers: number[];
  syncs: string[];
}

const schedulingAction: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('pod' as const), name: fc.integer({ min: 0, max: 9 }).map((i) => `solo-${i}`), cpu: fc.constantFrom('250m', '500m', '750m') }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('deletePod' as const), index: fc.nat(20) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('cordon' as const), node: fc.constantFrom(...NODES), on: fc.boolean() }), weight: 1 },
);

const schedulingStep: fc.Arbitrary<SchedulingStep> = fc.record({
  actions: fc.array(schedulingAction, { maxLength: 3 }),
  schedulers: fc.array(fc.constantFrom(0, 1), { minLength: 1, maxLength: 3 }),
  syncs: fc.subarray(NODES),
});

it('racing schedulers never bind a pod twice nor over-commit a node', async () => {
  let bindings = 0;
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(schedulingStep, { minLength: 1, maxLength: 12 }), async (s, steps) => {
      const c = await openCluster();
      try {
        const history = new History(c.stores[0].client);
        await history.catchUp();
        for (const st of steps) {
          await runStep(c, s, { actions: st.actions, passes: [], syncs: st.syncs }, st.schedulers.map((i) => () => scheduler(new PassContext(c.stores[i], c.clock, defaultControlOptions))));
          await history.catchUp();
        }
        bindings += history.bindings;
      } finally {
        closeStores(c);
      }
    }),
    { numRuns: 250, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false },
  );
  console.log(`scheduling: ${bindings} bindings checked`);
  expect(bindings).toBeGreaterThan(0);
}, 60_000);

// The race the property above found, step by step: scheduler A reads a node holding one pod and plans
// to bind `big` there; that pod goes, `w` comes, and scheduler B binds `w` there. The node holds one pod
// again, as A read it, and `big` is unchanged, so only the room left can stop A's binding.
it('a scheduler that read before pods came and went does not fill a node twice', async () => {
  const c = await openStores();
  const [b, a] = c.stores;
  const at = (s: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const pod = (name: string, cpu: string, created: number, nodeName?: string): KObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, uid: crypto.randomUUID(), creationTimestamp: at(created) },
    spec: { containers: [{ name: 'c', image: 'img:1', resources: { requests: { cpu } } }], ...(nodeName ? { nodeName } : {}) },
    status: nodeName ? { phase: 'Running' } : {},
  });
  const node: KObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'x', uid: crypto.randomUUID(), creationTimestamp: at(0) },
    spec: {},
    status: { allocatable: { cpu: '1', memory: '8Gi', pods: '10' }, conditions: [{ type: 'Ready', status: 'True' }] },
  };
  const get = async (name: string) => (await b.get('Pod', NS, name))!;
  const remove = async (name: string) => {
    const p = await get(name);
    expect((await b.commit([{ op: 'delete', kind: 'Pod', namespace: NS, name, rv: Number(p.metadata!.resourceVersion) }]))[0].ok).toBe(true);
  };
  const schedule = (store: Store) => scheduler(new PassContext(store, c.clock, defaultControlOptions));
  try {
    await b.commit([{ op: 'create', object: node }, ...[pod('z', '500m', 0, 'x'), pod('y', '400m', 0, 'x'), pod('big', '500m', 2)].map((object) => ({ op: 'create' as const, object }))]);
    await schedule(b); // big does not fit beside z and y
    await remove('y');
    c.clock.advance(1000); // big's back-off is over, and a pod went: it is tried again

    // A reads (the queue, then the cluster: x holds z, room for big), and waits before it writes.
    let reads = 0;
    let readDone!: () => void;
    let release!: () => void;
    const afterRead = new Promise<void>((ok) => (readDone = ok));
    const released = new Promise<void>((ok) => (release = ok));
    c.gate.wait = async (label) => {
      if (label === 'B' && ++reads === 3) {
        readDone();
        await released;
      }
    };
    const racing = schedule(a);
    await afterRead;

    await remove('z');
    await b.commit([{ op: 'create', object: pod('w', '750m', 1) }]);
    const bigBefore = (await get('big')).metadata!.resourceVersion;
    await schedule(b);
    expect((await get('w')).spec).toMatchObject({ nodeName: 'x' });
    expect((await get('big')).metadata!.resourceVersion, 'big unchanged, as A read it').toBe(bigBefore);

    release();
    await racing;
    expect((await get('big')).spec, 'big stays pending: x has 250m left').not.toHaveProperty('nodeName');
  } finally {
    c.gate.wait = undefined;
    closeStores(c);
  }
});

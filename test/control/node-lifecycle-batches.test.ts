// The node lifecycle controller under a small batchSize: work on many lost nodes and their pods is
// spread over several passes, each reading whole and writing at most batchSize objects, and it all
// completes: nodes marked Unknown and tainted, then their pods marked not ready, evicted when their
// tolerationSeconds run out, and removed once their grace period is over; a renewed lease clears a node.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { nodeLifecycle } from '../../src/control/node-lifecycle.js';
import { addDefaultTolerations } from '../../src/kinds/pod.js';
import type { KObject } from '../../src/kinds/types.js';
import type { WriteOp } from '../../src/store/store.js';
import { meteredPasses, type MeteredPasses, type PassCost } from '../helpers/metered-passes.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const BATCH = 4;
const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
const LOST = NODES.slice(0, 5);
const PODS_PER_NODE = 3;
const UNREACHABLE = 'node.kubernetes.io/unreachable';

let t: TempStore;
let passes: MeteredPasses;

const stamp = () => t.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');

function node(name: string): KObject {
  const now = stamp();
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, uid: crypto.randomUUID(), creationTimestamp: now },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] },
  };
}

function lease(name: string): KObject {
  return {
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease', uid: crypto.randomUUID(), creationTimestamp: stamp() },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: t.clock.now().toISOString() },
  };
}

/** A running, ready pod bound to `nodeName`, with the default tolerations (300 s unreachable and not-ready). */
function pod(name: string, nodeName: string): KObject {
  const spec = { nodeName, containers: [{ name: 'app', image: 'img' }] };
  addDefaultTolerations(spec);
  const now = stamp();
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid: crypto.randomUUID(), creationTimestamp: now },
    spec,
    status: { phase: 'Running', conditions: ['Ready', 'ContainersReady'].map((type) => ({ type, status: 'True', lastTransitionTime: now })) },
  };
}

async function create(objects: KObject[]): Promise<void> {
  const results = await t.store.commit(objects.map((object): WriteOp => ({ op: 'create', object })));
  expect(results.every((r) => r.ok)).toBe(true);
}

/** The kubelets of the nodes still alive renew their leases. */
async function renew(names: string[]): Promise<void> {
  const leases = (await t.store.list('Lease', { namespace: 'kube-node-lease' })).items.filter((l) => names.includes(l.metadata!.name!));
  const ops = leases.map((l): WriteOp => ({ op: 'update', object: { ...l, spec: { ...(l.spec as object), renewTime: t.clock.now().toISOString() } }, rv: Number(l.metadata!.resourceVersion) }));
  expect((await t.store.commit(ops)).every((r) => r.ok)).toBe(true);
}

async function advance(seconds: number, alive: string[]): Promise<void> {
  t.clock.advance(seconds * 1000);
  await renew(alive);
}

const readyOf = (o: KObject) => ((o.status as { conditions?: { type: string; status: string; reason?: string }[] }).conditions ?? []).find((c) => c.type === 'Ready');
const taintsOf = (o: KObject) => ((o.spec as { taints?: { key: string; effect: string }[] }).taints ?? []).map((x) => `${x.key}:${x.effect}`).sort();
const nodesNamed = async (names: string[]) => (await t.store.list('Node')).items.filter((n) => names.includes(n.metadata!.name!));
const podsOn = async (names: string[]) => (await t.store.list('Pod')).items.filter((p) => names.includes((p.spec as { nodeName: string }).nodeName));
const events = async (reason: string) => (await t.store.list('Event')).items.filter((e) => e.reason === reason);

function expectWithinBound(costs: PassCost[], work: number): void {
  for (const c of costs) {
    expect(c.roundTrips).toBeLessThanOrEqual(3);
    expect(c.wholeReads).toBeLessThanOrEqual(BATCH);
    expect(c.writes).toBeLessThanOrEqual(BATCH);
  }
  expect(costs.length).toBeGreaterThanOrEqual(Math.ceil(work / BATCH));
}

beforeEach(async () => {
  t = await openTempStore('skiff-node-batches-');
  await create([...NODES.map(node), ...NODES.map(lease), ...NODES.flatMap((n) => Array.from({ length: PODS_PER_NODE }, (_, i) => pod(`${n}-p${i}`, n)))]);
  passes = meteredPasses(t.store, t.clock, nodeLifecycle, { batchSize: BATCH });
  expect(await passes.untilIdle()).toEqual([]);
});

afterEach(() => t.remove());

it('marks many lost nodes, then evicts and removes their pods, over passes within the bound', async () => {
  const alive = NODES.filter((n) => !LOST.includes(n));
  const lostPods = LOST.length * PODS_PER_NODE;

  // Past node-monitor-grace-period: every lost node Unknown and tainted, every pod on them not ready.
  await advance(50, alive);
  expectWithinBound(await passes.untilIdle(), LOST.length + lostPods);
  for (const n of await nodesNamed(LOST)) {
    expect(readyOf(n)).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(taintsOf(n)).toEqual([`${UNREACHABLE}:NoExecute`, `${UNREACHABLE}:NoSchedule`]);
  }
  for (const n of await nodesNamed(alive)) expect([readyOf(n)?.status, taintsOf(n)]).toEqual(['True', []]);
  for (const p of await podsOn(LOST)) expect([readyOf(p)?.status, p.metadata!.deletionTimestamp]).toEqual(['False', undefined]);
  for (const p of await podsOn(alive)) expect(readyOf(p)?.status).toBe('True');
  expect(await events('NodeNotReady')).toHaveLength(LOST.length);

  // Within the 300 s toleration nothing more happens; past it every pod on them is evicted.
  await advance(240, alive);
  expect(await passes.untilIdle()).toEqual([]);
  await advance(60, alive);
  expectWithinBound(await passes.untilIdle(), lostPods);
  const evicted = await podsOn(LOST);
  expect(evicted.filter((p) => p.metadata!.deletionTimestamp)).toHaveLength(lostPods);
  expect(await events('TaintManagerEviction')).toHaveLength(lostPods);
  expect((await podsOn(alive)).some((p) => p.metadata!.deletionTimestamp)).toBe(false);

  // No kubelet finishes them: once their grace period is over, pod GC removes them.
  await advance(31, alive);
  expectWithinBound(await passes.untilIdle(), lostPods);
  expect(await podsOn(LOST)).toEqual([]);
  expect(await podsOn(alive)).toHaveLength(alive.length * PODS_PER_NODE);

  // A lease renewed again clears its node.
  await renew(['n0']);
  expect(await passes.untilIdle()).toHaveLength(1);
  const [back] = await nodesNamed(['n0']);
  expect(readyOf(back)).toMatchObject({ status: 'True', reason: 'KubeletReady' });
  expect(back.spec).not.toHaveProperty('taints');
  expect(await events('NodeReady')).toHaveLength(1);
  for (const n of await nodesNamed(LOST.slice(1))) expect(readyOf(n)?.status).toBe('Unknown');
});

it('evicts at once, in batches, the pods that do not tolerate the taint', async () => {
  const intolerant = Array.from({ length: 6 }, (_, i) => {
    const p = pod(`intolerant-${i}`, 'n1');
    (p.spec as { tolerations?: unknown }).tolerations = [];
    return p;
  });
  await create(intolerant);
  await advance(50, NODES.filter((n) => n !== 'n1'));
  expectWithinBound(await passes.untilIdle(), 1 + 6 + PODS_PER_NODE);
  const pods = await podsOn(['n1']);
  expect(pods.filter((p) => p.metadata!.deletionTimestamp).map((p) => p.metadata!.name).sort()).toEqual(intolerant.map((p) => p.metadata!.name).sort());
  expect(pods.filter((p) => !p.metadata!.deletionTimestamp).every((p) => readyOf(p)?.status === 'False')).toBe(true);
});

it('removes, in batches, the pods bound to a node that does not exist', async () => {
  const [gone] = await nodesNamed(['n2']);
  expect((await t.store.commit([{ op: 'delete', kind: 'Node', namespace: '', name: 'n2', rv: Number(gone.metadata!.resourceVersion) }]))[0].ok).toBe(true);
  await create(Array.from({ length: 6 }, (_, i) => pod(`stray-${i}`, 'n2')));
  expectWithinBound(await passes.untilIdle(), 9);
  expect(await podsOn(['n2'])).toEqual([]);
  expect(await podsOn(NODES.filter((n) => n !== 'n2'))).toHaveLength(5 * PODS_PER_NODE);
});

it('an idle pass reads no whole object: one round trip at rest, two with a node down and its pods tolerating it', async () => {
  expect(await passes.pass()).toEqual({ roundTrips: 1, wholeReads: 0, writes: 0 });
  await advance(50, NODES.filter((n) => n !== 'n3'));
  await passes.untilIdle();
  await advance(10, NODES.filter((n) => n !== 'n3'));
  expect(await passes.pass()).toEqual({ roundTrips: 2, wholeReads: 0, writes: 0 });
});

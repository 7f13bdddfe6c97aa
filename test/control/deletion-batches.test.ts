// The garbage collector and the namespace controller under a small batchSize: many dependents (or a
// namespace's many objects) are deleted over several passes, each reading whole and writing at most
// batchSize objects, and the owner (or the namespace) goes only at the end, once nothing is left:
// never because the read of what was left was cut short.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { collectGarbage } from '../../src/control/garbage-collector.js';
import { finishNamespaces } from '../../src/control/namespaces.js';
import type { KObject } from '../../src/kinds/types.js';
import type { WriteOp } from '../../src/store/store.js';
import { meteredPasses, type Controller, type PassCost } from '../helpers/metered-passes.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const BATCH = 3;
const NS = 'default';

let t: TempStore;

beforeEach(async () => {
  t = await openTempStore('skiff-deletion-batches-');
});
afterEach(() => t.remove());

const stamp = () => t.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');

function owner(name: string, finalizer?: string): KObject {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name, namespace: NS, uid: crypto.randomUUID(), creationTimestamp: stamp(), ...(finalizer ? { finalizers: [finalizer], deletionTimestamp: stamp() } : {}) },
    spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: {} },
  };
}

/** ConfigMaps owned by `uid` (they go at once when deleted: no grace, no finalizer). */
function dependents(prefix: string, count: number, ownerUid: string, namespace = NS): KObject[] {
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: {
      name: `${prefix}-${i}`, namespace, uid: crypto.randomUUID(), creationTimestamp: stamp(),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: prefix, uid: ownerUid, controller: true }],
    },
    data: {},
  }));
}

async function create(objects: KObject[]): Promise<void> {
  const results = await t.store.commit(objects.map((object): WriteOp => ({ op: 'create', object })));
  expect(results.every((r) => r.ok)).toBe(true);
}

const configMaps = async (prefix: string) => (await t.store.list('ConfigMap')).items.filter((c) => c.metadata!.name!.startsWith(`${prefix}-`));

/** Passes until idle, checking after each that the bound holds and `invariant` too. */
async function passesUntilIdle(controller: Controller, invariant: () => Promise<void>): Promise<PassCost[]> {
  const passes = meteredPasses(t.store, t.clock, controller, { batchSize: BATCH });
  const costs: PassCost[] = [];
  for (let i = 0; i < 50; i++) {
    const cost = await passes.pass();
    expect(cost.roundTrips).toBeLessThanOrEqual(2);
    expect(cost.wholeReads).toBeLessThanOrEqual(BATCH);
    expect(cost.writes).toBeLessThanOrEqual(BATCH);
    await invariant();
    if (cost.writes === 0) return costs;
    costs.push(cost);
  }
  throw new Error('still writing after 50 passes');
}

it('a foreground owner has its many dependents deleted over several passes and goes only at the end', async () => {
  const fg = owner('fg', 'foregroundDeletion');
  await create([fg, ...dependents('fg', 10, fg.metadata!.uid!)]);
  const costs = await passesUntilIdle(collectGarbage, async () => {
    const owner = await t.store.get('ReplicaSet', NS, 'fg');
    if ((await configMaps('fg')).length > 0) expect(owner, 'the owner stays while a dependent is left').toBeDefined();
  });
  expect(costs.length).toBeGreaterThanOrEqual(Math.ceil(11 / BATCH));
  expect(await configMaps('fg')).toEqual([]);
  expect(await t.store.get('ReplicaSet', NS, 'fg')).toBeUndefined();
});

it('dependents of an owner that is gone are deleted over several passes', async () => {
  await create(dependents('stray', 8, crypto.randomUUID()));
  const costs = await passesUntilIdle(collectGarbage, async () => {});
  expect(costs.length).toBeGreaterThanOrEqual(Math.ceil(8 / BATCH));
  expect(await configMaps('stray')).toEqual([]);
});

it('an orphaning owner has its many dependents released over several passes and goes only at the end', async () => {
  const orphaning = owner('orph', 'orphan');
  await create([orphaning, ...dependents('orph', 7, orphaning.metadata!.uid!)]);
  const costs = await passesUntilIdle(collectGarbage, async () => {
    const owned = (await configMaps('orph')).filter((c) => c.metadata!.ownerReferences?.length);
    if (owned.length > 0) expect(await t.store.get('ReplicaSet', NS, 'orph')).toBeDefined();
  });
  expect(costs.length).toBeGreaterThanOrEqual(Math.ceil(8 / BATCH));
  const released = await configMaps('orph');
  expect(released).toHaveLength(7);
  for (const c of released) expect(c.metadata!.ownerReferences).toBeUndefined();
  expect(await t.store.get('ReplicaSet', NS, 'orph')).toBeUndefined();
});

it('a terminating namespace has its many objects deleted over several passes and goes only once empty', async () => {
  const ns: KObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', uid: crypto.randomUUID(), creationTimestamp: stamp(), deletionTimestamp: stamp() }, spec: {}, status: { phase: 'Terminating' } };
  const contents: KObject[] = Array.from({ length: 8 }, (_, i) => ({
    apiVersion: 'v1', kind: i % 2 ? 'ConfigMap' : 'Secret',
    metadata: { name: `item-${i}`, namespace: 'shop', uid: crypto.randomUUID(), creationTimestamp: stamp() },
    data: {},
  }));
  await create([ns, ...contents]);
  const left = async () => [...(await t.store.list('ConfigMap', { namespace: 'shop' })).items, ...(await t.store.list('Secret', { namespace: 'shop' })).items];
  const costs = await passesUntilIdle(finishNamespaces, async () => {
    if ((await left()).length > 0) expect(await t.store.get('Namespace', '', 'shop')).toBeDefined();
  });
  expect(costs.length).toBeGreaterThanOrEqual(Math.ceil(9 / BATCH));
  expect(await left()).toEqual([]);
  expect(await t.store.get('Namespace', '', 'shop')).toBeUndefined();
});

// The scheduler's back-off, as kube-scheduler's queue has it: a pod that found no node is tried again
// once its back-off is over (1 s, doubling with each attempt, to 10 s) and something that could let
// it fit has changed (a Node added or changed in what the scheduler reads of it, a bound pod deleted
// or finished), or 5 minutes after its last attempt in any case. Passes keep no memory, so this lives
// in the database, and a pass over a backlog of stuck pods with nothing changed tries none of them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultControlOptions, PassContext, type ControlOptions } from '../../src/control/context.js';
import { reconcile } from '../../src/control/pass.js';
import { scheduler } from '../../src/control/scheduler.js';
import type { KObject } from '../../src/kinds/types.js';
import type { ManualClock } from '../../src/store/clock.js';
import type { Store } from '../../src/store/store.js';
import { podObject, type PodOpts } from '../helpers/pod-object.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

function node(name: string, { pods = '110', labels = {} }: { pods?: string; labels?: Record<string, string> } = {}): KObject {
  const resources = { cpu: '4', memory: '8Gi', pods };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: crypto.randomUUID(), labels: { 'kubernetes.io/hostname': name, ...labels }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {},
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:00:00Z' }] },
  };
}

const pod = (name: string, o: PodOpts = {}) => podObject(name, { labels: {}, priority: 0, status: { phase: 'Pending' }, ...o });
const nowhere = { nodeSelector: { disk: 'ssd' } };

describe("the scheduler's back-off", () => {
  let temp: TempStore;
  let store: Store;
  let clock: ManualClock;

  beforeEach(async () => {
    temp = await openTempStore('skiff-scheduler-backoff-');
    ({ store, clock } = temp);
  });
  afterEach(() => temp.remove());

  const create = async (...objects: KObject[]) => {
    const results = await store.commit(objects.map((object) => ({ op: 'create' as const, object })));
    expect(results.every((r) => r.ok)).toBe(true);
  };
  const get = async (kind: string, name: string, namespace = kind === 'Node' ? '' : 'default') => (await store.get(kind, namespace, name)) as any;
  /** Writes a new version of an object, as read now. */
  const update = async (kind: string, name: string, change: (o: any) => void) => {
    const o = await get(kind, name);
    change(o);
    const [r] = await store.commit([{ op: 'update', object: o, rv: Number(o.metadata.resourceVersion) }]);
    expect(r.ok).toBe(true);
  };
  const remove = async (kind: string, name: string) => {
    const o = await get(kind, name);
    const [r] = await store.commit([{ op: 'delete', kind, namespace: o.metadata.namespace ?? '', name, rv: Number(o.metadata.resourceVersion) }]);
    expect(r.ok).toBe(true);
  };
  const failedEvents = async (name: string) =>
    ((await store.list('Event', { namespace: 'default' })).items as any[]).find((e) => e.reason === 'FailedScheduling' && e.involvedObject.name === name)?.count ?? 0;
  const backoffRows = async () => Number((await temp.client.execute('SELECT COUNT(*) AS n FROM schedule_backoff')).rows[0].n);

  /** One scheduler pass: the pods it tried (placed or not), its writes and round trips. */
  async function pass(opts: Partial<ControlOptions> = {}) {
    const trips = store.roundTrips;
    const ctx = new PassContext(store, clock, { ...defaultControlOptions, ...opts });
    await scheduler(ctx);
    return { tried: ctx.schedulingAttempts, writes: ctx.writes, roundTrips: store.roundTrips - trips };
  }
  const idle = { tried: 0, writes: 0, roundTrips: 1 };

  it('tries a stuck pod again only after its back-off, once something changed, and every 5 minutes', async () => {
    await create(node('n1'), pod('stuck', { spec: nowhere }));
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'stuck')).status.conditions[0]).toMatchObject({ reason: 'Unschedulable' });
    expect(await failedEvents('stuck')).toBe(1);

    // Nothing changed: not tried again, whether its back-off is over or not.
    expect(await pass()).toEqual(idle);
    clock.advance(1500);
    expect(await pass()).toEqual(idle);
    // A node's heartbeat changes nothing the scheduler reads of it.
    await update('Node', 'n1', (n) => (n.status.conditions[0].lastHeartbeatTime = '2026-01-01T00:00:01Z'));
    expect(await pass()).toEqual(idle);

    // A node relabelled could let it fit: tried again (its back-off of 1 s is over).
    await update('Node', 'n1', (n) => (n.metadata.labels.zone = 'a'));
    expect(await pass()).toMatchObject({ tried: 1 });
    expect(await pass()).toEqual(idle);

    // A change during its back-off (now 2 s, after two attempts) waits for the back-off to end.
    await update('Node', 'n1', (n) => (n.metadata.labels.zone = 'b'));
    expect(await pass()).toEqual(idle);
    clock.advance(1000);
    expect(await pass()).toEqual(idle);
    clock.advance(1000);
    expect(await pass()).toMatchObject({ tried: 1 });
    expect(await pass()).toEqual(idle);

    // Five minutes after its last attempt it is tried whatever changed, and its event is counted again.
    clock.advance(5 * 60_000 - 1000);
    expect(await pass()).toEqual(idle);
    clock.advance(1000);
    expect(await pass()).toMatchObject({ tried: 1, writes: 1 });
    expect(await failedEvents('stuck')).toBe(2);
    expect(await pass()).toEqual(idle);

    // A node it fits: bound once its back-off is over, and its back-off row is gone.
    await create(node('n2', { labels: { disk: 'ssd' } }));
    expect(await pass()).toEqual(idle);
    clock.advance(10_000);
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'stuck')).spec.nodeName).toBe('n2');
    expect(await backoffRows()).toBe(0);
  });

  it('binds a pod that found no nodes once a node appears', async () => {
    await create(pod('early'));
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'early')).status.conditions[0]).toMatchObject({ reason: 'Unschedulable', message: 'no nodes available to schedule pods' });
    clock.advance(3000);
    expect(await pass()).toEqual(idle);

    await create(node('n1'));
    expect(await pass()).toMatchObject({ tried: 1 });
    const bound = await get('Pod', 'early');
    expect(bound.spec.nodeName).toBe('n1');
    expect(bound.status.conditions[0]).toMatchObject({ type: 'PodScheduled', status: 'True' });
    expect(await backoffRows()).toBe(0);
  });

  it('tries a pod again when a bound pod is deleted or finishes, freeing room', async () => {
    await create(node('n1', { pods: '1' }), pod('first', { created: '2026-01-01T00:00:00Z' }), pod('second', { created: '2026-01-01T00:00:01Z' }));
    expect(await pass()).toMatchObject({ tried: 2 });
    expect((await get('Pod', 'first')).spec.nodeName).toBe('n1');
    expect((await get('Pod', 'second')).status.conditions[0].message).toMatch(/^0\/1 nodes are available: 1 Too many pods\./);
    clock.advance(20_000);
    expect(await pass()).toEqual(idle);

    // Another pod's status changing frees nothing; the bound one finishing does.
    await update('Pod', 'first', (p) => (p.status = { ...p.status, phase: 'Running' }));
    expect(await pass()).toEqual(idle);
    await update('Pod', 'first', (p) => (p.status = { ...p.status, phase: 'Succeeded' }));
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'second')).spec.nodeName).toBe('n1');

    // The node is full again; the pod bound there deleted frees it.
    await create(pod('third'));
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'third')).spec.nodeName).toBeUndefined();
    clock.advance(20_000);
    expect(await pass()).toEqual(idle);
    await remove('Pod', 'second');
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'third')).spec.nodeName).toBe('n1');
    expect(await backoffRows()).toBe(0);
  });

  it('puts pods never tried before those tried again', async () => {
    await create(node('n1', { pods: '1' }), pod('blocker', { nodeName: 'n1' }), pod('old', { created: '2025-01-01T00:00:00Z', priority: 1000 }));
    expect(await pass()).toMatchObject({ tried: 1 });
    clock.advance(5 * 60_000);
    await create(pod('new'));
    await remove('Pod', 'blocker');
    // Both are due; with room for one per pass, the pod never tried goes first, though it is younger and of lower priority.
    expect(await pass({ batchSize: 1 })).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'new')).spec.nodeName).toBe('n1');
    expect((await get('Pod', 'old')).spec.nodeName).toBeUndefined();
  });

  it('looks at a pod it does not place only once it changes, and forgets pods that are gone', async () => {
    await create(node('n1'), pod('gated', { spec: { schedulingGates: [{ name: 'wait' }] } }), pod('other', { schedulerName: 'my-scheduler' }));
    expect(await pass()).toMatchObject({ tried: 0, writes: 0 });
    expect(await backoffRows()).toBe(2);
    expect(await pass()).toEqual(idle);
    expect((await get('Pod', 'gated')).status.conditions).toBeUndefined();

    await update('Pod', 'gated', (p) => (p.spec.schedulingGates = []));
    expect(await pass()).toMatchObject({ tried: 1 });
    expect((await get('Pod', 'gated')).spec.nodeName).toBe('n1');

    // A stuck pod deleted while it backs off: its row is forgotten the next time it is due.
    await create(pod('stuck', { spec: nowhere }));
    expect(await pass()).toMatchObject({ tried: 1 });
    await remove('Pod', 'stuck');
    await remove('Pod', 'other');
    expect(await backoffRows()).toBe(2);
    clock.advance(5 * 60_000);
    expect(await pass()).toMatchObject({ tried: 0, writes: 0, roundTrips: 2 });
    expect(await backoffRows()).toBe(0);
    expect(await pass()).toEqual(idle);
  });

  it('writes its bindings, conditions and events set-based, each with its own resourceVersion and change', async () => {
    await create(node('n1'), node('n2'), ...Array.from({ length: 30 }, (_, i) => pod(`p${i}`)), pod('stuck', { spec: nowhere }));
    const before = Number((await temp.client.execute('SELECT rev FROM revision')).rows[0].rev);
    expect(await pass()).toMatchObject({ tried: 31, writes: 30 + 1 + 31, roundTrips: 3 });
    // Every object written has the resourceVersion of its own change, whose object is the one stored.
    const rs = await temp.client.execute({
      sql: `SELECT o.kind, o.name, o.rv, c.rev, c.object = o.object AS same FROM objects o JOIN changes c ON c.kind = o.kind AND c.namespace = o.namespace AND c.name = o.name
        WHERE c.rev > ? AND c.rev = (SELECT MAX(rev) FROM changes x WHERE x.kind = o.kind AND x.namespace = o.namespace AND x.name = o.name)`,
      args: [before],
    });
    expect(rs.rows).toHaveLength(30 + 1 + 31);
    for (const r of rs.rows) expect([r.kind, r.name, r.rv, r.same]).toEqual([r.kind, r.name, r.rev, 1]);
    expect(new Set(rs.rows.map((r) => r.rev)).size).toBe(rs.rows.length);
    const pods = (await store.list('Pod')).items as any[];
    expect(pods.filter((p) => p.spec.nodeName).map((p) => p.spec.nodeName).sort()).toEqual([...Array(15).fill('n1'), ...Array(15).fill('n2')]);
  });

  it('over many pods with no nodes, a pass after each was tried once tries none', async () => {
    const count = 2500;
    for (let i = 0; i < count; i += 500) {
      await create(...Array.from({ length: 500 }, (_, j) => pod(`p${i + j}`, { created: `2026-01-01T00:00:00Z` })));
    }
    // Two passes (batches of 2,000) try each once; then a pass reads one index lookup and tries none.
    expect(await pass()).toMatchObject({ tried: 2000, roundTrips: 3 });
    expect(await pass()).toMatchObject({ tried: 500, roundTrips: 3 });
    expect(await backoffRows()).toBe(count);
    expect(await pass()).toEqual(idle);
    clock.advance(60_000);
    expect(await pass()).toEqual(idle);
    // The whole pass, every controller, as reconcile runs it, counts no scheduling attempt either.
    const result = await reconcile(store, clock, { ...defaultControlOptions, passLeaseSeconds: 0 });
    expect(result.schedulingAttempts).toBe(0);

    // At the 5-minute mark every one is tried again, a batch at a time.
    clock.advance(4 * 60_000);
    expect(await pass()).toMatchObject({ tried: 2000 });
    expect(await pass()).toMatchObject({ tried: 500 });
    expect(await pass()).toEqual(idle);
  }, 60_000);
});

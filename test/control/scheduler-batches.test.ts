// The scheduler in bounded batches: with a small batchSize a pass binds at most that many pods, the
// rest wait for the next passes, and decisions over several passes are the ones a single pass makes,
// because every pass reads what earlier ones bound (as per-node aggregates). Pods stuck unschedulable
// do not hold back the pods behind them, and each gets its turn again.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { scheduler } from '../../src/control/scheduler.js';
import type { KObject } from '../../src/kinds/types.js';
import type { ManualClock } from '../../src/store/clock.js';
import type { Store } from '../../src/store/store.js';
import { podObject, type PodOpts } from '../helpers/pod-object.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

function node(name: string, cpu = '4'): KObject {
  const resources = { cpu, memory: '8Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: crypto.randomUUID(), labels: { 'kubernetes.io/hostname': name }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {},
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

// A pending pod with priority 0 and empty labels unless given; `cpu` requests that much CPU and 64Mi.
const pod = (name: string, { cpu, ...o }: PodOpts & { cpu?: string } = {}) =>
  podObject(name, { labels: {}, priority: 0, status: { phase: 'Pending' }, ...(cpu ? { requests: { cpu, memory: '64Mi' } } : {}), ...o });

describe('the scheduler in batches', () => {
  let temp: TempStore;
  let store: Store;
  let clock: ManualClock;

  beforeEach(async () => {
    temp = await openTempStore('skiff-scheduler-batches-');
    ({ store, clock } = temp);
  });
  afterEach(() => temp.remove());

  const create = async (...objects: KObject[]) => {
    const results = await store.commit(objects.map((object) => ({ op: 'create' as const, object })));
    expect(results.every((r) => r.ok)).toBe(true);
  };
  const pods = async () => (await store.list('Pod')).items as any[];
  const boundNames = async () => new Set((await pods()).filter((p) => p.spec.nodeName).map((p) => p.metadata.name as string));
  const placement = async () => new Map((await pods()).map((p) => [p.metadata.name as string, p.spec.nodeName as string | undefined]));

  /** One scheduler pass with this batch size: the pods it bound (in no order), its writes and round trips. */
  async function pass(batchSize: number) {
    const before = await boundNames();
    const trips = store.roundTrips;
    const ctx = new PassContext(store, clock, { ...defaultControlOptions, batchSize });
    await scheduler(ctx);
    const roundTrips = store.roundTrips - trips;
    expect(roundTrips).toBeLessThanOrEqual(3);
    const bound = [...(await boundNames())].filter((n) => !before.has(n));
    return { bound, writes: ctx.writes, roundTrips };
  }

  /** Passes until one writes nothing (as the pass scheduler runs them); the pods each pass bound. */
  async function passesUntilIdle(batchSize: number): Promise<string[][]> {
    const bound: string[][] = [];
    for (let i = 0; i < 50; i++) {
      const p = await pass(batchSize);
      if (p.writes === 0) return bound;
      expect(p.bound.length).toBeLessThanOrEqual(batchSize);
      bound.push(p.bound);
    }
    throw new Error('the scheduler did not settle');
  }

  it('binds 3, 3, 3 and 1 pods of 10 in four passes of 3, in priority then age order', async () => {
    await create(node('n1'), node('n2'));
    // Created out of order; the queue is priority first, then age.
    const specs: [string, number, string][] = [
      ['low-old', 0, '2026-01-01T00:00:01Z'],
      ['low-young', 0, '2026-01-01T00:00:09Z'],
      ['mid-a', 10, '2026-01-01T00:00:05Z'],
      ['top', 1000, '2026-01-01T00:00:08Z'],
      ['mid-b', 10, '2026-01-01T00:00:06Z'],
      ['low-mid', 0, '2026-01-01T00:00:04Z'],
      ['high-b', 100, '2026-01-01T00:00:03Z'],
      ['high-a', 100, '2026-01-01T00:00:02Z'],
      ['mid-c', 10, '2026-01-01T00:00:07Z'],
      ['low-oldest', 0, '2026-01-01T00:00:00Z'],
    ];
    await create(...specs.map(([name, priority, created]) => pod(name, { priority, created, cpu: '100m' })));

    const passes = await passesUntilIdle(3);
    expect(passes.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(passes.map((b) => b.sort())).toEqual([
      ['high-a', 'high-b', 'top'],
      ['mid-a', 'mid-b', 'mid-c'],
      ['low-mid', 'low-old', 'low-oldest'],
      ['low-young'],
    ]);
    // Nothing left: the next pass reads the pending pods only.
    expect(await pass(3)).toEqual({ bound: [], writes: 0, roundTrips: 1 });
  });

  it('respects node capacity across passes: each pass sees what the earlier ones bound', async () => {
    await create(node('n1', '1'), node('n2', '1'));
    await create(...Array.from({ length: 10 }, (_, i) => pod(`p${i}`, { cpu: '300m', created: `2026-01-01T00:00:0${i}Z` })));

    const passes = await passesUntilIdle(3);
    expect(passes.flat().sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    const where = await placement();
    for (const n of ['n1', 'n2']) expect([...where.values()].filter((v) => v === n)).toHaveLength(3);
    // The four left say why, counted over both nodes and their pods bound in earlier passes.
    for (const p of await pods()) {
      if (p.spec.nodeName) continue;
      expect(p.status.conditions.find((c: any) => c.type === 'PodScheduled').message).toBe(
        '0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.',
      );
    }
  });

  it("spreads an owner's pods as evenly when they are bound one per pass", async () => {
    // Least allocated alone would put every replica on the big node; spreading counts the owner's pods there.
    await create(node('big', '64'), node('n2'), node('n3'));
    await create(...Array.from({ length: 6 }, (_, i) => pod(`web-${i}`, { owner: 'rs-web', cpu: '500m', created: `2026-01-01T00:00:0${i}Z` })));

    const passes = await passesUntilIdle(1);
    expect(passes).toHaveLength(6);
    const where = [...(await placement()).values()];
    expect(['big', 'n2', 'n3'].map((n) => where.filter((v) => v === n).length)).toEqual([2, 2, 2]);
  });

  it('keeps topology spread constraints across passes, counting only selected pods of the namespace', async () => {
    await create(node('n1'), node('n2', '64'));
    // Pods elsewhere with the same labels, or other labels here, do not count.
    await create(pod('other-ns', { namespace: 'elsewhere', labels: { app: 'db' }, nodeName: 'n1' }), pod('web', { labels: { app: 'web' }, nodeName: 'n1' }));
    const constraint = { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'db' } } };
    await create(
      ...Array.from({ length: 4 }, (_, i) =>
        pod(`db-${i}`, { labels: { app: 'db', index: String(i) }, cpu: '100m', created: `2026-01-01T00:00:0${i}Z`, spec: { topologySpreadConstraints: [constraint] } }),
      ),
    );

    expect(await passesUntilIdle(1)).toHaveLength(4);
    const where = await placement();
    const dbs = [0, 1, 2, 3].map((i) => where.get(`db-${i}`));
    expect(['n1', 'n2'].map((n) => dbs.filter((v) => v === n).length)).toEqual([2, 2]);
  });

  it('reads the priorities of bound pods for the preemption diagnosis', async () => {
    await create(node('n', '1'), pod('running', { cpu: '800m', priority: 10, nodeName: 'n' }));
    await create(pod('high', { cpu: '500m', priority: 100 }), pod('peer', { cpu: '500m', priority: 10 }));
    await passesUntilIdle(1);
    const message = async (name: string) => (await pods()).find((p) => p.metadata.name === name).status.conditions[0].message;
    // Without the lower-priority pod the high one would fit; for its peer (same priority) there is nothing to take.
    expect(await message('high')).toBe('0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu.');
    expect(await message('peer')).toBe(
      '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    );
  });

  it('does not let unschedulable pods hold back the pods behind them, and retries each in turn', async () => {
    await create(node('n1'));
    const nowhere = { nodeSelector: { disk: 'none' } };
    // Three stuck pods of high priority, more than a batch of 2 holds, then two that fit.
    await create(
      ...['stuck-a', 'stuck-b', 'stuck-c'].map((name) => pod(name, { priority: 100, spec: nowhere })),
      pod('fits-a', { created: '2026-01-01T00:00:01Z' }),
      pod('fits-b', { created: '2026-01-01T00:00:02Z' }),
    );

    const passes = await passesUntilIdle(2);
    expect(passes.flat().sort()).toEqual(['fits-a', 'fits-b']);
    const failed = async () => {
      const events = (await store.list('Event', { namespace: 'default' })).items as any[];
      return Object.fromEntries(events.filter((e) => e.reason === 'FailedScheduling').map((e) => [e.involvedObject.name, e.count]));
    };
    expect(await failed()).toEqual({ 'stuck-a': 1, 'stuck-b': 1, 'stuck-c': 1 });

    // Five minutes on, every stuck pod is tried again and its event counted again, a batch at a time.
    clock.advance(6 * 60_000);
    const retries = await passesUntilIdle(2);
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(await failed()).toEqual({ 'stuck-a': 2, 'stuck-b': 2, 'stuck-c': 2 });
  });
});

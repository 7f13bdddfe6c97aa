import type { Client } from '@libsql/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { scheduler } from '../../src/control/scheduler.js';
import type { KObject } from '../../src/kinds/types.js';
import type { Clock, ManualClock } from '../../src/store/clock.js';
import { Store, type WriteOp } from '../../src/store/store.js';
import { podObject, type PodOpts } from '../helpers/pod-object.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

interface NodeOpts {
  cpu?: string;
  pods?: string;
  gpu?: string;
  taints?: { key: string; value?: string; effect: string }[];
  unschedulable?: boolean;
}

function node(name: string, o: NodeOpts = {}): KObject {
  const resources: Record<string, string> = { cpu: o.cpu ?? '4', memory: '8Gi', pods: o.pods ?? '110', 'ephemeral-storage': '100Gi' };
  if (o.gpu) resources['nvidia.com/gpu'] = o.gpu;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: crypto.randomUUID(), labels: { 'kubernetes.io/hostname': name }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

// A pending pod for the default scheduler, with priority 0; its owner is the ReplicaSet 'web'.
const pod = (name: string, o: PodOpts = {}) =>
  podObject(name, { schedulerName: 'default-scheduler', priority: 0, ownerName: 'web', status: { phase: 'Pending' }, ...o });

/** A store whose commits wait for `open`, after telling `reached` that the pass has read and decided. */
class GatedStore extends Store {
  reached!: () => void;
  readonly hasReached = new Promise<void>((r) => (this.reached = r));
  open!: () => void;
  private readonly gate = new Promise<void>((r) => (this.open = r));

  override async commit(ops: WriteOp[]) {
    this.reached();
    await this.gate;
    return super.commit(ops);
  }
}

describe('scheduler', () => {
  let temp: TempStore;
  let client: Client;
  let store: Store;
  let clock: ManualClock;

  const ctx = (s: Store = store, c: Clock = clock) => new PassContext(s, c, defaultControlOptions);
  const create = async (...objects: KObject[]) => {
    const results = await store.commit(objects.map((object) => ({ op: 'create' as const, object })));
    expect(results.every((r) => r.ok)).toBe(true);
  };
  const getPod = async (name: string) => (await store.get('Pod', 'default', name)) as any;
  const events = async () => (await store.list('Event', { namespace: 'default' })).items as any[];
  const podsOn = async (nodeName: string) =>
    (await store.list('Pod', { where: [{ sql: 'node_name = ?', args: [nodeName] }] })).items.map((p) => p.metadata!.name).sort();
  const condition = (p: any) => p.status.conditions?.find((c: any) => c.type === 'PodScheduled');

  beforeEach(async () => {
    temp = await openTempStore('skiff-scheduler-');
    ({ client, store, clock } = temp);
  });
  afterEach(() => temp.remove());

  it('puts a GPU pod on the GPU node only; a second one stays Pending with the reason, once', async () => {
    const controlPlane = { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] };
    await create(node('cp1', controlPlane), node('cp2', controlPlane), node('gpu', { gpu: '1' }));
    await create(pod('train-1', { requests: { 'nvidia.com/gpu': '1' } }), pod('train-2', { requests: { 'nvidia.com/gpu': '1' }, created: '2026-01-01T00:00:01Z' }));
    await scheduler(ctx());

    const first = await getPod('train-1');
    expect(first.spec.nodeName).toBe('gpu');
    expect(condition(first)).toEqual({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-01-01T00:00:00Z' });

    const message =
      '0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. ' +
      'preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.';
    const second = await getPod('train-2');
    expect(second.spec.nodeName).toBeUndefined();
    expect(second.status.phase).toBe('Pending');
    expect(condition(second)).toMatchObject({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message });

    const byReason = (reason: string) => events().then((es) => es.filter((e) => e.reason === reason));
    const [scheduled] = await byReason('Scheduled');
    expect(scheduled).toMatchObject({
      type: 'Normal',
      message: 'Successfully assigned default/train-1 to gpu',
      source: { component: 'default-scheduler' },
      involvedObject: { kind: 'Pod', name: 'train-1', uid: first.metadata.uid },
    });
    const [failed] = await byReason('FailedScheduling');
    expect(failed).toMatchObject({ type: 'Warning', message, count: 1, involvedObject: { name: 'train-2', uid: second.metadata.uid } });

    // Nothing changed: the next pass finds no pod due (train-2 backs off) in one read, and writes nothing.
    const before = store.roundTrips;
    const idle = ctx();
    await scheduler(idle);
    expect(store.roundTrips - before).toBe(1);
    expect(idle.writes).toBe(0);
    expect(idle.schedulingAttempts).toBe(0);

    // Still stuck five minutes on: the event is counted again (describe keeps showing it); the pod is not rewritten.
    clock.advance(5 * 60_000);
    await scheduler(ctx());
    expect((await byReason('FailedScheduling'))[0]).toMatchObject({ count: 2, lastTimestamp: '2026-01-01T00:05:00Z' });
    expect((await getPod('train-2')).metadata.resourceVersion).toBe(second.metadata.resourceVersion);

    // A GPU frees up: the pending pod goes there, once its back-off (2 s after a second attempt) is over.
    await store.commit([{ op: 'delete', kind: 'Pod', namespace: 'default', name: 'train-1', rv: Number(first.metadata.resourceVersion) }]);
    clock.advance(2000);
    await scheduler(ctx());
    const bound = await getPod('train-2');
    expect(bound.spec.nodeName).toBe('gpu');
    expect(condition(bound)).toEqual({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-01-01T00:05:02Z' });
  });

  it('skips cordoned nodes', async () => {
    await create(node('a', { unschedulable: true }), node('b'));
    await create(pod('p'), pod('q'));
    await scheduler(ctx());
    expect(await podsOn('b')).toEqual(['p', 'q']);
    expect(await podsOn('a')).toEqual([]);
  });

  it('keeps pods off tainted nodes unless they tolerate the taint', async () => {
    await create(node('dedicated', { taints: [{ key: 'team', value: 'ml', effect: 'NoSchedule' }] }));
    await create(pod('plain'), pod('ml', { tolerations: [{ key: 'team', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }] }));
    await scheduler(ctx());
    expect(await podsOn('dedicated')).toEqual(['ml']);
    expect(condition(await getPod('plain')).message).toBe(
      '0/1 nodes are available: 1 node(s) had untolerated taint {team: ml}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.',
    );
  });

  it('never gives two pods the same host port on a node, counting pods bound before the pass', async () => {
    await create(node('n1'), node('n2'));
    await create(pod('old', { hostPort: 8080, nodeName: 'n1' }));
    await create(pod('a', { hostPort: 8080 }), pod('b', { hostPort: 8080, created: '2026-01-01T00:00:01Z' }));
    await scheduler(ctx());
    expect(await podsOn('n1')).toEqual(['old']);
    expect(await podsOn('n2')).toEqual(['a']);
    expect(condition(await getPod('b')).message).toBe(
      "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. " +
        'preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.',
    );
  });

  it('binds higher-priority pods first and leaves pods of other schedulers and pods being deleted alone', async () => {
    await create(node('n', { pods: '1' }));
    const deleting = pod('deleting');
    deleting.metadata!.deletionTimestamp = '2026-01-01T00:00:00Z';
    await create(
      pod('early', { created: '2025-12-31T00:00:00Z' }),
      pod('urgent', { priority: 1000 }),
      pod('custom', { schedulerName: 'my-scheduler', created: '2025-01-01T00:00:00Z' }),
      deleting,
    );
    await scheduler(ctx());
    expect(await podsOn('n')).toEqual(['urgent']);
    expect(condition(await getPod('early')).message).toBe(
      '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    );
    expect((await getPod('custom')).status.conditions).toBeUndefined();
    expect((await getPod('deleting')).status.conditions).toBeUndefined();
  });

  it('says so when there are no nodes', async () => {
    await create(pod('p'));
    await scheduler(ctx());
    expect(condition(await getPod('p'))).toMatchObject({ status: 'False', reason: 'Unschedulable', message: 'no nodes available to schedule pods' });
  });

  it('two racing passes never over-commit a node, whatever each one read', async () => {
    await create(node('n1', { pods: '2' }), node('n2', { pods: '2' }));
    await create(...Array.from({ length: 6 }, (_, i) => pod(`p${i}`, { created: `2026-01-01T00:00:0${i}Z` })));
    const a = new GatedStore(client, clock);
    const b = new GatedStore(client, clock);
    const passA = scheduler(ctx(a));
    await a.hasReached; // A fills both nodes with p0..p3
    await create(pod('urgent', { priority: 1000 })); // B also sees this one, and puts it first
    const passB = scheduler(ctx(b));
    await b.hasReached;
    a.open();
    await passA;
    b.open();
    await passB;
    expect(await podsOn('n1')).toHaveLength(2);
    expect(await podsOn('n2')).toHaveLength(2);
    expect((await getPod('urgent')).spec.nodeName).toBeUndefined(); // B's binding lost: the node had filled up
    // The next pass finds the cluster as it is.
    await scheduler(ctx());
    expect(condition(await getPod('urgent')).message).toMatch(/^0\/2 nodes are available: 2 Too many pods\./);
  });

  it('a binding fails when the node gained a pod since the pass read it', async () => {
    await create(node('n', { pods: '1' }));
    await create(pod('p'));
    const gated = new GatedStore(client, clock);
    const pass = scheduler(ctx(gated));
    await gated.hasReached; // the pass means to bind p to n, which it saw empty
    await create(pod('elsewhere', { nodeName: 'n' })); // e.g. another scheduler's binding
    gated.open();
    await pass;
    expect(await podsOn('n')).toEqual(['elsewhere']);
    expect((await getPod('p')).spec.nodeName).toBeUndefined();
    // The next pass sees it and says why.
    await scheduler(ctx());
    expect(condition(await getPod('p')).message).toMatch(/^0\/1 nodes are available: 1 Too many pods\./);
  });

  for (const count of [10, 1000]) {
    it(`costs a bounded number of round trips with ${count} pending pods`, async () => {
      await create(node('n1'), node('n2'), node('n3'));
      const owner = crypto.randomUUID();
      await create(...Array.from({ length: count }, (_, i) => pod(`p${i}`, { owner, requests: { cpu: '10m', memory: '1Mi' } })));
      let before = store.roundTrips;
      await scheduler(ctx());
      expect(store.roundTrips - before).toBe(3); // pending pods, the cluster, the bindings
      const bound = Math.min(count, 3 * 110);
      const counts = await Promise.all(['n1', 'n2', 'n3'].map(async (n) => (await podsOn(n)).length));
      expect(counts.reduce((x, y) => x + y)).toBe(bound);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1); // a ReplicaSet's pods are spread
      before = store.roundTrips;
      const idle = ctx();
      await scheduler(idle);
      // Pods left pending (more than fit) back off: either way it stops at one read.
      expect(store.roundTrips - before).toBe(1);
      expect(idle.writes).toBe(0);
    }, 60_000);
  }
});

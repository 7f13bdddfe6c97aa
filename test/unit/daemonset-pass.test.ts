// The DaemonSet controller over 1,000 nodes: a constant number of round trips whether it has work or
// not (an idle pass reads no whole pod), bounded work per pass, and the scheduler binding its pods
// where their affinity points in the same pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { daemonSets } from '../../src/control/daemonsets.js';
import { scheduler } from '../../src/control/scheduler.js';
import type { KObject } from '../../src/kinds/types.js';
import type { WriteOp } from '../../src/store/store.js';
import { jsonRequest } from '../helpers/json-request.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const NODES = 1000;
let t: TempStore;
let request: (path: string, method: string, body?: unknown, type?: string) => Promise<any>;

beforeAll(async () => {
  t = await openTempStore('skiff-ds-pass-');
  const app = createApp({ store: t.store, clock: t.clock, authenticate: () => true });
  request = async (path, method, body, type = 'application/json') => {
    const res = await app.fetch(new Request(`http://skiff${path}`, jsonRequest(method, body, type)));
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const now = t.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
  const allocatable = { cpu: '8', memory: '32Gi', pods: '110' };
  const nodes: WriteOp[] = Array.from({ length: NODES }, (_, i) => ({
    op: 'create',
    object: {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: `node-${String(i).padStart(4, '0')}`, uid: crypto.randomUUID(), creationTimestamp: now, labels: { zone: i % 2 ? 'odd' : 'even' } },
      spec: {},
      status: { capacity: allocatable, allocatable, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: now, lastTransitionTime: now }] },
    },
  }));
  expect((await t.store.commit(nodes)).every((r) => r.ok)).toBe(true);
}, 60_000);

afterAll(() => t?.remove());

/**
 * One pass of the DaemonSet controller then the scheduler; round trips and writes of each. The pass's
 * shared check for optional kinds (ctx.present) is made first, as an earlier controller makes it.
 */
async function pass() {
  const ctx = new PassContext(t.store, t.clock, defaultControlOptions);
  await ctx.present('DaemonSet');
  const cost = async (run: () => Promise<void>) => {
    const [trips, writes, began] = [t.store.roundTrips, ctx.writes, performance.now()];
    await run();
    return { roundTrips: t.store.roundTrips - trips, writes: ctx.writes - writes, ms: Math.round(performance.now() - began) };
  };
  return { daemonset: await cost(() => daemonSets(ctx)), scheduler: await cost(() => scheduler(ctx)) };
}

/** Every node's kubelet at once: bound pods run and are ready; terminating ones are gone. */
async function kubelets(): Promise<number> {
  const pods = (await t.store.list('Pod')).items;
  const now = t.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
  const ops: WriteOp[] = [];
  for (const pod of pods) {
    const rv = Number(pod.metadata!.resourceVersion);
    if (pod.metadata!.deletionTimestamp) ops.push({ op: 'delete', kind: 'Pod', namespace: 'default', name: pod.metadata!.name!, rv });
    else if (!(pod.spec as any).nodeName || (pod.status as any)?.phase === 'Running') continue;
    else {
      const conditions = ['Ready', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: now }));
      ops.push({ op: 'update', object: { ...pod, status: { ...(pod.status as object), phase: 'Running', conditions } } as KObject, rv });
    }
  }
  if (ops.length) expect((await t.store.commit(ops)).every((r) => r.ok)).toBe(true);
  return ops.length;
}

describe(`a DaemonSet over ${NODES} nodes`, () => {
  it('covers them in passes of bounded work, three round trips each at most, then idles on one', async () => {
    await request('/apis/apps/v1/namespaces/default/daemonsets', 'POST', {
      apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        updateStrategy: { rollingUpdate: { maxUnavailable: '10%' } },
        template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } },
      },
    });
    const costs = [];
    for (let round = 0; round < 10; round++) {
      const c = await pass();
      costs.push(c);
      if ((await kubelets()) === 0 && c.daemonset.writes === 0 && c.scheduler.writes === 0) break;
    }
    console.table(costs.map((c) => ({ ...c.daemonset, schedulerMs: c.scheduler.ms, schedulerWrites: c.scheduler.writes })));
    const pods = (await t.store.list('Pod')).items;
    expect(pods).toHaveLength(NODES);
    expect(new Set(pods.map((p) => (p.spec as any).nodeName)).size).toBe(NODES);
    // 250 pods a pass (BurstReplicas), each bound in the pass that made it.
    expect(costs[0].daemonset.writes).toBe(1 + 1 + 250 + 250); // the revision, the status, the pods, their events
    expect(costs[0].scheduler.writes).toBe(250 + 250);
    for (const c of costs) expect(c.daemonset.roundTrips).toBeLessThanOrEqual(3);
    const ds = await request('/apis/apps/v1/namespaces/default/daemonsets/agent', 'GET');
    expect(ds.status).toMatchObject({ desiredNumberScheduled: NODES, currentNumberScheduled: NODES, numberReady: NODES, numberAvailable: NODES, updatedNumberScheduled: NODES });

    const idle = await pass();
    // The set-based read alone: nothing whole, nothing written.
    expect(idle.daemonset).toMatchObject({ roundTrips: 1, writes: 0 });
  }, 120_000);

  it('rolls a new template out 10% of the nodes at a time', async () => {
    await request('/apis/apps/v1/namespaces/default/daemonsets/agent', 'PATCH',
      { spec: { template: { spec: { containers: [{ name: 'agent', image: 'agent:2' }] } } } }, 'application/strategic-merge-patch+json');
    const first = await pass();
    // The new revision and the status; a hundred old pods (read whole) marked for deletion, with their events.
    expect(first.daemonset.roundTrips).toBe(3);
    expect(first.daemonset.writes).toBe(1 + 1 + 100 + 100);
    const costs = [first];
    for (let round = 0; round < 40; round++) {
      await kubelets();
      const c = await pass();
      costs.push(c);
      expect(c.daemonset.roundTrips).toBeLessThanOrEqual(3);
      if (c.daemonset.writes === 0 && c.scheduler.writes === 0 && (await kubelets()) === 0) break;
    }
    const pods = (await t.store.list('Pod')).items;
    expect(pods).toHaveLength(NODES);
    expect(pods.every((p) => (p.spec as any).containers[0].image === 'agent:2')).toBe(true);
    console.log(`rolled out in ${costs.length} passes; slowest daemonset pass ${Math.max(...costs.map((c) => c.daemonset.ms))} ms, scheduler ${Math.max(...costs.map((c) => c.scheduler.ms))} ms`);
  }, 120_000);
});

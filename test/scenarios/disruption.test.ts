// PodDisruptionBudget status as the disruption controller reports it, over a Deployment on played
// nodes: minAvailable and maxUnavailable, as numbers and as percentages; pods not ready; evictions
// listed in disruptedPods until their pods go (or for two minutes); budgets the controller cannot
// compute; and the printed table.
import { describe, expect, it } from 'vitest';
import { condition, deployment, isReady, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const POLICY = '/apis/policy/v1/namespaces/default';

const startCluster = perTestClusters();

const budget = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name },
  spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
});

/** The numbers of a budget's status, and its DisruptionAllowed condition's status and reason. */
async function numbers(c: Cluster, name: string) {
  const pdb = await c.get(`${POLICY}/poddisruptionbudgets/${name}`);
  const { currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed, observedGeneration } = pdb.status;
  const cond = condition(pdb, 'DisruptionAllowed');
  return { currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed, observedGeneration, allowed: `${cond?.status}/${cond?.reason}` };
}

async function webWith(c: Cluster, replicas: number) {
  await c.create(`${APPS}/deployments`, deployment('web', replicas));
  await c.settle();
  expect((await c.list(`${NS}/pods`, 'app=web')).filter(isReady)).toHaveLength(replicas);
}

describe('PodDisruptionBudget status', () => {
  it('minAvailable as a number counts the pods selected; as a percentage, the Deployment’s replicas', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await webWith(c, 3);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('by-number', { minAvailable: 2 }));
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('by-percent', { minAvailable: '50%', selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] } }));
    await c.settle();
    expect(await numbers(c, 'by-number')).toEqual({ currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 1, observedGeneration: 1, allowed: 'True/SufficientPods' });
    // ceil(50% of 3)
    expect(await numbers(c, 'by-percent')).toEqual({ currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 1, observedGeneration: 1, allowed: 'True/SufficientPods' });

    // A spec change is seen: observedGeneration follows, and with 3 of 3 required nothing may go.
    await c.send('PATCH', `${POLICY}/poddisruptionbudgets/by-number`, { spec: { minAvailable: 3 } }, 'application/merge-patch+json');
    await c.settle();
    expect(await numbers(c, 'by-number')).toEqual({ currentHealthy: 3, desiredHealthy: 3, expectedPods: 3, disruptionsAllowed: 0, observedGeneration: 2, allowed: 'False/InsufficientPods' });
  });

  it('maxUnavailable, as a number and as a percentage, counts from the Deployment’s replicas', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await webWith(c, 4);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('one', { maxUnavailable: 1 }));
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('share', { maxUnavailable: '30%', selector: { matchLabels: { app: 'web' } } }));
    await c.settle();
    expect(await numbers(c, 'one')).toEqual({ currentHealthy: 4, desiredHealthy: 3, expectedPods: 4, disruptionsAllowed: 1, observedGeneration: 1, allowed: 'True/SufficientPods' });
    // ceil(30% of 4) = 2 may be unavailable
    expect(await numbers(c, 'share')).toEqual({ currentHealthy: 4, desiredHealthy: 2, expectedPods: 4, disruptionsAllowed: 2, observedGeneration: 1, allowed: 'True/SufficientPods' });
  });

  it('pods not ready count as expected but not as healthy', async () => {
    // node-b's pods become ready only after many syncs: within this test, never.
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b', readyAfter: 1000 }]);
    await c.send('PATCH', '/api/v1/nodes/node-b', { spec: { unschedulable: true } }, 'application/strategic-merge-patch+json');
    await webWith(c, 2);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('pods', { minAvailable: 2 }));
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('scale', { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } }));
    await c.settle();
    expect(await numbers(c, 'pods')).toMatchObject({ currentHealthy: 2, desiredHealthy: 2, expectedPods: 2, disruptionsAllowed: 0 });

    // Two more replicas, both on node-b where they never get ready.
    await c.send('PATCH', '/api/v1/nodes/node-a', { spec: { unschedulable: true } }, 'application/strategic-merge-patch+json');
    await c.send('PATCH', '/api/v1/nodes/node-b', { spec: { unschedulable: null } }, 'application/strategic-merge-patch+json');
    await c.send('PATCH', `${APPS}/deployments/web/scale`, { spec: { replicas: 4 } }, 'application/merge-patch+json');
    await c.settle();
    expect((await c.list(`${NS}/pods`, 'app=web', 'spec.nodeName=node-b')).filter((p) => p.status.phase === 'Running' && !isReady(p))).toHaveLength(2);
    expect(await numbers(c, 'pods')).toEqual({ currentHealthy: 2, desiredHealthy: 2, expectedPods: 4, disruptionsAllowed: 0, observedGeneration: 1, allowed: 'False/InsufficientPods' });
    expect(await numbers(c, 'scale')).toEqual({ currentHealthy: 2, desiredHealthy: 3, expectedPods: 4, disruptionsAllowed: 0, observedGeneration: 1, allowed: 'False/InsufficientPods' });
  });

  it('a rollout’s two ReplicaSets count their Deployment once', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await webWith(c, 2);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('web', { maxUnavailable: '50%' }));
    await c.settle();
    // A new image; node players make the new pods ready at once, so stop the rollout halfway with a
    // check after each pass: whenever two ReplicaSets own pods, the budget still expects 2.
    await c.send('PATCH', `${APPS}/deployments/web`, { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:1.28' }] } } } }, 'application/strategic-merge-patch+json');
    let sawTwoSets = false;
    await c.settle(async () => {
      const owners = new Set((await c.list(`${NS}/pods`, 'app=web')).map((p) => p.metadata.ownerReferences[0].uid));
      if (owners.size < 2) return;
      sawTwoSets = true;
      const pdb = await c.get(`${POLICY}/poddisruptionbudgets/web`);
      expect(pdb.status.expectedPods).toBe(2);
    });
    expect(sawTwoSets).toBe(true);
    expect(await numbers(c, 'web')).toMatchObject({ currentHealthy: 2, desiredHealthy: 1, expectedPods: 2, disruptionsAllowed: 1 });
  });

  it('an evicted pod stays in disruptedPods until it is being deleted, or for two minutes', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await webWith(c, 3);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('web', { minAvailable: 1 }));
    await c.settle();
    const [first, second] = await c.list(`${NS}/pods`, 'app=web');

    // An eviction spends a disruption and lists the pod at once, before any pass.
    const eviction = (name: string) => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' } });
    await c.create(`${NS}/pods/${first.metadata.name}/eviction`, eviction(first.metadata.name));
    let pdb = await c.get(`${POLICY}/poddisruptionbudgets/web`);
    expect(pdb.status.disruptionsAllowed).toBe(1);
    expect(Object.keys(pdb.status.disruptedPods)).toEqual([first.metadata.name]);
    expect((await c.get(`${NS}/pods/${first.metadata.name}`)).metadata.deletionTimestamp).toBeDefined();

    // Being deleted, the pod leaves the list on the next pass; its replacement comes.
    await c.settle();
    pdb = await c.get(`${POLICY}/poddisruptionbudgets/web`);
    expect(pdb.status.disruptedPods).toBeUndefined();
    expect(await numbers(c, 'web')).toMatchObject({ currentHealthy: 3, expectedPods: 3, disruptionsAllowed: 2 });

    // A pod listed but never deleted: it does not count as healthy for two minutes, then it does again.
    const listed = { ...pdb.status, disruptedPods: { [second.metadata.name]: c.clock.now().toISOString().replace(/\.\d+Z$/, 'Z') } };
    await c.send('PUT', `${POLICY}/poddisruptionbudgets/web/status`, { ...pdb, status: listed });
    await c.settle();
    expect(await numbers(c, 'web')).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 1 });
    expect(Object.keys((await c.get(`${POLICY}/poddisruptionbudgets/web`)).status.disruptedPods)).toEqual([second.metadata.name]);
    await c.advance(110);
    expect(await numbers(c, 'web')).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 1 });
    await c.advance(20);
    expect(await numbers(c, 'web')).toMatchObject({ currentHealthy: 3, disruptionsAllowed: 2 });
    expect((await c.get(`${POLICY}/poddisruptionbudgets/web`)).status.disruptedPods).toBeUndefined();
    const events = await c.list(`${NS}/events`, undefined, `involvedObject.name=${second.metadata.name}`);
    expect(events.map((e) => [e.reason, e.message])).toContainEqual(['NotDeleted', "Pod was expected by PDB default/default to be deleted but it wasn't"]);
  });

  it('a percentage over pods whose controller has no scale fails safe with SyncFailed', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    const cm = await c.create(`${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
    await c.create(`${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'odd', labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: cm.metadata.uid, controller: true }] },
      spec: { containers: [{ name: 'app', image: 'nginx' }] },
    });
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('web', { minAvailable: '50%' }));
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('counted', { minAvailable: 1, selector: { matchLabels: { app: 'web' } } }));
    await c.settle();
    const pdb = await c.get(`${POLICY}/poddisruptionbudgets/web`);
    expect(pdb.status.disruptionsAllowed).toBe(0);
    expect(condition(pdb, 'DisruptionAllowed')).toMatchObject({ status: 'False', reason: 'SyncFailed', message: 'configmaps does not implement the scale subresource' });
    const events = await c.list(`${NS}/events`, undefined, 'involvedObject.name=web');
    expect(events.map((e) => e.reason)).toContain('CalculateExpectedPodCountFailed');
    // A number needs no controller: the pod counts.
    expect(await numbers(c, 'counted')).toMatchObject({ currentHealthy: 1, desiredHealthy: 1, expectedPods: 1, disruptionsAllowed: 0 });
  });

  it('a budget selecting nothing allows nothing, and says so', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('empty', { maxUnavailable: 1 }));
    await c.settle();
    expect(await numbers(c, 'empty')).toEqual({ currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, disruptionsAllowed: 0, observedGeneration: 1, allowed: 'False/InsufficientPods' });
    const events = await c.list(`${NS}/events`, undefined, 'involvedObject.name=empty');
    expect(events.map((e) => [e.type, e.reason, e.message])).toEqual([['Normal', 'NoPods', 'No matching pods found']]);
  });

  it('an idle pass costs the budgets one read and writes nothing', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await webWith(c, 2);
    await c.create(`${POLICY}/poddisruptionbudgets`, budget('web', { minAvailable: 1 }));
    await c.settle();
    const { PassContext, defaultControlOptions } = await import('../../src/control/context.js');
    const { disruption } = await import('../../src/control/disruption.js');
    const ctx = new PassContext(c.api.store, c.clock, defaultControlOptions);
    const before = c.api.store.roundTrips;
    await disruption(ctx);
    // the shared present() read, and the budgets' one
    expect(c.api.store.roundTrips - before).toBe(2);
    expect(ctx.writes).toBe(0);
  });
});

// A rolling update as a user sees it: after every pass and every node sync, the Deployment keeps
// at least replicas - maxUnavailable pods available and never has more than replicas + maxSurge;
// it completes; and `kubectl rollout undo` (its JSON patch) brings back the old ReplicaSet.
import { describe, expect, it } from 'vitest';
import { condition, deployment, isReady, isTerminating, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const REVISION = 'deployment.kubernetes.io/revision';
/** The annotations `kubectl rollout undo` keeps from the Deployment rather than the ReplicaSet (annotationsToSkip). */
const KEPT_BY_UNDO = [
  'kubectl.kubernetes.io/last-applied-configuration', REVISION, 'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas', 'deprecated.deployment.rollback.to',
];

const startCluster = perTestClusters();

async function threeNodes(): Promise<Cluster> {
  // Pods become ready one sync after they start, so availability visibly lags creation.
  return startCluster(['node-a', 'node-b', 'node-c'].map((name) => ({ name, readyAfter: 1 })));
}

/** Counts of the Deployment's pods, checked against the rolling-update bounds. */
function boundsCheck(c: Cluster, replicas: number, surge: number, unavailable: number) {
  const seen = { maxPods: 0, minAvailable: Infinity, checks: 0 };
  const check = async (moment: string) => {
    const pods = (await c.list(`${NS}/pods`, 'app=web')).filter((p) => !isTerminating(p));
    const available = pods.filter(isReady).length;
    seen.checks++;
    seen.maxPods = Math.max(seen.maxPods, pods.length);
    seen.minAvailable = Math.min(seen.minAvailable, available);
    if (pods.length > replicas + surge) throw new Error(`${moment}: ${pods.length} pods, over ${replicas} + ${surge}`);
    if (available < replicas - unavailable) throw new Error(`${moment}: ${available} available, under ${replicas} - ${unavailable}`);
  };
  return { seen, check };
}

async function expectComplete(c: Cluster, replicas: number, image: string): Promise<any> {
  const d = await c.get(`${APPS}/deployments/web`);
  expect(d.status).toMatchObject({ replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas, observedGeneration: d.metadata.generation });
  expect(d.status.unavailableReplicas).toBeUndefined();
  expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
  expect(condition(d, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
  const pods = (await c.list(`${NS}/pods`, 'app=web')).filter((p) => !isTerminating(p));
  expect(pods).toHaveLength(replicas);
  expect(pods.every((p) => isReady(p) && p.spec.containers[0].image === image)).toBe(true);
  return d;
}

/** Changes the image the way `kubectl set image` does (a strategic merge patch) and rolls out under the bounds. */
async function rollOut(c: Cluster, image: string, bounds: ReturnType<typeof boundsCheck>): Promise<void> {
  await c.send('PATCH', `${APPS}/deployments/web`, { spec: { template: { spec: { containers: [{ name: 'app', image }] } } } }, 'application/strategic-merge-patch+json');
  await c.settle(bounds.check);
}

describe('rolling update', () => {
  const cases = [
    { replicas: 4, maxSurge: 1, maxUnavailable: 1, surge: 1, unavailable: 1 },
    { replicas: 8, maxSurge: '25%', maxUnavailable: '25%', surge: 2, unavailable: 2 },
  ];
  for (const { replicas, maxSurge, maxUnavailable, surge, unavailable } of cases) {
    it(`keeps within maxSurge ${maxSurge} / maxUnavailable ${maxUnavailable} on ${replicas} replicas and completes`, async () => {
      const c = await threeNodes();
      const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } };
      await c.create(`${APPS}/deployments`, deployment('web', replicas, 'nginx:1.26', { strategy }));
      await c.settle();
      await expectComplete(c, replicas, 'nginx:1.26');

      const bounds = boundsCheck(c, replicas, surge, unavailable);
      await rollOut(c, 'nginx:1.27', bounds);
      const d = await expectComplete(c, replicas, 'nginx:1.27');
      expect(d.metadata.generation).toBe(2);
      // The rollout used its room: it surged and it let pods go unavailable, within the bounds.
      expect(bounds.seen.maxPods).toBe(replicas + surge);
      expect(bounds.seen.minAvailable).toBe(replicas - unavailable);

      const sets = await c.list(`${APPS}/replicasets`, 'app=web');
      expect(sets).toHaveLength(2);
      const byRevision = Object.fromEntries(sets.map((rs) => [rs.metadata.annotations[REVISION], rs]));
      expect(byRevision['1'].spec.replicas).toBe(0);
      expect(byRevision['2'].spec.replicas).toBe(replicas);
      expect(byRevision['2'].spec.template.spec.containers[0].image).toBe('nginx:1.27');
      expect(d.metadata.annotations[REVISION]).toBe('2');
      const scaling = (await c.list(`${NS}/events`, undefined, 'involvedObject.kind=Deployment,reason=ScalingReplicaSet')).map((e) => e.message);
      expect(scaling).toContain(`Scaled down replica set ${byRevision['1'].metadata.name} from ${replicas} to ${replicas - unavailable}`);
    });
  }

  it('rolls back with `kubectl rollout undo`, reusing the old ReplicaSet under a new revision', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/deployments`, deployment('web', 4, 'nginx:1.26', { strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }));
    await c.settle();
    await rollOut(c, 'nginx:1.27', boundsCheck(c, 4, 1, 1));
    await expectComplete(c, 4, 'nginx:1.27');

    // What kubectl does: take revision 1's ReplicaSet, drop its hash label, and JSON-patch template and annotations.
    const sets = await c.list(`${APPS}/replicasets`, 'app=web');
    const old = sets.find((rs) => rs.metadata.annotations[REVISION] === '1');
    const current = await c.get(`${APPS}/deployments/web`);
    const template = structuredClone(old.spec.template);
    delete template.metadata.labels['pod-template-hash'];
    template.metadata.creationTimestamp = null; // Go's encoding of an empty time, which kubectl sends
    for (const container of template.spec.containers) container.resources ??= {};
    const annotations: Record<string, string> = {};
    for (const k of KEPT_BY_UNDO) if (current.metadata.annotations?.[k] !== undefined) annotations[k] = current.metadata.annotations[k];
    for (const [k, v] of Object.entries<string>(old.metadata.annotations ?? {})) if (!KEPT_BY_UNDO.includes(k)) annotations[k] = v;
    await c.send('PATCH', `${APPS}/deployments/web`, [
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'replace', path: '/metadata/annotations', value: annotations },
    ], 'application/json-patch+json');
    await c.settle(boundsCheck(c, 4, 1, 1).check);

    const d = await expectComplete(c, 4, 'nginx:1.26');
    const after = await c.list(`${APPS}/replicasets`, 'app=web');
    expect(after.map((rs) => rs.metadata.name).sort()).toEqual(sets.map((rs) => rs.metadata.name).sort());
    const reused = after.find((rs) => rs.metadata.uid === old.metadata.uid);
    expect(reused.metadata.annotations[REVISION]).toBe('3');
    expect(reused.metadata.annotations['deployment.kubernetes.io/revision-history']).toBe('1');
    expect(reused.spec.replicas).toBe(4);
    expect(d.metadata.annotations[REVISION]).toBe('3');
    const pods = await c.list(`${NS}/pods`, 'app=web');
    expect(pods.every((p) => p.metadata.labels['pod-template-hash'] === old.metadata.labels['pod-template-hash'])).toBe(true);
  });
});

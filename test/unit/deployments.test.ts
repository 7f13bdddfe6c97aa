import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PassContext, defaultControlOptions } from '../../src/control/context.js';
import { deployments } from '../../src/control/deployments.js';
import {
  maxSurge, maxUnavailable, resolveFenceposts, templateHash, type Deployment, type ReplicaSet,
} from '../../src/control/rollout.js';
import { deployment as deploymentKind } from '../../src/kinds/deployment.js';
import type { KObject } from '../../src/kinds/types.js';
import { deepEqual } from '../../src/kinds/validation.js';
import type { ManualClock } from '../../src/store/clock.js';
import type { Store, WriteOp } from '../../src/store/store.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const NS = 'default';
const REVISION = 'deployment.kubernetes.io/revision';

let temp: TempStore;
let store: Store;
let clock: ManualClock;

beforeEach(async () => {
  temp = await openTempStore('skiff-deploy-');
  ({ store, clock } = temp);
});
afterEach(() => temp.remove());

// ---------------------------------------------------------------- helpers

const template = (app: string, image: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'app', image }] },
});

/** A Deployment as the API server stores it: defaulted, generation 1. */
async function createDeployment(name: string, spec: Partial<Deployment['spec']> = {}, annotations: Record<string, string> = {}): Promise<void> {
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, uid: crypto.randomUUID(), generation: 1, creationTimestamp: clock.now().toISOString(), labels: { app: name }, annotations },
    spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: template(name, 'nginx:1'), ...spec },
  };
  deploymentKind.defaults!(d);
  const [r] = await store.commit([{ op: 'create', object: d }]);
  expect(r.ok).toBe(true);
}

/** A client's update: bumps generation when the spec changes, as the API server does. */
async function updateDeployment(name: string, change: (d: Deployment) => void): Promise<void> {
  const old = (await store.get('Deployment', NS, name)) as Deployment;
  const d = structuredClone(old);
  change(d);
  deploymentKind.defaults!(d);
  if (!deepEqual(d.spec, old.spec)) d.metadata!.generation = (old.metadata!.generation ?? 0) + 1;
  const [r] = await store.commit([{ op: 'update', object: d, rv: Number(old.metadata!.resourceVersion) }]);
  expect(r.ok).toBe(true);
}

const getDeployment = async (name = 'web') => (await store.get('Deployment', NS, name)) as Deployment;

/** ReplicaSets, oldest revision first. */
async function replicaSets(): Promise<ReplicaSet[]> {
  const items = (await store.list('ReplicaSet', { namespace: NS })).items as ReplicaSet[];
  return items.sort((a, b) => Number(a.metadata!.annotations?.[REVISION] ?? 0) - Number(b.metadata!.annotations?.[REVISION] ?? 0));
}

async function pass(): Promise<{ writes: number; roundTrips: number }> {
  const ctx = new PassContext(store, clock, defaultControlOptions);
  const before = store.roundTrips;
  await deployments(ctx);
  return { writes: ctx.writes, roundTrips: store.roundTrips - before };
}

/**
 * The ReplicaSet controller, simulated: every ReplicaSet gets the pods it asks for at once,
 * and by default the pods that already existed at the previous round are now available.
 */
async function runReplicaSets(available: (rs: ReplicaSet) => number = (rs) => rs.status?.replicas ?? 0): Promise<void> {
  const items = (await store.list('ReplicaSet')).items as ReplicaSet[];
  const ops: WriteOp[] = items.map((rs) => {
    const next = structuredClone(rs);
    const n = next.spec.replicas ?? 1;
    const ready = Math.min(n, available(rs));
    next.status = { replicas: n, fullyLabeledReplicas: n, readyReplicas: ready, availableReplicas: ready, observedGeneration: next.metadata!.generation };
    return { op: 'update', object: next, rv: Number(rs.metadata!.resourceVersion) };
  });
  await store.commit(ops);
}

/** What `kubectl rollout status` concludes from a Deployment (DeploymentStatusViewer). */
function rolloutStatus(d: Deployment): 'done' | 'waiting' | 'exceeded' {
  const s = d.status ?? {};
  if ((d.metadata!.generation ?? 0) > (s.observedGeneration ?? 0)) return 'waiting';
  if (s.conditions?.find((c) => c.type === 'Progressing')?.reason === 'ProgressDeadlineExceeded') return 'exceeded';
  if ((s.updatedReplicas ?? 0) < (d.spec.replicas ?? 1)) return 'waiting';
  if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return 'waiting';
  if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)) return 'waiting';
  return 'done';
}

/** Passes and ReplicaSet rounds, ten seconds apart, until the rollout is done. */
async function rollOut(name = 'web', maxRounds = 30): Promise<void> {
  for (let i = 0; i < maxRounds; i++) {
    await pass();
    if (rolloutStatus(await getDeployment(name)) === 'done') return;
    await runReplicaSets();
    clock.advance(10_000);
  }
  throw new Error(`rollout of ${name} did not finish`);
}

const condition = (d: Deployment, type: string) => d.status?.conditions?.find((c) => c.type === type);
const sizes = (rss: ReplicaSet[]) => rss.map((rs) => rs.spec.replicas);

async function scalingEvents(): Promise<string[]> {
  const items = (await store.list('Event', { namespace: NS })).items;
  return items
    .filter((e: KObject) => e.reason === 'ScalingReplicaSet')
    .sort((a: any, b: any) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
    .map((e: KObject) => String(e.message));
}

// ---------------------------------------------------------------- the math

describe('rollout arithmetic', () => {
  it('rounds surge up and unavailability down, and never lets both be zero', () => {
    expect(resolveFenceposts('25%', '25%', 10)).toEqual({ surge: 3, unavailable: 2 });
    expect(resolveFenceposts('25%', '25%', 1)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts(0, '10%', 5)).toEqual({ surge: 0, unavailable: 1 });
    expect(resolveFenceposts(2, 1, 5)).toEqual({ surge: 2, unavailable: 1 });
    const d = { spec: { replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 5 } } } } as Deployment;
    expect(maxUnavailable(d)).toBe(2); // never more than the replicas
    expect(maxSurge({ spec: { replicas: 4, strategy: { type: 'Recreate' } } } as Deployment)).toBe(0);
  });

  it('hashes the normalised template into at most 10 safe characters', () => {
    const plain = template('web', 'nginx:1');
    const h = templateHash(plain);
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    // what `kubectl rollout undo` sends back: an old ReplicaSet's template, with its hash label
    const undo = { metadata: { creationTimestamp: null, labels: { app: 'web', 'pod-template-hash': 'x' } }, spec: { containers: [{ name: 'app', image: 'nginx:1', resources: {} }] } };
    expect(templateHash(undo)).toBe(h);
    expect(templateHash(template('web', 'nginx:2'))).not.toBe(h);
    expect(templateHash(plain, 1)).not.toBe(h);
    expect(templateHash(plain, 1)).not.toBe(templateHash(plain, 2));
  });
});

// ---------------------------------------------------------------- the controller

describe('deployment controller', () => {
  it('creates the first ReplicaSet: name, hash label and selector, owner, revision, annotations, event', async () => {
    await createDeployment('web', {}, { 'kubernetes.io/change-cause': 'first', 'kubectl.kubernetes.io/last-applied-configuration': '{}' });
    await pass();
    const [rs] = await replicaSets();
    const d = await getDeployment();
    const hash = templateHash(d.spec.template);
    expect(rs.metadata!.name).toBe(`web-${hash}`);
    expect(rs.metadata!.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.spec.selector).toEqual({ matchLabels: { app: 'web', 'pod-template-hash': hash } });
    expect(rs.spec.template.metadata.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.spec.template.spec.containers[0].image).toBe('nginx:1');
    expect(rs.spec.replicas).toBe(3);
    expect(rs.metadata!.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata!.uid, controller: true, blockOwnerDeletion: true },
    ]);
    expect(rs.metadata!.annotations).toEqual({
      'kubernetes.io/change-cause': 'first',
      [REVISION]: '1',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '4',
    });
    expect(d.metadata!.annotations![REVISION]).toBe('1');
    expect(d.status).toMatchObject({ observedGeneration: 1, unavailableReplicas: 3 });
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "web-${hash}"` });
    expect(condition(d, 'Available')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable' });
    expect(await scalingEvents()).toEqual([`Scaled up replica set web-${hash} from 0 to 3`]);
    const [event] = (await store.list('Event', { namespace: NS })).items as any[];
    expect(event.source).toEqual({ component: 'deployment-controller' });
    expect(event.involvedObject).toMatchObject({ kind: 'Deployment', name: 'web', uid: d.metadata!.uid });

    await rollOut();
    const done = await getDeployment();
    expect(done.status).toMatchObject({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });
    expect(done.status!.unavailableReplicas).toBeUndefined();
    expect(done.status!.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ]);
    expect(condition(done, 'Progressing')!.message).toBe(`ReplicaSet "web-${hash}" has successfully progressed.`);
    expect(await replicaSets()).toHaveLength(1);
  });

  it('writes nothing on a pass with nothing to do, in one read round trip', async () => {
    await createDeployment('web');
    await rollOut();
    expect(await pass()).toEqual({ writes: 0, roundTrips: 1 });
    expect(await pass()).toEqual({ writes: 0, roundTrips: 1 });
  });

  it('scales the ReplicaSet with the Deployment', async () => {
    await createDeployment('web');
    await rollOut();
    const [rs] = await replicaSets();
    await updateDeployment('web', (d) => (d.spec.replicas = 5));
    await pass();
    let [scaled] = await replicaSets();
    expect(scaled.spec.replicas).toBe(5);
    expect(scaled.metadata!.annotations).toMatchObject({ 'deployment.kubernetes.io/desired-replicas': '5', 'deployment.kubernetes.io/max-replicas': '7' });
    await rollOut();
    await updateDeployment('web', (d) => (d.spec.replicas = 2));
    await pass();
    [scaled] = await replicaSets();
    expect(scaled.spec.replicas).toBe(2);
    await runReplicaSets();
    await pass();
    expect(await scalingEvents()).toEqual([
      `Scaled up replica set ${rs.metadata!.name} from 0 to 3`,
      `Scaled up replica set ${rs.metadata!.name} from 3 to 5`,
      `Scaled down replica set ${rs.metadata!.name} from 5 to 2`,
    ]);
    expect((await getDeployment()).status).toMatchObject({ observedGeneration: 3, replicas: 2, availableReplicas: 2 });
    expect(rolloutStatus(await getDeployment())).toBe('done');
    expect(await replicaSets()).toHaveLength(1);
  });

  for (const [replicas, surge, unavailable] of [[3, 1, 0], [10, '25%', '25%'], [4, 0, 1]] as const) {
    it(`rolls out with maxSurge ${surge} / maxUnavailable ${unavailable} at ${replicas} replicas within both bounds`, async () => {
      await createDeployment('web', { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } } });
      await rollOut();
      await updateDeployment('web', (d) => (d.spec.template.spec.containers[0].image = 'nginx:2'));
      const { surge: s, unavailable: u } = resolveFenceposts(surge, unavailable, replicas);
      let done = false;
      for (let round = 0; round < 40 && !done; round++) {
        // passes racing ahead of the ReplicaSet controller (kicks) reach a fixed point within the bounds too
        let writes = 0;
        for (let again = 0; again < 4 && (again === 0 || writes > 0); again++) writes = (await pass()).writes;
        expect(writes).toBe(0);
        const rss = await replicaSets();
        expect(rss.reduce((n, rs) => n + rs.spec.replicas!, 0)).toBeLessThanOrEqual(replicas + s);
        await runReplicaSets();
        const after = await replicaSets();
        expect(after.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0)).toBeGreaterThanOrEqual(replicas - u);
        clock.advance(10_000);
        done = rolloutStatus(await getDeployment()) === 'done';
      }
      expect(done).toBe(true);
      const [old, current] = await replicaSets();
      expect(sizes([old, current])).toEqual([0, replicas]);
      expect(current.spec.template.spec.containers[0].image).toBe('nginx:2');
      expect(current.metadata!.annotations![REVISION]).toBe('2');
      const d = await getDeployment();
      expect(d.metadata!.annotations![REVISION]).toBe('2');
      expect(d.status).toMatchObject({ observedGeneration: 2, replicas, updatedReplicas: replicas, availableReplicas: replicas });
      expect(condition(d, 'Progressing')).toMatchObject({ reason: 'NewReplicaSetAvailable' });
    });
  }

  it('steps a maxSurge 1 / maxUnavailable 0 rollout one pod at a time, as kube does', async () => {
    await createDeployment('web', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } });
    await rollOut();
    await updateDeployment('web', (d) => (d.spec.template.spec.containers[0].image = 'nginx:2'));
    const trace: number[][] = [];
    for (let round = 0; round < 9; round++) {
      await pass();
      trace.push(sizes(await replicaSets()) as number[]);
      await runReplicaSets();
    }
    // [old, new]: grow the new one by one, wait for it to be available, shrink the old by one
    expect(trace).toEqual([[3, 1], [3, 1], [2, 1], [2, 2], [2, 2], [1, 2], [1, 3], [1, 3], [0, 3]]);
    const [old, current] = await replicaSets();
    expect(await scalingEvents()).toEqual([
      `Scaled up replica set ${old.metadata!.name} from 0 to 3`,
      `Scaled up replica set ${current.metadata!.name} from 0 to 1`,
      `Scaled down replica set ${old.metadata!.name} from 3 to 2`,
      `Scaled up replica set ${current.metadata!.name} from 1 to 2`,
      `Scaled down replica set ${old.metadata!.name} from 2 to 1`,
      `Scaled up replica set ${current.metadata!.name} from 2 to 3`,
      `Scaled down replica set ${old.metadata!.name} from 1 to 0`,
    ]);
  });

  it('reuses the old ReplicaSet on rollout undo, moving its revision and keeping the old number', async () => {
    await createDeployment('web', {}, { 'kubernetes.io/change-cause': 'v1' });
    await rollOut();
    await updateDeployment('web', (d) => {
      d.spec.template.spec.containers[0].image = 'nginx:2';
      d.metadata!.annotations!['kubernetes.io/change-cause'] = 'v2';
    });
    await rollOut();
    const [v1, v2] = await replicaSets();
    expect(v2.metadata!.annotations!['kubernetes.io/change-cause']).toBe('v2');
    // kubectl rollout undo: the old template without its hash label, as Go encodes it, and its change-cause
    await updateDeployment('web', (d) => {
      const t = structuredClone(v1.spec.template);
      delete t.metadata.labels['pod-template-hash'];
      t.metadata.creationTimestamp = null;
      d.spec.template = t;
      d.metadata!.annotations!['kubernetes.io/change-cause'] = 'v1';
    });
    await pass();
    const after = await replicaSets();
    expect(after.map((rs) => rs.metadata!.name)).toEqual([v2.metadata!.name, v1.metadata!.name]);
    const back = after[1];
    expect(back.metadata!.annotations).toMatchObject({ [REVISION]: '3', 'deployment.kubernetes.io/revision-history': '1', 'kubernetes.io/change-cause': 'v1' });
    expect((await getDeployment()).metadata!.annotations![REVISION]).toBe('3');
    await rollOut();
    expect(sizes(await replicaSets())).toEqual([0, 3]);
    expect(await replicaSets()).toHaveLength(2);
    expect(rolloutStatus(await getDeployment())).toBe('done');
  });

  it('Recreate: scales the old ReplicaSet to zero and waits for its pods to be gone before creating the new one', async () => {
    await createDeployment('web', { strategy: { type: 'Recreate' } });
    await rollOut();
    const [old] = await replicaSets();
    await updateDeployment('web', (d) => (d.spec.template.spec.containers[0].image = 'nginx:2'));
    await pass();
    expect(sizes(await replicaSets())).toEqual([0]);
    await pass(); // the ReplicaSet still counts 3 pods
    expect(await replicaSets()).toHaveLength(1);
    // its pods are counted out but one is still shutting down
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-old-1', namespace: NS, uid: crypto.randomUUID(), ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: old.metadata!.name!, uid: old.metadata!.uid!, controller: true }], deletionTimestamp: clock.now().toISOString() },
      spec: { containers: [{ name: 'app', image: 'nginx:1' }] },
      status: { phase: 'Running' },
    };
    await store.commit([{ op: 'create', object: pod }]);
    await runReplicaSets();
    await pass();
    expect(await replicaSets()).toHaveLength(1);
    const stored = await store.get('Pod', NS, 'web-old-1');
    await store.commit([{ op: 'delete', kind: 'Pod', namespace: NS, name: 'web-old-1', rv: Number(stored!.metadata!.resourceVersion) }]);
    await pass();
    const [, current] = await replicaSets();
    expect(current.spec.replicas).toBe(3);
    expect(current.metadata!.annotations).toMatchObject({ [REVISION]: '2', 'deployment.kubernetes.io/max-replicas': '3' });
    await rollOut();
    const d = await getDeployment();
    expect(condition(d, 'Available')).toMatchObject({ status: 'True' });
    expect(await scalingEvents()).toEqual([
      `Scaled up replica set ${old.metadata!.name} from 0 to 3`,
      `Scaled down replica set ${old.metadata!.name} from 3 to 0`,
      `Scaled up replica set ${current.metadata!.name} from 0 to 3`,
    ]);
  });

  it('paused: scales but does not roll out, until resumed', async () => {
    await createDeployment('web');
    await rollOut();
    await updateDeployment('web', (d) => {
      d.spec.paused = true;
      d.spec.template.spec.containers[0].image = 'nginx:2';
    });
    await pass();
    let d = await getDeployment();
    expect(await replicaSets()).toHaveLength(1);
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' });
    expect(d.status!.observedGeneration).toBe(2);
    await updateDeployment('web', (x) => (x.spec.replicas = 4));
    await pass();
    expect(sizes(await replicaSets())).toEqual([4]);
    expect((await pass()).writes).toBe(0);

    await updateDeployment('web', (x) => (x.spec.paused = false));
    await pass();
    d = await getDeployment();
    const rss = await replicaSets();
    expect(rss).toHaveLength(2);
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetCreated' });
    await rollOut();
    expect(sizes(await replicaSets())).toEqual([0, 4]);
  });

  it('reports ProgressDeadlineExceeded once progressDeadlineSeconds pass without progress', async () => {
    await createDeployment('web', { progressDeadlineSeconds: 60 });
    await pass();
    const stuck = () => runReplicaSets(() => 0); // pods that never become ready
    await stuck();
    clock.advance(10_000);
    await pass(); // pods exist now: progress
    let d = await getDeployment();
    const progressed = condition(d, 'Progressing')!;
    expect(progressed).toMatchObject({ status: 'True', reason: 'ReplicaSetUpdated' });
    clock.advance(60_000); // exactly the deadline: not past it
    await stuck();
    await pass();
    expect(condition(await getDeployment(), 'Progressing')).toEqual(progressed);
    clock.advance(1_000);
    await pass();
    d = await getDeployment();
    const [rs] = await replicaSets();
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rs.metadata!.name}" has timed out progressing.` });
    expect(rolloutStatus(d)).toBe('exceeded');
    expect((await pass()).writes).toBe(0);
    // pods becoming available is progress again, and then completion
    await runReplicaSets(() => 3);
    await pass();
    expect(condition(await getDeployment(), 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
  });

  it('deletes the oldest empty ReplicaSets beyond revisionHistoryLimit', async () => {
    await createDeployment('web', { revisionHistoryLimit: 1 });
    await rollOut();
    const [first] = await replicaSets();
    for (const image of ['nginx:2', 'nginx:3']) {
      await updateDeployment('web', (d) => (d.spec.template.spec.containers[0].image = image));
      await rollOut();
      await runReplicaSets();
      await pass(); // the complete rollout, seen in the status, is when old ReplicaSets go
    }
    const rss = await replicaSets();
    expect(rss.map((rs) => rs.metadata!.annotations![REVISION])).toEqual(['2', '3']);
    expect(rss.map((rs) => rs.metadata!.name)).not.toContain(first.metadata!.name);
    expect(sizes(rss)).toEqual([0, 3]);
  });

  it('scales proportionally in the middle of a rollout', async () => {
    await createDeployment('web', { replicas: 10, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } });
    await rollOut();
    await updateDeployment('web', (d) => (d.spec.template.spec.containers[0].image = 'nginx:bad'));
    const badImage = (rs: ReplicaSet) => (rs.spec.template.spec.containers[0].image === 'nginx:bad' ? 0 : rs.status?.replicas ?? 0);
    for (let i = 0; i < 5; i++) {
      await pass();
      await runReplicaSets(badImage);
    }
    expect(sizes(await replicaSets())).toEqual([8, 5]); // stuck: 13 pods, 8 available
    await updateDeployment('web', (d) => (d.spec.replicas = 15));
    await pass();
    const [old, bad] = await replicaSets();
    // 5 more (18 - 13), split 8:5 as Kubernetes' documentation shows: 3 to the old, 2 to the new
    expect(sizes([old, bad])).toEqual([11, 7]);
    for (const rs of [old, bad]) {
      expect(rs.metadata!.annotations).toMatchObject({ 'deployment.kubernetes.io/desired-replicas': '15', 'deployment.kubernetes.io/max-replicas': '18' });
    }
    const events = await scalingEvents();
    expect(events.slice(-2)).toEqual([
      `Scaled up replica set ${old.metadata!.name} from 8 to 11`,
      `Scaled up replica set ${bad.metadata!.name} from 5 to 7`,
    ]);
    await runReplicaSets(badImage);
    await updateDeployment('web', (d) => (d.spec.replicas = 5));
    await pass();
    // 10 fewer (18 -> 5 + 3 surge), in proportion again
    const down = await replicaSets();
    expect(sizes(down)).toEqual([5, 3]);
  });

  it('adopts a matching orphan ReplicaSet and reuses it when its template is the Deployment\'s', async () => {
    await createDeployment('web');
    const d = await getDeployment();
    const orphan: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-by-hand', namespace: NS, uid: crypto.randomUUID(), labels: { app: 'web' }, generation: 1 },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: structuredClone(d.spec.template) },
      status: { replicas: 3, availableReplicas: 3, readyReplicas: 3, observedGeneration: 1 },
    };
    await store.commit([{ op: 'create', object: orphan }]);
    await pass();
    const rss = await replicaSets();
    expect(rss).toHaveLength(1);
    expect(rss[0].metadata!.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata!.uid, controller: true, blockOwnerDeletion: true },
    ]);
    expect(rss[0].metadata!.annotations![REVISION]).toBe('1');
    const after = await getDeployment();
    expect(condition(after, 'Progressing')).toMatchObject({ reason: 'NewReplicaSetAvailable' });
    expect(rolloutStatus(after)).toBe('done');
  });

  it('counts a hash collision and names the new ReplicaSet with the next hash', async () => {
    await createDeployment('web');
    const d = await getDeployment();
    const taken = `web-${templateHash(d.spec.template)}`;
    await store.commit([{
      op: 'create',
      object: {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: taken, namespace: NS, uid: crypto.randomUUID(), labels: { app: 'other' } },
        spec: { replicas: 0, selector: { matchLabels: { app: 'other' } }, template: template('other', 'busybox') },
      },
    }]);
    await pass();
    const names = (await replicaSets()).map((rs) => rs.metadata!.name);
    expect(names).toContain(`web-${templateHash(d.spec.template, 1)}`);
    expect((await getDeployment()).status!.collisionCount).toBe(1);
    expect((await pass()).writes).toBe(0);
  });

  for (const count of [10, 100]) {
    it(`reconciles ${count} Deployments in one read and at most one write`, async () => {
      await store.commit(Array.from({ length: count }, (_, i) => {
        const d: Deployment = {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `app-${i}`, namespace: NS, uid: crypto.randomUUID(), generation: 1 },
          spec: { replicas: 2, selector: { matchLabels: { app: `app-${i}` } }, template: template(`app-${i}`, 'nginx:1') },
        };
        deploymentKind.defaults!(d);
        return { op: 'create' as const, object: d };
      }));
      expect(await pass()).toEqual({ writes: 3 * count, roundTrips: 2 }); // a ReplicaSet, the Deployment, an event each
      await runReplicaSets();
      expect((await pass()).roundTrips).toBe(2);
      await runReplicaSets();
      expect((await pass()).roundTrips).toBe(2);
      expect(await pass()).toEqual({ writes: 0, roundTrips: 1 });
      const ds = (await store.list('Deployment')).items as Deployment[];
      expect(ds.every((d) => rolloutStatus(d) === 'done')).toBe(true);
    });
  }
});

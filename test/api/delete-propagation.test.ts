// Deletion propagation through controller ownerReferences: Background, Foreground and Orphan,
// driven by explicit reconcile passes so every step can be observed.
import { ApiException, type AppsV1Api, type CoreV1Api, type V1Pod, type V1ReplicaSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';
import { failure } from '../helpers/status.js';

const NS = 'gc';
const PODS = 2;

describe('delete propagation', () => {
  let api: ApiServer, core: CoreV1Api, apps: AppsV1Api;

  beforeAll(async () => {
    ({ api, core, apps } = await startClientApi([NS]));
  });
  afterAll(() => api.stop());

  /** A ReplicaSet and PODS pods it controls (replicas equal to the pods, so its controller leaves them be). */
  async function replicaSetWithPods(name: string): Promise<V1ReplicaSet> {
    const rs = await apps.createNamespacedReplicaSet({
      namespace: NS,
      body: {
        metadata: { name },
        spec: {
          replicas: PODS,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
        },
      },
    });
    for (let i = 0; i < PODS; i++) {
      await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: {
            name: `${name}-${i}`,
            labels: { app: name },
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: rs.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
          },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      });
    }
    return rs;
  }

  const podsOf = async (name: string): Promise<V1Pod[]> => (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${name}` })).items;

  async function readRs(name: string): Promise<V1ReplicaSet | undefined> {
    try {
      return await apps.readNamespacedReplicaSet({ namespace: NS, name });
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return undefined;
      throw e;
    }
  }

  /** Runs passes until `done`, checking `invariant` after each; fails if it takes more than a few. */
  async function settle(done: () => Promise<boolean>, invariant: () => Promise<void>): Promise<number> {
    for (let pass = 1; pass <= 5; pass++) {
      await api.reconcile();
      await invariant();
      if (await done()) return pass;
    }
    throw new Error('did not settle in 5 passes');
  }

  it('Background: the owner goes at once, its dependents at the next pass', async () => {
    await replicaSetWithPods('bg');
    const status = await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'bg', propagationPolicy: 'Background' });
    expect(status.status).toBe('Success');
    expect(await readRs('bg')).toBeUndefined();
    expect(await podsOf('bg')).toHaveLength(PODS);

    await api.reconcile();
    expect(await podsOf('bg')).toEqual([]);
  });

  it('Background is the default', async () => {
    await replicaSetWithPods('default');
    await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'default' });
    expect(await readRs('default')).toBeUndefined();
    await api.reconcile();
    expect(await podsOf('default')).toEqual([]);
  });

  it('Foreground: the owner lingers with the foregroundDeletion finalizer until its dependents are gone', async () => {
    await replicaSetWithPods('fg');
    // The reply is the ReplicaSet (client-node reads it as a V1Status, which keeps little of it).
    const res = await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'fg', propagationPolicy: 'Foreground' });
    expect(res.kind).toBe('ReplicaSet');

    const lingering = await readRs('fg');
    expect(lingering?.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(lingering?.metadata?.finalizers).toContain('foregroundDeletion');
    expect(await podsOf('fg')).toHaveLength(PODS);

    const passes = await settle(
      async () => (await readRs('fg')) === undefined,
      async () => {
        if ((await readRs('fg')) === undefined) expect(await podsOf('fg')).toEqual([]);
      },
    );
    expect(passes).toBeGreaterThanOrEqual(1);
    expect(await podsOf('fg')).toEqual([]);
  });

  it('Foreground: deleting again while it lingers changes nothing', async () => {
    await replicaSetWithPods('fg2');
    await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'fg2', propagationPolicy: 'Foreground' });
    const first = await readRs('fg2');
    await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'fg2', propagationPolicy: 'Foreground' });
    const second = await readRs('fg2');
    expect(second?.metadata?.resourceVersion).toBe(first?.metadata?.resourceVersion);
    expect(second?.metadata?.finalizers).toEqual(['foregroundDeletion']);
    await settle(async () => (await readRs('fg2')) === undefined, async () => {});
  });

  it('Orphan: the dependents stay, released from their owner', async () => {
    await replicaSetWithPods('orph');
    await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'orph', propagationPolicy: 'Orphan' });
    const res = await readRs('orph');
    expect(res?.metadata?.finalizers).toEqual(['orphan']);
    expect(res?.metadata?.deletionTimestamp).toBeInstanceOf(Date);

    await settle(
      async () => (await readRs('orph')) === undefined,
      async () => {
        // The owner never goes while a pod still points at it.
        if ((await readRs('orph')) === undefined) {
          for (const p of await podsOf('orph')) expect(p.metadata?.ownerReferences ?? []).toEqual([]);
        }
      },
    );
    const pods = await podsOf('orph');
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(['orph-0', 'orph-1']);
    for (const p of pods) {
      expect(p.metadata?.ownerReferences).toBeUndefined();
      expect(p.metadata?.deletionTimestamp).toBeUndefined();
    }
    // Nothing collects them later.
    await api.reconcile();
    expect(await podsOf('orph')).toHaveLength(PODS);
  });

  it('orphanDependents=true (the old option) orphans too', async () => {
    await replicaSetWithPods('legacy');
    await apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'legacy', orphanDependents: true });
    await settle(async () => (await readRs('legacy')) === undefined, async () => {});
    expect(await podsOf('legacy')).toHaveLength(PODS);
  });

  it('an unknown propagationPolicy is 422', async () => {
    await replicaSetWithPods('weird');
    expect((await failure(apps.deleteNamespacedReplicaSet({ namespace: NS, name: 'weird', propagationPolicy: 'Sideways' }))).code).toBe(422);
    expect(await readRs('weird')).toBeDefined();
  });

  it('Foreground through two levels: Deployment -> ReplicaSet -> pods', async () => {
    const dep = await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'top' },
        spec: {
          replicas: PODS,
          selector: { matchLabels: { app: 'top-rs' } },
          template: { metadata: { labels: { app: 'top-rs' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
        },
      },
    });
    const rs = await replicaSetWithPods('top-rs');
    await apps.patchNamespacedReplicaSet({
      namespace: NS,
      name: 'top-rs',
      body: [{ op: 'add', path: '/metadata/ownerReferences', value: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'top', uid: dep.metadata!.uid!, controller: true }] }],
    });
    expect(rs.metadata?.uid).toBeDefined();
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'top', propagationPolicy: 'Foreground' });
    expect((await apps.readNamespacedDeployment({ namespace: NS, name: 'top' })).metadata?.finalizers).toContain('foregroundDeletion');
    await settle(
      async () => (await apps.listNamespacedDeployment({ namespace: NS, fieldSelector: 'metadata.name=top' })).items.length === 0,
      async () => {
        if ((await apps.listNamespacedDeployment({ namespace: NS, fieldSelector: 'metadata.name=top' })).items.length === 0) {
          expect(await podsOf('top-rs')).toEqual([]);
        }
      },
    );
    await settle(async () => (await podsOf('top-rs')).length === 0, async () => {});
    expect(await readRs('top-rs')).toBeUndefined();
  });
});

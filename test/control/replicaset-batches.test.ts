// The ReplicaSet controller works in bounded batches: at most replicaSetBurst creations or deletions
// per ReplicaSet and batchSize pods changed per pass, the rest on the following passes, in
// Kubernetes' deletion order, with status counted in SQL and orphans adopted a batch at a time.
// The controller runs alone here, one pass at a time, so each pass's work can be seen.
import { afterEach, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { defaultControlOptions, PassContext, type ControlOptions } from '../../src/control/context.js';
import { replicaSets } from '../../src/control/replicasets.js';
import type { KObject } from '../../src/kinds/types.js';
import { jsonRequest } from '../helpers/json-request.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const NS = 'default';
const MERGE = 'application/merge-patch+json';

/** What one pass did to the pods, seen by comparing them before and after. */
interface PassWork {
  roundTrips: number;
  created: string[];
  deleted: string[];
  /** Pods whose controller changed (adopted or released), by name. */
  reowned: string[];
  /** Per ReplicaSet name: pods created or deleted. */
  perSet: Map<string, number>;
}

interface Harness extends TempStore {
  request(method: string, path: string, body?: unknown, type?: string): Promise<any>;
  pass(): Promise<PassWork>;
  pods(): Promise<KObject[]>;
  /** Changes a pod as a kubelet or a user would, straight in the store. */
  editPod(name: string, edit: (pod: any) => void): Promise<void>;
  replicaSet(name: string): Promise<any>;
}

let open: Harness | undefined;
afterEach(() => {
  open?.remove();
  open = undefined;
});

const controllerOf = (pod: KObject) => pod.metadata!.ownerReferences?.find((r) => r.controller)?.name ?? null;
const live = (pods: KObject[]) => pods.filter((p) => !p.metadata!.deletionTimestamp);
const names = (pods: KObject[]) => pods.map((p) => p.metadata!.name!).sort();

async function harness(control: Partial<ControlOptions>): Promise<Harness> {
  const temp = await openTempStore('skiff-rs-batches-');
  const opts = { ...defaultControlOptions, ...control };
  const app = createApp({ store: temp.store, clock: temp.clock, authenticate: () => true });
  const pods = async () => (await temp.store.list('Pod', { namespace: NS })).items;
  const h: Harness = {
    ...temp,
    async request(method, path, body, type) {
      const res = await app.fetch(new Request(`http://skiff${path}`, jsonRequest(method, body, type)));
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    pods,
    async pass() {
      const before = new Map((await pods()).map((p) => [p.metadata!.uid!, p]));
      const trips = temp.store.roundTrips;
      await replicaSets(new PassContext(temp.store, temp.clock, opts));
      const roundTrips = temp.store.roundTrips - trips;
      const after = await pods();
      const work: PassWork = { roundTrips, created: [], deleted: [], reowned: [], perSet: new Map() };
      const count = (pod: KObject) => {
        const set = controllerOf(pod) ?? '';
        work.perSet.set(set, (work.perSet.get(set) ?? 0) + 1);
      };
      // Unscheduled pods go at once (no kubelet to stop them); scheduled ones are marked terminating.
      const gone = new Map(before);
      for (const p of after) gone.delete(p.metadata!.uid!);
      for (const p of gone.values()) {
        work.deleted.push(p.metadata!.name!);
        count(p);
      }
      for (const p of after) {
        const was = before.get(p.metadata!.uid!);
        if (!was) {
          work.created.push(p.metadata!.name!);
          count(p);
        } else if (p.metadata!.deletionTimestamp && !was.metadata!.deletionTimestamp) {
          work.deleted.push(p.metadata!.name!);
          count(p);
        } else if (controllerOf(p) !== controllerOf(was)) {
          work.reowned.push(p.metadata!.name!);
        }
      }
      return work;
    },
    async editPod(name, edit) {
      const pod = (await temp.store.get('Pod', NS, name))!;
      edit(pod);
      const [r] = await temp.store.commit([{ op: 'update', object: pod, rv: Number(pod.metadata!.resourceVersion) }]);
      expect(r.ok).toBe(true);
    },
    replicaSet: (name) => h.request('GET', `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`),
  };
  open = h;
  return h;
}

const container = { name: 'app', image: 'img:1' };

function replicaSet(name: string, replicas: number, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [container] } }, ...spec },
  };
}

const createSet = (h: Harness, rs: unknown) => h.request('POST', `/apis/apps/v1/namespaces/${NS}/replicasets`, rs);
const scale = (h: Harness, name: string, replicas: number) =>
  h.request('PATCH', `/apis/apps/v1/namespaces/${NS}/replicasets/${name}/scale`, { spec: { replicas } }, MERGE);

/** The pod runs on `node`, Ready since `readySince` (or not ready when undefined). */
function running(node: string, readySince?: string) {
  return (pod: any) => {
    pod.spec.nodeName = node;
    pod.status = {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: readySince ? 'True' : 'False', lastTransitionTime: readySince ?? '2020-01-01T00:00:00Z' }],
    };
  };
}

it('creates replicaSetBurst pods a pass until spec.replicas, then rests in one round trip', async () => {
  const h = await harness({ replicaSetBurst: 5 });
  await createSet(h, replicaSet('web', 12));

  const sizes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const work = await h.pass();
    expect(work.created.length).toBeLessThanOrEqual(5);
    expect(work.roundTrips).toBeLessThanOrEqual(3);
    sizes.push(live(await h.pods()).length);
  }
  expect(sizes).toEqual([5, 10, 12]);
  expect(new Set(names(await h.pods())).size).toBe(12);

  const report = await h.pass(); // writes the status of 12 pods
  expect(report.created).toEqual([]);
  expect((await h.replicaSet('web')).status).toMatchObject({ replicas: 12, fullyLabeledReplicas: 12, readyReplicas: 0, availableReplicas: 0, observedGeneration: 1 });
  const idle = await h.pass();
  expect(idle.roundTrips).toBe(1);
});

it('deletes replicaSetBurst pods a pass in Kubernetes order: unassigned, not ready, crowded nodes, recently ready', async () => {
  const h = await harness({ replicaSetBurst: 5 });
  await createSet(h, replicaSet('web', 12));
  for (let i = 0; i < 3; i++) await h.pass();
  const ps = names(await h.pods());
  expect(ps).toHaveLength(12);

  // ps[0..3] stay unassigned; ps[4..7] run on node-a but are not ready; ps[8], ps[9] are ready on
  // node-b (two of the set's pods there), ps[10] on node-c and ps[11], ready most recently, on node-d.
  for (const name of ps.slice(4, 8)) await h.editPod(name, running('node-a'));
  await h.editPod(ps[8], running('node-b', '2024-01-01T00:00:00Z'));
  await h.editPod(ps[9], running('node-b', '2024-01-01T00:00:00Z'));
  await h.editPod(ps[10], running('node-c', '2024-01-01T00:00:10Z'));
  await h.editPod(ps[11], running('node-d', '2024-01-01T00:00:20Z'));

  await scale(h, 'web', 2);
  const first = await h.pass();
  expect(first.deleted).toHaveLength(5);
  expect(first.roundTrips).toBe(3);
  expect(first.deleted.filter((n) => ps.slice(0, 4).includes(n))).toHaveLength(4);
  expect(first.deleted.filter((n) => ps.slice(4, 8).includes(n))).toHaveLength(1);

  const second = await h.pass();
  expect(second.deleted.sort()).toEqual([...ps.slice(4, 10)].filter((n) => !first.deleted.includes(n)).sort());
  expect(names(live(await h.pods()))).toEqual([ps[10], ps[11]]);

  await scale(h, 'web', 1);
  expect((await h.pass()).deleted).toEqual([ps[11]]);
  await h.pass();
  expect((await h.replicaSet('web')).status).toMatchObject({ replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
  expect(live(await h.pods()).map((p) => p.metadata!.name)).toEqual([ps[10]]);
});

it('shares batchSize between ReplicaSets, none past its burst', async () => {
  const h = await harness({ replicaSetBurst: 5, batchSize: 7 });
  await createSet(h, replicaSet('a', 6));
  await createSet(h, replicaSet('b', 6));
  for (let i = 0; i < 2; i++) {
    const work = await h.pass();
    expect(work.created.length).toBeLessThanOrEqual(7);
    for (const n of work.perSet.values()) expect(n).toBeLessThanOrEqual(5);
  }
  const pods = await h.pods();
  expect(pods.filter((p) => controllerOf(p) === 'a')).toHaveLength(6);
  expect(pods.filter((p) => controllerOf(p) === 'b')).toHaveLength(6);
});

it('adopts matching orphans a batch at a time, releases pods that stop matching, and counts status in SQL', async () => {
  const h = await harness({ batchSize: 5 });
  const pod = (name: string, labels: Record<string, string>) =>
    h.request('POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [container] } });
  for (let i = 0; i < 8; i++) await pod(`stray-${i}`, { app: 'web' });
  await pod('other-0', { app: 'other' });
  await pod('other-1', { app: 'other', tier: 'front' });
  await pod('done', { app: 'web' });
  await h.editPod('done', (p) => (p.status = { phase: 'Succeeded' }));

  // The template carries a label the orphans lack: they are adopted but not fully labeled.
  await createSet(h, replicaSet('web', 6, { minReadySeconds: 30, template: { metadata: { labels: { app: 'web', tier: 'front' } }, spec: { containers: [container] } } }));

  expect((await h.pass()).reowned).toHaveLength(5);
  expect((await h.pass()).reowned).toHaveLength(3);
  const trimmed = await h.pass();
  expect(trimmed.deleted).toHaveLength(2);
  const kept = names(live((await h.pods()).filter((p) => controllerOf(p) === 'web')));
  expect([...kept, ...trimmed.deleted].sort()).toEqual(Array.from({ length: 8 }, (_, i) => `stray-${i}`));
  expect(kept).toHaveLength(6);
  expect((await h.pods()).filter((p) => controllerOf(p) === null).map((p) => p.metadata!.name).sort()).toEqual(['done', 'other-0', 'other-1']);

  const now = h.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
  for (const name of kept.slice(0, 3)) await h.editPod(name, running('node-a', now));
  h.clock.advance(10_000);
  expect((await h.pass()).created).toEqual([]);
  expect((await h.replicaSet('web')).status).toMatchObject({ replicas: 6, fullyLabeledReplicas: 0, readyReplicas: 3, availableReplicas: 0 });
  h.clock.advance(21_000);
  await h.pass();
  expect((await h.replicaSet('web')).status).toMatchObject({ replicas: 6, readyReplicas: 3, availableReplicas: 3 });

  // A pod relabelled out of the selector is released first; its replacement comes on the next pass.
  await h.editPod(kept[5], (p) => (p.metadata.labels = { app: 'gone' }));
  const release = await h.pass();
  expect(release.reowned).toEqual([kept[5]]);
  expect(release.created).toEqual([]);
  const replace = await h.pass();
  expect(replace.created).toHaveLength(1);
  expect((await h.pods()).filter((p) => controllerOf(p) === 'web' && !p.metadata!.deletionTimestamp)).toHaveLength(6);
});

// DaemonSets as a user sees them on a cluster of played nodes: a pod on every node that matches,
// placed there directly; nodes joining, tainted or relabelled; rolling updates that never leave more
// than maxUnavailable nodes without a ready pod; OnDelete; ControllerRevisions and the rollback
// `kubectl rollout undo` sends; and kubectl 1.32 itself against `skiff serve`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchOver } from '../helpers/https.js';
import { NodeLoop } from '../helpers/node-loop.js';
import { NodePlayer, type NodePlayerOptions } from '../helpers/node-player.js';
import { hasKubectl, startSkiff, type SkiffServer } from '../helpers/skiff-server.js';
import { isReady, isTerminating, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const SMP = 'application/strategic-merge-patch+json';
const MERGE = 'application/merge-patch+json';

const startCluster = perTestClusters();

function daemonSet(name: string, image = 'agent:1', spec: Record<string, unknown> = {}, podSpec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'agent', image }], ...podSpec } },
      ...spec,
    },
  };
}

/** The DaemonSet's pods not being deleted, by node. */
async function podsByNode(c: Cluster, app: string): Promise<Record<string, any[]>> {
  const out: Record<string, any[]> = {};
  for (const p of await c.list(`${NS}/pods`, `app=${app}`)) {
    if (isTerminating(p)) continue;
    (out[p.spec.nodeName ?? ''] ??= []).push(p);
  }
  return out;
}

const nodeNames = (byNode: Record<string, any[]>) => Object.keys(byNode).sort();

/** A node joining the running cluster, played from then on like the others. */
async function join(c: Cluster, opts: NodePlayerOptions): Promise<void> {
  const node = new NodePlayer(c.api.request, opts, () => c.clock.now());
  await node.register();
  c.nodes.push(node);
}

const threeNodes = (opts: Partial<NodePlayerOptions> = {}) => startCluster(['node-a', 'node-b', 'node-c'].map((name) => ({ name, ...opts })));

describe('DaemonSet placement', () => {
  it('runs one pod on each of 3 nodes, bound by the scheduler to the node its affinity names', async () => {
    const c = await startCluster(['node-a', 'node-b', 'node-c'].map((name) => ({ name })));
    await c.create(`${APPS}/daemonsets`, daemonSet('agent'));
    await c.settle();
    const byNode = await podsByNode(c, 'agent');
    expect(nodeNames(byNode)).toEqual(['node-a', 'node-b', 'node-c']);
    for (const [node, pods] of Object.entries(byNode)) {
      expect(pods).toHaveLength(1);
      const pod = pods[0];
      expect(isReady(pod)).toBe(true);
      expect(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms)
        .toEqual([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }]);
      expect(pod.metadata.labels['pod-template-generation']).toBe('1');
      expect(pod.metadata.labels['controller-revision-hash']).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
      expect(pod.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'DaemonSet', name: 'agent', controller: true })]);
      expect(pod.spec.tolerations).toEqual(expect.arrayContaining([
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
      ]));
    }
    const ds = await c.get(`${APPS}/daemonsets/agent`);
    expect(ds.metadata.annotations['deprecated.daemonset.template.generation']).toBe('1');
    expect(ds.status).toEqual({
      currentNumberScheduled: 3, numberMisscheduled: 0, desiredNumberScheduled: 3, numberReady: 3,
      observedGeneration: 1, updatedNumberScheduled: 3, numberAvailable: 3,
    });
  });
});

describe('DaemonSet and its nodes', () => {
  it('gives a node that joins its pod, and none to a tainted node until the DaemonSet tolerates the taint', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/daemonsets`, daemonSet('agent'));
    await c.settle();
    await join(c, { name: 'node-d' });
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a', 'node-b', 'node-c', 'node-d']);

    const taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
    await join(c, { name: 'node-e', taints: [taint] });
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a', 'node-b', 'node-c', 'node-d']);
    expect((await c.get(`${APPS}/daemonsets/agent`)).status).toMatchObject({ desiredNumberScheduled: 4, currentNumberScheduled: 4, numberMisscheduled: 0 });

    // A new template: every pod is replaced, and node-e gets one.
    const tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }];
    await c.send('PATCH', `${APPS}/daemonsets/agent`, { spec: { template: { spec: { tolerations } } } }, SMP);
    await c.settle();
    const byNode = await podsByNode(c, 'agent');
    expect(nodeNames(byNode)).toEqual(['node-a', 'node-b', 'node-c', 'node-d', 'node-e']);
    expect(Object.values(byNode).every((pods) => pods.length === 1 && pods[0].spec.tolerations.some((t: any) => t.key === 'dedicated'))).toBe(true);
    expect((await c.get(`${APPS}/daemonsets/agent`)).status).toMatchObject({ desiredNumberScheduled: 5, updatedNumberScheduled: 5, numberAvailable: 5 });
  });

  it('takes its pod off a node that loses the nodeSelector label, or gets a NoExecute taint', async () => {
    const c = await startCluster([
      { name: 'node-a', labels: { role: 'edge' } },
      { name: 'node-b', labels: { role: 'edge' } },
      { name: 'node-c', labels: { role: 'edge' } },
      { name: 'node-d' },
    ]);
    await c.create(`${APPS}/daemonsets`, daemonSet('agent', 'agent:1', {}, { nodeSelector: { role: 'edge' } }));
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a', 'node-b', 'node-c']);

    await c.send('PATCH', '/api/v1/nodes/node-b', { metadata: { labels: { role: null } } }, MERGE);
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a', 'node-c']);

    // NoSchedule: no new pod there, but the one running stays (and counts as misscheduled).
    await c.send('PATCH', '/api/v1/nodes/node-c', { spec: { taints: [{ key: 'maintenance', effect: 'NoSchedule' }] } }, MERGE);
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a', 'node-c']);
    expect((await c.get(`${APPS}/daemonsets/agent`)).status).toMatchObject({ desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 1 });

    await c.send('PATCH', '/api/v1/nodes/node-c', { spec: { taints: [{ key: 'maintenance', effect: 'NoExecute' }] } }, MERGE);
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a']);
    expect((await c.get(`${APPS}/daemonsets/agent`)).status).toMatchObject({ desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1 });
  });
});

/** After every pass and node sync: how many nodes have no ready (not terminating) pod of the DaemonSet, and how many hold two. */
function unavailableCheck(c: Cluster, app: string, nodes: string[], maxUnavailable: number, maxSurge = 0) {
  const seen = { maxUnavailable: 0, maxSurged: 0, checks: 0 };
  const check = async (moment: string) => {
    const byNode = await podsByNode(c, app);
    const without = nodes.filter((n) => !(byNode[n] ?? []).some(isReady));
    const doubled = nodes.filter((n) => (byNode[n] ?? []).length > 1);
    seen.checks++;
    seen.maxUnavailable = Math.max(seen.maxUnavailable, without.length);
    seen.maxSurged = Math.max(seen.maxSurged, doubled.length);
    if (without.length > maxUnavailable) throw new Error(`${moment}: ${without.join(', ')} without a ready pod, over ${maxUnavailable}`);
    if (doubled.length > maxSurge) throw new Error(`${moment}: ${doubled.join(', ')} with two pods, over ${maxSurge}`);
  };
  return { seen, check };
}

async function expectRolledOut(c: Cluster, app: string, nodes: string[], image: string): Promise<any> {
  const ds = await c.get(`${APPS}/daemonsets/${app}`);
  const n = nodes.length;
  expect(ds.status).toEqual({
    currentNumberScheduled: n, numberMisscheduled: 0, desiredNumberScheduled: n, numberReady: n,
    observedGeneration: ds.metadata.generation, updatedNumberScheduled: n, numberAvailable: n,
  });
  const byNode = await podsByNode(c, app);
  expect(nodeNames(byNode)).toEqual(nodes);
  for (const pods of Object.values(byNode)) {
    expect(pods).toHaveLength(1);
    expect(isReady(pods[0]) && pods[0].spec.containers[0].image === image).toBe(true);
  }
  return ds;
}

describe('DaemonSet rolling update', () => {
  const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];
  const cases = [
    { rollingUpdate: {}, unavailable: 1, surge: 0 },
    { rollingUpdate: { maxUnavailable: '50%' }, unavailable: 2, surge: 0 },
    { rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' }, unavailable: 0, surge: 1 },
  ];
  for (const { rollingUpdate, unavailable, surge } of cases) {
    it(`replaces every pod within ${JSON.stringify(rollingUpdate)} (${unavailable} unavailable, ${surge} surge) and completes`, async () => {
      // Pods become ready one sync after they start, so availability visibly lags creation.
      const c = await startCluster(nodes.map((name) => ({ name, readyAfter: 1 })));
      await c.create(`${APPS}/daemonsets`, daemonSet('agent', 'agent:1', { updateStrategy: { type: 'RollingUpdate', rollingUpdate } }));
      await c.settle();
      await expectRolledOut(c, 'agent', nodes, 'agent:1');

      const bounds = unavailableCheck(c, 'agent', nodes, unavailable, surge);
      await c.send('PATCH', `${APPS}/daemonsets/agent`, { spec: { template: { spec: { containers: [{ name: 'agent', image: 'agent:2' }] } } } }, SMP);
      await c.settle(bounds.check);
      const ds = await expectRolledOut(c, 'agent', nodes, 'agent:2');
      expect(ds.metadata.generation).toBe(2);
      expect(ds.metadata.annotations['deprecated.daemonset.template.generation']).toBe('2');
      // It used the room it had.
      expect(bounds.seen.maxUnavailable).toBe(unavailable);
      expect(bounds.seen.maxSurged).toBe(surge);
      const pods = await c.list(`${NS}/pods`, 'app=agent');
      expect(pods.every((p) => p.metadata.labels['pod-template-generation'] === '2')).toBe(true);
    });
  }

  it('OnDelete replaces a pod only once it is deleted', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/daemonsets`, daemonSet('agent', 'agent:1', { updateStrategy: { type: 'OnDelete' } }));
    await c.settle();
    await c.send('PATCH', `${APPS}/daemonsets/agent`, { spec: { template: { spec: { containers: [{ name: 'agent', image: 'agent:2' }] } } } }, SMP);
    await c.settle();
    let byNode = await podsByNode(c, 'agent');
    expect(Object.values(byNode).map((pods) => pods[0].spec.containers[0].image)).toEqual(['agent:1', 'agent:1', 'agent:1']);
    const status = (await c.get(`${APPS}/daemonsets/agent`)).status;
    expect(status).toMatchObject({ desiredNumberScheduled: 3, numberAvailable: 3, observedGeneration: 2 });
    expect(status.updatedNumberScheduled).toBeUndefined(); // 0, omitted as the API type omits it

    await c.send('DELETE', `${NS}/pods/${byNode['node-b'][0].metadata.name}`, {});
    await c.settle();
    byNode = await podsByNode(c, 'agent');
    expect(Object.fromEntries(Object.entries(byNode).map(([n, pods]) => [n, pods[0].spec.containers[0].image])))
      .toEqual({ 'node-a': 'agent:1', 'node-b': 'agent:2', 'node-c': 'agent:1' });
    expect((await c.get(`${APPS}/daemonsets/agent`)).status).toMatchObject({ desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3 });
  });
});

describe('DaemonSet history', () => {
  it('keeps a ControllerRevision per template, and the patch kubectl rollout undo sends restores the old one', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/daemonsets`, daemonSet('agent'));
    await c.settle();
    await c.send('PATCH', `${APPS}/daemonsets/agent`, { spec: { template: { spec: { containers: [{ name: 'agent', image: 'agent:2' }] } } } }, SMP);
    await c.settle();
    const ds = await c.get(`${APPS}/daemonsets/agent`);
    let revisions = await c.list(`${APPS}/controllerrevisions`, 'app=agent');
    expect(revisions.map((r) => r.revision).sort()).toEqual([1, 2]);
    for (const r of revisions) {
      expect(r.metadata.name).toBe(`agent-${r.metadata.labels['controller-revision-hash']}`);
      expect(r.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      expect(Object.keys(r.data.spec.template)).toEqual(['$patch', 'metadata', 'spec']);
      expect(r.data.spec.template.metadata).toEqual({ creationTimestamp: null, labels: { app: 'agent' } });
    }
    const first = revisions.find((r) => r.revision === 1);
    expect(first.data.spec.template.spec.containers[0].image).toBe('agent:1');

    // kubectl rollout undo: the previous revision's data as a strategic merge patch.
    await c.send('PATCH', `${APPS}/daemonsets/agent`, first.data, SMP);
    await c.settle();
    const back = await expectRolledOut(c, 'agent', ['node-a', 'node-b', 'node-c'], 'agent:1');
    expect(back.metadata.annotations['deprecated.daemonset.template.generation']).toBe('3');
    revisions = await c.list(`${APPS}/controllerrevisions`, 'app=agent');
    expect(Object.fromEntries(revisions.map((r) => [r.metadata.name, r.revision]))).toEqual({ [first.metadata.name]: 3, [revisions.find((r) => r.metadata.name !== first.metadata.name).metadata.name]: 2 });
    const pods = await c.list(`${NS}/pods`, 'app=agent');
    expect(pods.every((p) => p.metadata.labels['controller-revision-hash'] === first.metadata.labels['controller-revision-hash'])).toBe(true);
  });

  it('keeps revisionHistoryLimit old revisions', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/daemonsets`, daemonSet('agent', 'agent:1', { revisionHistoryLimit: 1 }));
    await c.settle();
    for (const image of ['agent:2', 'agent:3', 'agent:4']) {
      await c.send('PATCH', `${APPS}/daemonsets/agent`, { spec: { template: { spec: { containers: [{ name: 'agent', image }] } } } }, SMP);
      await c.settle();
    }
    const revisions = await c.list(`${APPS}/controllerrevisions`, 'app=agent');
    expect(revisions.map((r) => [r.revision, r.data.spec.template.spec.containers[0].image]).sort()).toEqual([[3, 'agent:3'], [4, 'agent:4']]);
  });
});

describe('DaemonSet ownership', () => {
  it('adopts the pods and revision a deleted DaemonSet orphaned, and takes its pods with it when deleted', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/daemonsets`, daemonSet('agent'));
    await c.settle();
    const before = (await c.list(`${NS}/pods`, 'app=agent')).map((p) => p.metadata.uid).sort();
    await c.send('DELETE', `${APPS}/daemonsets/agent`, { propagationPolicy: 'Orphan' });
    await c.settle();
    expect(await c.status(`${APPS}/daemonsets/agent`)).toBe(404);
    const orphans = await c.list(`${NS}/pods`, 'app=agent');
    expect(orphans.map((p) => p.metadata.uid).sort()).toEqual(before);
    expect(orphans.every((p) => !p.metadata.ownerReferences?.length)).toBe(true);

    const ds = await c.create(`${APPS}/daemonsets`, daemonSet('agent'));
    await c.settle();
    const adopted = await c.list(`${NS}/pods`, 'app=agent');
    expect(adopted.map((p) => p.metadata.uid).sort()).toEqual(before);
    expect(adopted.every((p) => p.metadata.ownerReferences?.[0]?.uid === ds.metadata.uid)).toBe(true);
    const [revision] = await c.list(`${APPS}/controllerrevisions`, 'app=agent');
    expect(revision.metadata.ownerReferences[0].uid).toBe(ds.metadata.uid);
    expect((await c.get(`${APPS}/daemonsets/agent`)).status).toMatchObject({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 });

    await c.send('DELETE', `${APPS}/daemonsets/agent`, {});
    await c.settle();
    expect(await c.list(`${NS}/pods`, 'app=agent')).toEqual([]);
    expect(await c.list(`${APPS}/controllerrevisions`, 'app=agent')).toEqual([]);
  });
});

describe('DaemonSet failed pods', () => {
  it('deletes a failed pod and makes another, backing off when the node keeps failing them', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await c.create(`${APPS}/daemonsets`, daemonSet('agent'));
    await c.settle();
    const fail = async () => {
      const [pod] = await c.list(`${NS}/pods`, 'app=agent');
      await c.send('PUT', `${NS}/pods/${pod.metadata.name}/status`, { ...pod, status: { ...pod.status, phase: 'Failed' } });
      return pod.metadata.name as string;
    };
    const first = await fail();
    await c.api.reconcile();
    expect(await c.status(`${NS}/pods/${first}`)).toBe(404);
    const events = await c.list(`${NS}/events`, undefined, 'involvedObject.name=agent');
    expect(events.map((e) => [e.type, e.reason, e.message])).toContainEqual(['Warning', 'FailedDaemonPod', `Found failed daemon pod default/${first} on node node-a, will try to kill it`]);
    await c.settle();

    // Failing again at once: held back for the back-off's second (1 s after the first kill).
    const second = await fail();
    await c.api.reconcile();
    expect(await c.status(`${NS}/pods/${second}`)).toBe(200);
    c.clock.advance(1500);
    await c.api.reconcile();
    expect(await c.status(`${NS}/pods/${second}`)).toBe(404);
    await c.settle();
    expect(nodeNames(await podsByNode(c, 'agent'))).toEqual(['node-a']);
  });
});

describe.skipIf(!hasKubectl)('kubectl and a DaemonSet against skiff serve', () => {
  let server: SkiffServer;
  let loop: NodeLoop;

  beforeAll(async () => {
    server = await startSkiff();
    const request = fetchOver(server.request);
    const nodes = ['worker-1', 'worker-2'].map((name) => new NodePlayer(request, { name }));
    for (const n of nodes) await n.register();
    loop = new NodeLoop(nodes, 200);
    loop.start();
  });

  afterAll(async () => {
    await loop?.stop();
    await server?.stop();
  });

  const kubectl = async (args: string[], stdin?: string) => {
    const r = await server.kubectl(args, { timeoutMs: 90_000, stdin });
    expect(r.stderr, `kubectl ${args.join(' ')}`).toBe('');
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}`).toBe(0);
    return r.stdout;
  };
  const rolledOut = async () => expect(await kubectl(['rollout', 'status', 'ds/agent', '--timeout=60s'])).toContain('daemon set "agent" successfully rolled out');
  const revisions = (history: string) => history.split('\n').filter((l) => /^\d+\s/.test(l)).map((l) => l.split(/\s+/)[0]);

  it('applies, prints, rolls out, lists the history, undoes', async () => {
    expect(await kubectl(['apply', '-f', '-'], JSON.stringify(daemonSet('agent')))).toBe('daemonset.apps/agent created\n');
    await rolledOut();
    const table = (await kubectl(['get', 'ds', 'agent'])).split('\n');
    expect(table[0].split(/\s{2,}/)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE']);
    expect(table[1].split(/\s+/).slice(0, 7)).toEqual(['agent', '2', '2', '2', '2', '2', '<none>']);
    const wide = (await kubectl(['get', 'ds', '-o', 'wide'])).split('\n');
    expect(wide[0].split(/\s{2,}/).slice(-3)).toEqual(['CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(wide[1].split(/\s+/).slice(-3)).toEqual(['agent', 'agent:1', 'app=agent']);

    expect(await kubectl(['set', 'image', 'ds/agent', 'agent=agent:2'])).toBe('daemonset.apps/agent image updated\n');
    await rolledOut();
    expect(revisions(await kubectl(['rollout', 'history', 'ds/agent']))).toEqual(['1', '2']);
    const first = await kubectl(['rollout', 'history', 'ds/agent', '--revision=1']);
    expect(first).toContain('daemonset.apps/agent with revision #1');
    expect(first).toMatch(/Image:\s+agent:1/);

    expect(await kubectl(['rollout', 'undo', 'ds/agent'])).toBe('daemonset.apps/agent rolled back\n');
    await rolledOut();
    expect(await kubectl(['get', 'ds', 'agent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).toBe('agent:1');
    expect(revisions(await kubectl(['rollout', 'history', 'ds/agent']))).toEqual(['2', '3']);
    // The revision it already runs: kubectl compares the patch it computes with the revision's bytes.
    expect(await kubectl(['rollout', 'undo', 'ds/agent', '--to-revision=3'])).toBe('daemonset.apps/agent skipped rollback (current template already matches revision 3)\n');

    const crs = (await kubectl(['get', 'controllerrevisions'])).trim().split('\n');
    expect(crs[0].split(/\s{2,}/)).toEqual(['NAME', 'CONTROLLER', 'REVISION', 'AGE']);
    expect(crs.slice(1).map((l) => l.split(/\s+/).slice(1, 3)).sort()).toEqual([['daemonset.apps/agent', '2'], ['daemonset.apps/agent', '3']]);
    const pods = JSON.parse(await kubectl(['get', 'pods', '-l', 'app=agent', '-o', 'json'])).items.filter((p: any) => !p.metadata.deletionTimestamp);
    expect(pods.map((p: any) => [p.spec.nodeName, p.spec.containers[0].image]).sort()).toEqual([['worker-1', 'agent:1'], ['worker-2', 'agent:1']]);

    const described = await kubectl(['describe', 'ds', 'agent']);
    expect(described).toMatch(/Desired Number of Nodes Scheduled: 2/);
    expect(described).toMatch(/Pods Status:\s+2 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed/);
    expect(described).toMatch(/SuccessfulCreate .* Created pod: agent-/);
    expect(loop.errors).toEqual([]);
  });
});

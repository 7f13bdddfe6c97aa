// The autonomy annotation (node.skiff.dev/autonomy: "true"), through the API and real passes: a node
// so annotated that stops renewing its lease is Ready=Unknown, its pods not ready and out of the
// endpoints, and it takes no new pods (unreachable:NoSchedule), but it is not tainted
// unreachable:NoExecute, so its pods stay however long it is away. Without the annotation (removed
// while the node is still away) the NoExecute taint follows in the next pass, and the pods' tolerations
// run from then. The eviction rule itself (taint-eviction.ts, in JS and SQL) is the same for every
// node: only the taints differ.
import { describe, expect, it } from 'vitest';
import { nodeChange, type NodeHealth } from '../../src/control/node-health.js';
import { ANNOTATION_NODE_AUTONOMY } from '../../src/kinds/node.js';
import { condition, deployment, isReady, isTerminating, perNode, perTestClusters } from '../scenarios/cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const UNREACHABLE = 'node.kubernetes.io/unreachable';
const merge = 'application/merge-patch+json';

const startCluster = perTestClusters();
const taintsOf = (node: any) => (node.spec.taints ?? []).map((t: any) => `${t.key}:${t.effect}`).sort();

describe('node autonomy', () => {
  it('an autonomous node that is away keeps its pods; without the annotation they are evicted', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'edge' }]);
    expect(ANNOTATION_NODE_AUTONOMY).toBe('node.skiff.dev/autonomy');
    await c.send('PATCH', '/api/v1/nodes/edge', { metadata: { annotations: { [ANNOTATION_NODE_AUTONOMY]: 'true' } } }, merge);
    await c.create(`${APPS}/deployments`, deployment('web', 4));
    await c.create(`${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 80 }] } });
    await c.settle();
    const pods = await c.list(`${NS}/pods`, 'app=web');
    expect(perNode(pods)).toEqual({ 'node-a': 2, edge: 2 });
    const onEdge = pods.filter((p) => p.spec.nodeName === 'edge').map((p) => p.metadata.name).sort();

    // The link goes down past node-monitor-grace-period.
    c.node('edge').alive = false;
    await c.advance(50);
    let node = await c.get('/api/v1/nodes/edge');
    expect(condition(node, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(taintsOf(node)).toEqual([`${UNREACHABLE}:NoSchedule`]);
    for (const name of onEdge) {
      const pod = await c.get(`${NS}/pods/${name}`);
      expect(isReady(pod)).toBe(false);
      expect(isTerminating(pod)).toBe(false);
    }
    const ep = await c.get(`${NS}/endpoints/web`);
    expect(ep.subsets.flatMap((s: any) => s.notReadyAddresses ?? [])).toHaveLength(2);

    // Far past the pods' 300 s unreachable toleration: still there, nothing replaced them, and a
    // scale-up lands on the reachable node only.
    await c.advance(900, 30);
    await c.send('PATCH', `${APPS}/deployments/web/scale`, { spec: { replicas: 5 } }, merge);
    await c.settle();
    let now = await c.list(`${NS}/pods`, 'app=web');
    expect(now.filter(isTerminating)).toEqual([]);
    expect(perNode(now)).toEqual({ 'node-a': 3, edge: 2 });
    expect(await c.list(`${NS}/events`, undefined, 'reason=TaintManagerEviction')).toEqual([]);

    // The annotation goes while the node is still away: the NoExecute taint follows in the next pass,
    // timed from then, so the pods get their full toleration.
    await c.send('PATCH', '/api/v1/nodes/edge', { metadata: { annotations: { [ANNOTATION_NODE_AUTONOMY]: null } } }, merge);
    await c.api.reconcile();
    node = await c.get('/api/v1/nodes/edge');
    expect(taintsOf(node)).toEqual([`${UNREACHABLE}:NoExecute`, `${UNREACHABLE}:NoSchedule`]);
    expect(node.spec.taints.find((t: any) => t.effect === 'NoExecute').timeAdded).toBe(c.clock.now().toISOString().replace(/\.\d+Z$/, 'Z'));
    await c.advance(290);
    expect((await c.list(`${NS}/pods`, 'app=web')).filter(isTerminating)).toEqual([]);
    await c.advance(20);
    const evicted = await c.list(`${NS}/events`, undefined, 'reason=TaintManagerEviction');
    expect(evicted.map((e) => e.involvedObject.name).sort()).toEqual(onEdge);
    // Pod GC removes them (no kubelet finishes them) and they are replaced on node-a.
    await c.advance(40);
    now = await c.list(`${NS}/pods`, 'app=web');
    expect(perNode(now)).toEqual({ 'node-a': 5 });

    // Annotated again, the NoExecute taint goes in the next pass (and with it any pending eviction).
    await c.send('PATCH', '/api/v1/nodes/edge', { metadata: { annotations: { [ANNOTATION_NODE_AUTONOMY]: 'true' } } }, merge);
    await c.api.reconcile();
    expect(taintsOf(await c.get('/api/v1/nodes/edge'))).toEqual([`${UNREACHABLE}:NoSchedule`]);

    // Back online: Ready, untainted.
    c.node('edge').alive = true;
    await c.advance(10);
    node = await c.get('/api/v1/nodes/edge');
    expect(condition(node, 'Ready').status).toBe('True');
    expect(node.spec.taints).toBeUndefined();
  });

  it('changes only the unreachable NoExecute taint: a not-ready autonomous node is tainted as any other', () => {
    const stamp = '2026-01-01T00:10:00Z';
    const now = new Date(stamp);
    const base: NodeHealth = { name: 'n', rv: 1, created: '2026-01-01T00:00:00Z', renew: '2026-01-01T00:00:00Z', ready: { type: 'Ready', status: 'True' }, taints: [], autonomous: true };
    const effects = (h: NodeHealth) => nodeChange(h, now, stamp, 40)?.taints?.map((t) => `${t.key}:${t.effect}`).sort();
    expect(effects(base)).toEqual([`${UNREACHABLE}:NoSchedule`]);
    expect(effects({ ...base, autonomous: false })).toEqual([`${UNREACHABLE}:NoExecute`, `${UNREACHABLE}:NoSchedule`]);
    const notReady: NodeHealth = { ...base, renew: stamp, ready: { type: 'Ready', status: 'False' } };
    expect(effects(notReady)).toEqual(['node.kubernetes.io/not-ready:NoExecute', 'node.kubernetes.io/not-ready:NoSchedule']);
  });
});

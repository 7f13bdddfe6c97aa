// Node maintenance and node loss, through the API only: cordon and drain move a Deployment's pods
// away; a node that stops reporting is marked unreachable, its pods evicted after the toleration and
// replaced elsewhere, dropped from the Service's endpoints; and when it comes back it is Ready again.
import { describe, expect, it } from 'vitest';
import { jsonRequest } from '../helpers/json-request.js';
import { condition, deployment, isReady, isTerminating, perNode, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const UNREACHABLE = 'node.kubernetes.io/unreachable';

const startCluster = perTestClusters();

const threeNodes = () => startCluster([{ name: 'node-a' }, { name: 'node-b' }, { name: 'node-c' }]);

async function readyPods(c: Cluster): Promise<any[]> {
  return (await c.list(`${NS}/pods`, 'app=web')).filter((p) => !isTerminating(p) && isReady(p));
}

describe('node maintenance', () => {
  it('cordon and drain move the pods to the other nodes', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/deployments`, deployment('web', 6));
    await c.settle();
    expect(perNode(await readyPods(c))).toEqual({ 'node-a': 2, 'node-b': 2, 'node-c': 2 });

    // kubectl cordon
    await c.send('PATCH', '/api/v1/nodes/node-b', { spec: { unschedulable: true } }, 'application/strategic-merge-patch+json');
    // kubectl drain: evict every pod on the node, then wait for them to go
    const onNode = await c.list('/api/v1/pods', undefined, 'spec.nodeName=node-b');
    expect(onNode).toHaveLength(2);
    for (const pod of onNode) {
      const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.metadata.name, namespace: 'default' } };
      const res = await c.api.request(`${NS}/pods/${pod.metadata.name}/eviction`, jsonRequest('POST', eviction));
      expect(res.status).toBe(201);
    }
    await c.settle();

    for (const pod of onNode) expect(await c.status(`${NS}/pods/${pod.metadata.name}`)).toBe(404);
    expect(await c.list('/api/v1/pods', undefined, 'spec.nodeName=node-b')).toEqual([]);
    expect(perNode(await readyPods(c))).toEqual({ 'node-a': 3, 'node-c': 3 });
    const d = await c.get(`${APPS}/deployments/web`);
    expect(d.status).toMatchObject({ replicas: 6, availableReplicas: 6 });
    const node = await c.get('/api/v1/nodes/node-b');
    expect(node.spec.unschedulable).toBe(true);
    expect(node.spec.taints).toBeUndefined(); // cordoning is a spec field; the taint is the scheduler's view of it

    // kubectl uncordon: the node takes new pods again
    await c.send('PATCH', '/api/v1/nodes/node-b', { spec: { unschedulable: null } }, 'application/strategic-merge-patch+json');
    await c.send('PATCH', `${APPS}/deployments/web/scale`, { spec: { replicas: 7 } }, 'application/merge-patch+json');
    await c.settle();
    expect(perNode(await readyPods(c))).toEqual({ 'node-a': 3, 'node-b': 1, 'node-c': 3 });
  });

  it('a lost node is marked unreachable, its pods are replaced and leave the endpoints, and it recovers', async () => {
    const c = await threeNodes();
    await c.create(`${APPS}/deployments`, deployment('web', 3));
    await c.create(`${NS}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    await c.settle();
    const pods = await readyPods(c);
    expect(perNode(pods)).toEqual({ 'node-a': 1, 'node-b': 1, 'node-c': 1 });
    const lost = pods.find((p) => p.spec.nodeName === 'node-c');
    const ipsOf = (ps: any[]) => ps.map((p) => p.status.podIP).sort();

    const endpointIps = async () => {
      const ep = await c.get(`${NS}/endpoints/web`);
      const subsets = ep.subsets ?? [];
      return {
        ready: subsets.flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.ip)).sort(),
        notReady: subsets.flatMap((s: any) => (s.notReadyAddresses ?? []).map((a: any) => a.ip)).sort(),
        ports: subsets.flatMap((s: any) => s.ports ?? []),
      };
    };
    const sliceIps = async () => {
      const [slice] = await c.list('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', 'kubernetes.io/service-name=web');
      return {
        ready: slice.endpoints.filter((e: any) => e.conditions.ready).flatMap((e: any) => e.addresses).sort(),
        all: slice.endpoints.flatMap((e: any) => e.addresses).sort(),
        ports: slice.ports,
      };
    };
    expect(await endpointIps()).toEqual({ ready: ipsOf(pods), notReady: [], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    expect(await sliceIps()).toEqual({ ready: ipsOf(pods), all: ipsOf(pods), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });

    // The machine is lost. Within the grace period nothing happens.
    c.node('node-c').alive = false;
    await c.advance(40);
    expect(condition(await c.get('/api/v1/nodes/node-c'), 'Ready').status).toBe('True');

    // Past node-monitor-grace-period (40 s): Unknown, tainted, and its pod no longer ready.
    await c.advance(10);
    let node = await c.get('/api/v1/nodes/node-c');
    expect(condition(node, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(node.spec.taints.map((t: any) => `${t.key}:${t.effect}`).sort()).toEqual([`${UNREACHABLE}:NoExecute`, `${UNREACHABLE}:NoSchedule`]);
    for (const other of ['node-a', 'node-b']) expect(condition(await c.get(`/api/v1/nodes/${other}`), 'Ready').status).toBe('True');
    const stale = await c.get(`${NS}/pods/${lost.metadata.name}`);
    expect(isTerminating(stale)).toBe(false);
    expect(isReady(stale)).toBe(false);
    expect(await endpointIps()).toMatchObject({ ready: ipsOf(pods.filter((p) => p !== lost)), notReady: [lost.status.podIP] });
    const notReadyEvents = await c.list(`${NS}/events`, undefined, 'involvedObject.name=node-c,reason=NodeNotReady');
    expect(notReadyEvents).toHaveLength(1);

    // The pod tolerates unreachable for 300 s; until then it stays, and nothing replaces it.
    await c.advance(280);
    expect(isTerminating(await c.get(`${NS}/pods/${lost.metadata.name}`))).toBe(false);
    expect(await c.list(`${NS}/pods`, 'app=web')).toHaveLength(3);

    // Past the toleration: evicted, replaced on the live nodes, and out of the endpoints.
    await c.advance(30);
    const evicted = await c.list(`${NS}/events`, undefined, `involvedObject.name=${lost.metadata.name},reason=TaintManagerEviction`);
    expect(evicted.map((e) => e.message)).toEqual([`Marking for deletion Pod default/${lost.metadata.name}`]);
    // Its grace period runs out with no kubelet to finish it: pod GC removes it.
    await c.advance(30);
    expect(await c.status(`${NS}/pods/${lost.metadata.name}`)).toBe(404);
    const now = await readyPods(c);
    expect(now).toHaveLength(3);
    expect(now.some((p) => p.spec.nodeName === 'node-c')).toBe(false);
    expect(await endpointIps()).toEqual({ ready: ipsOf(now), notReady: [], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    expect(await sliceIps()).toEqual({ ready: ipsOf(now), all: ipsOf(now), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    expect((await c.get(`${APPS}/deployments/web`)).status).toMatchObject({ replicas: 3, availableReplicas: 3 });

    // The machine comes back and renews its lease.
    c.node('node-c').alive = true;
    await c.node('node-c').renew();
    await c.settle();
    node = await c.get('/api/v1/nodes/node-c');
    expect(condition(node, 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(node.spec.taints).toBeUndefined();
    expect(await c.list(`${NS}/events`, undefined, 'involvedObject.name=node-c,reason=NodeReady')).toHaveLength(1);
  });
});

// Where pods land: a Deployment spreads evenly over equal nodes, and an extended resource
// (nvidia.com/gpu) keeps pods to the node that has it, the rest waiting with kube-scheduler's reasons.
import { describe, expect, it } from 'vitest';
import { condition, deployment, isReady, perNode, perTestClusters } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const startCluster = perTestClusters();

describe('scheduling', () => {
  it('spreads a 6-replica Deployment 2/2/2 over 3 equal nodes', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }, { name: 'node-c' }]);
    await c.create('/apis/apps/v1/namespaces/default/deployments', deployment('web', 6));
    await c.settle();

    const pods = await c.list(`${NS}/pods`, 'app=web');
    expect(pods).toHaveLength(6);
    expect(perNode(pods)).toEqual({ 'node-a': 2, 'node-b': 2, 'node-c': 2 });
    expect(pods.every((p) => p.status.phase === 'Running' && isReady(p))).toBe(true);
    const d = await c.get('/apis/apps/v1/namespaces/default/deployments/web');
    expect(d.status).toMatchObject({ replicas: 6, updatedReplicas: 6, readyReplicas: 6, availableReplicas: 6 });
  });

  it('puts a GPU pod only on the GPU node and leaves the next one Pending with the reasons', async () => {
    const gpu = { cpu: '8', memory: '32Gi', pods: '110', 'nvidia.com/gpu': '1' };
    const c = await startCluster([
      { name: 'cpu-1', labels: { accelerator: 'none' } },
      { name: 'cpu-2', labels: { accelerator: 'none' } },
      { name: 'gpu-1', allocatable: gpu, labels: { accelerator: 'nvidia' } },
    ]);
    const gpuPod = (name: string, nodeSelector?: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { ...(nodeSelector ? { nodeSelector } : {}), containers: [{ name: 'cuda', image: 'cuda:12', resources: { limits: { 'nvidia.com/gpu': '1' } } }] },
    });
    // The GPU node already runs a busy pod, so only the GPU request can send the next one there.
    await c.create(`${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'busy' },
      spec: { nodeName: 'gpu-1', containers: [{ name: 'busy', image: 'busy', resources: { requests: { cpu: '6', memory: '24Gi' } } }] },
    });
    await c.create(`${NS}/pods`, gpuPod('train-1'));
    await c.settle();
    const first = await c.get(`${NS}/pods/train-1`);
    expect(first.spec.nodeName).toBe('gpu-1');
    expect(first.status.phase).toBe('Running');

    await c.create(`${NS}/pods`, gpuPod('train-2'));
    await c.create(`${NS}/pods`, gpuPod('train-3', { accelerator: 'nvidia' }));
    await c.settle();

    // A node without the resource is as short of it as a full one.
    const everywhere = '0/3 nodes are available: 3 Insufficient nvidia.com/gpu. ' +
      'preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';
    const selected = "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector. " +
      'preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.';
    for (const [name, message] of [['train-2', everywhere], ['train-3', selected]]) {
      const pod = await c.get(`${NS}/pods/${name}`);
      expect(pod.spec.nodeName).toBeUndefined();
      expect(pod.status.phase).toBe('Pending');
      expect(condition(pod, 'PodScheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable', message });
      const events = await c.list(`${NS}/events`, undefined, `involvedObject.name=${name},involvedObject.uid=${pod.metadata.uid}`);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'Warning', reason: 'FailedScheduling', message, count: 1, source: { component: 'default-scheduler' } });
    }

    // Once the GPU is free, the pod that waited longest gets it (when its back-off of 1 s is over).
    await c.send('DELETE', `${NS}/pods/train-1`, {});
    await c.advance(1);
    expect(await c.status(`${NS}/pods/train-1`)).toBe(404);
    expect((await c.get(`${NS}/pods/train-2`)).spec.nodeName).toBe('gpu-1');
    expect((await c.get(`${NS}/pods/train-3`)).spec.nodeName).toBeUndefined();
    const scheduled = await c.list(`${NS}/events`, undefined, 'involvedObject.name=train-2,reason=Scheduled');
    expect(scheduled.map((e) => e.message)).toEqual(['Successfully assigned default/train-2 to gpu-1']);
  });
});

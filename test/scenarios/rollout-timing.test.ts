// Time in a rollout: availability waits for minReadySeconds, and a rollout whose pods never become
// ready is reported as stuck (ProgressDeadlineExceeded) once progressDeadlineSeconds pass.
import { describe, expect, it } from 'vitest';
import { condition, deployment, isReady, perTestClusters } from './cluster.js';

const APPS = '/apis/apps/v1/namespaces/default';
const startCluster = perTestClusters();

describe('rollout timing', () => {
  it('counts pods available only minReadySeconds after they are ready', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await c.create(`${APPS}/deployments`, deployment('web', 2, 'nginx:1.27', { minReadySeconds: 30 }));
    await c.settle();
    const pods = await c.list('/api/v1/namespaces/default/pods', 'app=web');
    expect(pods.filter(isReady)).toHaveLength(2);
    let d = await c.get(`${APPS}/deployments/web`);
    expect(d.status).toMatchObject({ replicas: 2, readyReplicas: 2, unavailableReplicas: 2 });
    expect(d.status.availableReplicas).toBeUndefined();
    expect(condition(d, 'Available')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable' });

    await c.advance(20);
    d = await c.get(`${APPS}/deployments/web`);
    expect(d.status.availableReplicas).toBeUndefined();

    await c.advance(10);
    d = await c.get(`${APPS}/deployments/web`);
    expect(d.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2 });
    expect(condition(d, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
    const [rs] = await c.list(`${APPS}/replicasets`, 'app=web');
    expect(rs.spec.minReadySeconds).toBe(30);
    expect(rs.status.availableReplicas).toBe(2);
  });

  it('reports ProgressDeadlineExceeded when the pods never become ready', async () => {
    const never = 1_000_000;
    const c = await startCluster([{ name: 'node-a', readyAfter: never }, { name: 'node-b', readyAfter: never }]);
    await c.create(`${APPS}/deployments`, deployment('web', 2, 'broken:1', { progressDeadlineSeconds: 60 }));
    await c.settle();
    let d = await c.get(`${APPS}/deployments/web`);
    expect(d.status).toMatchObject({ replicas: 2, updatedReplicas: 2, unavailableReplicas: 2 });
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'ReplicaSetUpdated' });
    const pods = await c.list('/api/v1/namespaces/default/pods', 'app=web');
    expect(pods.map((p) => p.status.phase)).toEqual(['Running', 'Running']);
    expect(pods.some(isReady)).toBe(false);

    await c.advance(60);
    expect(condition(await c.get(`${APPS}/deployments/web`), 'Progressing').status).toBe('True');

    await c.advance(10);
    d = await c.get(`${APPS}/deployments/web`);
    const [rs] = await c.list(`${APPS}/replicasets`, 'app=web');
    expect(condition(d, 'Progressing')).toMatchObject({
      status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rs.metadata.name}" has timed out progressing.`,
    });
    expect(condition(d, 'Available')).toMatchObject({ status: 'False' });
  });
});

// Deleting things as kubectl does: a Deployment takes its ReplicaSets and pods with it (Background
// propagation), and a namespace takes everything in it before it goes itself.
import { describe, expect, it } from 'vitest';
import { deployment, perTestClusters } from './cluster.js';

const APPS = '/apis/apps/v1/namespaces';
const startCluster = perTestClusters();

describe('deletion', () => {
  it('deleting a Deployment removes its ReplicaSets and pods, and leaves others alone', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await c.create(`${APPS}/default/deployments`, deployment('web', 3));
    await c.create(`${APPS}/default/deployments`, deployment('api', 2));
    await c.settle();
    expect(await c.list('/api/v1/namespaces/default/pods', 'app=web')).toHaveLength(3);

    await c.send('DELETE', `${APPS}/default/deployments/web`, { propagationPolicy: 'Background' });
    expect(await c.status(`${APPS}/default/deployments/web`)).toBe(404);
    await c.settle();

    expect(await c.list(`${APPS}/default/replicasets`, 'app=web')).toEqual([]);
    expect(await c.list('/api/v1/namespaces/default/pods', 'app=web')).toEqual([]);
    expect(await c.list(`${APPS}/default/replicasets`, 'app=api')).toHaveLength(1);
    expect(await c.list('/api/v1/namespaces/default/pods', 'app=api')).toHaveLength(2);
  });

  it('deleting a namespace removes everything in it, then the namespace', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await c.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    await c.create(`${APPS}/shop/deployments`, deployment('web', 2));
    await c.create('/api/v1/namespaces/shop/services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    await c.create('/api/v1/namespaces/shop/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' } });
    await c.create(`${APPS}/default/deployments`, deployment('web', 1));
    await c.settle();
    expect(await c.list('/api/v1/namespaces/shop/pods')).toHaveLength(2);
    expect((await c.get('/api/v1/namespaces/shop/endpoints/web')).subsets[0].addresses).toHaveLength(2);

    await c.send('DELETE', '/api/v1/namespaces/shop', {});
    const terminating = await c.get('/api/v1/namespaces/shop');
    expect(terminating.status.phase).toBe('Terminating');
    await c.settle();

    expect(await c.status('/api/v1/namespaces/shop')).toBe(404);
    for (const path of ['/api/v1/pods', '/api/v1/services', '/api/v1/endpoints', '/api/v1/configmaps', '/apis/apps/v1/deployments', '/apis/apps/v1/replicasets', '/apis/discovery.k8s.io/v1/endpointslices']) {
      const left = (await c.list(path)).filter((o) => o.metadata.namespace === 'shop');
      expect(left, path).toEqual([]);
    }
    expect(await c.list('/api/v1/namespaces/default/pods', 'app=web')).toHaveLength(1);
  });
});

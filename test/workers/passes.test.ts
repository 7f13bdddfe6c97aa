// Reconcile passes inside workerd: the one a write kicks through waitUntil, and the one the cron
// trigger runs through the scheduled handler, both binding a Deployment's pods to a ready node.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { createClient } from '@libsql/client/web';
import { beforeAll, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { systemClock } from '../../src/store/clock.js';
import { Store } from '../../src/store/store.js';
import worker from '../../src/worker.js';
import { createNamespace, expectStatus, requestFor, sendAndSettle } from './api.js';

let ns: string;
const node = `node-${crypto.randomUUID().slice(0, 8)}`;

/** Registers a Node as its kubelet would (allocatable, Ready) and its heartbeat Lease. */
async function registerNode(name: string): Promise<void> {
  await expectStatus(sendAndSettle('/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } } }), 201);
  const current = await expectStatus(sendAndSettle(`/api/v1/nodes/${name}`), 200);
  const now = new Date().toISOString();
  current.status = {
    capacity: { cpu: '4', memory: '8Gi', pods: '110' },
    allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }],
    addresses: [{ type: 'InternalIP', address: '192.168.0.10' }],
  };
  await expectStatus(sendAndSettle(`/api/v1/nodes/${name}/status`, { method: 'PUT', body: current }), 200);
  const renewTime = now.replace(/Z$/, '000Z'); // a MicroTime
  const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime } };
  await expectStatus(sendAndSettle('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { body: lease }), 201);
}

function deployment(name: string, replicas: number): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m' } } }] } },
    },
  };
}

const podsOf = async (app: string): Promise<any[]> => (await expectStatus(sendAndSettle(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`), 200)).items;

beforeAll(async () => {
  ns = await createNamespace('passes');
  await registerNode(node);
});

it('a write kicks a pass through waitUntil that creates and binds the pods', async () => {
  await expectStatus(sendAndSettle(`/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment('kicked', 2) }), 201);
  const pods = await podsOf('kicked');
  expect(pods).toHaveLength(2);
  for (const pod of pods) expect(pod.spec.nodeName).toBe(node);
});

it('the scheduled handler runs a pass that binds the pods of a Deployment no request kicked', async () => {
  // Another API server on the same database (as `skiff serve` or another isolate would be): its
  // write does not kick a pass in this isolate, so only the cron trigger's pass can act on it.
  const other = createApp({ store: new Store(createClient({ url: env.LIBSQL_URL }), systemClock), clock: systemClock, authenticate: () => true });
  await expectStatus(other.fetch(requestFor(`/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment('cron', 2) })), 201);
  expect(await podsOf('cron')).toEqual([]);

  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);

  const pods = await podsOf('cron');
  expect(pods).toHaveLength(2);
  for (const pod of pods) {
    expect(pod.spec.nodeName).toBe(node);
    expect(pod.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', controller: true });
  }
  const rs = (await expectStatus(sendAndSettle(`/apis/apps/v1/namespaces/${ns}/replicasets`), 200)).items.filter((r: any) => r.metadata.ownerReferences?.[0]?.name === 'cron');
  expect(rs).toHaveLength(1);
  expect(rs[0].spec.replicas).toBe(2);
});

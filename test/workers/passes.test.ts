// Reconcile passes inside workerd: the one a write kicks through waitUntil, and the one the cron
// trigger runs through the scheduled handler, both binding a Deployment's pods to a ready node.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, expect, it } from 'vitest';
import worker from '../../src/worker.js';
import { createNamespace, expectStatus, sendAndSettle } from './api.js';
import { createElsewhere, deployment, registerNode } from './cluster.js';

let ns: string;
const node = `node-${crypto.randomUUID().slice(0, 8)}`;

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
  await createElsewhere(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('cron', 2));
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

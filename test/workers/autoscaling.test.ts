// HorizontalPodAutoscalers inside workerd: a node's usage report is taken by the Worker's fetch entry
// point, and the cron trigger's pass (with no tunnel to any node) scales a Deployment on it; the HPA
// reads back through autoscaling/v1 too.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, expect, it } from 'vitest';
import worker from '../../src/worker.js';
import { createNamespace, expectStatus, sendAndSettle } from './api.js';
import { onOwnNode, registerNode } from './cluster.js';

const NODE = 'hpa-node';
let ns: string;

beforeAll(async () => {
  ns = await createNamespace('autoscaling');
  await registerNode(NODE, true);
});

it('scales a Deployment on the usage its node reported', async () => {
  await expectStatus(sendAndSettle(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { ...onOwnNode(NODE), containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '100m' } } }] } },
      },
    },
  }), 201);
  const pods = (await expectStatus(sendAndSettle(`/api/v1/namespaces/${ns}/pods`), 200)).items;
  expect(pods.map((p: any) => p.spec.nodeName)).toEqual([NODE, NODE]);
  // Running and ready for a minute, as the node's kubelet would say.
  const since = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
  for (const p of pods) {
    p.status = { phase: 'Running', startTime: since, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }] };
    await expectStatus(sendAndSettle(`/api/v1/namespaces/${ns}/pods/${p.metadata.name}/status`, { method: 'PUT', body: p }), 200);
  }
  const report = {
    timestamp: new Date().toISOString(),
    windowSeconds: 15,
    pods: pods.map((p: any) => ({ uid: p.metadata.uid, containers: [{ name: 'app', cpuNanoCores: 100_000_000, memoryBytes: 1 << 20 }] })),
  };
  await expectStatus(sendAndSettle(`/skiff/v1/nodes/${NODE}/usage`, { method: 'PUT', body: report }), 204);

  await expectStatus(sendAndSettle(`/apis/autoscaling/v1/namespaces/${ns}/horizontalpodautoscalers`, {
    body: {
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 50 },
    },
  }), 201);
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);

  const hpa = await expectStatus(sendAndSettle(`/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/web`), 200);
  expect(hpa.status).toMatchObject({ currentReplicas: 2, desiredReplicas: 4 });
  expect(hpa.status.currentMetrics[0].resource.current).toEqual({ averageUtilization: 100, averageValue: '100m' });
  const d = await expectStatus(sendAndSettle(`/apis/apps/v1/namespaces/${ns}/deployments/web`), 200);
  expect(d.spec.replicas).toBe(4);
  const v1 = await expectStatus(sendAndSettle(`/apis/autoscaling/v1/namespaces/${ns}/horizontalpodautoscalers/web`), 200);
  expect(v1.status).toMatchObject({ desiredReplicas: 4, currentCPUUtilizationPercentage: 100 });
});

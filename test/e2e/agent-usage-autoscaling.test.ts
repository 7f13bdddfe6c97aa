// A real `skiff agent` (process runtime) reports what its pods use, and a HorizontalPodAutoscaler on
// `skiff serve` scales a Deployment on it: a pod that keeps about half a cpu busy, against a request
// of 100m and a 50% target, is scaled up; the HPA's current metrics are the agent's figures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODE = 'usage-1';
/** Busy for 50 ms of every 100 ms: about 500m of cpu. */
const BURN = 'setInterval(() => { const t = Date.now(); while (Date.now() - t < 50); }, 100)';

describe('usage reported by a real agent', () => {
  let server: SkiffServer;
  let agent: AgentProcess;

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    agent = startAgentProcess({ server: server.url, token: created.stdout.trim(), caHash: caCertHash(server.ca), name: NODE, data: tempDir('skiff-agent-') });
    await agent.ready;
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('scales a Deployment up on the cpu its pod uses', async () => {
    await api('/apis/apps/v1/namespaces/default/deployments', {
      method: 'POST',
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'burn' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'burn' } },
          template: {
            metadata: { labels: { app: 'burn' } },
            spec: { containers: [{ name: 'burn', image: 'node', command: [process.execPath, '-e', BURN], resources: { requests: { cpu: '100m' } } }] },
          },
        },
      },
    });
    await api('/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers', {
      method: 'POST',
      body: {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'burn' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'burn' },
          minReplicas: 1,
          maxReplicas: 3,
          metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
        },
      },
    });
    // Reports come every 15 s, and a fresh pod's sample counts one window after it became ready.
    const hpa = await until('the HPA to scale on the reported usage', async () => {
      const h = await api('/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/burn');
      return (h.status?.desiredReplicas ?? 0) > 1 && h;
    }, 90_000);
    const current = hpa.status.currentMetrics[0].resource.current;
    expect(current.averageUtilization).toBeGreaterThan(100);
    expect(hpa.status.conditions.find((c: any) => c.type === 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
    const d = await api('/apis/apps/v1/namespaces/default/deployments/burn');
    expect(d.spec.replicas).toBeGreaterThan(1);
  }, 120_000);
});

// HorizontalPodAutoscalers under settings other than the defaults (the control options that
// `skiff serve` takes as kube-controller-manager's --horizontal-pod-autoscaler-* flags): a shorter
// sync period and downscale stabilization window, the global tolerance and an HPA's own per-direction
// tolerance; and two HPAs over the same pods, which Kubernetes refuses to scale (AmbiguousSelector).
import { describe, expect, it } from 'vitest';
import type { ControlOptions } from '../../src/control/context.js';
import { condition, deployment, isTerminating, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const V2 = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';

const startCluster = perTestClusters();

/** A Deployment `name` (pods app=NAME) whose pods request 100m of cpu. */
const app = (name: string, replicas: number) =>
  deployment(name, replicas, 'nginx:1.27', {
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
    },
  });

const hpa = (name: string, target: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
    minReplicas: 1,
    maxReplicas: 10,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
    ...spec,
  },
});

/** Two nodes whose pods each use `usage.cpu` (changed by the test). */
function cluster(usage: { cpu: string }, control: Partial<ControlOptions> = {}): Promise<Cluster> {
  const opts = (name: string) => ({ name, usage: () => ({ cpu: usage.cpu, memory: '32Mi' }) });
  return startCluster([opts('node-a'), opts('node-b')], control);
}

const replicas = async (c: Cluster, name: string) => (await c.get(`${APPS}/deployments/${name}`)).spec.replicas;
const livePods = async (c: Cluster, name: string) => (await c.list(`${NS}/pods`, `app=${name}`)).filter((p) => !isTerminating(p)).length;
const events = async (c: Cluster, name: string, reason: string) =>
  (await c.list(`${NS}/events`, undefined, `involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=${name}`))
    .filter((e) => e.reason === reason).map((e) => e.message);

describe('HorizontalPodAutoscaler settings', () => {
  it('syncs every --horizontal-pod-autoscaler-sync-period and scales down after --horizontal-pod-autoscaler-downscale-stabilization', async () => {
    const usage = { cpu: '10m' };
    const c = await cluster(usage, { horizontalPodAutoscalerSyncPeriodSeconds: 5, horizontalPodAutoscalerDownscaleStabilizationSeconds: 30 });
    await c.create(`${APPS}/deployments`, app('web', 4));
    await c.create(V2, hpa('web', 'web'));
    await c.settle();
    expect(await livePods(c, 'web')).toBe(4);

    // 4 pods at 10% of a 50% target want 1, but the first sync recommended the 4 there were: held
    // for the 30 s window (not 300 s), and the HPA synced every 5 s (not 15 s) meanwhile.
    await c.advance(30, 5);
    expect(await replicas(c, 'web')).toBe(4);
    expect(condition(await c.get(`${V2}/web`), 'AbleToScale')).toMatchObject({ reason: 'ScaleDownStabilized' });
    await c.advance(5, 5);
    expect(await replicas(c, 'web')).toBe(1);
    expect(await events(c, 'web', 'SuccessfulRescale')).toContain('New size: 1; reason: All metrics below target');

    // Usage up 8-fold: the next sync, 5 s later, scales up (to 8, limited to max(2 * 1, 4) at once).
    usage.cpu = '400m';
    await c.advance(5, 5);
    expect(await replicas(c, 'web')).toBe(4);
  });

  it('keeps usage within --horizontal-pod-autoscaler-tolerance of the target, unless the HPA sets its own for the direction', async () => {
    const c = await cluster({ cpu: '70m' }, { horizontalPodAutoscalerTolerance: 0.5 });
    await c.create(`${APPS}/deployments`, app('web', 2));
    await c.create(V2, hpa('web', 'web'));
    await c.settle();
    // 70% of request against a 50% target, a ratio of 1.4: beyond the default 0.1, within 0.5.
    await c.advance(40);
    expect(await replicas(c, 'web')).toBe(2);
    let h = await c.get(`${V2}/web`);
    expect(h.status.currentMetrics[0].resource.current.averageUtilization).toBe(70);
    expect(condition(h, 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });

    // A tolerance for scaling down only changes nothing here; one for scaling up does.
    await c.send('PATCH', `${V2}/web`, { spec: { behavior: { scaleDown: { tolerance: '0.05' } } } }, 'application/merge-patch+json');
    await c.advance(20);
    expect(await replicas(c, 'web')).toBe(2);
    await c.send('PATCH', `${V2}/web`, { spec: { behavior: { scaleUp: { tolerance: '50m' } } } }, 'application/merge-patch+json');
    await c.advance(20);
    expect(await replicas(c, 'web')).toBe(3); // ceil(2 * 1.4)
    h = await c.get(`${V2}/web`);
    expect(h.spec.behavior.scaleUp.tolerance).toBe('50m');
    expect(await events(c, 'web', 'SuccessfulRescale')).toContain('New size: 3; reason: cpu resource utilization (percentage of request) above target');
  });

  it('scales nothing, and says AmbiguousSelector, while two HPAs select the same pods', async () => {
    const c = await cluster({ cpu: '100m' });
    await c.create(`${APPS}/deployments`, app('web', 2));
    await c.create(`${APPS}/deployments`, app('api', 2));
    // With no pods yet, no two HPAs would select the same ones.
    await c.settle();
    await c.create(V2, hpa('web', 'web'));
    await c.create(V2, hpa('web-2', 'web'));
    await c.create(V2, hpa('api', 'api', { maxReplicas: 4 }));
    await c.settle();
    await c.advance(20);

    const message = 'pods by selector app=web are controlled by multiple HPAs: [default/web default/web-2]';
    expect(await replicas(c, 'web')).toBe(2);
    for (const name of ['web', 'web-2']) {
      const h = await c.get(`${V2}/${name}`);
      expect(condition(h, 'AbleToScale')).toMatchObject({ status: 'True', reason: 'SucceededGetScale' });
      expect(condition(h, 'ScalingActive')).toMatchObject({ status: 'False', reason: 'AmbiguousSelector', message });
      expect(h.status).toMatchObject({ currentReplicas: 2, desiredReplicas: 0 });
      expect(await events(c, name, 'AmbiguousSelector')).toEqual([message]);
      expect(await events(c, name, 'FailedComputeMetricsReplicas')).toEqual([message]);
      expect(await events(c, name, 'SuccessfulRescale')).toEqual([]);
    }
    // An HPA over other pods of the namespace scales as usual: 2 pods at 100% of a 50% target.
    expect(await replicas(c, 'api')).toBe(4);
    expect(condition(await c.get(`${V2}/api`), 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });

    // With one of them gone, the other scales.
    await c.send('DELETE', `${V2}/web-2`, {});
    await c.advance(20);
    expect(await replicas(c, 'web')).toBe(4);
    expect(condition(await c.get(`${V2}/web`), 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
  });
});

// HorizontalPodAutoscalers as a user sees them, on the test clock, with played nodes that report the
// usage of their pods as agents do: a Deployment scaled up when its pods use more cpu than the target,
// held at maxReplicas, brought back down to minReplicas once usage drops and the downscale
// stabilization window (300 s) has passed; the conditions Kubernetes sets when there are no metrics;
// the sync period; and the same HPA through autoscaling/v1.
import { describe, expect, it } from 'vitest';
import { condition, deployment, isTerminating, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const V2 = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';
const V1 = '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers';
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };

const startCluster = perTestClusters();

/** A Deployment `web` whose pods request 100m of cpu. */
const web = (replicas: number) =>
  deployment('web', replicas, 'nginx:1.27', {
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
    },
  });

const hpa = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web' },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: 2,
    maxReplicas: 5,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
    ...spec,
  },
});

/** Two nodes whose pods of app=web each use `usage.cpu` (changed by the test); `report` false: nothing reported. */
async function cluster(usage: { cpu: string }, report = true): Promise<Cluster> {
  const opts = (name: string) => ({ name, ...(report ? { usage: (pod: any) => (pod.metadata.labels?.app === 'web' ? { cpu: usage.cpu, memory: '32Mi' } : undefined) } : {}) });
  return startCluster([opts('node-a'), opts('node-b')]);
}

const replicas = async (c: Cluster) => (await c.get(`${APPS}/deployments/web`)).spec.replicas;
const livePods = async (c: Cluster) => (await c.list(`${NS}/pods`, 'app=web')).filter((p) => !isTerminating(p)).length;
const events = async (c: Cluster, reason: string) =>
  (await c.list(`${NS}/events`, undefined, 'involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=web')).filter((e) => e.reason === reason).map((e) => e.message);
/** The TARGETS cell of `kubectl get hpa web`. */
const targets = async (c: Cluster) => (await (await c.api.request(`${V2}/web`, { headers: TABLE })).json()).rows[0].cells[2];

describe('HorizontalPodAutoscaler', () => {
  it('scales a Deployment up on reported cpu usage, holds it at maxReplicas, and down to minReplicas after the stabilization window', async () => {
    const usage = { cpu: '100m' };
    const c = await cluster(usage);
    await c.create(`${APPS}/deployments`, web(2));
    await c.create(V2, hpa());
    await c.settle();
    expect(await livePods(c)).toBe(2);

    // The pods became ready just now: a sample counts one metric window (15 s) after that.
    await c.advance(20);
    expect(await replicas(c)).toBe(4); // 2 pods at 100% of a 50% target, at most doubled at once
    expect(await events(c, 'SuccessfulRescale')).toContain('New size: 4; reason: cpu resource utilization (percentage of request) above target');
    let h = await c.get(`${V2}/web`);
    expect(h.status).toMatchObject({ currentReplicas: 2, desiredReplicas: 4 });
    expect(h.status.currentMetrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 100, averageValue: '100m' } } }]);
    expect(condition(h, 'AbleToScale')).toMatchObject({ status: 'True', reason: 'SucceededRescale' });
    expect(condition(h, 'ScalingActive')).toMatchObject({
      status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)',
    });
    expect(await targets(c)).toBe('cpu: 100%/50%');

    // The new pods' samples count 15 s after they became ready: 4 pods at 100% want 8, held at 5.
    await c.advance(20);
    expect(await replicas(c)).toBe(5);
    expect(await livePods(c)).toBe(5);
    await c.advance(20);
    expect(await replicas(c)).toBe(5);
    h = await c.get(`${V2}/web`);
    expect(h.status).toMatchObject({ currentReplicas: 5, desiredReplicas: 5 });
    expect(condition(h, 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' });

    // Usage drops to 10%: the recommendations of the last 300 s still want 10 pods, so it holds.
    usage.cpu = '10m';
    await c.advance(280);
    expect(await replicas(c)).toBe(5);
    expect(condition(await c.get(`${V2}/web`), 'AbleToScale')).toMatchObject({ reason: 'ScaleDownStabilized' });
    await c.advance(40);
    expect(await replicas(c)).toBe(2); // 1 wanted, held at minReplicas
    expect(await livePods(c)).toBe(2);
    expect(await events(c, 'SuccessfulRescale')).toContain('New size: 2; reason: All metrics below target');
    h = await c.get(`${V2}/web`);
    expect(condition(h, 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'TooFewReplicas' });
    expect(h.status.currentMetrics[0].resource.current.averageUtilization).toBe(10);
    expect(Date.parse(h.status.lastScaleTime)).toBe(c.clock.now().getTime() - (c.clock.now().getTime() % 1000));
  });

  it('says so in its conditions, and scales nothing, when no metrics are reported', async () => {
    const c = await cluster({ cpu: '100m' }, false);
    await c.create(`${APPS}/deployments`, web(2));
    await c.create(V2, hpa());
    await c.settle();
    await c.advance(60);
    expect(await replicas(c)).toBe(2);
    const h = await c.get(`${V2}/web`);
    expect(condition(h, 'AbleToScale')).toMatchObject({ status: 'True', reason: 'SucceededGetScale' });
    expect(condition(h, 'ScalingActive')).toMatchObject({
      status: 'False',
      reason: 'FailedGetResourceMetric',
      message: 'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API',
    });
    expect(h.status).toMatchObject({ currentReplicas: 2, desiredReplicas: 0 });
    expect(await targets(c)).toBe('cpu: <unknown>/50%');
    expect(await events(c, 'FailedComputeMetricsReplicas')).toContain(
      'invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API',
    );
    expect(await events(c, 'SuccessfulRescale')).toEqual([]);
  });

  it('brings replicas into [min, max] without metrics, and says when its target cannot be found', async () => {
    const c = await cluster({ cpu: '100m' }, false);
    await c.create(`${APPS}/deployments`, web(8));
    await c.create(V2, hpa({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'nothing' } }));
    await c.settle();
    let h = await c.get(`${V2}/web`);
    expect(condition(h, 'AbleToScale')).toMatchObject({
      status: 'False', reason: 'FailedGetScale', message: `the HPA controller was unable to get the target's current scale: deployments.apps "nothing" not found`,
    });
    h.spec.scaleTargetRef.name = 'web';
    await c.send('PUT', `${V2}/web`, h);
    await c.advance(20);
    expect(await replicas(c)).toBe(5);
    expect(await events(c, 'SuccessfulRescale')).toContain('New size: 5; reason: Current number of replicas above Spec.MaxReplicas');
  });

  it('syncs each HPA once per sync period (15 s), whatever the passes in between', async () => {
    const usage = { cpu: '10m' };
    const c = await cluster(usage);
    await c.create(`${APPS}/deployments`, web(3));
    await c.create(V2, hpa({ minReplicas: 1, maxReplicas: 10, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } }));
    await c.settle();
    await c.advance(20);
    // 3 pods at 10% of a 50% target want 1; the default scale-down policy allows 100% per 15 s.
    expect(await replicas(c)).toBe(1);
    usage.cpu = '400m';
    await c.advance(10);
    await c.settle();
    expect(await replicas(c)).toBe(1); // synced 10 s ago: nothing yet
    await c.advance(10);
    // 1 pod at 400% of its request, 8 times the target: 8 wanted; the default scale-up policies allow max(+4 pods, +100%) per 15 s.
    expect(await replicas(c)).toBe(5);
    const h = await c.get(`${V2}/web`);
    expect(h.spec.behavior).toEqual({
      scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] },
      scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    });
    expect(condition(h, 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'ScaleUpLimit' });
  });

  it('serves the same HPA as autoscaling/v1, converted both ways', async () => {
    const c = await cluster({ cpu: '100m' });
    await c.create(`${APPS}/deployments`, web(2));
    const created = await c.create(V1, {
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 5, targetCPUUtilizationPercentage: 50 },
    });
    expect(created).toMatchObject({ apiVersion: 'autoscaling/v1', spec: { minReplicas: 1, maxReplicas: 5, targetCPUUtilizationPercentage: 50 } });
    const stored = await c.get(`${V2}/web`);
    expect(stored.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }]);
    expect(stored.metadata.annotations).toBeUndefined();

    await c.settle();
    await c.advance(20);
    const v1 = await c.get(`${V1}/web`);
    expect(v1.status).toMatchObject({ currentReplicas: 2, desiredReplicas: 4, currentCPUUtilizationPercentage: 100 });
    const conditions = JSON.parse(v1.metadata.annotations['autoscaling.alpha.kubernetes.io/conditions']);
    expect(conditions.map((x: any) => x.type)).toEqual(['AbleToScale', 'ScalingActive', 'ScalingLimited']);
    expect(JSON.parse(v1.metadata.annotations['autoscaling.alpha.kubernetes.io/current-metrics'])).toEqual([
      { type: 'Resource', resource: { name: 'cpu', currentAverageUtilization: 100, currentAverageValue: '100m' } },
    ]);

    // A second metric rides in an annotation of the v1 view, and survives a v1 round trip.
    await c.send('PATCH', `${V2}/web`, { spec: { metrics: [stored.spec.metrics[0], { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } }] } }, 'application/merge-patch+json');
    const view = await c.get(`${V1}/web`);
    expect(JSON.parse(view.metadata.annotations['autoscaling.alpha.kubernetes.io/metrics'])).toEqual([
      { type: 'Resource', resource: { name: 'memory', targetAverageValue: '100Mi' } },
    ]);
    const patched = await c.send('PATCH', `${V1}/web`, { spec: { maxReplicas: 6 } }, 'application/merge-patch+json');
    expect(patched).toMatchObject({ apiVersion: 'autoscaling/v1', spec: { maxReplicas: 6, targetCPUUtilizationPercentage: 50 } });
    const replaced = await c.send('PUT', `${V1}/web`, { ...view, spec: { ...view.spec, maxReplicas: 7 }, metadata: { ...view.metadata, resourceVersion: patched.metadata.resourceVersion } });
    expect(replaced.spec.maxReplicas).toBe(7);
    const after = await c.get(`${V2}/web`);
    expect(after.spec.maxReplicas).toBe(7);
    expect(after.spec.metrics.map((m: any) => m.resource.name)).toEqual(['memory', 'cpu']);
    expect(after.metadata.annotations).toBeUndefined();

    // Lists, tables and watches in v1; the table as printHorizontalPodAutoscaler prints it.
    await c.advance(20);
    const list = await c.get(V1);
    expect(list).toMatchObject({ kind: 'HorizontalPodAutoscalerList', apiVersion: 'autoscaling/v1' });
    expect(list.items[0].apiVersion).toBe('autoscaling/v1');
    const table = await (await c.api.request(`${V1}?includeObject=Object`, { headers: TABLE })).json();
    expect(table.columnDefinitions.map((d: any) => d.name)).toEqual(['Name', 'Reference', 'Targets', 'MinPods', 'MaxPods', 'Replicas', 'Age']);
    // 32Mi a pod, as NewMilliQuantity prints bytes.
    expect(table.rows[0].cells.slice(0, 6)).toEqual(['web', 'Deployment/web', 'memory: 33554432/100Mi, cpu: 100%/50%', '1', 7, 4]);
    expect(table.rows[0].object.apiVersion).toBe('autoscaling/v1');
    const watch = await (await c.api.request(`${V1}?watch=1&timeoutSeconds=1`)).text();
    const first = JSON.parse(watch.split('\n')[0]);
    expect(first).toMatchObject({ type: 'ADDED', object: { apiVersion: 'autoscaling/v1', spec: { maxReplicas: 7 } } });

    // A body of the wrong version is refused as kube-apiserver refuses it.
    const res = await c.api.request(V1, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hpa()) });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toBe('the API version in the data (autoscaling/v2) and kind (HorizontalPodAutoscaler) do not match the expected autoscaling/v1 HorizontalPodAutoscaler');

    const strict = await c.api.request(`${V1}?fieldValidation=Strict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'typo' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 2, targetCPU: 50 } }),
    });
    expect(strict.status).toBe(400);
    expect((await strict.json()).message).toBe('strict decoding error: unknown field "spec.targetCPU"');

    await c.send('DELETE', `${V1}/web`, {});
    expect(await c.status(`${V2}/web`)).toBe(404);
  });

  it('lists autoscaling at v2 (preferred) and v1 in discovery', async () => {
    const c = await cluster({ cpu: '100m' }, false);
    const groups = await c.get('/apis');
    const autoscaling = groups.groups.find((g: any) => g.name === 'autoscaling');
    expect(autoscaling).toEqual({
      name: 'autoscaling',
      versions: [{ groupVersion: 'autoscaling/v2', version: 'v2' }, { groupVersion: 'autoscaling/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'autoscaling/v2', version: 'v2' },
    });
    for (const v of ['v1', 'v2']) {
      const list = await c.get(`/apis/autoscaling/${v}`);
      expect(list.resources.map((r: any) => r.name)).toEqual(['horizontalpodautoscalers', 'horizontalpodautoscalers/status']);
      expect(list.resources[0]).toMatchObject({ kind: 'HorizontalPodAutoscaler', shortNames: ['hpa'], categories: ['all'] });
    }
    const aggregated = await (await c.api.request('/apis', { headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' } })).json();
    const item = aggregated.items.find((i: any) => i.metadata.name === 'autoscaling');
    expect(item.versions.map((v: any) => v.version)).toEqual(['v2', 'v1']);
  });
});

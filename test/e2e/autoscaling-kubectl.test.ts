// kubectl and HorizontalPodAutoscalers against a real `skiff serve`: `kubectl autoscale` (kubectl
// 1.32 posts autoscaling/v1, as protobuf), `kubectl get hpa` as printHorizontalPodAutoscaler prints
// it, and `kubectl describe hpa` with its metrics, conditions and events when no node reports usage.
import { describe, expect, it } from 'vitest';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

if (!hasKubectl) console.warn('autoscaling-kubectl.test.ts: skipped, /usr/bin/kubectl is absent');

describe.skipIf(!hasKubectl)('kubectl and HorizontalPodAutoscalers', () => {
  const s = kubectlSession();

  it('autoscale posts autoscaling/v1; get and describe read as Kubernetes prints them', async () => {
    await s.k('create', 'deployment', 'web', '--image=nginx:1.27', '--replicas=2');
    const r = await s.run(['autoscale', 'deployment', 'web', '--cpu-percent=50', '--min=2', '--max=5', '-v=6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('horizontalpodautoscaler.autoscaling/web autoscaled\n');
    expect(r.stderr).toMatch(/POST https:\/\/[^ ]+\/apis\/autoscaling\/v1\/namespaces\/default\/horizontalpodautoscalers\?fieldManager=kubectl-autoscale 201 Created/);

    // The first sync finds no metrics: the Deployment's pods have no node to run on.
    const described = await until('the HPA to find no metrics', async () => {
      const out = await s.k('describe', 'hpa', 'web');
      return /ScalingActive\s+False/.test(out) && out;
    });
    const lines = described.split('\n');
    expect(lines).toContain('Reference:                                             Deployment/web');
    expect(lines).toContain('Metrics:                                               ( current / target )');
    expect(lines).toContain('  resource cpu on pods  (as a percentage of request):  <unknown> / 50%');
    expect(lines).toContain('Min replicas:                                          2');
    expect(lines).toContain('Max replicas:                                          5');
    expect(described).toMatch(/ {2}AbleToScale {4}True {4}SucceededGetScale {8}the HPA controller was able to get the target's current scale\n/);
    expect(described).toMatch(/ {2}ScalingActive {2}False {3}FailedGetResourceMetric {2}the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API\n/);
    expect(described).toMatch(/Warning {2}FailedGetResourceMetric +\S+ +horizontal-pod-autoscaler +failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API/);

    const table = (await s.k('get', 'hpa')).split('\n');
    expect(table[0].split(/\s+/)).toEqual(['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE']);
    expect(table[1]).toMatch(/^web\s+Deployment\/web\s+cpu: <unknown>\/50%\s+2\s+5\s+2\s+\d+s$/);
    expect(await s.jsonpath('{.spec.targetCPUUtilizationPercentage}', 'horizontalpodautoscalers.v1.autoscaling', 'web')).toBe('50');
  });
});

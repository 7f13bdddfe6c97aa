// The HorizontalPodAutoscaler's arithmetic on pod groups as the controller reads them, against cases
// of Kubernetes' replica_calculator_test.go and horizontal_test.go.
import { describe, expect, it } from 'vitest';
import type { PodGroup } from '../../src/control/hpa-reads.js';
import {
  averageValueReplicas, normalizeWithBehavior, normalizeWithoutBehavior, recordScaleEvent, tolerancesFor, utilizationReplicas, type HpaMemory,
} from '../../src/control/hpa-replicas.js';

/** One group of pods requesting `cpu` and `memory` each; counts default to all measured and ready. */
function group(over: Partial<PodGroup> & { cpu?: string; memory?: string }): PodGroup {
  const { cpu = '1', memory = '1Gi', ...rest } = over;
  const measured = rest.measured ?? rest.pods ?? 0;
  return {
    namespace: 'default', labels: { app: 'web' }, containers: [{ name: 'app', requests: { cpu, memory } }], name: 'web-abcde',
    pods: 0, metered: measured, pending: 0, missing: 0, measured, cpuUnready: 0, cpuReadyMilli: 0, memoryBytes: 0, ...rest,
  };
}

const memory = (): HpaMemory => ({ recommendations: [], scaleUp: [], scaleDown: [] });

describe('replicas from cpu utilization', () => {
  it('scales up: 3 pods at 300m, 500m, 700m of 1 cpu, target 30%', () => {
    expect(utilizationReplicas([group({ pods: 3, cpuReadyMilli: 1500 })], 'cpu', 30, 3)).toEqual({ ok: true, replicas: 5, utilization: 50, averageMilli: 500 });
  });

  it('scales up less with an unready pod, counting it as using nothing', () => {
    // ScaleUpUnreadyLessScale: readiness False, True, True at 300m, 500m, 700m.
    expect(utilizationReplicas([group({ pods: 3, cpuUnready: 1, cpuReadyMilli: 1200 })], 'cpu', 30, 3)).toEqual({ ok: true, replicas: 4, utilization: 60, averageMilli: 600 });
  });

  it('does not scale up when the unready pods, counted, bring usage within tolerance', () => {
    // 1 ready pod at 100%, 2 pending: (1000 + 0 + 0) / 3000 = 33%, a 30% target.
    expect(utilizationReplicas([group({ pods: 3, measured: 1, pending: 2, cpuReadyMilli: 1000 })], 'cpu', 30, 3)).toMatchObject({ replicas: 3 });
  });

  it('counts pods without metrics as using their whole request on a scale-down, and nothing on a scale-up', () => {
    const down = group({ pods: 4, measured: 3, missing: 1, cpuReadyMilli: 300 });
    expect(utilizationReplicas([down], 'cpu', 50, 4)).toEqual({ ok: true, replicas: 3, utilization: 10, averageMilli: 100 });
    const up = group({ pods: 4, measured: 3, missing: 1, cpuReadyMilli: 3000 });
    expect(utilizationReplicas([up], 'cpu', 50, 4)).toEqual({ ok: true, replicas: 6, utilization: 100, averageMilli: 1000 });
  });

  it('keeps the replicas within the tolerance', () => {
    expect(utilizationReplicas([group({ pods: 3, cpuReadyMilli: 1560 })], 'cpu', 50, 3)).toMatchObject({ replicas: 3, utilization: 52 });
    expect(utilizationReplicas([group({ pods: 3, cpuReadyMilli: 1680 })], 'cpu', 50, 3)).toMatchObject({ replicas: 4, utilization: 56 });
  });

  it('takes a direction\'s tolerance from the behavior where set (HPAConfigurableTolerance), else the global one', () => {
    const t = tolerancesFor({ scaleUp: { tolerance: '20m' }, scaleDown: {} }, 0.1);
    expect(t).toEqual({ scaleDown: 0.1, scaleUp: 0.02 });
    expect(utilizationReplicas([group({ pods: 3, cpuReadyMilli: 1560 })], 'cpu', 50, 3, t)).toMatchObject({ replicas: 4, utilization: 52 });
    expect(utilizationReplicas([group({ pods: 3, cpuReadyMilli: 1440 })], 'cpu', 50, 3, t)).toMatchObject({ replicas: 3, utilization: 48 });
    expect(tolerancesFor(undefined, 0.25)).toEqual({ scaleDown: 0.25, scaleUp: 0.25 });
  });

  it('sums groups of several templates (a rollout) with their own requests', () => {
    const old = group({ pods: 2, cpu: '500m', cpuReadyMilli: 1000 });
    const next = group({ pods: 2, cpu: '1', cpuReadyMilli: 1000, labels: { app: 'web', rev: '2' } });
    // 2000m used of 3000m requested: 66% of a 50% target.
    expect(utilizationReplicas([old, next], 'cpu', 50, 4)).toEqual({ ok: true, replicas: 6, utilization: 66, averageMilli: 500 });
  });

  it('says why it cannot compute, in Kubernetes words', () => {
    expect(utilizationReplicas([group({ pods: 2, measured: 0, missing: 2 })], 'cpu', 50, 2)).toEqual({
      ok: false, error: 'unable to get metrics for resource cpu: no metrics returned from resource metrics API',
    });
    expect(utilizationReplicas([group({ pods: 2, cpuUnready: 2 })], 'cpu', 50, 2)).toEqual({ ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' });
    const noRequest = { ...group({ pods: 2, cpuReadyMilli: 100 }), containers: [{ name: 'sidecar', requests: { memory: '1Gi' } }] };
    expect(utilizationReplicas([noRequest], 'cpu', 50, 2)).toEqual({ ok: false, error: 'missing request for cpu in container sidecar of Pod web-abcde' });
  });

  it('judges memory samples without the cpu readiness rules', () => {
    const g = group({ pods: 2, cpuUnready: 2, memoryBytes: 2 * 1024 ** 3, memory: '512Mi' });
    expect(utilizationReplicas([g], 'memory', 100, 2)).toMatchObject({ ok: true, replicas: 4, utilization: 200 });
  });
});

describe('replicas from an average value', () => {
  it('scales to the usage over the per-pod target', () => {
    const g = group({ pods: 2, memoryBytes: 400 * 1024 ** 2 });
    expect(averageValueReplicas([g], 'memory', 100 * 1024 ** 2 * 1000, 2)).toEqual({ ok: true, replicas: 4, averageMilli: 200 * 1024 ** 2 * 1000 });
    expect(averageValueReplicas([group({ pods: 4, cpuReadyMilli: 800 })], 'cpu', 400, 4)).toEqual({ ok: true, replicas: 2, averageMilli: 200 });
  });

  it('counts pods without metrics as using the target on a scale-down', () => {
    // 3 at 100m, one missing at 400m: 175m of 400m, 4 pods want 2.
    expect(averageValueReplicas([group({ pods: 4, measured: 3, missing: 1, cpuReadyMilli: 300 })], 'cpu', 400, 4)).toMatchObject({ replicas: 2, averageMilli: 100 });
  });
});

describe('normalization without a behavior', () => {
  it('holds the highest recommendation of the downscale window', () => {
    const mem = memory();
    const t0 = 1_000_000;
    mem.recommendations = [[5, t0]];
    let n = normalizeWithoutBehavior(mem, t0 + 100_000, 5, 2, 1, 10, 300);
    expect(n.desired).toBe(5);
    expect(n.conditions[0]).toMatchObject({ type: 'AbleToScale', reason: 'ScaleDownStabilized' });
    n = normalizeWithoutBehavior(mem, t0 + 300_001, 5, 2, 1, 10, 300);
    expect(n.desired).toBe(2);
    expect(mem.recommendations).toEqual([[2, t0 + 100_000], [2, t0 + 300_001]]);
  });

  it('limits a scale-up to twice the replicas (at least 4), and keeps min and max', () => {
    expect(normalizeWithoutBehavior(memory(), 0, 3, 20, 1, 10, 300)).toMatchObject({ desired: 6, conditions: [{}, { type: 'ScalingLimited', status: 'True', reason: 'ScaleUpLimit' }] });
    expect(normalizeWithoutBehavior(memory(), 0, 1, 20, 1, 10, 300)).toMatchObject({ desired: 4 });
    expect(normalizeWithoutBehavior(memory(), 0, 6, 20, 1, 10, 300)).toMatchObject({ desired: 10, conditions: [{}, { reason: 'TooManyReplicas' }] });
    expect(normalizeWithoutBehavior(memory(), 0, 3, 1, 2, 10, 300)).toMatchObject({ desired: 2, conditions: [{}, { reason: 'TooFewReplicas' }] });
    expect(normalizeWithoutBehavior(memory(), 0, 3, 4, 2, 10, 300)).toMatchObject({ desired: 4, conditions: [{}, { status: 'False', reason: 'DesiredWithinRange' }] });
  });
});

describe('normalization with a behavior', () => {
  const defaults = {
    scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] },
    scaleDown: { selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
  };

  it('rates scale-ups by its policies, counting the replicas added within each period', () => {
    const mem = memory();
    // From 2: max(2 + 4, 2 * 2) = 6.
    expect(normalizeWithBehavior(mem, 0, 2, 20, 1, 100, defaults, 300)).toMatchObject({ desired: 6, conditions: [{}, { reason: 'ScaleUpLimit' }] });
    recordScaleEvent(mem, defaults, 0, 2, 6);
    // 10 s later the period started at 2 still: no more than 6.
    expect(normalizeWithBehavior(mem, 10_000, 6, 20, 1, 100, defaults, 300).desired).toBe(6);
    // After it, from 6: max(10, 12) = 12.
    expect(normalizeWithBehavior(mem, 16_000, 6, 20, 1, 100, defaults, 300).desired).toBe(12);
    const min = { ...defaults, scaleUp: { ...defaults.scaleUp, selectPolicy: 'Min' } };
    expect(normalizeWithBehavior(memory(), 0, 10, 40, 1, 100, min, 300).desired).toBe(14);
    const off = { ...defaults, scaleUp: { ...defaults.scaleUp, selectPolicy: 'Disabled' } };
    expect(normalizeWithBehavior(memory(), 0, 10, 40, 1, 100, off, 300).desired).toBe(10);
  });

  it('stabilizes each direction over its own window', () => {
    const mem = memory();
    const up = { ...defaults, scaleUp: { ...defaults.scaleUp, stabilizationWindowSeconds: 60 } };
    mem.recommendations = [[3, 0]];
    // Scaling up takes the lowest recent recommendation.
    expect(normalizeWithBehavior(mem, 30_000, 3, 8, 1, 100, up, 300)).toMatchObject({ desired: 3, conditions: [{ reason: 'ScaleUpStabilized' }, {}] });
    // A minute on, the 3 has left the window: 8 wanted, max(3 + 4, 3 * 2) allowed.
    expect(normalizeWithBehavior(mem, 61_000, 3, 8, 1, 100, up, 300).desired).toBe(7);
  });

  it('rates scale-downs: Pods and Percent policies, Max picks the larger change', () => {
    const rules = { ...defaults, scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }, { type: 'Percent', value: 10, periodSeconds: 60 }] } };
    expect(normalizeWithBehavior(memory(), 0, 20, 1, 1, 100, rules, 300)).toMatchObject({ desired: 18, conditions: [{}, { reason: 'ScaleDownLimit' }] });
    const mem = memory();
    recordScaleEvent(mem, rules, 0, 20, 18);
    // Within the minute the period started at 20: 18 already is its limit.
    expect(normalizeWithBehavior(mem, 30_000, 18, 1, 1, 100, rules, 300).desired).toBe(18);
    const fewest = { ...rules, scaleDown: { ...rules.scaleDown, selectPolicy: 'Min' } };
    expect(normalizeWithBehavior(memory(), 0, 20, 1, 1, 100, fewest, 300).desired).toBe(19);
  });

  it('keeps the controller\'s downscale window where the behavior leaves it unset', () => {
    const mem = memory();
    mem.recommendations = [[5, 0]];
    expect(normalizeWithBehavior(mem, 200_000, 5, 1, 1, 100, defaults, 300).desired).toBe(5);
    expect(normalizeWithBehavior(mem, 300_001, 5, 1, 1, 100, defaults, 300).desired).toBe(1);
  });
});

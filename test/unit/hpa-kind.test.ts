// The HorizontalPodAutoscaler kind: SetDefaults_HorizontalPodAutoscaler, ValidateHorizontalPodAutoscaler's
// messages, printHorizontalPodAutoscaler's TARGETS, and the autoscaling/v1 conversion both ways.
import { describe, expect, it } from 'vitest';
import { formatHpaMetrics, horizontalPodAutoscaler as def, milliQuantity } from '../../src/kinds/horizontalpodautoscaler.js';
import { hpaFromV1, hpaToV1 } from '../../src/kinds/horizontalpodautoscaler-v1.js';

const base = () => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web', namespace: 'default' },
  spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 5 } as any,
});

const messages = (obj: any, old?: any) => {
  def.defaults!(obj);
  return def.validate!(obj, old).map((c) => `${c.field}: ${c.message}`);
};

describe('HorizontalPodAutoscaler defaults', () => {
  it('min 1 and an 80% cpu target; no behavior unless one is given', () => {
    const h = base();
    def.defaults!(h);
    expect(h.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      maxReplicas: 5,
      minReplicas: 1,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
    });
  });

  it('fills a given behavior\'s rules, leaving the scale-down window to the controller', () => {
    const h = base();
    h.spec.behavior = { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } };
    def.defaults!(h);
    expect(h.spec.behavior).toEqual({
      scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] },
      scaleDown: { selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
    });
  });
});

describe('HorizontalPodAutoscaler validation', () => {
  it('accepts a plain one', () => expect(messages(base())).toEqual([]));

  it('checks the replica bounds and the target reference', () => {
    const h = base();
    h.spec = { scaleTargetRef: { name: 'a/b' }, minReplicas: 0, maxReplicas: 0 };
    expect(messages(h)).toEqual([
      'spec.minReplicas: Invalid value: 0: must be greater than or equal to 1',
      'spec.maxReplicas: Invalid value: 0: must be greater than 0',
      'spec.scaleTargetRef.kind: Required value',
      "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
      'spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas',
    ]);
  });

  it('checks metrics as ValidateMetricSpec does', () => {
    const h = base();
    h.spec.metrics = [
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 0, averageValue: '-1' } } },
      { type: 'Pods', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } }, external: { metric: { name: 'q' }, target: { type: 'Value', value: '1' } } },
      { type: 'Bogus' },
    ];
    expect(messages(h)).toEqual([
      'spec.metrics[0].resource.target.averageValue: Invalid value: "-1": must be positive',
      'spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0',
      'spec.metrics[0].resource.target.averageValue: Forbidden: may not set both a target raw value and a target utilization',
      'spec.metrics[1].pods: Required value: must populate information for the given metric source',
      'spec.metrics[1].external: Forbidden: must populate the given metric source only',
      'spec.metrics[1].resource: Forbidden: must populate the given metric source only',
      'spec.metrics[2].type: Unsupported value: "Bogus": supported values: "ContainerResource", "External", "Object", "Pods", "Resource"',
    ]);
  });

  it('checks behavior rules', () => {
    const h = base();
    h.spec.behavior = { scaleUp: { stabilizationWindowSeconds: 3601, selectPolicy: 'Most', policies: [{ type: 'Pods', value: 0, periodSeconds: 1801 }] } };
    expect(messages(h)).toEqual([
      'spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 3601: must be less than or equal to 3600',
      'spec.behavior.scaleUp.selectPolicy: Unsupported value: "Most": supported values: "Disabled", "Max", "Min"',
      'spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero',
      'spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800',
    ]);
  });
});

describe('HorizontalPodAutoscaler printing', () => {
  it('prints TARGETS as formatHPAMetrics does', () => {
    const cpu = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } };
    const mem = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };
    const pods = { type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: '10' } } };
    expect(formatHpaMetrics([cpu], undefined)).toBe('cpu: <unknown>/80%');
    expect(formatHpaMetrics([cpu, mem], [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 50, averageValue: '50m' } } }, { type: '' }]))
      .toBe('cpu: 50%/80%, memory: <unknown>/100Mi');
    expect(formatHpaMetrics([cpu, mem, pods], [])).toBe('cpu: <unknown>/80%, memory: <unknown>/100Mi + 1 more...');
    expect(formatHpaMetrics([], [])).toBe('<none>');
    const row = def.row({ ...base(), spec: { ...base().spec, metrics: [cpu] }, status: { currentReplicas: 3 } }, new Date());
    expect(row.slice(0, 6)).toEqual(['web', 'Deployment/web', 'cpu: <unknown>/80%', '<unset>', 5, 3]);
  });

  it('writes milli-quantities as NewMilliQuantity(DecimalSI).String() does', () => {
    expect([milliQuantity(100), milliQuantity(1500), milliQuantity(2000), milliQuantity(64_000_000_000), milliQuantity(67_108_864_000), milliQuantity(0)])
      .toEqual(['100m', '1500m', '2', '64M', '67108864', '0']);
  });
});

describe('autoscaling/v1', () => {
  const stored = () => {
    const h: any = base();
    h.spec.metrics = [
      { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } },
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
    ];
    h.spec.behavior = { scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 50, periodSeconds: 30 }] } };
    h.status = {
      currentReplicas: 3,
      desiredReplicas: 4,
      currentMetrics: [
        { type: 'Resource', resource: { name: 'memory', current: { averageValue: '50Mi' } } },
        { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 90, averageValue: '90m' } } },
      ],
      conditions: [{ type: 'AbleToScale', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'SucceededRescale', message: 'm' }],
    };
    return h;
  };

  it('shows the cpu target and utilization, and the rest in annotations', () => {
    const v1 = hpaToV1(stored());
    expect(v1.apiVersion).toBe('autoscaling/v1');
    expect(v1.spec).toEqual({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 5, targetCPUUtilizationPercentage: 60 });
    expect(v1.status).toEqual({ currentReplicas: 3, desiredReplicas: 4, currentCPUUtilizationPercentage: 90 });
    const a = v1.metadata!.annotations!;
    expect(JSON.parse(a['autoscaling.alpha.kubernetes.io/metrics'])).toEqual([{ type: 'Resource', resource: { name: 'memory', targetAverageValue: '100Mi' } }]);
    expect(JSON.parse(a['autoscaling.alpha.kubernetes.io/current-metrics'])).toEqual([
      { type: 'Resource', resource: { name: 'memory', currentAverageValue: '50Mi' } },
      { type: 'Resource', resource: { name: 'cpu', currentAverageUtilization: 90, currentAverageValue: '90m' } },
    ]);
    expect(JSON.parse(a['autoscaling.alpha.kubernetes.io/behavior'])).toEqual({
      ScaleDown: { StabilizationWindowSeconds: 60, SelectPolicy: 'Max', Policies: [{ Type: 'Percent', Value: 50, PeriodSeconds: 30 }] },
    });
  });

  it('converts back to what was stored', () => {
    const h = stored();
    expect(hpaFromV1(hpaToV1(h))).toEqual(h);
  });

  it('takes a plain v1 object: the cpu target, or 80% when none', () => {
    const v1 = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'x' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'x' }, maxReplicas: 3 } };
    expect(hpaFromV1(v1).spec).toEqual({
      scaleTargetRef: { kind: 'Deployment', name: 'x' }, maxReplicas: 3,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
    });
    const withCpu = { ...v1, spec: { ...v1.spec, targetCPUUtilizationPercentage: 40 } };
    expect((hpaFromV1(withCpu).spec as any).metrics[0].resource.target.averageUtilization).toBe(40);
  });
});

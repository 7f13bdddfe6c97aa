// autoscaling/v2 HorizontalPodAutoscaler: defaults (SetDefaults_HorizontalPodAutoscaler), validation
// (ValidateHorizontalPodAutoscaler) and printHorizontalPodAutoscaler. Also served as autoscaling/v1,
// converted as kube-apiserver converts it (horizontalpodautoscaler-v1.ts).
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { hpaFromV1, hpaToV1 } from './horizontalpodautoscaler-v1.js';
import { parseQuantity } from './quantity.js';
import {
  forbidden, invalid, isDNS1123Label, isValidPathSegmentName, notSupported, required, validateLabelSelector, validateMetadata,
} from './validation.js';

export interface CrossVersionObjectReference { apiVersion?: string; kind?: string; name?: string }
export interface MetricIdentifier { name?: string; selector?: unknown }
export interface MetricTarget { type?: string; value?: string; averageValue?: string; averageUtilization?: number }
export interface MetricValueStatus { value?: string; averageValue?: string; averageUtilization?: number }

export interface MetricSpec {
  type?: string;
  resource?: { name?: string; target?: MetricTarget };
  containerResource?: { name?: string; container?: string; target?: MetricTarget };
  pods?: { metric?: MetricIdentifier; target?: MetricTarget };
  object?: { describedObject?: CrossVersionObjectReference; metric?: MetricIdentifier; target?: MetricTarget };
  external?: { metric?: MetricIdentifier; target?: MetricTarget };
}

export interface MetricStatus {
  type?: string;
  resource?: { name?: string; current?: MetricValueStatus };
  containerResource?: { name?: string; container?: string; current?: MetricValueStatus };
  pods?: { metric?: MetricIdentifier; current?: MetricValueStatus };
  object?: { describedObject?: CrossVersionObjectReference; metric?: MetricIdentifier; current?: MetricValueStatus };
  external?: { metric?: MetricIdentifier; current?: MetricValueStatus };
}

export interface ScalingPolicy { type?: string; value?: number; periodSeconds?: number }
export interface ScalingRules { stabilizationWindowSeconds?: number; selectPolicy?: string; policies?: ScalingPolicy[]; tolerance?: string }

export interface HpaCondition { type: string; status: string; lastTransitionTime?: string; reason?: string; message?: string }

export interface HpaSpec {
  scaleTargetRef?: CrossVersionObjectReference;
  minReplicas?: number;
  maxReplicas?: number;
  metrics?: MetricSpec[];
  behavior?: { scaleUp?: ScalingRules; scaleDown?: ScalingRules };
}

export interface HpaStatus {
  observedGeneration?: number;
  lastScaleTime?: string;
  currentReplicas?: number;
  desiredReplicas?: number;
  currentMetrics?: MetricStatus[];
  conditions?: HpaCondition[];
}

/** autoscaling.DefaultCPUUtilization: the target of an HPA that names no metric. */
export const DEFAULT_CPU_UTILIZATION = 80;

/** MaxPeriodSeconds and MaxStabilizationWindowSeconds of autoscaling's validation. */
const MAX_PERIOD_SECONDS = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS = 3600;

const METRIC_SOURCE_TYPES = ['ContainerResource', 'External', 'Object', 'Pods', 'Resource'];
/** The member of a MetricSpec that each source type populates. */
const SOURCE_FIELD: Record<string, keyof MetricSpec> = {
  Object: 'object', Pods: 'pods', Resource: 'resource', External: 'external', ContainerResource: 'containerResource',
};

/** The scale-up rules the API fills in where a behavior leaves them out. */
export function defaultScaleUpRules(): ScalingRules {
  return { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] };
}

/** The scale-down rules the API fills in; the stabilization window stays unset (the controller's --horizontal-pod-autoscaler-downscale-stabilization). */
export function defaultScaleDownRules(): ScalingRules {
  return { selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] };
}

/** copyHPAScalingRules: the given fields over the defaults. */
function withDefaults(given: ScalingRules | undefined, defaults: ScalingRules): ScalingRules {
  if (!given) return defaults;
  const out = { ...defaults };
  if (given.selectPolicy !== undefined) out.selectPolicy = given.selectPolicy;
  if (given.stabilizationWindowSeconds !== undefined) out.stabilizationWindowSeconds = given.stabilizationWindowSeconds;
  if (given.policies !== undefined && given.policies !== null) out.policies = given.policies;
  if (given.tolerance !== undefined) out.tolerance = given.tolerance;
  return out;
}

function defaultHpa(hpa: any): void {
  const spec = (hpa.spec ??= {}) as HpaSpec;
  spec.minReplicas ??= 1;
  if (!Array.isArray(spec.metrics) || spec.metrics.length === 0) {
    spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } } }];
  }
  // Only a behavior that is given is filled in: without one the controller keeps its older rules.
  if (spec.behavior && typeof spec.behavior === 'object') {
    spec.behavior.scaleUp = withDefaults(spec.behavior.scaleUp, defaultScaleUpRules());
    spec.behavior.scaleDown = withDefaults(spec.behavior.scaleDown, defaultScaleDownRules());
  }
}

function validateReference(ref: CrossVersionObjectReference | undefined, path: string): Cause[] {
  const causes: Cause[] = [];
  for (const field of ['kind', 'name'] as const) {
    const v = ref?.[field];
    if (!v) causes.push(required(`${path}.${field}`));
    else for (const m of isValidPathSegmentName(String(v))) causes.push(invalid(`${path}.${field}`, v, m));
  }
  return causes;
}

const positive = (q: unknown) => (parseQuantity(q) ?? 0) > 0;

function validateTarget(t: MetricTarget | undefined, path: string): Cause[] {
  const causes: Cause[] = [];
  const type = t?.type ?? '';
  if (!type) causes.push(required(`${path}.type`, 'must specify a metric target type'));
  if (!['Utilization', 'Value', 'AverageValue'].includes(type)) causes.push(invalid(`${path}.type`, type, 'must be either Utilization, Value, or AverageValue'));
  if (t?.value !== undefined && !positive(t.value)) causes.push(invalid(`${path}.value`, String(t.value), 'must be positive'));
  if (t?.averageValue !== undefined && !positive(t.averageValue)) causes.push(invalid(`${path}.averageValue`, String(t.averageValue), 'must be positive'));
  if (t?.averageUtilization !== undefined && t.averageUtilization < 1) causes.push(invalid(`${path}.averageUtilization`, t.averageUtilization, 'must be greater than 0'));
  return causes;
}

function validateIdentifier(id: MetricIdentifier | undefined, path: string): Cause[] {
  if (!id?.name) return [required(`${path}.name`, 'must specify a metric name')];
  const causes = isValidPathSegmentName(id.name).map((m) => invalid(`${path}.name`, id.name, m));
  if (id.selector) causes.push(...validateLabelSelector(id.selector as never, `${path}.selector`));
  return causes;
}

function validateSource(kind: keyof MetricSpec, src: any, path: string): Cause[] {
  const t: MetricTarget | undefined = src?.target;
  const causes: Cause[] = [];
  switch (kind) {
    case 'resource':
    case 'containerResource':
      if (!src?.name) causes.push(required(`${path}.name`, 'must specify a resource name'));
      if (kind === 'containerResource') {
        if (!src?.container) causes.push(required(`${path}.container`, 'must specify a container'));
        else causes.push(...isDNS1123Label(src.container).map((m) => invalid(`${path}.container`, src.container, m)));
      }
      causes.push(...validateTarget(t, `${path}.target`));
      if (t?.averageUtilization === undefined && t?.averageValue === undefined) {
        causes.push(required(`${path}.target.averageUtilization`, 'must set either a target raw value or a target utilization'));
      }
      if (t?.averageUtilization !== undefined && t?.averageValue !== undefined) {
        causes.push(forbidden(`${path}.target.averageValue`, 'may not set both a target raw value and a target utilization'));
      }
      break;
    case 'pods':
      causes.push(...validateIdentifier(src?.metric, `${path}.metric`), ...validateTarget(t, `${path}.target`));
      if (t?.averageValue === undefined) causes.push(required(`${path}.target.averageValue`, 'must specify a positive target averageValue'));
      break;
    case 'object':
      causes.push(...validateReference(src?.describedObject, `${path}.describedObject`), ...validateIdentifier(src?.metric, `${path}.metric`), ...validateTarget(t, `${path}.target`));
      if (t?.value === undefined && t?.averageValue === undefined) causes.push(required(`${path}.target.averageValue`, 'must set either a target value or averageValue'));
      break;
    case 'external':
      causes.push(...validateIdentifier(src?.metric, `${path}.metric`), ...validateTarget(t, `${path}.target`));
      if (t?.value === undefined && t?.averageValue === undefined) causes.push(required(`${path}.target.averageValue`, 'must set either a target value for metric or a per-pod target'));
      if (t?.value !== undefined && t?.averageValue !== undefined) causes.push(forbidden(`${path}.target.value`, 'may not set both a target value for metric and a per-pod target'));
      break;
  }
  return causes;
}

function validateMetric(m: MetricSpec, path: string): Cause[] {
  const causes: Cause[] = [];
  const type = m?.type ?? '';
  if (!type) causes.push(required(`${path}.type`, 'must specify a metric source type'));
  // In validateMetricSpec's order: the first source present is the one validated.
  const present = (['object', 'external', 'pods', 'resource', 'containerResource'] as const).filter((f) => m?.[f] !== undefined && m?.[f] !== null);
  if (present.length > 0) causes.push(...validateSource(present[0], m[present[0]], `${path}.${present[0]}`));
  const expected = SOURCE_FIELD[type];
  if (!expected) causes.push(notSupported(`${path}.type`, type, METRIC_SOURCE_TYPES));
  else if (m[expected] === undefined || m[expected] === null) causes.push(required(`${path}.${expected}`, 'must populate information for the given metric source'));
  if (present.length > 1) for (const f of present.filter((f) => f !== expected)) causes.push(forbidden(`${path}.${f}`, 'must populate the given metric source only'));
  return causes;
}

function validateRules(rules: ScalingRules | undefined, path: string): Cause[] {
  if (!rules) return [];
  const causes: Cause[] = [];
  const window = rules.stabilizationWindowSeconds;
  if (window !== undefined && window < 0) causes.push(invalid(`${path}.stabilizationWindowSeconds`, window, 'must be greater than or equal to zero'));
  if (window !== undefined && window > MAX_STABILIZATION_WINDOW_SECONDS) {
    causes.push(invalid(`${path}.stabilizationWindowSeconds`, window, `must be less than or equal to ${MAX_STABILIZATION_WINDOW_SECONDS}`));
  }
  if (rules.selectPolicy !== undefined && !['Disabled', 'Max', 'Min'].includes(rules.selectPolicy)) {
    causes.push(notSupported(`${path}.selectPolicy`, rules.selectPolicy, ['Disabled', 'Max', 'Min']));
  }
  if (!rules.policies?.length) causes.push(required(`${path}.policies`, 'must specify at least one Policy'));
  (rules.policies ?? []).forEach((p, i) => {
    const at = `${path}.policies[${i}]`;
    if (p?.type !== 'Pods' && p?.type !== 'Percent') causes.push(notSupported(`${at}.type`, p?.type ?? '', ['Percent', 'Pods']));
    if (!((p?.value ?? 0) > 0)) causes.push(invalid(`${at}.value`, p?.value ?? 0, 'must be greater than zero'));
    if (!((p?.periodSeconds ?? 0) > 0)) causes.push(invalid(`${at}.periodSeconds`, p?.periodSeconds ?? 0, 'must be greater than zero'));
    if ((p?.periodSeconds ?? 0) > MAX_PERIOD_SECONDS) causes.push(invalid(`${at}.periodSeconds`, p.periodSeconds, `must be less than or equal to ${MAX_PERIOD_SECONDS}`));
  });
  return causes;
}

function validateHpa(hpa: any, old?: any): Cause[] {
  const spec = (hpa.spec ?? {}) as HpaSpec;
  const causes = [...validateMetadata(hpa)];
  // The HPAScaleToZero gate is off: 1 is the least, unless the stored object already had 0.
  const lowest = old?.spec?.minReplicas === 0 ? 0 : 1;
  if (spec.minReplicas !== undefined && spec.minReplicas < lowest) {
    causes.push(invalid('spec.minReplicas', spec.minReplicas, `must be greater than or equal to ${lowest}`));
  }
  const max = spec.maxReplicas ?? 0;
  if (max < 1) causes.push(invalid('spec.maxReplicas', max, 'must be greater than 0'));
  if (spec.minReplicas !== undefined && max < spec.minReplicas) causes.push(invalid('spec.maxReplicas', max, 'must be greater than or equal to `minReplicas`'));
  causes.push(...validateReference(spec.scaleTargetRef, 'spec.scaleTargetRef'));
  (spec.metrics ?? []).forEach((m, i) => causes.push(...validateMetric(m, `spec.metrics[${i}]`)));
  if (spec.minReplicas === 0 && !(spec.metrics ?? []).some((m) => m?.type === 'Object' || m?.type === 'External')) {
    causes.push(forbidden('spec.metrics', 'must specify at least one Object or External metric to support scaling to zero replicas'));
  }
  if (spec.behavior) {
    causes.push(...validateRules(spec.behavior.scaleUp, 'spec.behavior.scaleUp'), ...validateRules(spec.behavior.scaleDown, 'spec.behavior.scaleDown'));
  }
  const status = (hpa.status ?? {}) as HpaStatus;
  if ((status.currentReplicas ?? 0) < 0) causes.push(invalid('status.currentReplicas', status.currentReplicas, 'must be greater than or equal to 0'));
  if ((status.desiredReplicas ?? 0) < 0) causes.push(invalid('status.desiredReplicas', status.desiredReplicas, 'must be greater than or equal to 0'));
  return causes;
}

/** resource.NewMilliQuantity(n, DecimalSI).String(): "100m", "2", "64M", "67108864". */
export function milliQuantity(milli: number): string {
  const n = Math.round(milli);
  if (n % 1000 !== 0) return `${n}m`;
  let whole = n / 1000;
  const suffixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let i = 0;
  while (whole !== 0 && whole % 1000 === 0 && i < suffixes.length - 1) {
    whole /= 1000;
    i++;
  }
  return `${whole}${suffixes[i]}`;
}

/** formatHPAMetrics: each metric as "current/target", the first two, then "+ N more...". */
export function formatHpaMetrics(specs: MetricSpec[] | undefined, statuses: MetricStatus[] | undefined): string {
  if (!specs?.length) return '<none>';
  const cur = (i: number) => statuses?.[i];
  const list = specs.map((spec, i): string => {
    const s = cur(i);
    switch (spec.type) {
      case 'External': {
        const t = spec.external?.target ?? {};
        if (t.averageValue !== undefined) return `${s?.external?.current?.averageValue ?? '<unknown>'}/${t.averageValue} (avg)`;
        return `${s?.external ? (s.external.current?.value ?? '0') : '<unknown>'}/${t.value ?? '0'}`;
      }
      case 'Pods':
        return `${s?.pods ? (s.pods.current?.averageValue ?? '0') : '<unknown>'}/${spec.pods?.target?.averageValue ?? '0'}`;
      case 'Object': {
        const t = spec.object?.target ?? {};
        if (t.averageValue !== undefined) return `${s?.object?.current?.averageValue ?? '<unknown>'}/${t.averageValue} (avg)`;
        return `${s?.object ? (s.object.current?.value ?? '0') : '<unknown>'}/${t.value ?? '0'}`;
      }
      case 'Resource':
      case 'ContainerResource': {
        const src = spec.type === 'Resource' ? spec.resource : spec.containerResource;
        const st = spec.type === 'Resource' ? s?.resource : s?.containerResource;
        const name = spec.type === 'Resource' ? String(src?.name ?? '') : `${src?.name ?? ''}/${spec.containerResource?.container ?? ''}`;
        const t = src?.target ?? {};
        if (t.averageValue !== undefined) return `${name}: ${st ? (st.current?.averageValue ?? '0') : '<unknown>'}/${t.averageValue}`;
        const current = st?.current?.averageUtilization !== undefined ? `${st.current.averageUtilization}%` : '<unknown>';
        const target = t.averageUtilization !== undefined ? `${t.averageUtilization}%` : '<auto>';
        return `${name}: ${current}/${target}`;
      }
      default:
        return '<unknown type>';
    }
  });
  return list.length > 2 ? `${list.slice(0, 2).join(', ')} + ${list.length - 2} more...` : list.join(', ');
}

export const horizontalPodAutoscaler: KindDef = {
  kind: 'HorizontalPodAutoscaler',
  group: 'autoscaling',
  version: 'v2',
  plural: 'horizontalpodautoscalers',
  singular: 'horizontalpodautoscaler',
  namespaced: true,
  shortNames: ['hpa'],
  categories: ['all'],
  subresources: ['status'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultHpa,
  validate: validateHpa,
  servedVersions: [{ version: 'v1', toStored: hpaFromV1, fromStored: hpaToV1 }],
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Reference', type: 'string', description: 'scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.', priority: 0 },
    { name: 'Targets', type: 'string', description: 'metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).', priority: 0 },
    { name: 'MinPods', type: 'string', description: 'minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.', priority: 0 },
    { name: 'MaxPods', type: 'integer', description: 'maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.', priority: 0 },
    { name: 'Replicas', type: 'integer', description: 'currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (o, now) => {
    const spec = (o?.spec ?? {}) as HpaSpec;
    const status = (o?.status ?? {}) as HpaStatus;
    return [
      o?.metadata?.name ?? '',
      `${spec.scaleTargetRef?.kind ?? ''}/${spec.scaleTargetRef?.name ?? ''}`,
      formatHpaMetrics(spec.metrics, status.currentMetrics),
      spec.minReplicas !== undefined ? String(spec.minReplicas) : '<unset>',
      spec.maxReplicas ?? 0,
      status.currentReplicas ?? 0,
      age(o?.metadata?.creationTimestamp, now),
    ];
  },
};

// autoscaling/v1 HorizontalPodAutoscaler, converted to and from the stored autoscaling/v2 as
// kube-apiserver converts it (pkg/apis/autoscaling/v1/conversion.go): targetCPUUtilizationPercentage
// is the cpu Utilization metric; the other metrics, the current metrics, the conditions and the
// behavior ride in autoscaling.alpha.kubernetes.io/... annotations, in v1's older metric shapes, so a
// v1 client that writes back what it read loses nothing.
import type { KObject } from './types.js';

export const METRICS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/metrics';
export const CURRENT_METRICS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/current-metrics';
export const CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions';
export const BEHAVIOR_ANNOTATION = 'autoscaling.alpha.kubernetes.io/behavior';

const DEFAULT_CPU_UTILIZATION = 80;

type Json = Record<string, any>;

/** Drops undefined members, so converted objects carry no `"x": undefined`. */
function compact<T extends Json>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

const isCpuUtilization = (m: Json) => m?.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.target?.averageUtilization !== undefined;

// ---- metric specs and statuses: v2 <-> v1's shapes

function specToV1(m: Json): Json {
  const t = (src: Json | undefined) => (src?.target ?? {}) as Json;
  switch (m.type) {
    case 'Resource':
      return { type: m.type, resource: compact({ name: m.resource?.name, targetAverageUtilization: t(m.resource).averageUtilization, targetAverageValue: t(m.resource).averageValue }) };
    case 'ContainerResource':
      return { type: m.type, containerResource: compact({ name: m.containerResource?.name, container: m.containerResource?.container, targetAverageUtilization: t(m.containerResource).averageUtilization, targetAverageValue: t(m.containerResource).averageValue }) };
    case 'Pods':
      return { type: m.type, pods: compact({ metricName: m.pods?.metric?.name, selector: m.pods?.metric?.selector, targetAverageValue: t(m.pods).averageValue ?? '0' }) };
    case 'Object':
      return { type: m.type, object: compact({ target: m.object?.describedObject ?? {}, metricName: m.object?.metric?.name, selector: m.object?.metric?.selector, targetValue: t(m.object).value ?? '0', averageValue: t(m.object).averageValue }) };
    case 'External':
      return { type: m.type, external: compact({ metricName: m.external?.metric?.name, metricSelector: m.external?.metric?.selector, targetValue: t(m.external).value, targetAverageValue: t(m.external).averageValue }) };
    default:
      return { type: m.type };
  }
}

function specFromV1(m: Json): Json {
  const metric = (name: unknown, selector: unknown) => compact({ name, selector });
  switch (m.type) {
    case 'Resource': {
      const r = m.resource ?? {};
      const type = r.targetAverageUtilization === undefined ? 'AverageValue' : 'Utilization';
      return { type: m.type, resource: { name: r.name, target: compact({ type, averageUtilization: r.targetAverageUtilization, averageValue: r.targetAverageValue }) } };
    }
    case 'ContainerResource': {
      const r = m.containerResource ?? {};
      const type = r.targetAverageUtilization === undefined ? 'AverageValue' : 'Utilization';
      return { type: m.type, containerResource: { name: r.name, container: r.container, target: compact({ type, averageUtilization: r.targetAverageUtilization, averageValue: r.targetAverageValue }) } };
    }
    case 'Pods':
      return { type: m.type, pods: { metric: metric(m.pods?.metricName, m.pods?.selector), target: { type: 'AverageValue', averageValue: m.pods?.targetAverageValue } } };
    case 'Object': {
      const o = m.object ?? {};
      const type = o.averageValue === undefined ? 'Value' : 'AverageValue';
      return { type: m.type, object: { describedObject: o.target, metric: metric(o.metricName, o.selector), target: compact({ type, value: o.targetValue, averageValue: o.averageValue }) } };
    }
    case 'External': {
      const e = m.external ?? {};
      const type = e.targetValue === undefined ? 'AverageValue' : 'Value';
      return { type: m.type, external: { metric: metric(e.metricName, e.metricSelector), target: compact({ type, value: e.targetValue, averageValue: e.targetAverageValue }) } };
    }
    default:
      return { type: m.type };
  }
}

function statusToV1(m: Json): Json {
  const c = (src: Json | undefined) => (src?.current ?? {}) as Json;
  switch (m.type) {
    case 'Resource':
      return { type: m.type, resource: compact({ name: m.resource?.name, currentAverageUtilization: c(m.resource).averageUtilization, currentAverageValue: c(m.resource).averageValue ?? '0' }) };
    case 'ContainerResource':
      return { type: m.type, containerResource: compact({ name: m.containerResource?.name, container: m.containerResource?.container, currentAverageUtilization: c(m.containerResource).averageUtilization, currentAverageValue: c(m.containerResource).averageValue ?? '0' }) };
    case 'Pods':
      return { type: m.type, pods: compact({ metricName: m.pods?.metric?.name, selector: m.pods?.metric?.selector, currentAverageValue: c(m.pods).averageValue ?? '0' }) };
    case 'Object':
      return { type: m.type, object: compact({ target: m.object?.describedObject ?? {}, metricName: m.object?.metric?.name, selector: m.object?.metric?.selector, currentValue: c(m.object).value ?? '0', averageValue: c(m.object).averageValue }) };
    case 'External':
      return { type: m.type, external: compact({ metricName: m.external?.metric?.name, metricSelector: m.external?.metric?.selector, currentValue: c(m.external).value ?? '0', currentAverageValue: c(m.external).averageValue }) };
    default:
      return { type: m.type };
  }
}

function statusFromV1(m: Json): Json {
  const metric = (name: unknown, selector: unknown) => compact({ name, selector });
  switch (m.type) {
    case 'Resource':
      return { type: m.type, resource: { name: m.resource?.name, current: compact({ averageUtilization: m.resource?.currentAverageUtilization, averageValue: m.resource?.currentAverageValue }) } };
    case 'ContainerResource': {
      const r = m.containerResource ?? {};
      return { type: m.type, containerResource: { name: r.name, container: r.container, current: compact({ averageUtilization: r.currentAverageUtilization, averageValue: r.currentAverageValue }) } };
    }
    case 'Pods':
      return { type: m.type, pods: { metric: metric(m.pods?.metricName, m.pods?.selector), current: { averageValue: m.pods?.currentAverageValue } } };
    case 'Object': {
      const o = m.object ?? {};
      return { type: m.type, object: { describedObject: o.target, metric: metric(o.metricName, o.selector), current: compact({ value: o.currentValue, averageValue: o.averageValue }) } };
    }
    case 'External': {
      const e = m.external ?? {};
      return { type: m.type, external: { metric: metric(e.metricName, e.metricSelector), current: compact({ value: e.currentValue, averageValue: e.currentAverageValue }) } };
    }
    default:
      return { type: m.type };
  }
}

// ---- behavior: kube-apiserver marshals its internal type, whose JSON keys are Go's field names

const GO_NAMES: Record<string, string> = {
  scaleUp: 'ScaleUp', scaleDown: 'ScaleDown', stabilizationWindowSeconds: 'StabilizationWindowSeconds', selectPolicy: 'SelectPolicy',
  policies: 'Policies', tolerance: 'Tolerance', type: 'Type', value: 'Value', periodSeconds: 'PeriodSeconds',
};
const JSON_NAMES = Object.fromEntries(Object.entries(GO_NAMES).map(([k, v]) => [v.toLowerCase(), k]));

function renameKeys(v: unknown, name: (k: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => renameKeys(x, name));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [name(k), renameKeys(x, name)]));
}

function parseAnnotation(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** The stored (autoscaling/v2) object as autoscaling/v1 serves it. */
export function hpaToV1(obj: KObject): KObject {
  const spec = (obj.spec ?? {}) as Json;
  const status = (obj.status ?? {}) as Json;
  const metrics: Json[] = Array.isArray(spec.metrics) ? spec.metrics : [];
  const current: Json[] = Array.isArray(status.currentMetrics) ? status.currentMetrics : [];
  const conditions: Json[] = Array.isArray(status.conditions) ? status.conditions : [];
  const others = metrics.filter((m) => !isCpuUtilization(m)).map(specToV1);
  const annotations: Record<string, string> = { ...(obj.metadata?.annotations ?? {}) };
  if (others.length) annotations[METRICS_ANNOTATION] = JSON.stringify(others);
  if (current.length) annotations[CURRENT_METRICS_ANNOTATION] = JSON.stringify(current.map(statusToV1));
  if (conditions.length) annotations[CONDITIONS_ANNOTATION] = JSON.stringify(conditions);
  if (spec.behavior) annotations[BEHAVIOR_ANNOTATION] = JSON.stringify(renameKeys(spec.behavior, (k) => GO_NAMES[k] ?? k));
  const cpu = metrics.find((m) => m?.type === 'Resource' && m.resource?.name === 'cpu');
  const cpuNow = current.find((m) => m?.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.current?.averageUtilization !== undefined);
  const metadata = { ...obj.metadata };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  return {
    ...obj,
    apiVersion: 'autoscaling/v1',
    metadata,
    spec: compact({
      scaleTargetRef: spec.scaleTargetRef,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      targetCPUUtilizationPercentage: cpu?.resource?.target?.averageUtilization,
    }),
    ...(obj.status !== undefined ? {
      status: compact({
        observedGeneration: status.observedGeneration,
        lastScaleTime: status.lastScaleTime,
        currentReplicas: status.currentReplicas ?? 0,
        desiredReplicas: status.desiredReplicas ?? 0,
        currentCPUUtilizationPercentage: cpuNow?.resource?.current?.averageUtilization,
      }),
    } : {}),
  };
}

/**
 * An autoscaling/v1 object (as a client sends it) as stored: apiVersion autoscaling/v2. Only what
 * looks like an HPA is converted; anything else goes on as sent, for validation to refuse.
 */
export function hpaFromV1(obj: KObject): KObject {
  const spec = (obj.spec ?? {}) as Json;
  const status = (obj.status ?? undefined) as Json | undefined;
  const annotations: Record<string, string> = { ...(obj.metadata?.annotations ?? {}) };
  const take = (key: string) => {
    const v = parseAnnotation(annotations[key]);
    delete annotations[key];
    return v;
  };
  const others = take(METRICS_ANNOTATION);
  const current = take(CURRENT_METRICS_ANNOTATION);
  const conditions = take(CONDITIONS_ANNOTATION);
  const behavior = take(BEHAVIOR_ANNOTATION);

  const metrics: Json[] = Array.isArray(others) ? others.map(specFromV1) : [];
  if (spec.targetCPUUtilizationPercentage !== undefined && spec.targetCPUUtilizationPercentage !== null) {
    metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: spec.targetCPUUtilizationPercentage } } });
  }
  // v1 had the 80% cpu target implicit; with the annotation's metrics in hand it is applied here, as kube-apiserver does.
  if (metrics.length === 0) {
    metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } } });
  }
  const metadata = { ...obj.metadata };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  else delete metadata.annotations;

  let v2Status: Json | undefined;
  if (status && typeof status === 'object') {
    let currentMetrics: Json[] | undefined;
    if (Array.isArray(current)) currentMetrics = current.map(statusFromV1);
    else if (status.currentCPUUtilizationPercentage !== undefined && status.currentCPUUtilizationPercentage !== null) {
      currentMetrics = [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: status.currentCPUUtilizationPercentage } } }];
    }
    v2Status = compact({
      observedGeneration: status.observedGeneration,
      lastScaleTime: status.lastScaleTime,
      currentReplicas: status.currentReplicas,
      desiredReplicas: status.desiredReplicas,
      currentMetrics,
      conditions: Array.isArray(conditions) ? conditions : undefined,
    });
  }
  const out: KObject = {
    ...obj,
    apiVersion: 'autoscaling/v2',
    metadata,
    spec: compact({
      scaleTargetRef: spec.scaleTargetRef,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      metrics,
      behavior: behavior && typeof behavior === 'object' ? renameKeys(behavior, (k) => JSON_NAMES[k.toLowerCase()] ?? k) : undefined,
    }),
  };
  if (v2Status) out.status = v2Status;
  else delete out.status;
  return out;
}

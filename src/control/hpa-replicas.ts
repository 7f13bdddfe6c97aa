// The HorizontalPodAutoscaler's arithmetic, as kube-controller-manager's podautoscaler does it
// (replica_calculator.go, horizontal.go): replicas from resource usage over the pod groups read in
// SQL (hpa-reads.ts), then normalized with the stabilization windows, min/max and the behavior
// policies' rates. Pure functions over numbers and the controller's memory, kept in hpa_state.
import type { ScalingRules } from '../kinds/horizontalpodautoscaler.js';
import { milliValue, parseQuantity } from '../kinds/quantity.js';
import type { PodGroup } from './hpa-reads.js';

/** How far below and above 1 a usage ratio may be and change nothing (Tolerances). */
export interface Tolerances {
  scaleDown: number;
  scaleUp: number;
}

/** --horizontal-pod-autoscaler-tolerance's default both ways: usage within 10% of the target changes nothing. */
const DEFAULT_TOLERANCES: Tolerances = { scaleDown: 0.1, scaleUp: 0.1 };

/**
 * tolerancesForHpa: the global tolerance (--horizontal-pod-autoscaler-tolerance), or for a direction
 * the behavior's own (behavior.scaleUp/scaleDown.tolerance, HPAConfigurableTolerance) where set.
 */
export function tolerancesFor(behavior: { scaleUp?: ScalingRules; scaleDown?: ScalingRules } | undefined, global: number): Tolerances {
  // Quantity.AsApproximateFloat64.
  const of = (rules: ScalingRules | undefined) => (rules?.tolerance === undefined ? undefined : parseQuantity(rules.tolerance)) ?? global;
  return { scaleDown: of(behavior?.scaleDown), scaleUp: of(behavior?.scaleUp) };
}

/** A usage ratio within the tolerances (Tolerances.isWithin). */
export const within = (ratio: number, t: Tolerances = DEFAULT_TOLERANCES) => 1 - t.scaleDown <= ratio && ratio <= 1 + t.scaleUp;

export type Calc =
  | { ok: true; replicas: number; utilization?: number; averageMilli: number }
  | { ok: false; error: string };

/** What groupPods and the metrics make of the groups for one resource: counts and sums. */
interface Classified {
  metered: number;
  pods: number;
  /** Measured pods whose sample counts (readyPodCount), their usage summed (milli-units), and the groups they are in. */
  ready: number;
  readySum: number;
  unready: number;
  missing: number;
}

function classify(groups: PodGroup[], resource: string): Classified {
  const cpu = resource === 'cpu';
  const c: Classified = { metered: 0, pods: 0, ready: 0, readySum: 0, unready: 0, missing: 0 };
  for (const g of groups) {
    c.metered += g.metered;
    c.pods += g.pods;
    c.ready += cpu ? g.measured - g.cpuUnready : g.measured;
    // Quantity.MilliValue of the usage: millicores of cpu, thousandths of a byte of memory.
    c.readySum += cpu ? g.cpuReadyMilli : g.memoryBytes * 1000;
    c.unready += g.pending + (cpu ? g.cpuUnready : 0);
    c.missing += g.missing;
  }
  return c;
}

/** Each group's per-pod request of `resource` (milli-units), or the error calculateRequests gives. */
function requestsOf(groups: PodGroup[], resource: string): Map<PodGroup, number> | string {
  const out = new Map<PodGroup, number>();
  for (const g of groups) {
    let sum = 0;
    for (const c of g.containers) {
      const q = c.requests?.[resource];
      const v = q === undefined ? undefined : milliValue(q);
      if (v === undefined) return `missing request for ${resource} in container ${c.name} of Pod ${g.name}`;
      sum += v;
    }
    out.set(g, sum);
  }
  return out;
}

/** Before the pods: what GetResourceMetric and the pod list say when there is nothing to compute from. */
function nothingToCompute(c: Classified, resource: string): string | undefined {
  if (c.metered === 0) return `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API`;
  if (c.pods === 0) return 'no pods returned by selector while calculating replica count';
  if (c.ready === 0) return 'did not receive metrics for targeted pods (pods might be unready)';
  return undefined;
}

/** GetResourceReplicas: replicas for a target utilization (percent of request) of `resource`. */
export function utilizationReplicas(groups: PodGroup[], resource: string, target: number, current: number, tolerance: Tolerances = DEFAULT_TOLERANCES): Calc {
  const c = classify(groups, resource);
  const empty = nothingToCompute(c, resource);
  if (empty) return { ok: false, error: empty };
  const requests = requestsOf(groups, resource);
  if (typeof requests === 'string') return { ok: false, error: requests };
  const cpu = resource === 'cpu';
  let readyRequests = 0;
  let unreadyRequests = 0;
  let missingRequests = 0;
  let missingFallback = 0;
  const fallback = Math.max(100, target);
  for (const g of groups) {
    const r = requests.get(g)!;
    readyRequests += r * (cpu ? g.measured - g.cpuUnready : g.measured);
    unreadyRequests += r * (g.pending + (cpu ? g.cpuUnready : 0));
    missingRequests += r * g.missing;
    missingFallback += Math.trunc((r * fallback) / 100) * g.missing;
  }
  if (readyRequests === 0) return { ok: false, error: 'no metrics returned matched known pods' };
  const utilization = Math.trunc((c.readySum * 100) / readyRequests);
  const averageMilli = Math.trunc(c.readySum / c.ready);
  const ratio = utilization / target;
  const scaleUpWithUnready = c.unready > 0 && ratio > 1;
  if (!scaleUpWithUnready && c.missing === 0) {
    if (within(ratio, tolerance)) return { ok: true, replicas: current, utilization, averageMilli };
    return { ok: true, replicas: Math.ceil(ratio * c.ready), utilization, averageMilli };
  }
  // Missing pods count as using all their request on a scale-down (or the target, above 100%), none
  // on a scale-up; unready pods none on a scale-up. Then the ratio again, over all of them.
  let total = c.readySum;
  let requested = readyRequests;
  let entries = c.ready;
  if (c.missing > 0 && ratio !== 1) {
    if (ratio < 1) total += missingFallback;
    requested += missingRequests;
    entries += c.missing;
  }
  if (scaleUpWithUnready) {
    requested += unreadyRequests;
    entries += c.unready;
  }
  if (requested === 0) return { ok: false, error: 'no metrics returned matched known pods' };
  const newRatio = Math.trunc((total * 100) / requested) / target;
  if (within(newRatio, tolerance) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) {
    return { ok: true, replicas: current, utilization, averageMilli };
  }
  const replicas = Math.ceil(newRatio * entries);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) return { ok: true, replicas: current, utilization, averageMilli };
  return { ok: true, replicas, utilization, averageMilli };
}

/** GetRawResourceReplicas: replicas for a target average value of `resource` per pod (milli-units). */
export function averageValueReplicas(groups: PodGroup[], resource: string, targetMilli: number, current: number, tolerance: Tolerances = DEFAULT_TOLERANCES): Calc {
  const c = classify(groups, resource);
  const empty = nothingToCompute(c, resource);
  if (empty) return { ok: false, error: empty };
  const averageMilli = Math.trunc(c.readySum / c.ready);
  const ratio = averageMilli / targetMilli;
  const scaleUpWithUnready = c.unready > 0 && ratio > 1;
  if (!scaleUpWithUnready && c.missing === 0) {
    if (within(ratio, tolerance)) return { ok: true, replicas: current, averageMilli };
    return { ok: true, replicas: Math.ceil(ratio * c.ready), averageMilli };
  }
  let total = c.readySum;
  let entries = c.ready;
  if (c.missing > 0 && ratio !== 1) {
    if (ratio < 1) total += targetMilli * c.missing;
    entries += c.missing;
  }
  if (scaleUpWithUnready) entries += c.unready;
  const newRatio = Math.trunc(total / entries) / targetMilli;
  if (within(newRatio, tolerance) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) return { ok: true, replicas: current, averageMilli };
  const replicas = Math.ceil(newRatio * entries);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) return { ok: true, replicas: current, averageMilli };
  return { ok: true, replicas, averageMilli };
}

// ---- normalization: stabilization, limits, rates

/** What the controller remembers of an HPA between syncs: recommendations and scale events, as [value, ms]. */
export interface HpaMemory {
  recommendations: [number, number][];
  scaleUp: [number, number][];
  scaleDown: [number, number][];
}

export interface ConditionChange {
  type: 'AbleToScale' | 'ScalingActive' | 'ScalingLimited';
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface Normalized {
  desired: number;
  conditions: ConditionChange[];
}

/** calculateScaleUpLimit: without a behavior, at most twice the replicas (and at least 4) at once. */
const scaleUpLimit = (current: number) => Math.max(2 * current, 4);

/**
 * normalizeDesiredReplicas (no behavior): the highest recommendation of the downscale stabilization
 * window, then min, max and the scale-up limit. Records the recommendation in `mem`.
 */
export function normalizeWithoutBehavior(mem: HpaMemory, now: number, current: number, proposed: number, min: number, max: number, downscaleWindowS: number): Normalized {
  const cutoff = now - downscaleWindowS * 1000;
  let stabilized = proposed;
  for (const [r, t] of mem.recommendations) if (t >= cutoff && r > stabilized) stabilized = r;
  mem.recommendations = [...mem.recommendations.filter(([, t]) => t >= cutoff), [proposed, now]];
  const conditions: ConditionChange[] = [stabilized !== proposed
    ? { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' }
    : { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' }];
  const limit = scaleUpLimit(current);
  let desired = stabilized;
  let reason = 'DesiredWithinRange';
  let message = 'the desired count is within the acceptable range';
  const maxAllowed = max > limit ? limit : max;
  if (stabilized < min) {
    desired = min;
    reason = 'TooFewReplicas';
    message = 'the desired replica count is less than the minimum replica count';
  } else if (stabilized > maxAllowed) {
    desired = maxAllowed;
    [reason, message] = max > limit
      ? ['ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
      : ['TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
  }
  conditions.push({ type: 'ScalingLimited', status: desired === stabilized ? 'False' : 'True', reason, message });
  return { desired, conditions };
}

/** Replicas changed by the events within the last `periodSeconds` (getReplicasChangePerPeriod). */
function changeWithin(events: [number, number][], periodSeconds: number, now: number): number {
  const cutoff = now - periodSeconds * 1000;
  return events.reduce((n, [change, t]) => (t > cutoff ? n + change : n), 0);
}

/** calculateScaleUpLimitWithScalingRules. */
function scaleUpLimitWithRules(current: number, mem: HpaMemory, rules: ScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const useMin = rules.selectPolicy === 'Min';
  let result = useMin ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const start = current - changeWithin(mem.scaleUp, p.periodSeconds ?? 0, now) + changeWithin(mem.scaleDown, p.periodSeconds ?? 0, now);
    const proposed = p.type === 'Pods' ? start + (p.value ?? 0) : Math.ceil(start * (1 + (p.value ?? 0) / 100));
    result = useMin ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors. */
function scaleDownLimitWithRules(current: number, mem: HpaMemory, rules: ScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const useMin = rules.selectPolicy === 'Min';
  let result = useMin ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const start = current - changeWithin(mem.scaleUp, p.periodSeconds ?? 0, now) + changeWithin(mem.scaleDown, p.periodSeconds ?? 0, now);
    const proposed = p.type === 'Pods' ? start - (p.value ?? 0) : Math.trunc(start * (1 - (p.value ?? 0) / 100));
    result = useMin ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

/**
 * normalizeDesiredReplicasWithBehaviors: the lowest (scaling up) or highest (scaling down)
 * recommendation within the direction's stabilization window, then min, max and the policies' rates.
 * Records the recommendation in `mem`.
 */
export function normalizeWithBehavior(
  mem: HpaMemory, now: number, current: number, proposed: number, min: number, max: number,
  behavior: { scaleUp?: ScalingRules; scaleDown?: ScalingRules }, downscaleWindowS: number,
): Normalized {
  const up = behavior.scaleUp ?? {};
  const down = behavior.scaleDown ?? {};
  const upWindow = up.stabilizationWindowSeconds ?? 0;
  const downWindow = down.stabilizationWindowSeconds ?? downscaleWindowS;
  const scalingUp = proposed >= current;
  const window = scalingUp ? upWindow : downWindow;
  const cutoff = now - window * 1000;
  let stabilized = proposed;
  for (const [r, t] of mem.recommendations) {
    if (t > cutoff) stabilized = scalingUp ? Math.min(stabilized, r) : Math.max(stabilized, r);
  }
  const obsolete = now - Math.max(upWindow, downWindow) * 1000;
  mem.recommendations = [...mem.recommendations.filter(([, t]) => t >= obsolete), [proposed, now]];
  const conditions: ConditionChange[] = [];
  if (stabilized !== proposed) {
    conditions.push(scalingUp
      ? { type: 'AbleToScale', status: 'True', reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' }
      : { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' });
  } else {
    conditions.push({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' });
  }
  let desired = stabilized;
  let reason = 'DesiredWithinRange';
  let message = 'the desired count is within the acceptable range';
  if (stabilized > current) {
    const limit = Math.max(scaleUpLimitWithRules(current, mem, up, now), current);
    const allowed = max > limit ? limit : max;
    [reason, message] = max > limit
      ? ['ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
      : ['TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
    if (stabilized > allowed) desired = allowed;
    else [reason, message] = ['DesiredWithinRange', 'the desired count is within the acceptable range'];
  } else if (stabilized < current) {
    const limit = Math.min(scaleDownLimitWithRules(current, mem, down, now), current);
    const allowed = min < limit ? limit : min;
    [reason, message] = min < limit
      ? ['ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate']
      : ['TooFewReplicas', 'the desired replica count is less than the minimum replica count'];
    if (stabilized < allowed) desired = allowed;
    else [reason, message] = ['DesiredWithinRange', 'the desired count is within the acceptable range'];
  }
  conditions.push({ type: 'ScalingLimited', status: desired === stabilized ? 'False' : 'True', reason, message });
  return { desired, conditions };
}

/** storeScaleEvent: a rescale, remembered for the policies' rates (events older than the longest period dropped). */
export function recordScaleEvent(mem: HpaMemory, behavior: { scaleUp?: ScalingRules; scaleDown?: ScalingRules } | undefined, now: number, from: number, to: number): void {
  if (!behavior) return;
  const longest = (rules: ScalingRules | undefined) => Math.max(0, ...(rules?.policies ?? []).map((p) => p.periodSeconds ?? 0));
  if (to > from) {
    const cutoff = now - longest(behavior.scaleUp) * 1000;
    mem.scaleUp = [...mem.scaleUp.filter(([, t]) => t >= cutoff), [to - from, now]];
  } else {
    const cutoff = now - longest(behavior.scaleDown) * 1000;
    mem.scaleDown = [...mem.scaleDown.filter(([, t]) => t >= cutoff), [from - to, now]];
  }
}

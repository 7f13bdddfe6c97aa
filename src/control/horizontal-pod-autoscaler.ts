import type {
  HpaCondition, HpaSpec, HpaStatus, MetricSpec, MetricStatus, ScalingRules,
} from '../kinds/horizontalpodautoscaler.js';
import { selectorString } from '../kinds/format.js';
import { milliQuantity } from '../kinds/horizontalpodautoscaler.js';
import { milliValue } from '../kinds/quantity.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import { deepEqual, selectorMatches, type LabelSelector } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { hpaReads, toPodGroup, type PodGroup } from './hpa-reads.js';
import {
  averageValueReplicas, normalizeWithBehavior, normalizeWithoutBehavior, recordScaleEvent, tolerancesFor, utilizationReplicas,
  type Calc, type ConditionChange, type HpaMemory, type Tolerances,
} from './hpa-replicas.js';
import { groupBy } from './pod-rows.js';

// The HorizontalPodAutoscaler controller, as kube-controller-manager's (pkg/controller/podautoscaler):
// each HPA syncs every sync period: it reads its target's scale (spec.replicas and selector of a kind
// served with the scale subresource), computes the replicas its metrics want from the usage the nodes
// report (hpa-reads.ts, hpa-replicas.ts), stabilizes and limits them, writes the target's
// spec.replicas when they change, and reports status, conditions and events.
//
// Settings come from ControlOptions, named after kube-controller-manager's flags
// (--horizontal-pod-autoscaler-sync-period, -downscale-stabilization, -cpu-initialization-period,
// -initial-readiness-delay, -tolerance).
//
// Round trips: (1) one read: the HPAs due for a sync with what the controller remembers of them
// (hpa_state), their targets, the pods of their namespaces counted per group in SQL, and every HPA of
// those namespaces with its target's selector (for AmbiguousSelector); when none is due it returns
// nothing, and the pass ends there. (2) One write: targets rescaled (each conditional
// on its resourceVersion), HPA statuses that changed (conditional on theirs and on the rescale having
// been written), events, and the remembered state of every HPA synced.

const COMPONENT = 'horizontal-pod-autoscaler';

const CUSTOM_METRICS_MISSING = 'unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered';
const EXTERNAL_METRICS_MISSING = 'unable to fetch metrics from external metrics API: no external metrics API (external.metrics.k8s.io) registered';

interface Hpa extends KObject {
  spec: HpaSpec;
  status?: HpaStatus;
}

/** One metric's outcome: its replicas and status, or the condition and error of its failure. */
type MetricOutcome =
  | { ok: true; replicas: number; status: MetricStatus; name: string }
  | { ok: false; condition: ConditionChange; error: string; event: [string, string] };

function memoryOf(row: Record<string, unknown>): HpaMemory {
  const parse = <T>(v: unknown, fallback: T): T => {
    try {
      return v === null || v === undefined ? fallback : (JSON.parse(String(v)) as T);
    } catch {
      return fallback;
    }
  };
  const events = parse<{ up?: [number, number][]; down?: [number, number][] }>(row.scale_events, {});
  return { recommendations: parse<[number, number][]>(row.recommendations, []), scaleUp: events.up ?? [], scaleDown: events.down ?? [] };
}

/** The group of a group/version ("apps/v1" -> "apps", "v1" -> ""), or undefined when it is malformed. */
function groupOf(apiVersion: string | undefined): string | undefined {
  const parts = (apiVersion ?? '').split('/');
  if (parts.length > 2) return undefined;
  return parts.length === 2 ? parts[0] : '';
}

type ScaleKind = { ok: true; def: NonNullable<ReturnType<typeof kindNamed>> } | { ok: false; error: string };

/** The kind a scaleTargetRef names, when it is served with the scale subresource; else why getting its scale fails. */
function scaleKindOf(ref: { apiVersion?: string; kind?: string }): ScaleKind {
  const group = groupOf(ref.apiVersion);
  if (group === undefined) return { ok: false, error: `unexpected GroupVersion string: ${ref.apiVersion}` };
  const def = kindNamed(String(ref.kind ?? ''));
  if (!def || def.group !== group || def.conversion) return { ok: false, error: `no matches for kind "${ref.kind}" in group "${group}"` };
  if (!(def.subresources ?? []).includes('scale')) return { ok: false, error: 'the server could not find the requested resource' };
  return { ok: true, def };
}

/** An HPA of a namespace and the selector of its target's scale: what hpaSelectors holds. */
interface HpaSelector {
  /** namespace/name, as selectors.Key prints. */
  key: string;
  selector: LabelSelector;
}

/** The HPAs whose targets' scales have a selector, by namespace (peers rows of hpa-reads.ts). */
function hpaSelectors(rows: Record<string, unknown>[]): Map<string, HpaSelector[]> {
  const out = new Map<string, HpaSelector[]>();
  for (const r of rows) {
    if (r.selector === null || r.selector === undefined) continue;
    if (!scaleKindOf({ apiVersion: r.api_version as string | undefined, kind: r.target_kind as string | undefined }).ok) continue;
    let selector: LabelSelector;
    try {
      selector = JSON.parse(String(r.selector)) as LabelSelector;
    } catch {
      continue;
    }
    if (!selectorString(selector)) continue;
    const ns = String(r.namespace);
    const list = out.get(ns) ?? [];
    list.push({ key: `${ns}/${String(r.name)}`, selector });
    out.set(ns, list);
  }
  return out;
}

class Sync {
  readonly status: HpaStatus;
  private readonly conditions: HpaCondition[];
  /** A write of the target's scale, when the HPA rescales it. */
  scale?: { target: KObject; replicas: number };

  constructor(
    private readonly ctx: PassContext,
    readonly hpa: Hpa,
    readonly mem: HpaMemory,
    private readonly now: number,
    /** Every HPA of the namespace with its target's selector, this one included. */
    private readonly peers: HpaSelector[] = [],
  ) {
    this.status = structuredClone(hpa.status ?? {});
    this.conditions = this.status.conditions ?? [];
  }

  /** setCondition: the transition time moves only when the status does. */
  private set(c: ConditionChange): void {
    const existing = this.conditions.find((x) => x.type === c.type);
    if (!existing) {
      this.conditions.push({ type: c.type, status: c.status, lastTransitionTime: this.ctx.timestamp(), reason: c.reason, message: c.message });
      return;
    }
    if (existing.status !== c.status) existing.lastTransitionTime = this.ctx.timestamp();
    existing.status = c.status;
    existing.reason = c.reason;
    existing.message = c.message;
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.ctx.event({ involved: this.hpa, type, reason, message, component: COMPONENT });
  }

  private finish(currentReplicas: number, desiredReplicas: number, metrics: MetricStatus[] | undefined, rescaled: boolean): void {
    this.status.currentReplicas = currentReplicas;
    this.status.desiredReplicas = desiredReplicas;
    if (metrics && metrics.length) this.status.currentMetrics = metrics;
    else delete this.status.currentMetrics;
    if (rescaled) this.status.lastScaleTime = this.ctx.timestamp();
    this.status.conditions = this.conditions;
  }

  private failedGetScale(message: string): void {
    this.event('Warning', 'FailedGetScale', message);
    this.set({ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: `the HPA controller was unable to get the target's current scale: ${message}` });
    this.status.conditions = this.conditions;
  }

  /** reconcileAutoscaler. `targets` by kind/name, `groups` the pod groups of the HPA's namespace. */
  run(targets: Map<string, KObject>, groups: PodGroup[]): void {
    const spec = this.hpa.spec ?? {};
    const ref = spec.scaleTargetRef ?? {};
    const ns = this.hpa.metadata!.namespace!;
    const kind = scaleKindOf(ref);
    if (!kind.ok) return this.failedGetScale(kind.error);
    const { def } = kind;
    const target = targets.get(`${def.kind}/${ref.name}`);
    if (!target) return this.failedGetScale(`${def.group ? `${def.plural}.${def.group}` : def.plural} "${ref.name}" not found`);
    this.set({ type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: "the HPA controller was able to get the target's current scale" });

    const targetSpec = (target.spec ?? {}) as { replicas?: number; selector?: LabelSelector };
    const current = targetSpec.replicas ?? 0;
    if (this.mem.recommendations.length === 0) this.mem.recommendations = [[current, this.now]];
    const min = spec.minReplicas ?? 1;
    const max = spec.maxReplicas ?? 0;
    let desired = 0;
    let reason = '';
    let rescale = true;
    let statuses: MetricStatus[] | undefined;
    if (current === 0 && min !== 0) {
      rescale = false;
      this.set({ type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' });
    } else if (current > max) {
      reason = 'Current number of replicas above Spec.MaxReplicas';
      desired = max;
    } else if (current < min) {
      reason = 'Current number of replicas below Spec.MinReplicas';
      desired = min;
    } else {
      const computed = this.computeReplicas(targetSpec.selector, groups.filter((g) => g.namespace === ns), current);
      statuses = computed.statuses;
      if (computed.replicas === undefined) {
        // setCurrentReplicasAndMetricsInStatus: the desired count stays as it was.
        this.finish(current, this.status.desiredReplicas ?? 0, statuses, false);
        if (computed.error) this.event('Warning', 'FailedComputeMetricsReplicas', computed.error);
        return;
      }
      desired = computed.replicas;
      if (desired > current) reason = `${computed.metric} above target`;
      if (desired < current) reason = 'All metrics below target';
      const downscaleWindow = this.ctx.opts.horizontalPodAutoscalerDownscaleStabilizationSeconds;
      const normalized = spec.behavior
        ? normalizeWithBehavior(this.mem, this.now, current, desired, min, max, spec.behavior, downscaleWindow)
        : normalizeWithoutBehavior(this.mem, this.now, current, desired, min, max, downscaleWindow);
      for (const c of normalized.conditions) this.set(c);
      desired = normalized.desired;
      rescale = desired !== current;
    }
    if (rescale) {
      this.scale = { target, replicas: desired };
      this.set({ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` });
      this.event('Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${reason}`);
      recordScaleEvent(this.mem, spec.behavior as { scaleUp?: ScalingRules; scaleDown?: ScalingRules } | undefined, this.now, current, desired);
    } else {
      desired = current;
    }
    this.finish(current, desired, statuses, rescale);
  }

  /** computeReplicasForMetrics: the highest proposal of the metrics that could be computed. */
  private computeReplicas(selector: LabelSelector | undefined, groups: PodGroup[], current: number): { replicas?: number; metric?: string; statuses?: MetricStatus[]; error?: string } {
    // validateAndParseSelector: the scale's selector as a string is what Kubernetes checks and prints.
    const selectorText = selectorString(selector);
    if (!selector || !selectorText) {
      this.event('Warning', 'SelectorRequired', 'selector is required');
      this.set({ type: 'ScalingActive', status: 'False', reason: 'InvalidSelector', message: "the HPA target's scale is missing a selector" });
      return { error: 'selector is required' };
    }
    const selected = groups.filter((g) => selectorMatches(selector, g.labels));
    // hpasControllingPodsUnderSelector: the HPAs whose selectors pick any of these pods. Pods of a group
    // share their labels, so an HPA selects a pod of the group exactly when it selects the group's labels.
    const selecting = this.peers.filter((p) => selected.some((g) => selectorMatches(p.selector, g.labels))).map((p) => p.key).sort();
    if (selecting.length > 1) {
      const message = `pods by selector ${selectorText} are controlled by multiple HPAs: [${selecting.join(' ')}]`;
      this.event('Warning', 'AmbiguousSelector', message);
      this.set({ type: 'ScalingActive', status: 'False', reason: 'AmbiguousSelector', message });
      return { error: message };
    }
    const metrics = this.hpa.spec.metrics ?? [];
    const statuses: MetricStatus[] = metrics.map(() => ({ type: '' }));
    let replicas = 0;
    let metric = '';
    let invalid = 0;
    let firstFailure: Extract<MetricOutcome, { ok: false }> | undefined;
    const tolerances = tolerancesFor(this.hpa.spec.behavior, this.ctx.opts.horizontalPodAutoscalerTolerance);
    metrics.forEach((m, i) => {
      const out = this.computeMetric(m, selected, current, tolerances);
      if (!out.ok) {
        this.event('Warning', ...out.event);
        if (invalid === 0) firstFailure = out;
        invalid++;
        return;
      }
      statuses[i] = out.status;
      if (replicas === 0 || out.replicas > replicas) {
        replicas = out.replicas;
        metric = out.name;
      }
    });
    // All metrics failed, or some did and the rest would scale down: no change on partial knowledge.
    if (firstFailure && (invalid >= metrics.length || replicas < current)) {
      this.set(firstFailure.condition);
      return { statuses, error: `invalid metrics (${invalid} invalid out of ${metrics.length}), first error is: ${firstFailure.error}` };
    }
    this.set({ type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${metric}` });
    return { replicas, metric, statuses };
  }

  private computeMetric(m: MetricSpec, groups: PodGroup[], current: number, tolerances: Tolerances): MetricOutcome {
    const unable = (reason: string, detail: string, error: string): MetricOutcome => ({
      ok: false,
      condition: { type: 'ScalingActive', status: 'False', reason, message: `the HPA was unable to compute the replica count: ${detail}` },
      error,
      event: [reason, detail],
    });
    switch (m.type) {
      case 'Resource': {
        const name = String(m.resource?.name ?? '');
        const target = m.resource?.target ?? {};
        if (target.averageValue !== undefined) {
          const calc = averageValueReplicas(groups, name, milliValue(target.averageValue) ?? 0, current, tolerances);
          if (!calc.ok) {
            const detail = `failed to get ${name} usage: ${calc.error}`;
            return unable('FailedGetResourceMetric', detail, `failed to get ${name} resource metric value: ${detail}`);
          }
          return { ok: true, replicas: calc.replicas, name: `${name} resource`, status: { type: 'Resource', resource: { name, current: { averageValue: milliQuantity(calc.averageMilli) } } } };
        }
        if (target.averageUtilization === undefined) {
          const detail = 'invalid resource metric source: neither an average utilization target nor an average value (usage) target was set';
          return unable('FailedGetResourceMetric', detail, `failed to get ${name} resource metric value: ${detail}`);
        }
        const calc: Calc = utilizationReplicas(groups, name, target.averageUtilization, current, tolerances);
        if (!calc.ok) {
          const detail = `failed to get ${name} utilization: ${calc.error}`;
          return unable('FailedGetResourceMetric', detail, `failed to get ${name} resource metric value: ${detail}`);
        }
        return {
          ok: true,
          replicas: calc.replicas,
          name: `${name} resource utilization (percentage of request)`,
          status: { type: 'Resource', resource: { name, current: { averageUtilization: calc.utilization, averageValue: milliQuantity(calc.averageMilli) } } },
        };
      }
      case 'ContainerResource': {
        // Agents report usage per container, but it is summed per pod before it is stored.
        const name = String(m.containerResource?.name ?? '');
        const detail = `failed to get ${name} utilization: unable to get metrics for resource ${name}: container metrics are not served (only pod metrics are reported)`;
        return unable('FailedGetContainerResourceMetric', detail, `failed to get ${name} container metric value: ${detail}`);
      }
      case 'Pods': {
        const detail = `unable to get metric ${m.pods?.metric?.name ?? ''}: ${CUSTOM_METRICS_MISSING}`;
        return unable('FailedGetPodsMetric', detail, `failed to get pods metric value: ${detail}`);
      }
      case 'Object': {
        const d = m.object?.describedObject ?? {};
        const detail = `unable to get metric ${m.object?.metric?.name ?? ''}: ${d.kind ?? ''} on ${this.hpa.metadata!.namespace} ${d.name ?? ''}/${CUSTOM_METRICS_MISSING}`;
        return unable('FailedGetObjectMetric', detail, `failed to get object metric value: ${detail}`);
      }
      case 'External': {
        const detail = `unable to get external metric ${this.hpa.metadata!.namespace}/${m.external?.metric?.name ?? ''}/nil: ${EXTERNAL_METRICS_MISSING}`;
        return unable('FailedGetExternalMetric', detail, `failed to get ${m.external?.metric?.name ?? ''} external metric: ${detail}`);
      }
      default: {
        const detail = `unknown metric source type "${m.type ?? ''}"`;
        return unable('InvalidMetricSourceType', detail, detail);
      }
    }
  }
}

export async function horizontalPodAutoscalers(ctx: PassContext): Promise<void> {
  if (!(await ctx.present('HorizontalPodAutoscaler'))) return;
  const now = ctx.now().getTime();
  const o = ctx.opts;
  const reads = hpaReads({
    nowMs: now,
    syncPeriodMs: o.horizontalPodAutoscalerSyncPeriodSeconds * 1000,
    cpuInitializationMs: o.horizontalPodAutoscalerCpuInitializationPeriodSeconds * 1000,
    initialReadinessDelayMs: o.horizontalPodAutoscalerInitialReadinessDelaySeconds * 1000,
    batchSize: o.batchSize,
  });
  const [hpaRows, targetRows, podRows, peerRows, orphanRows] = await ctx.store.rows([reads.hpas, reads.targets, reads.pods, reads.peers, reads.orphans]);
  const orphans = Number(orphanRows[0]?.n ?? 0);
  if (hpaRows.length === 0 && orphans === 0) return;

  const targets = groupBy(targetRows.map(objectOf), (t) => t.metadata!.namespace!);
  const groups = groupBy(podRows.map(toPodGroup), (g) => g.namespace);
  const peers = hpaSelectors(peerRows);
  const ops: WriteOp[] = [];
  const remembered: { uid: string; recommendations: [number, number][]; events: { up: [number, number][]; down: [number, number][] }; guard: [string, number] | null }[] = [];
  for (const row of hpaRows) {
    const hpa = objectOf(row) as Hpa;
    const ns = hpa.metadata!.namespace!;
    const byName = new Map((targets.get(ns) ?? []).map((t) => [`${t.kind}/${t.metadata!.name}`, t]));
    const sync = new Sync(ctx, hpa, memoryOf(row), now, peers.get(ns));
    sync.run(byName, groups.get(ns) ?? []);
    // The HPA's status and memory are written only with the rescale they report.
    let guard: [string, number] | null = null;
    if (sync.scale) {
      const { target, replicas } = sync.scale;
      const next = structuredClone(target);
      (next.spec as { replicas: number }).replicas = replicas;
      next.metadata!.generation = (target.metadata!.generation ?? 0) + 1;
      ops.push({ op: 'update', object: next, rv: Number(target.metadata!.resourceVersion) });
      guard = [target.metadata!.uid!, replicas];
    }
    if (!deepEqual(sync.status, hpa.status ?? {})) {
      ops.push({
        op: 'update',
        object: { ...hpa, status: sync.status },
        rv: Number(hpa.metadata!.resourceVersion),
        ...(guard ? { guard: { sql: "json_extract((SELECT object FROM objects WHERE uid = ?), '$.spec.replicas') = ?", args: guard } } : {}),
      });
    }
    remembered.push({ uid: hpa.metadata!.uid!, recommendations: sync.mem.recommendations, events: { up: sync.mem.scaleUp, down: sync.mem.scaleDown }, guard });
  }
  if (remembered.length) {
    ops.push({
      op: 'exec',
      sql: `INSERT INTO hpa_state (uid, synced, recommendations, scale_events)
        SELECT s.value ->> '$.uid', ?, s.value -> '$.recommendations', s.value -> '$.events' FROM json_each(?) s
        WHERE s.value -> '$.guard' IS NULL OR json_type(s.value, '$.guard') = 'null'
          OR json_extract((SELECT object FROM objects WHERE uid = s.value ->> '$.guard[0]'), '$.spec.replicas') = s.value ->> '$.guard[1]'
        ON CONFLICT (uid) DO UPDATE SET synced = excluded.synced, recommendations = excluded.recommendations, scale_events = excluded.scale_events`,
      args: [now, JSON.stringify(remembered)],
    });
  }
  if (orphans > 0) {
    ops.push({ op: 'exec', sql: "DELETE FROM hpa_state WHERE uid NOT IN (SELECT uid FROM objects WHERE kind = 'HorizontalPodAutoscaler')", args: [] });
  }
  await ctx.commit(ops);
}

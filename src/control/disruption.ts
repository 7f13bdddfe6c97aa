import { kindNamed } from '../kinds/registry.js';
import {
  conditionsAreUpToDate, setStatusCondition, updateDisruptionAllowedCondition, DISRUPTION_ALLOWED,
  type PodDisruptionBudgetSpec, type PodDisruptionBudgetStatus,
} from '../kinds/poddisruptionbudget.js';
import type { KObject } from '../kinds/types.js';
import { deepEqual, selectorMatches } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { commitSets, groupBy } from './pod-rows.js';

// The disruption controller (kube-controller-manager's pkg/controller/disruption): each budget's
// status says how many of the pods it selects are healthy (Ready, not being deleted, not just
// evicted), how many must be, and so how many evictions it allows now.
//
// Round trips: (1) one read batch: the budgets, whole (small); the pods of the namespaces holding
// one, counted in SQL per (namespace, label set, controller): a handful of groups however many pods,
// selectors matched on each group's labels in JS; the pods the budgets list as just evicted; and the
// controllers of those pods with their scale (a ReplicaSet's Deployment's where it has one). An idle
// pass ends here. (2) One write of the statuses that changed (at most batchSize, least recently
// written first) and their events. Events are recorded with a status write only (Kubernetes records
// NoPods and UnmanagedPods on every sync), so a pass that changes nothing writes nothing.

const COMPONENT = 'controllermanager';
/** DeletionTimeout: an evicted pod not being deleted after this long counts again. */
const DELETION_TIMEOUT_MS = 2 * 60 * 1000;

/** The pods of one namespace sharing one label set and one controller, counted. */
interface PodGroup {
  namespace: string;
  labels: Record<string, string>;
  ownerUid: string | null;
  pods: number;
  /** Ready and not being deleted. */
  healthy: number;
  /** A pod of the group, for messages that name one. */
  first: string;
}

/** A pod a budget lists in status.disruptedPods. */
interface DisruptedPod {
  uid: string;
  labels: Record<string, string>;
  ready: boolean;
  deleting: boolean;
}

/** A pod's controller and the scale it counts with, or why there is none. */
type Scale = { uid: string; replicas: number } | { error: string };

const POD_NAMESPACES = "SELECT namespace FROM objects WHERE kind = 'PodDisruptionBudget'";
const LABELS = "summary ->> '$.labels'";

const POD_GROUPS_SQL = `SELECT namespace, ${LABELS} AS labels, owner_uid, COUNT(*) AS pods,
    COUNT(*) FILTER (WHERE NOT (summary ->> '$.deleting') AND summary ->> '$.ready') AS healthy, MIN(name) AS first
  FROM objects WHERE kind = 'Pod' AND namespace IN (${POD_NAMESPACES})
  GROUP BY 1, 2, 3`;

const DISRUPTED_PODS_SQL = `SELECT DISTINCT p.namespace, p.name, p.uid, p.${LABELS} AS labels,
    p.summary ->> '$.ready' AS ready, p.summary ->> '$.deleting' AS deleting
  FROM objects b, json_each(b.object, '$.status.disruptedPods') d
  JOIN objects p ON p.kind = 'Pod' AND p.namespace = b.namespace AND p.name = d.key
  WHERE b.kind = 'PodDisruptionBudget'`;

/** The controllers of the pods in budgets' namespaces, and each one's own controller (a ReplicaSet's Deployment). */
const CONTROLLERS_SQL = `WITH owners AS (SELECT DISTINCT owner_uid AS uid FROM objects
    WHERE kind = 'Pod' AND owner_uid IS NOT NULL AND namespace IN (${POD_NAMESPACES}))
  SELECT o.uid, o.kind, o.object ->> '$.spec.replicas' AS replicas,
    c.uid AS parent_uid, c.kind AS parent_kind, c.object ->> '$.spec.replicas' AS parent_replicas
  FROM owners JOIN objects o ON o.uid = owners.uid LEFT JOIN objects c ON c.uid = o.owner_uid`;

/** What each controller uid scales with, as the controller finders of getExpectedScale decide. */
function scales(rows: Record<string, unknown>[]): Map<string, Scale> {
  const out = new Map<string, Scale>();
  for (const r of rows) {
    const kind = String(r.kind);
    if (kind === 'ReplicaSet' && r.parent_kind === 'Deployment') {
      out.set(String(r.uid), { uid: String(r.parent_uid), replicas: Number(r.parent_replicas ?? 0) });
      continue;
    }
    const def = kindNamed(kind);
    if (def?.subresources?.includes('scale')) out.set(String(r.uid), { uid: String(r.uid), replicas: Number(r.replicas ?? 0) });
    else out.set(String(r.uid), { error: `${def ? (def.group ? `${def.plural}.${def.group}` : def.plural) : kind} does not implement the scale subresource` });
  }
  return out;
}

/** intstr.GetScaledValueFromIntOrPercent, rounding up. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) throw new Error('invalid value for IntOrString: invalid type: string is not a percentage');
  return Math.ceil((Number(m[1]) * total) / 100);
}

/** getExpectedScale: the scales of the selected pods' controllers, summed (each controller once). */
function expectedScale(groups: PodGroup[], controllers: Map<string, Scale>): { expected: number; unmanaged: boolean } {
  const counted = new Map<string, number>();
  let unmanaged = false;
  for (const g of groups) {
    if (!g.ownerUid) {
      unmanaged = true;
      continue;
    }
    const scale = controllers.get(g.ownerUid) ?? { error: `found no controllers for pod ${JSON.stringify(g.first)}` };
    if ('error' in scale) throw new Error(scale.error);
    counted.set(scale.uid, scale.replicas);
  }
  return { expected: [...counted.values()].reduce((a, b) => a + b, 0), unmanaged };
}

/** getExpectedPodCount: how many pods there should be, and how many of them must be healthy. */
function expectedPodCount(spec: PodDisruptionBudgetSpec, groups: PodGroup[], controllers: Map<string, Scale>) {
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    const { expected, unmanaged } = expectedScale(groups, controllers);
    return { expected, desired: Math.max(0, expected - scaled(spec.maxUnavailable, expected)), unmanaged };
  }
  if (typeof spec.minAvailable === 'number') {
    return { expected: groups.reduce((n, g) => n + g.pods, 0), desired: spec.minAvailable, unmanaged: false };
  }
  if (typeof spec.minAvailable === 'string') {
    const { expected, unmanaged } = expectedScale(groups, controllers);
    return { expected, desired: scaled(spec.minAvailable, expected), unmanaged };
  }
  return { expected: 0, desired: 0, unmanaged: false };
}

/** A *metav1.LabelSelector as %v prints it (its generated String()). */
function goSelector(sel: PodDisruptionBudgetSpec['selector']): string {
  if (!sel) return 'nil';
  const labels = Object.keys(sel.matchLabels ?? {}).sort().map((k) => `${k}: ${sel.matchLabels![k]},`).join('');
  const exprs = (sel.matchExpressions ?? []).map((e) => `LabelSelectorRequirement{Key:${e.key},Operator:${e.operator},Values:[${(e.values ?? []).join(' ')}],},`).join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{${exprs}},}`;
}

const podRef = (namespace: string, name: string, uid: string): KObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name, uid } });

/** The status a budget should have, or undefined when it has it. Events go to `ctx` only when it changes. */
function sync(
  ctx: PassContext,
  pdb: KObject,
  namespaceGroups: PodGroup[],
  disrupted: Map<string, DisruptedPod>,
  controllers: Map<string, Scale>,
): PodDisruptionBudgetStatus | undefined {
  const meta = pdb.metadata!;
  const spec = (pdb.spec ?? {}) as PodDisruptionBudgetSpec;
  const status = (pdb.status ?? {}) as PodDisruptionBudgetStatus;
  const generation = meta.generation ?? 1;
  const now = ctx.now().getTime();
  const stamp = ctx.timestamp();
  const events: Parameters<PassContext['event']>[0][] = [];
  const groups = namespaceGroups.filter((g) => selectorMatches(spec.selector, g.labels));
  const pods = groups.reduce((n, g) => n + g.pods, 0);
  if (pods === 0) events.push({ involved: pdb, type: 'Normal', reason: 'NoPods', message: 'No matching pods found', component: COMPONENT });

  let next: PodDisruptionBudgetStatus;
  try {
    const { expected, desired, unmanaged } = expectedPodCount(spec, groups, controllers);
    if (unmanaged) {
      events.push({
        involved: pdb, type: 'Warning', reason: 'UnmanagedPods', component: COMPONENT,
        message: `Pods selected by this PodDisruptionBudget (selector: ${goSelector(spec.selector)}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.`,
      });
    }
    // buildDisruptedPodMap: an eviction's entry stays until its pod is being deleted, gone, or late.
    const kept: Record<string, string> = {};
    let disruptedHealthy = 0;
    for (const [name, at] of Object.entries(status.disruptedPods ?? {})) {
      const pod = disrupted.get(`${meta.namespace}/${name}`);
      if (!pod || pod.deleting || !selectorMatches(spec.selector, pod.labels)) continue;
      const expires = Date.parse(at) + DELETION_TIMEOUT_MS;
      if (expires < now) {
        events.push({
          involved: podRef(meta.namespace!, name, pod.uid), type: 'Warning', reason: 'NotDeleted', component: COMPONENT,
          message: `Pod was expected by PDB ${meta.namespace}/${meta.namespace} to be deleted but it wasn't`,
        });
        continue;
      }
      kept[name] = at;
      if (pod.ready && expires > now) disruptedHealthy++;
    }
    const currentHealthy = groups.reduce((n, g) => n + g.healthy, 0) - disruptedHealthy;
    // A budget that selects no pods yet allows nothing: its first pods may come before its next status.
    const allowed = expected <= 0 ? 0 : Math.max(0, currentHealthy - desired);
    const unchanged = status.currentHealthy === currentHealthy && status.desiredHealthy === desired && status.expectedPods === expected
      && status.disruptionsAllowed === allowed && deepEqual(status.disruptedPods ?? {}, kept)
      && status.observedGeneration === generation && conditionsAreUpToDate(status, generation);
    if (unchanged) return undefined;
    next = {
      observedGeneration: generation,
      ...(Object.keys(kept).length ? { disruptedPods: kept } : {}),
      disruptionsAllowed: allowed,
      currentHealthy,
      desiredHealthy: desired,
      expectedPods: expected,
      conditions: status.conditions,
    };
    next.conditions = updateDisruptionAllowedCondition(next, stamp);
  } catch (e) {
    // failSafe: whatever went wrong, the budget allows no eviction until a pass gets it right.
    const message = (e as Error).message;
    next = {
      ...status,
      disruptionsAllowed: 0,
      conditions: setStatusCondition(status.conditions, {
        type: DISRUPTION_ALLOWED, status: 'False', reason: 'SyncFailed', message, observedGeneration: status.observedGeneration,
      }, stamp),
    };
    if (deepEqual(next, status)) return undefined;
    events.push({ involved: pdb, type: 'Warning', reason: 'CalculateExpectedPodCountFailed', message: `Failed to calculate the number of expected pods: ${message}`, component: COMPONENT });
  }
  for (const e of events) ctx.event(e);
  return next;
}

export async function disruption(ctx: PassContext): Promise<void> {
  if (!(await ctx.present('PodDisruptionBudget'))) return;
  const [budgetRows, groupRows, disruptedRows, controllerRows] = await ctx.store.rows([
    `SELECT rv, object FROM objects WHERE kind = 'PodDisruptionBudget' ORDER BY rv`,
    POD_GROUPS_SQL,
    DISRUPTED_PODS_SQL,
    CONTROLLERS_SQL,
  ]);
  const groups = groupBy(groupRows.map((r): PodGroup => ({
    namespace: String(r.namespace),
    labels: JSON.parse(String(r.labels ?? '{}')) as Record<string, string>,
    ownerUid: (r.owner_uid as string | null) ?? null,
    pods: Number(r.pods),
    healthy: Number(r.healthy),
    first: String(r.first),
  })), (g) => g.namespace);
  const disrupted = new Map(disruptedRows.map((r): [string, DisruptedPod] => [`${String(r.namespace)}/${String(r.name)}`, {
    uid: String(r.uid),
    labels: JSON.parse(String(r.labels ?? '{}')) as Record<string, string>,
    ready: Number(r.ready) === 1,
    deleting: Number(r.deleting) === 1,
  }]));
  const controllers = scales(controllerRows);

  const items: { object: KObject; rv: number }[] = [];
  for (const pdb of budgetRows.map(objectOf)) {
    if (items.length >= ctx.opts.batchSize) break;
    const status = sync(ctx, pdb, groups.get(pdb.metadata!.namespace!) ?? [], disrupted, controllers);
    if (status) items.push({ object: { ...pdb, status }, rv: Number(pdb.metadata!.resourceVersion) });
  }
  const ops: WriteOp[] = items.length ? [{ op: 'updates', items }] : [];
  await commitSets(ctx, ops);
}

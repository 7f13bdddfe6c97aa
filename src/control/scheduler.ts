import type { KObject } from '../kinds/types.js';
import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { isTerminal, nodeBindingGuard, podRowsSql, toPodRow } from './pod-rows.js';
import { nodeState, pendingPod, placePod, queueOrder, type PendingPod, type PlacedPod } from './scheduling.js';

// The scheduler (kube-scheduler's default-scheduler): binds every pending pod it can in one pass,
// in priority order, each decision seeing the pods bound before it. One read round trip for the
// pending pods; when there are some, one more (nodes, bound pods, the last FailedScheduling events)
// and one write round trip.
// A binding is conditional on the pod's resourceVersion, on the node still holding as many pods as
// it held when read, and on the node still having room for the pod, so racing passes never
// over-commit a node, whether they read the same snapshot or not.

const COMPONENT = 'default-scheduler';
/**
 * kube-scheduler retries an unschedulable pod at least this often (podMaxInUnschedulablePodsDuration)
 * and records FailedScheduling each time; a pod whose reason has not changed gets its event counted
 * again this often, so `kubectl describe` keeps showing it while the pod itself is left unwritten.
 */
const UNSCHEDULABLE_RETRY_MS = 5 * 60_000;

/** Pods waiting for this scheduler (`p` is the table alias). Pods with a nodeName are bound already. */
const pending = (p: string) => `${p}.kind = 'Pod' AND (${p}.node_name IS NULL OR ${p}.node_name = '')
  AND json_extract(${p}.object, '$.metadata.deletionTimestamp') IS NULL
  AND (${p}.phase IS NULL OR ${p}.phase NOT IN ('Succeeded', 'Failed'))
  AND COALESCE(NULLIF(json_extract(${p}.object, '$.spec.schedulerName'), ''), '${COMPONENT}') = '${COMPONENT}'
  AND COALESCE(json_array_length(${p}.object, '$.spec.schedulingGates'), 0) = 0`;

const PENDING = `SELECT p.rv, p.object FROM objects p WHERE ${pending('p')}`;

/** What placing the pending pods needs: nodes, what is bound to them, and the pods' last events. */
const CLUSTER = [
  "SELECT rv, object FROM objects WHERE kind = 'Node'",
  podRowsSql("node_name IS NOT NULL AND node_name != ''"),
  // Priorities of bound pods (PodRow has none); pods without one are priority 0.
  `SELECT uid, json_extract(object, '$.spec.priority') AS priority FROM objects
    WHERE kind = 'Pod' AND node_name IS NOT NULL AND COALESCE(json_extract(object, '$.spec.priority'), 0) != 0`,
  // Events are named "<pod>.<hash>": a key range finds a pending pod's events.
  `SELECT p.uid AS uid, json_extract(e.object, '$.message') AS message, json_extract(e.object, '$.lastTimestamp') AS last
    FROM objects p JOIN objects e ON e.kind = 'Event' AND e.namespace = p.namespace AND e.name > p.name || '.' AND e.name < p.name || '/'
    WHERE ${pending('p')} AND json_extract(e.object, '$.reason') = 'FailedScheduling'
      AND json_extract(e.object, '$.involvedObject.uid') = p.uid`,
];

interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
}

function objectOf(row: Record<string, unknown>): KObject {
  const obj = JSON.parse(String(row.object)) as KObject;
  obj.metadata = { ...obj.metadata, resourceVersion: String(row.rv) };
  return obj;
}

const conditionsOf = (pod: KObject) => ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? []);

/** The pod with its PodScheduled condition set as podutil.UpdatePodCondition does, or undefined when nothing changes. */
function withScheduledCondition(pod: KObject, next: PodCondition, now: string): KObject | undefined {
  const conditions = conditionsOf(pod);
  const old = conditions.find((c) => c.type === 'PodScheduled');
  if (old && old.status === next.status && (old.reason ?? '') === (next.reason ?? '') && (old.message ?? '') === (next.message ?? '')) return undefined;
  const condition = { ...next, lastProbeTime: null, lastTransitionTime: old?.status === next.status && old.lastTransitionTime ? old.lastTransitionTime : now };
  const status = { ...(pod.status as object), conditions: old ? conditions.map((c) => (c === old ? condition : c)) : [...conditions, condition] };
  return { ...pod, status };
}

function bound(pod: KObject, node: string, now: string): KObject {
  const next = structuredClone(pod);
  (next.spec as { nodeName?: string }).nodeName = node;
  return withScheduledCondition(next, { type: 'PodScheduled', status: 'True' }, now) ?? next;
}

export async function scheduler(ctx: PassContext): Promise<void> {
  // With nothing pending (the usual case) a pass reads no nodes and no bound pods.
  const [pendingRows] = await ctx.store.rows([PENDING]);
  if (pendingRows.length === 0) return;
  const [nodeRows, boundRows, priorityRows, eventRows] = await ctx.store.rows(CLUSTER);
  const now = ctx.timestamp();
  const nodes = nodeRows.map((r) => nodeState(objectOf(r))).sort((a, b) => (a.name < b.name ? -1 : 1));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const priorities = new Map(priorityRows.map((r) => [String(r.uid), Number(r.priority)]));
  for (const row of boundRows.map(toPodRow)) {
    byName.get(row.nodeName!)?.add({
      namespace: row.namespace,
      labels: row.summary.labels,
      ownerUid: row.ownerUid,
      requests: row.summary.requests,
      hostPorts: row.summary.hostPorts,
      priority: priorities.get(row.uid) ?? 0,
      terminal: isTerminal(row),
      deleting: row.summary.deleting,
    });
  }
  // When each pod's FailedScheduling event with a given message was last counted.
  const lastEvent = new Map<string, number>();
  for (const e of eventRows) {
    const key = `${e.uid}/${e.message}`;
    lastEvent.set(key, Math.max(lastEvent.get(key) ?? 0, Date.parse(String(e.last))));
  }

  const queue: { obj: KObject; pod: PendingPod }[] = pendingRows.map((r) => {
    const obj = objectOf(r);
    return { obj, pod: pendingPod(obj) };
  });
  queue.sort((a, b) => queueOrder(a.pod, b.pod));

  const ops: WriteOp[] = [];
  const cursor = { start: 0 };
  for (const { obj, pod } of queue) {
    const rv = Number(obj.metadata!.resourceVersion);
    const placement = placePod(pod, nodes, cursor);
    if ('node' in placement) {
      const node = placement.node;
      ops.push({ op: 'update', object: bound(obj, node.name, now), rv, guard: nodeBindingGuard(node.name, node.pods.length, pod.requests, node.allocatable) });
      node.add(pod satisfies PlacedPod);
      ctx.event({ involved: obj, type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${pod.namespace}/${pod.name} to ${node.name}`, component: COMPONENT });
      continue;
    }
    const { message } = placement;
    const updated = withScheduledCondition(obj, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }, now);
    if (updated) ops.push({ op: 'update', object: updated, rv });
    const recently = (lastEvent.get(`${pod.uid}/${message}`) ?? -Infinity) > ctx.now().getTime() - UNSCHEDULABLE_RETRY_MS;
    if (updated || !recently) ctx.event({ involved: obj, type: 'Warning', reason: 'FailedScheduling', message, component: COMPONENT });
  }
  await ctx.commit(ops);
}

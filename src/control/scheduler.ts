import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import { eventObject, type EventSpec, type PassContext } from './context.js';
import { bindingGuard, commitSets, SET_ROWS, type Binding } from './pod-rows.js';
import {
  clusterReads,
  clusterView,
  forgetSql,
  queueBatch,
  rememberSql,
  SCHEDULER_NAME,
  UNSCHEDULABLE_RETRY_MS,
  wantedPorts,
  type BackoffRow,
} from './scheduler-reads.js';
import { pendingPod, placementKey, placePod, queueOrder, type NodeState, type Placement, type PendingPod, type PlacedPod } from './scheduling.js';

// The scheduler (kube-scheduler's default-scheduler): binds pending pods in bounded batches, in
// priority order, each decision seeing the pods bound before it. Reads (scheduler-reads.ts):
//   1. the scheduling queue: at most batchSize pods, whole, that are due (idle: this one read, of
//      indexes only, returning nothing);
//   2. when some are due: every Node as a slim projection, and per node aggregates of its pods
//      (pod count and summed resourceVersions; per priority summed requests and host ports; counts of
//      the pods the batch's spreading looks at), in one scan of the bound pods, plus the
//      FailedScheduling events of the batch's pods tried before;
//   3. one write round trip: the bindings, conditions and events, and the back-off rows, set-based
//      (a statement for all the bindings, one for the conditions, one for the events: preparing a
//      statement costs more than writing a row).
// Pods beyond the batch wait for the next pass, which follows at once when this one wrote.
//
// As kube-scheduler's queue does, a pod that found no node is not tried again at once: it backs off
// (1 s doubling to 10 s with its attempts), then waits for a change that could let it fit (a Node
// added or changed, a bound pod deleted or finished; see schedule_moves), or 5 minutes at most. The
// state is in schedule_backoff, since passes keep no memory.
//
// A binding is conditional on the pod's resourceVersion and on the node still having room for the
// pass's pods there (bindingGuard: its pods are the ones the pass read, or there is room among the pods
// it holds now, and, where pods share the host's network, the ports free), so racing passes never
// over-commit a node, whether they read the same snapshot or not.

const COMPONENT = SCHEDULER_NAME;

interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
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
  const next = { ...pod, spec: { ...(pod.spec as object), nodeName: node } };
  return withScheduledCondition(next, { type: 'PodScheduled', status: 'True' }, now) ?? next;
}

interface Queued {
  obj: KObject;
  pod: PendingPod;
  /** Failed attempts so far, as its back-off row has them (undefined: it has none). */
  attempts?: number;
}

export async function scheduler(ctx: PassContext): Promise<void> {
  const nowMs = ctx.now().getTime();
  const [queueRows] = await ctx.store.rows([queueBatch(ctx.opts.batchSize, nowMs)]);
  if (queueRows.length === 0) return;
  const queue: Queued[] = [];
  // Back-off rows to forget (pods bound or gone) and to write (pods not ours to place, pods that found no node).
  const forget: string[] = [];
  const remember: BackoffRow[] = [];
  for (const r of queueRows) {
    const uid = String(r.uid);
    if (r.object != null) {
      const obj = objectOf(r);
      queue.push({ obj, pod: pendingPod(obj), attempts: r.attempts == null ? undefined : Number(r.attempts) });
    } else if (r.rv != null) remember.push([uid, 0, nowMs, Number(r.rv)]);
    else forget.push(uid);
  }
  const backoffOps = (): WriteOp[] => [
    ...(forget.length ? [{ op: 'exec' as const, ...forgetSql(forget) }] : []),
    ...(remember.length ? [{ op: 'exec' as const, ...rememberSql(remember) }] : []),
  ];
  if (queue.length === 0) {
    await ctx.commit(backoffOps());
    return;
  }
  queue.sort((a, b) => queueOrder(a.pod, b.pod));
  const tried = queue.filter((q) => q.attempts !== undefined).map((q) => q.pod.uid);
  const { rev, nodes, podsRead, lastEvent } = clusterView(await ctx.store.rows(clusterReads(queue.map((q) => q.pod), tried)));
  const now = ctx.timestamp();
  ctx.schedulingAttempts += queue.length;

  const cursor = { start: 0 };
  const bindings: { object: KObject; rv: number; node: NodeState; ports?: string }[] = [];
  const conditions: { object: KObject; rv: number }[] = [];
  const events: KObject[] = [];
  const event = (e: Omit<EventSpec, 'component'>) => events.push(eventObject({ ...e, component: COMPONENT }, now));
  // What the pass binds to each node, summed: the room its bindings there need.
  const needs = new Map<NodeState, Record<string, number>>();
  // Why pods found no node, by placementKey, since the last binding: a ReplicaSet's pods that do not
  // fit are decided once, not each over every node (and again for the preemption diagnosis).
  const unplaced = new Map<string, Placement>();
  for (const { obj, pod, attempts } of queue) {
    const rv = Number(obj.metadata!.resourceVersion);
    const key = placementKey(pod);
    const placement = unplaced.get(key) ?? placePod(pod, nodes, cursor);
    if ('node' in placement) {
      unplaced.clear();
      const node = placement.node;
      const need = needs.get(node) ?? {};
      for (const r in pod.requests) if (pod.requests[r] > 0) need[r] = (need[r] ?? 0) + pod.requests[r];
      needs.set(node, need);
      const ports = node.hostNetwork && pod.podPorts.length ? wantedPorts(pod.podPorts) : undefined;
      bindings.push({ object: bound(obj, node.name, now), rv, node, ports });
      // A binding that fails leaves the pod without a back-off row: the next pass tries it again.
      if (attempts !== undefined) forget.push(pod.uid);
      node.add(pod satisfies PlacedPod);
      event({ involved: obj, type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${pod.namespace}/${pod.name} to ${node.name}` });
      continue;
    }
    unplaced.set(key, placement);
    remember.push([pod.uid, (attempts ?? 0) + 1, nowMs, rev]);
    const { message } = placement;
    const updated = withScheduledCondition(obj, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }, now);
    if (updated) conditions.push({ object: updated, rv });
    const recently = (lastEvent.get(`${pod.uid}/${message}`) ?? -Infinity) > nowMs - UNSCHEDULABLE_RETRY_MS;
    if (updated || !recently) event({ involved: obj, type: 'Warning', reason: 'FailedScheduling', message });
  }
  // By node, in statements that each hold all of a node's bindings (its guard expects the node as read).
  bindings.sort((a, b) => (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0));
  const size = Math.min(ctx.opts.commitChunk || SET_ROWS, SET_ROWS);
  const statements: { object: KObject; rv: number; with: Binding }[][] = [];
  bindings.forEach(({ object, rv, node, ports }, i) => {
    const room: Binding['room'] = {};
    for (const [r, v] of Object.entries(needs.get(node)!)) room[r] = [v, node.allocatable[r] ?? 0];
    const item = { object, rv, with: { node: node.name, ...(podsRead.get(node.name) ?? { pods: 0, rvSum: 0 }), room, ports } satisfies Binding };
    const last = statements[statements.length - 1];
    const startsNode = i === 0 || bindings[i - 1].node !== node;
    const fits = last && last.length < size && (!startsNode || last.length + (needs.get(node)!.pods ?? 1) <= size);
    if (fits) last.push(item);
    else statements.push([item]);
  });
  const guard = bindingGuard(rev);
  ctx.scheduled += bindings.length;
  await commitSets(ctx, [
    ...statements.map((items): WriteOp => ({ op: 'updates', items, guard })),
    ...(conditions.length ? [{ op: 'updates' as const, items: conditions }] : []),
    ...(events.length ? [{ op: 'events' as const, objects: events }] : []),
    ...backoffOps(),
  ]);
}

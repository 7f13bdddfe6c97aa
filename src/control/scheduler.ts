import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { nodeBindingGuard } from './pod-rows.js';
import { clusterReads, clusterView, hostPortsFreeGuard, pendingBatch, SCHEDULER_NAME } from './scheduler-reads.js';
import { pendingPod, placementKey, placePod, queueOrder, type Placement, type PendingPod, type PlacedPod } from './scheduling.js';

// The scheduler (kube-scheduler's default-scheduler): binds pending pods in bounded batches, in
// priority order, each decision seeing the pods bound before it. Reads (scheduler-reads.ts):
//   1. at most batchSize pending pods, whole, in queue order (idle: this one read, returning nothing);
//   2. when some are pending: every Node as a slim projection, and per node aggregates of its pods
//      (pod count; per priority summed requests and host ports; counts of the pods the batch's
//      spreading looks at), plus the batch's FailedScheduling events;
//   3. one write round trip: the bindings, conditions and events.
// Pods beyond the batch wait for the next pass, which follows at once when this one wrote.
// A binding is conditional on the pod's resourceVersion, on the node still holding as many pods as
// it held when read, and on the node still having room for the pod (and, where pods share the host's
// network, its ports free), so racing passes never over-commit a node, whether they read the same
// snapshot or not.

const COMPONENT = SCHEDULER_NAME;
/**
 * kube-scheduler retries an unschedulable pod at least this often (podMaxInUnschedulablePodsDuration)
 * and records FailedScheduling each time; a pod whose reason has not changed gets its event counted
 * again this often, so `kubectl describe` keeps showing it while the pod itself is left unwritten.
 */
const UNSCHEDULABLE_RETRY_MS = 5 * 60_000;

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
  const next = structuredClone(pod);
  (next.spec as { nodeName?: string }).nodeName = node;
  return withScheduledCondition(next, { type: 'PodScheduled', status: 'True' }, now) ?? next;
}

export async function scheduler(ctx: PassContext): Promise<void> {
  const [pendingRows] = await ctx.store.rows([pendingBatch(ctx.opts.batchSize)]);
  if (pendingRows.length === 0) return;
  const queue: { obj: KObject; pod: PendingPod }[] = pendingRows.map((r) => {
    const obj = objectOf(r);
    return { obj, pod: pendingPod(obj) };
  });
  queue.sort((a, b) => queueOrder(a.pod, b.pod));
  const { nodes, lastEvent } = clusterView(await ctx.store.rows(clusterReads(queue.map((q) => q.pod))));
  const now = ctx.timestamp();

  const ops: WriteOp[] = [];
  const cursor = { start: 0 };
  // Why pods found no node, by placementKey, since the last binding: a ReplicaSet's pods that do not
  // fit are decided once, not each over every node (and again for the preemption diagnosis).
  const unplaced = new Map<string, Placement>();
  for (const { obj, pod } of queue) {
    const rv = Number(obj.metadata!.resourceVersion);
    const key = placementKey(pod);
    const placement = unplaced.get(key) ?? placePod(pod, nodes, cursor);
    if ('node' in placement) {
      unplaced.clear();
      const node = placement.node;
      const guard = nodeBindingGuard(node.name, node.podCount, pod.requests, node.allocatable);
      if (node.hostNetwork && pod.podPorts.length) {
        const ports = hostPortsFreeGuard(node.name, pod.podPorts);
        guard.sql = `${guard.sql} AND ${ports.sql}`;
        guard.args.push(...ports.args);
      }
      ops.push({ op: 'update', object: bound(obj, node.name, now), rv, guard });
      node.add(pod satisfies PlacedPod);
      ctx.event({ involved: obj, type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${pod.namespace}/${pod.name} to ${node.name}`, component: COMPONENT });
      continue;
    }
    unplaced.set(key, placement);
    const { message } = placement;
    const updated = withScheduledCondition(obj, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }, now);
    if (updated) ops.push({ op: 'update', object: updated, rv });
    const recently = (lastEvent.get(`${pod.uid}/${message}`) ?? -Infinity) > ctx.now().getTime() - UNSCHEDULABLE_RETRY_MS;
    if (updated || !recently) ctx.event({ involved: obj, type: 'Warning', reason: 'FailedScheduling', message, component: COMPONENT });
  }
  await ctx.commit(ops);
}

import { TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE } from '../kinds/pod.js';
import type { KObject } from '../kinds/types.js';
import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp } from './deletion.js';
import { toleratesTaint, type Taint, type Toleration } from './scheduling.js';

// Node heartbeats and failure recovery, as kube-controller-manager's node lifecycle controller,
// taint-eviction controller and pod GC do them:
// - a node whose lease (kube-node-lease/NAME) is older than node-monitor-grace-period gets Ready=Unknown and
//   the unreachable taints; one that reports Ready=False gets the not-ready taints; a renewed lease clears them;
// - pods on a node with a NoExecute taint they do not tolerate are evicted, at once or when their
//   tolerationSeconds run out;
// - pods still terminating on a node that is gone or not ready, past their grace period, are removed.
// Round trips: one read of nodes and leases, one read of the pods on troubled nodes (only when there are
// some), one write.

const COMPONENT = 'node-controller';
const EVICTION_COMPONENT = 'taint-eviction-controller';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

const MANAGED_TAINTS = [TAINT_NODE_UNREACHABLE, TAINT_NODE_NOT_READY];


/** When a pod on a node with these taints must go: now, at a time, or never (undefined). */
export function evictionTime(tolerations: Toleration[], taints: Taint[]): number | undefined {
  let at: number | undefined;
  for (const taint of taints.filter((t) => t.effect === 'NoExecute')) {
    const matching = tolerations.filter((t) => toleratesTaint(t, taint));
    if (matching.length === 0) return 0;
    const seconds = matching.map((t) => t.tolerationSeconds).filter((s): s is number => s !== undefined);
    if (seconds.length === matching.length) {
      const added = Date.parse(taint.timeAdded ?? '') || 0;
      const t = added + Math.max(0, Math.min(...seconds)) * 1000;
      at = at === undefined ? t : Math.min(at, t);
    }
  }
  return at;
}

function heartbeat(node: KObject, lease: KObject | undefined): number {
  const renew = (lease?.spec as { renewTime?: string } | undefined)?.renewTime;
  const ready = ((node.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
  const times = [renew, ready?.lastHeartbeatTime, node.metadata?.creationTimestamp ?? undefined]
    .map((t) => (t ? Date.parse(t) : NaN))
    .filter((t) => !Number.isNaN(t));
  return Math.max(...times, 0);
}

/** The node as the lifecycle controller wants it now, or undefined when it is right as it is. */
function desiredNode(ctx: PassContext, node: KObject, lease: KObject | undefined): KObject | undefined {
  const now = ctx.now().getTime();
  const stale = now - heartbeat(node, lease) > ctx.opts.nodeMonitorGracePeriodSeconds * 1000;
  const status = (node.status ?? {}) as { conditions?: Condition[] };
  const conditions = [...(status.conditions ?? [])];
  let ready = conditions.find((c) => c.type === 'Ready');
  const stamp = ctx.timestamp();
  const next = structuredClone(node);
  const nextStatus = ((next.status ??= {}) as { conditions?: Condition[] });
  let changed = false;

  if (stale && ready?.status !== 'Unknown') {
    nextStatus.conditions = [
      ...conditions.filter((c) => c.type !== 'Ready'),
      { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: ready?.lastHeartbeatTime ?? stamp, lastTransitionTime: stamp },
    ];
    ready = nextStatus.conditions[nextStatus.conditions.length - 1];
    changed = true;
    ctx.event({ involved: node, type: 'Normal', reason: 'NodeNotReady', message: `Node ${node.metadata!.name} status is now: NodeNotReady`, component: COMPONENT });
  } else if (!stale && ready?.status === 'Unknown' && ready.reason === 'NodeStatusUnknown') {
    // The lease is being renewed again: the node is back.
    nextStatus.conditions = [
      ...conditions.filter((c) => c.type !== 'Ready'),
      { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: stamp, lastTransitionTime: stamp },
    ];
    ready = nextStatus.conditions[nextStatus.conditions.length - 1];
    changed = true;
    ctx.event({ involved: node, type: 'Normal', reason: 'NodeReady', message: `Node ${node.metadata!.name} status is now: NodeReady`, component: COMPONENT });
  }

  const key = ready?.status === 'Unknown' ? TAINT_NODE_UNREACHABLE : ready?.status === 'False' ? TAINT_NODE_NOT_READY : undefined;
  const taints = ((node.spec as { taints?: Taint[] } | undefined)?.taints ?? []);
  const wanted: Taint[] = key ? [{ key, effect: 'NoSchedule' }, { key, effect: 'NoExecute' }] : [];
  const kept = taints.filter((t) => !MANAGED_TAINTS.includes(t.key) || wanted.some((w) => w.key === t.key && w.effect === t.effect));
  const added = wanted
    .filter((w) => !taints.some((t) => t.key === w.key && t.effect === w.effect))
    .map((w) => ({ ...w, timeAdded: stamp }));
  if (added.length || kept.length !== taints.length) {
    const spec = (next.spec ??= {}) as { taints?: Taint[] };
    const all = [...kept, ...added];
    if (all.length) spec.taints = all;
    else delete spec.taints;
    changed = true;
  }
  return changed ? next : undefined;
}

function podReadyFalse(ctx: PassContext, pod: KObject): KObject | undefined {
  const status = (pod.status ?? {}) as { conditions?: Condition[] };
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return undefined;
  const next = structuredClone(pod);
  const conditions = (next.status as { conditions: Condition[] }).conditions;
  for (const c of conditions) {
    if (c.type === 'Ready' || c.type === 'ContainersReady') {
      c.status = 'False';
      c.lastTransitionTime = ctx.timestamp();
    }
  }
  return next;
}

export async function nodeLifecycle(ctx: PassContext): Promise<void> {
  const [nodes, leases] = await ctx.store.query([
    `SELECT rv, object FROM objects WHERE kind = 'Node'`,
    `SELECT rv, object FROM objects WHERE kind = 'Lease' AND namespace = 'kube-node-lease'`,
  ]);
  const leaseOf = new Map(leases.map((l) => [l.metadata!.name!, l]));
  const ops: WriteOp[] = [];
  const current = new Map<string, KObject>();
  for (const node of nodes) {
    const next = desiredNode(ctx, node, leaseOf.get(node.metadata!.name!));
    if (next) ops.push({ op: 'update', object: next, rv: Number(node.metadata!.resourceVersion) });
    current.set(node.metadata!.name!, next ?? node);
  }

  const troubled = [...current.values()].filter((n) =>
    ((n.spec as { taints?: Taint[] } | undefined)?.taints ?? []).some((t) => t.effect === 'NoExecute' || MANAGED_TAINTS.includes(t.key)));
  const [pods] = await ctx.store.query([
    {
      sql: `SELECT rv, object FROM objects WHERE kind = 'Pod' AND node_name IS NOT NULL
              AND (node_name IN (SELECT value FROM json_each(?)) OR node_name NOT IN (SELECT name FROM objects WHERE kind = 'Node'))`,
      args: [JSON.stringify(troubled.map((n) => n.metadata!.name))],
    },
  ]);
  const now = ctx.now().getTime();
  for (const pod of pods) {
    const node = current.get(String((pod.spec as { nodeName?: string }).nodeName));
    const rv = Number(pod.metadata!.resourceVersion);
    const deletion = pod.metadata!.deletionTimestamp;
    if (deletion) {
      // Pod GC: a pod that cannot finish terminating (its node is gone or not ready) is removed once its grace is over.
      const ready = ((node?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
      if ((!node || ready?.status !== 'True') && Date.parse(deletion) <= now) {
        ops.push({ op: 'delete', kind: 'Pod', namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, rv });
      }
      continue;
    }
    if (!node) {
      ops.push({ op: 'delete', kind: 'Pod', namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, rv });
      continue;
    }
    const taints = (node.spec as { taints?: Taint[] } | undefined)?.taints ?? [];
    const unknown = taints.some((t) => t.key === TAINT_NODE_UNREACHABLE);
    const at = evictionTime(((pod.spec as { tolerations?: Toleration[] }).tolerations ?? []), taints);
    const base = (unknown && podReadyFalse(ctx, pod)) || pod;
    if (at !== undefined && at <= now) {
      const op = deleteOp(base, ctx.now());
      if (op) {
        ops.push(op.op === 'update' ? { ...op, rv } : op);
        ctx.event({ involved: pod, type: 'Normal', reason: 'TaintManagerEviction', message: `Marking for deletion Pod ${pod.metadata!.namespace}/${pod.metadata!.name}`, component: EVICTION_COMPONENT });
      }
    } else if (base !== pod) {
      ops.push({ op: 'update', object: base, rv });
    }
  }
  await ctx.commit(ops);
}

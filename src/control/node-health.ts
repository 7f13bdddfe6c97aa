import { ANNOTATION_NODE_AUTONOMY } from '../kinds/node.js';
import { TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE } from '../kinds/pod.js';
import type { KObject } from '../kinds/types.js';
import type { Taint } from './scheduling.js';

// What the node lifecycle controller knows of a node's health (a slim row computed in SQL, so a pass
// never reads every whole Node, image lists and all) and the change it wants on the node.

/** The taints the node lifecycle controller puts on and takes off. */
export const MANAGED_TAINTS = [TAINT_NODE_UNREACHABLE, TAINT_NODE_NOT_READY];

export interface ReadyCondition {
  type: 'Ready';
  status?: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

export interface NodeHealth {
  name: string;
  rv: number;
  created?: string;
  /** spec.renewTime of its lease in kube-node-lease. */
  renew?: string;
  ready?: ReadyCondition;
  taints: Taint[];
  /** Annotated ANNOTATION_NODE_AUTONOMY: unreachable, it is not tainted NoExecute, so its pods stay. */
  autonomous: boolean;
  /** spec.podCIDR, for the node IPAM controller after this one ('' or undefined: none yet). */
  podCIDR?: string;
}

/** What the controller changes on a node: its Ready condition, its taints, and the event to tell. */
export interface NodeChange {
  ready?: ReadyCondition;
  taints?: Taint[];
  event?: 'NodeNotReady' | 'NodeReady';
}

/**
 * One row per Node: name, rv, creation, lease renewal, Ready condition, taints, the autonomy
 * annotation and podCIDR; the whole Node stays in the database.
 */
export const NODE_HEALTH_SQL = `SELECT n.name, n.rv, n.object ->> '$.metadata.creationTimestamp' AS created,
    l.object ->> '$.spec.renewTime' AS renew,
    (SELECT json_object('status', c.value ->> 'status', 'reason', c.value ->> 'reason', 'lastHeartbeatTime', c.value ->> 'lastHeartbeatTime')
      FROM json_each(n.object, '$.status.conditions') c WHERE c.value ->> 'type' = 'Ready' LIMIT 1) AS ready,
    n.object -> '$.spec.taints' AS taints,
    n.object -> '$.metadata.annotations' ->> '${ANNOTATION_NODE_AUTONOMY}' AS autonomy,
    n.object ->> '$.spec.podCIDR' AS pod_cidr
  FROM objects n LEFT JOIN objects l ON l.kind = 'Lease' AND l.namespace = 'kube-node-lease' AND l.name = n.name
  WHERE n.kind = 'Node' AND n.namespace = ''
  ORDER BY n.name`;

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function toNodeHealth(r: Record<string, unknown>): NodeHealth {
  const ready = r.ready ? (JSON.parse(String(r.ready)) as Record<string, unknown>) : undefined;
  return {
    name: String(r.name),
    rv: Number(r.rv),
    created: text(r.created),
    renew: text(r.renew),
    ready: ready && { type: 'Ready', status: text(ready.status), reason: text(ready.reason), lastHeartbeatTime: text(ready.lastHeartbeatTime) },
    taints: r.taints ? (JSON.parse(String(r.taints)) as Taint[]) : [],
    autonomous: r.autonomy === 'true',
    podCIDR: text(r.pod_cidr),
  };
}

/** The same facts from a whole Node (read to be changed) and the lease renewal read with the slim row. */
export function healthOf(node: KObject, renew: string | undefined): NodeHealth {
  const conditions = ((node.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []);
  return {
    name: String(node.metadata!.name),
    rv: Number(node.metadata!.resourceVersion),
    created: node.metadata!.creationTimestamp ?? undefined,
    renew,
    ready: conditions.find((c): c is ReadyCondition => c.type === 'Ready'),
    taints: ((node.spec as { taints?: Taint[] } | undefined)?.taints ?? []),
    autonomous: node.metadata!.annotations?.[ANNOTATION_NODE_AUTONOMY] === 'true',
    podCIDR: (node.spec as { podCIDR?: string } | undefined)?.podCIDR,
  };
}

/** The newest sign of life: lease renewal, last heartbeat, or creation. */
function heartbeat(h: NodeHealth): number {
  const times = [h.renew, h.ready?.lastHeartbeatTime, h.created].map((t) => (t ? Date.parse(t) : NaN)).filter((t) => !Number.isNaN(t));
  return Math.max(...times, 0);
}

/**
 * The change the node needs now (undefined: none): Ready=Unknown once its heartbeat is older than the
 * grace period, Ready=True again when the lease is renewed, and the taints that match its Ready status
 * (an autonomous node that is unreachable gets the NoSchedule taint alone, so its pods are not evicted;
 * without the annotation the NoExecute taint follows).
 */
export function nodeChange(h: NodeHealth, now: Date, stamp: string, gracePeriodSeconds: number): NodeChange | undefined {
  const stale = now.getTime() - heartbeat(h) > gracePeriodSeconds * 1000;
  const change: NodeChange = {};
  if (stale && h.ready?.status !== 'Unknown') {
    change.ready = { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: h.ready?.lastHeartbeatTime ?? stamp, lastTransitionTime: stamp };
    change.event = 'NodeNotReady';
  } else if (!stale && h.ready?.status === 'Unknown' && h.ready.reason === 'NodeStatusUnknown') {
    // The lease is being renewed again: the node is back.
    change.ready = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: stamp, lastTransitionTime: stamp };
    change.event = 'NodeReady';
  }
  const status = (change.ready ?? h.ready)?.status;
  const key = status === 'Unknown' ? TAINT_NODE_UNREACHABLE : status === 'False' ? TAINT_NODE_NOT_READY : undefined;
  const effects = key === TAINT_NODE_UNREACHABLE && h.autonomous ? ['NoSchedule'] : ['NoSchedule', 'NoExecute'];
  const wanted: Taint[] = key ? effects.map((effect) => ({ key, effect })) : [];
  const kept = h.taints.filter((t) => !MANAGED_TAINTS.includes(t.key) || wanted.some((w) => w.key === t.key && w.effect === t.effect));
  const added = wanted.filter((w) => !h.taints.some((t) => t.key === w.key && t.effect === w.effect)).map((w) => ({ ...w, timeAdded: stamp }));
  if (added.length || kept.length !== h.taints.length) change.taints = [...kept, ...added];
  return change.ready || change.taints ? change : undefined;
}

/** The node with the change applied. */
export function changedNode(node: KObject, change: NodeChange): KObject {
  const next = structuredClone(node);
  if (change.ready) {
    const status = (next.status ??= {}) as { conditions?: { type: string }[] };
    status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== 'Ready'), change.ready];
  }
  if (change.taints) {
    const spec = (next.spec ??= {}) as { taints?: Taint[] };
    if (change.taints.length) spec.taints = change.taints;
    else delete spec.taints;
  }
  return next;
}

/** The node's Ready status and taints once the change is made. */
export function changedHealth(h: NodeHealth, change: NodeChange | undefined): NodeHealth {
  return change ? { ...h, ready: change.ready ?? h.ready, taints: change.taints ?? h.taints } : h;
}

// What the scheduler reads, in SQL: a bounded batch of pending pods in queue order, then what
// placing them needs as aggregates computed by the database (per node, per priority), never a row
// per bound pod nor whole Node objects.
import type { InStatement } from '@libsql/client';
import { LABEL_POD_NETWORK, POD_NETWORK_HOST } from '../kinds/node.js';
import type { KObject } from '../kinds/types.js';
import { nodeState, spreadNeeds, summedUsage, type NodeState, type PendingPod, type Usage } from './scheduling.js';

export const SCHEDULER_NAME = 'default-scheduler';

/**
 * Pods waiting for this scheduler (`p` is the table alias). Pods with a nodeName are bound already.
 * The unbound pods are found by two lookups of the (kind, node_name) index: SQLite does not split
 * `node_name IS NULL OR node_name = ''` into those, and would scan every pod.
 */
const pending = (p: string) => `${p}.kind = 'Pod' AND ${p}.rowid IN (SELECT rowid FROM objects WHERE kind = 'Pod' AND node_name IS NULL
    UNION ALL SELECT rowid FROM objects WHERE kind = 'Pod' AND node_name = '')
  AND json_extract(${p}.object, '$.metadata.deletionTimestamp') IS NULL
  AND (${p}.phase IS NULL OR ${p}.phase NOT IN ('Succeeded', 'Failed'))
  AND COALESCE(NULLIF(json_extract(${p}.object, '$.spec.schedulerName'), ''), '${SCHEDULER_NAME}') = '${SCHEDULER_NAME}'
  AND COALESCE(json_array_length(${p}.object, '$.spec.schedulingGates'), 0) = 0`;

/** A pod's FailedScheduling events (`p` the pod's alias, `e` the event's): events are named "<pod>.<hash>". */
const failedSchedulingOf = (p: string, e: string) => `${e}.kind = 'Event' AND ${e}.namespace = ${p}.namespace
  AND ${e}.name > ${p}.name || '.' AND ${e}.name < ${p}.name || '/'
  AND ${e}.object ->> '$.reason' = 'FailedScheduling' AND ${e}.object ->> '$.involvedObject.uid' = ${p}.uid`;

const priority = (p: string) => `COALESCE(${p}.object ->> '$.spec.priority', 0)`;

/**
 * Round trip 1: at most `limit` pending pods, whole. Pods never found unschedulable come first, in
 * the scheduling queue's order (priority, then age, then key); then those that were, the one whose
 * FailedScheduling event was counted longest ago first. Events are counted again every few minutes,
 * so when more pods are stuck than a batch holds, each still has its turn and none starves the
 * pods behind it.
 */
export function pendingBatch(limit: number): InStatement {
  return {
    sql: `SELECT p.rv, p.object FROM objects p WHERE ${pending('p')}
      ORDER BY (SELECT MAX(e.object ->> '$.lastTimestamp') FROM objects e WHERE ${failedSchedulingOf('p', 'e')}),
        ${priority('p')} DESC, p.object ->> '$.metadata.creationTimestamp', p.namespace, p.name
      LIMIT ?`,
    args: [limit],
  };
}

/** Pods on a node that hold resources: bound and not Succeeded or Failed. */
const ACTIVE = `p.kind = 'Pod' AND p.node_name IS NOT NULL AND p.node_name != '' AND COALESCE(p.phase, '') NOT IN ('Succeeded', 'Failed')`;

/** Nodes as the filters see them: name, labels, taints, unschedulable, allocatable, the Ready condition. */
const NODES = `SELECT json_object(
    'metadata', json_object('name', name, 'labels', object -> '$.metadata.labels'),
    'spec', json_object('taints', object -> '$.spec.taints', 'unschedulable', object -> '$.spec.unschedulable'),
    'status', json_object(
      'allocatable', COALESCE(object -> '$.status.allocatable', object -> '$.status.capacity'),
      'conditions', (SELECT json_group_array(json_object('type', 'Ready', 'status', c.value ->> 'status'))
        FROM json_each(object, '$.status.conditions') c WHERE c.value ->> 'type' = 'Ready'))) AS node
  FROM objects WHERE kind = 'Node' ORDER BY name`;

/** Pods per node in any phase (what the binding guard counts), from the index alone. */
const POD_COUNTS = `SELECT node_name AS node, COUNT(*) AS pods FROM objects
  WHERE kind = 'Pod' AND node_name IS NOT NULL AND node_name != '' GROUP BY node_name`;

/**
 * Per node and priority, over active pods: the summed requests of each resource, and how many pods
 * request a positive amount of it (the others count at the scoring defaults). `pods` is 1 per pod.
 */
const USAGE = `SELECT node, priority, json_group_object(resource, total) AS requested, json_group_object(resource, positive) AS requesting
  FROM (SELECT p.node_name AS node, ${priority('p')} AS priority, r.key AS resource, SUM(r.value) AS total, SUM(r.value > 0) AS positive
    FROM objects p, json_each(p.summary, '$.requests') r WHERE ${ACTIVE} GROUP BY 1, 2, 3)
  GROUP BY node, priority`;

/** The container ports of the pod object `object`, a row each as `cp` (with HOST_NETWORK_PORT). */
export const containerPortRows = (object: string) => `json_each(${object}, '$.spec.containers') c, json_each(c.value, '$.ports') cp`;

// What one `cp` row takes on the host where pods share its network (as hostNetworkPorts in scheduling.ts).
const PORT_NUMBER = `COALESCE(NULLIF(cp.value ->> 'hostPort', 0), cp.value ->> 'containerPort')`;
const PORT_PROTOCOL = `COALESCE(cp.value ->> 'protocol', 'TCP')`;
const PORT_IP = `CASE WHEN cp.value ->> 'hostPort' THEN COALESCE(NULLIF(cp.value ->> 'hostIP', ''), '0.0.0.0') ELSE '0.0.0.0' END`;

/** hostNetworkPorts (scheduling.ts) of one `cp` row: the port it takes on the host, or NULL for none. */
export const HOST_NETWORK_PORT = `CASE WHEN ${PORT_NUMBER} THEN ${PORT_PROTOCOL} || '/' || ${PORT_IP} || '/' || ${PORT_NUMBER} END`;

/**
 * The guard on binding a pod to a node whose pods share the host's network: no active pod there
 * listens on one of `ports` (hostNetworkPorts; overlapping as portsConflict has it). The pod count
 * the binding is also conditional on misses pods that came and went between a pass's read and its
 * write; this looks at the node's pods as they are.
 */
export function hostPortsFreeGuard(node: string, ports: string[]): { sql: string; args: (string | number)[] } {
  const wanted = ports.map((p) => [p.slice(0, p.indexOf('/')), p.slice(p.indexOf('/') + 1, p.lastIndexOf('/')), Number(p.slice(p.lastIndexOf('/') + 1))]);
  const wild = `('0.0.0.0', '::', '')`;
  return {
    sql: `NOT EXISTS (SELECT 1 FROM objects p, ${containerPortRows('p.object')}, json_each(?) w
      WHERE p.kind = 'Pod' AND p.node_name = ? AND COALESCE(p.phase, '') NOT IN ('Succeeded', 'Failed')
        AND ${PORT_NUMBER} = w.value ->> 2 AND ${PORT_PROTOCOL} = w.value ->> 0
        AND (${PORT_IP} IN ${wild} OR w.value ->> 1 IN ${wild} OR ${PORT_IP} = w.value ->> 1))`,
    args: [JSON.stringify(wanted), node],
  };
}

/**
 * Host ports in use per node and priority (rows only for pods that use some): the pods' hostPorts,
 * and on nodes whose pods share the host's network, every container port (those pods are read whole,
 * but only there: the summary has no container ports).
 */
const PORTS = `SELECT p.node_name AS node, ${priority('p')} AS priority, hp.value AS port
  FROM objects p, json_each(p.summary, '$.hostPorts') hp WHERE ${ACTIVE}
  UNION
  SELECT p.node_name, ${priority('p')}, ${HOST_NETWORK_PORT}
  FROM objects n JOIN objects p ON p.kind = 'Pod' AND p.node_name = n.name, ${containerPortRows('p.object')}
  WHERE n.kind = 'Node' AND n.namespace = '' AND n.object -> '$.metadata.labels' ->> '${LABEL_POD_NETWORK}' = '${POD_NETWORK_HOST}'
    AND ${ACTIVE} AND ${HOST_NETWORK_PORT} IS NOT NULL`;

/**
 * Active pods not being deleted that spreading the batch counts, grouped by node, priority,
 * namespace, owner (when one of the batch's) and the labels the batch's selectors look at (only
 * those keys, so pods differing elsewhere share a row). Args: owners, namespaces, label keys (JSON arrays).
 */
const GROUPS = `SELECT p.node_name AS node, ${priority('p')} AS priority, p.namespace AS namespace,
    CASE WHEN p.owner_uid IN (SELECT value FROM json_each(?1)) THEN p.owner_uid END AS owner,
    (SELECT json_group_object(k.value, p.summary -> '$.labels' ->> k.value) FROM json_each(?3) k
      WHERE p.summary -> '$.labels' ->> k.value IS NOT NULL) AS labels,
    COUNT(*) AS count
  FROM objects p
  WHERE ${ACTIVE} AND NOT (p.summary ->> '$.deleting')
    AND (p.owner_uid IN (SELECT value FROM json_each(?1)) OR p.namespace IN (SELECT value FROM json_each(?2)))
  GROUP BY 1, 2, 3, 4, 5`;

/** The batch's FailedScheduling events (arg: the pods' uids, a JSON array). */
const EVENTS = `SELECT p.uid AS uid, e.object ->> '$.message' AS message, e.object ->> '$.lastTimestamp' AS last
  FROM objects p JOIN objects e ON ${failedSchedulingOf('p', 'e')}
  WHERE p.kind = 'Pod' AND p.uid IN (SELECT value FROM json_each(?))`;

/** Round trip 2: what placing `batch` needs (see clusterView for the rows). */
export function clusterReads(batch: PendingPod[]): InStatement[] {
  const { owners, namespaces, labelKeys } = spreadNeeds(batch);
  const uids = JSON.stringify(batch.map((p) => p.uid));
  const spreading = owners.length || namespaces.length;
  return [
    NODES,
    POD_COUNTS,
    USAGE,
    PORTS,
    { sql: EVENTS, args: [uids] },
    ...(spreading ? [{ sql: GROUPS, args: [JSON.stringify(owners), JSON.stringify(namespaces), JSON.stringify(labelKeys)] }] : []),
  ];
}

export interface ClusterView {
  /** By name. */
  nodes: NodeState[];
  /** When each pod's FailedScheduling event with a given message ("uid/message") was last counted. */
  lastEvent: Map<string, number>;
}

/** The nodes with their pods' aggregates, from the rows of clusterReads. */
export function clusterView([nodeRows, countRows, usageRows, portRows, eventRows, groupRows = []]: Record<string, unknown>[][]): ClusterView {
  const nodes = nodeRows.map((r) => nodeState(JSON.parse(String(r.node)) as KObject));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const r of countRows) {
    const node = byName.get(String(r.node));
    if (node) node.podCount = Number(r.pods);
  }
  // Usage per node and priority, host ports joined in, then added to the nodes.
  const usage = new Map<string, { node: string; usage: Usage }>();
  const key = (r: Record<string, unknown>) => JSON.stringify([r.node, r.priority]);
  for (const r of usageRows) {
    const requested = JSON.parse(String(r.requested)) as Record<string, number>;
    const requesting = JSON.parse(String(r.requesting)) as Record<string, number>;
    usage.set(key(r), { node: String(r.node), usage: summedUsage(Number(r.priority), requested, requesting) });
  }
  for (const r of portRows) usage.get(key(r))?.usage.hostPorts.push(String(r.port));
  for (const u of usage.values()) byName.get(u.node)?.addUsage(u.usage);
  for (const r of groupRows) {
    byName.get(String(r.node))?.groups.push({
      priority: Number(r.priority),
      namespace: String(r.namespace),
      ownerUid: (r.owner as string | null) ?? null,
      labels: JSON.parse(String(r.labels)) as Record<string, string>,
      labelsKey: String(r.labels),
      count: Number(r.count),
    });
  }
  const lastEvent = new Map<string, number>();
  for (const e of eventRows) {
    const k = `${e.uid}/${e.message}`;
    lastEvent.set(k, Math.max(lastEvent.get(k) ?? 0, Date.parse(String(e.last))));
  }
  return { nodes, lastEvent };
}

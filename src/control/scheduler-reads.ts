// What the scheduler reads, in SQL: a bounded batch of the pods due in its queue (back-off state in
// schedule_backoff), then what placing them needs as aggregates computed by the database (per node,
// per priority, in one scan of the bound pods), never a row per bound pod nor whole Node objects; and
// the statements that keep its back-off rows.
import type { InStatement } from '@libsql/client';
import { LABEL_POD_NETWORK, POD_NETWORK_HOST } from '../kinds/node.js';
import type { KObject } from '../kinds/types.js';
import { nodeState, spreadNeeds, summedUsage, type NodeState, type PendingPod, type Usage } from './scheduling.js';

export const SCHEDULER_NAME = 'default-scheduler';

/**
 * Whether the pod `p`, which has no node, is for this scheduler to place: not being deleted, not
 * finished, this scheduler's, not gated.
 */
const schedulable = (p: string) => `json_extract(${p}.object, '$.metadata.deletionTimestamp') IS NULL
  AND COALESCE(${p}.phase, '') NOT IN ('Succeeded', 'Failed')
  AND COALESCE(NULLIF(json_extract(${p}.object, '$.spec.schedulerName'), ''), '${SCHEDULER_NAME}') = '${SCHEDULER_NAME}'
  AND COALESCE(json_array_length(${p}.object, '$.spec.schedulingGates'), 0) = 0`;

/** A pod without a node (`p` the alias): the terms of the objects_unbound index, which finds them. */
const unbound = (p: string) => `${p}.kind = 'Pod' AND COALESCE(${p}.node_name, '') = ''`;

const priority = (p: string) => `COALESCE(${p}.object ->> '$.spec.priority', 0)`;

/** kube-scheduler's podInitialBackoffDuration and podMaxBackoffDuration: a pod's back-off doubles with its attempts. */
export const INITIAL_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 10_000;
/**
 * kube-scheduler's podMaxInUnschedulablePodsDuration: an unschedulable pod is tried again at least
 * this often, even when nothing changed; its FailedScheduling event is counted again as often.
 */
export const UNSCHEDULABLE_RETRY_MS = 5 * 60_000;

/** The back-off after `attempts` failed attempts (attempts >= 1), in SQL over the row's `attempts`. */
const BACKOFF = `MIN(${MAX_BACKOFF_MS}, ${INITIAL_BACKOFF_MS} << MIN(attempts - 1, 30))`;

/**
 * Round trip 1: the scheduling queue, at most `limit` rows, each a pod's uid with `attempts` (its failed
 * attempts; null: it has no back-off row), `rv` and `object`. A row without `rv` is a back-off row
 * whose pod is gone or bound (to forget); one with `rv` but no `object` a pod this scheduler does not
 * place (to remember as such, so it is looked at again only once it changes). Pods to place come
 * first: those never tried (or changed since found not ours to place), then those tried before, the
 * one tried longest ago first, each group in kube-scheduler's queue order (priority, then age).
 *
 * A tried pod comes back once its back-off is over and a change since its attempt could let it fit
 * (schedule_moves), or 5 minutes after its attempt. So with many pods stuck and nothing changed, this
 * reads indexes only: the pods without a node (objects_unbound) against their back-off rows, the rows
 * of pods not ours to place against their pods' resourceVersions, and two empty index ranges.
 */
export function queueBatch(limit: number, nowMs: number): InStatement {
  return {
    sql: `WITH queue (uid, attempts, tried_at) AS (
        SELECT p.uid, NULL, NULL FROM objects p INDEXED BY objects_unbound WHERE ${unbound('p')}
          AND NOT EXISTS (SELECT 1 FROM schedule_backoff b WHERE b.uid = p.uid)
        UNION ALL
        SELECT b.uid, 0, NULL FROM schedule_backoff b WHERE b.attempts = 0
          AND NOT EXISTS (SELECT 1 FROM objects p WHERE p.uid = b.uid AND p.rv = b.tried_rev)
        UNION ALL
        SELECT uid, attempts, tried_at FROM schedule_backoff WHERE attempts > 0
          AND tried_rev < (SELECT rev FROM schedule_moves WHERE id = 1) AND tried_at + ${BACKOFF} <= ?1
        UNION
        SELECT uid, attempts, tried_at FROM schedule_backoff WHERE attempts > 0 AND tried_at <= ?1 - ${UNSCHEDULABLE_RETRY_MS})
      SELECT q.uid, q.attempts, p.rv, CASE WHEN ${schedulable('p')} THEN p.object END AS object
      FROM queue q LEFT JOIN objects p ON p.uid = q.uid AND ${unbound('p')}
      ORDER BY object IS NULL, q.tried_at IS NOT NULL, q.tried_at, ${priority('p')} DESC,
        p.object ->> '$.metadata.creationTimestamp', p.namespace, p.name
      LIMIT ?2`,
    args: [nowMs, limit],
  };
}

/** One back-off row, as a JSON array for the statements below: uid, attempts, tried_at, tried_rev. */
export type BackoffRow = [string, number, number, number];

/** Writes (upserts) back-off rows. */
export function rememberSql(rows: BackoffRow[]): { sql: string; args: string[] } {
  return {
    sql: `INSERT INTO schedule_backoff (uid, attempts, tried_at, tried_rev)
      SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
      ON CONFLICT (uid) DO UPDATE SET attempts = excluded.attempts, tried_at = excluded.tried_at, tried_rev = excluded.tried_rev`,
    args: [JSON.stringify(rows)],
  };
}

/** Deletes the back-off rows of these pods (bound, gone). */
export function forgetSql(uids: string[]): { sql: string; args: string[] } {
  return { sql: 'DELETE FROM schedule_backoff WHERE uid IN (SELECT value FROM json_each(?))', args: [JSON.stringify(uids)] };
}

/** A pod's FailedScheduling events (`p` the pod's alias, `e` the event's): events are named "<pod>.<hash>". */
const failedSchedulingOf = (p: string, e: string) => `${e}.kind = 'Event' AND ${e}.namespace = ${p}.namespace
  AND ${e}.name > ${p}.name || '.' AND ${e}.name < ${p}.name || '/'
  AND ${e}.object ->> '$.reason' = 'FailedScheduling' AND ${e}.object ->> '$.involvedObject.uid' = ${p}.uid`;

/** Nodes as the filters see them: name, labels, taints, unschedulable, allocatable, the Ready condition. */
const NODES = `SELECT json_object(
    'metadata', json_object('name', name, 'labels', object -> '$.metadata.labels'),
    'spec', json_object('taints', object -> '$.spec.taints', 'unschedulable', object -> '$.spec.unschedulable'),
    'status', json_object(
      'allocatable', COALESCE(object -> '$.status.allocatable', object -> '$.status.capacity'),
      'conditions', (SELECT json_group_array(json_object('type', 'Ready', 'status', c.value ->> 'status'))
        FROM json_each(object, '$.status.conditions') c WHERE c.value ->> 'type' = 'Ready'))) AS node
  FROM objects WHERE kind = 'Node' ORDER BY name`;

/** The container ports of the pod object `object`, a row each as `cp` (with HOST_NETWORK_PORT). */
export const containerPortRows = (object: string) => `json_each(${object}, '$.spec.containers') c, json_each(c.value, '$.ports') cp`;

// What one `cp` row takes on the host where pods share its network (as hostNetworkPorts in scheduling.ts).
const PORT_NUMBER = `COALESCE(NULLIF(cp.value ->> 'hostPort', 0), cp.value ->> 'containerPort')`;
const PORT_PROTOCOL = `COALESCE(cp.value ->> 'protocol', 'TCP')`;
const PORT_IP = `CASE WHEN cp.value ->> 'hostPort' THEN COALESCE(NULLIF(cp.value ->> 'hostIP', ''), '0.0.0.0') ELSE '0.0.0.0' END`;

/** hostNetworkPorts (scheduling.ts) of one `cp` row: the port it takes on the host, or NULL for none. */
export const HOST_NETWORK_PORT = `CASE WHEN ${PORT_NUMBER} THEN ${PORT_PROTOCOL} || '/' || ${PORT_IP} || '/' || ${PORT_NUMBER} END`;

/** Host ports as hostPortsFree takes them: [protocol, host IP, port] each, as JSON. */
export function wantedPorts(ports: string[]): string {
  return JSON.stringify(ports.map((p) => [p.slice(0, p.indexOf('/')), p.slice(p.indexOf('/') + 1, p.lastIndexOf('/')), Number(p.slice(p.lastIndexOf('/') + 1))]));
}

/**
 * That no active pod on the node `node` (SQL) listens on one of the ports `wanted` (SQL, as
 * wantedPorts gives them; overlapping as portsConflict has it): what binding a pod to a node whose pods
 * share the host's network also needs. The pod count the binding guard compares misses pods that came
 * and went between a pass's read and its write; this looks at the node's pods as they are.
 */
export function hostPortsFree(node: string, wanted: string): string {
  const wild = `('0.0.0.0', '::', '')`;
  return `NOT EXISTS (SELECT 1 FROM objects p, ${containerPortRows('p.object')}, json_each(${wanted}) w
      WHERE p.kind = 'Pod' AND p.node_name = ${node} AND COALESCE(p.phase, '') NOT IN ('Succeeded', 'Failed')
        AND ${PORT_NUMBER} = w.value ->> 2 AND ${PORT_PROTOCOL} = w.value ->> 0
        AND (${PORT_IP} IN ${wild} OR w.value ->> 1 IN ${wild} OR ${PORT_IP} = w.value ->> 1))`;
}

/** Pods on a node that hold resources (`p` the alias): bound and not Succeeded or Failed. */
const active = (p: string) => `${p}.kind = 'Pod' AND ${p}.node_name IS NOT NULL AND ${p}.node_name != '' AND COALESCE(${p}.phase, '') NOT IN ('Succeeded', 'Failed')`;

/**
 * Every pod bound to a node in one scan (reading a pod's node and phase means parsing its JSON: once),
 * then per node as rows tagged `what` (columns a to d):
 * - `count`: pods in any phase, and their resourceVersions summed (what the binding guard compares);
 * - `usage`, per priority, over active pods: the summed requests of each resource, and how many pods
 *   request a positive amount of it (the others count at the scoring defaults); `pods` is 1 per pod;
 * - `port`, per priority: a host port an active pod uses (its hostPorts);
 * - `group`, per priority, when the batch spreads pods (`spreading`): active pods not being deleted
 *   that spreading counts, by namespace, owner (when one of the batch's) and the labels the batch's
 *   selectors look at (only those keys, so pods differing elsewhere share a row), counted.
 *   Args: owners, namespaces, label keys (JSON arrays).
 */
const podsOnNodes = (spreading: boolean) => `WITH pods AS MATERIALIZED (
    SELECT node_name AS node, rv, COALESCE(phase, '') NOT IN ('Succeeded', 'Failed') AS active, ${priority('p')} AS priority,
      namespace, owner_uid, summary -> '$.requests' AS requests, summary -> '$.hostPorts' AS ports,
      summary ->> '$.deleting' AS deleting, summary -> '$.labels' AS labels
    FROM objects p WHERE kind = 'Pod' AND node_name IS NOT NULL AND node_name != '')
  SELECT 'count' AS what, node, NULL AS priority, COUNT(*) AS a, SUM(rv) AS b, NULL AS c, NULL AS d FROM pods GROUP BY node
  UNION ALL
  SELECT 'usage', node, priority, json_group_object(resource, total), json_group_object(resource, positive), NULL, NULL
  FROM (SELECT node, priority, r.key AS resource, SUM(r.value) AS total, SUM(r.value > 0) AS positive
    FROM pods, json_each(pods.requests) r WHERE active GROUP BY 1, 2, 3)
  GROUP BY node, priority
  UNION ALL
  SELECT 'port', node, priority, hp.value, NULL, NULL, NULL FROM pods, json_each(pods.ports) hp WHERE active${
    spreading
      ? `
  UNION ALL
  SELECT 'group', node, priority, namespace, CASE WHEN owner_uid IN (SELECT value FROM json_each(?1)) THEN owner_uid END,
    (SELECT json_group_object(k.value, labels ->> k.value) FROM json_each(?3) k WHERE labels ->> k.value IS NOT NULL), COUNT(*)
  FROM pods WHERE active AND NOT deleting
    AND (owner_uid IN (SELECT value FROM json_each(?1)) OR namespace IN (SELECT value FROM json_each(?2)))
  GROUP BY 2, 3, 4, 5, 6`
      : ''
  }`;

/**
 * On nodes whose pods share the host's network, every container port of their active pods is a host
 * port in use (per node and priority): those pods are read whole, but only there (the summary has
 * no container ports).
 */
const HOST_NETWORK_PORTS = `SELECT p.node_name AS node, ${priority('p')} AS priority, ${HOST_NETWORK_PORT} AS port
  FROM objects n JOIN objects p ON p.kind = 'Pod' AND p.node_name = n.name, ${containerPortRows('p.object')}
  WHERE n.kind = 'Node' AND n.namespace = '' AND n.object -> '$.metadata.labels' ->> '${LABEL_POD_NETWORK}' = '${POD_NETWORK_HOST}'
    AND ${active('p')} AND ${HOST_NETWORK_PORT} IS NOT NULL`;

/** These pods' FailedScheduling events (arg: the pods' uids, a JSON array). */
const EVENTS = `SELECT p.uid AS uid, e.object ->> '$.message' AS message, e.object ->> '$.lastTimestamp' AS last
  FROM json_each(?) u CROSS JOIN objects p ON p.uid = u.value CROSS JOIN objects e ON ${failedSchedulingOf('p', 'e')}`;

/**
 * Round trip 2: what placing `batch` needs (see clusterView for the rows). `tried`: the uids of its pods
 * tried before, whose FailedScheduling events are read (a pod never tried has none).
 */
export function clusterReads(batch: PendingPod[], tried: string[] = batch.map((p) => p.uid)): InStatement[] {
  const { owners, namespaces, labelKeys } = spreadNeeds(batch);
  const spreading = owners.length > 0 || namespaces.length > 0;
  return [
    'SELECT rev FROM revision WHERE id = 1',
    NODES,
    { sql: podsOnNodes(spreading), args: spreading ? [JSON.stringify(owners), JSON.stringify(namespaces), JSON.stringify(labelKeys)] : [] },
    HOST_NETWORK_PORTS,
    ...(tried.length ? [{ sql: EVENTS, args: [JSON.stringify(tried)] }] : []),
  ];
}

/** A node's pods as a pass read them: how many, and their resourceVersions summed. */
export interface NodePods {
  pods: number;
  rvSum: number;
}

export interface ClusterView {
  /** The change-log revision the cluster was read at. */
  rev: number;
  /** By name. */
  nodes: NodeState[];
  /** Nodes holding pods, by name. */
  podsRead: Map<string, NodePods>;
  /** When each pod's FailedScheduling event with a given message ("uid/message") was last counted. */
  lastEvent: Map<string, number>;
}

/** The nodes with their pods' aggregates, from the rows of clusterReads. */
export function clusterView([[head], nodeRows, podRows, hostNetworkPorts, eventRows = []]: Record<string, unknown>[][]): ClusterView {
  const nodes = nodeRows.map((r) => nodeState(JSON.parse(String(r.node)) as KObject));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const podsRead = new Map<string, NodePods>();
  // Usage per node and priority, host ports joined in, then added to the nodes.
  const usage = new Map<string, { node: string; usage: Usage }>();
  const key = (r: Record<string, unknown>) => `${r.node}\n${r.priority}`;
  const ports: Record<string, unknown>[] = [...hostNetworkPorts];
  for (const r of podRows) {
    if (r.what === 'count') {
      podsRead.set(String(r.node), { pods: Number(r.a), rvSum: Number(r.b) });
      const node = byName.get(String(r.node));
      if (node) node.podCount = Number(r.a);
    } else if (r.what === 'usage') {
      const requested = JSON.parse(String(r.a)) as Record<string, number>;
      const requesting = JSON.parse(String(r.b)) as Record<string, number>;
      usage.set(key(r), { node: String(r.node), usage: summedUsage(Number(r.priority), requested, requesting) });
    } else if (r.what === 'port') ports.push({ node: r.node, priority: r.priority, port: r.a });
    else {
      byName.get(String(r.node))?.groups.push({
        priority: Number(r.priority),
        namespace: String(r.a),
        ownerUid: (r.b as string | null) ?? null,
        labels: JSON.parse(String(r.c)) as Record<string, string>,
        labelsKey: String(r.c),
        count: Number(r.d),
      });
    }
  }
  for (const r of ports) {
    const u = usage.get(key(r));
    if (u && !u.usage.hostPorts.includes(String(r.port))) u.usage.hostPorts.push(String(r.port));
  }
  for (const u of usage.values()) byName.get(u.node)?.addUsage(u.usage);
  const lastEvent = new Map<string, number>();
  for (const e of eventRows) {
    const k = `${e.uid}/${e.message}`;
    lastEvent.set(k, Math.max(lastEvent.get(k) ?? 0, Date.parse(String(e.last))));
  }
  return { rev: Number(head.rev), nodes, podsRead, lastEvent };
}

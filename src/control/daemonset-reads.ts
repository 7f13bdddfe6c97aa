// What the DaemonSet controller reads, in SQL. Round trip 1 is everything a pass decides from: the
// DaemonSets and their ControllerRevisions whole (few), every Node as name, labels and taints, and
// a small row per pod a DaemonSet owns (its columns and summary: target node, phase, hash labels,
// readiness), never a whole pod; plus adoptable orphans counted per label set. Round trip 2, only
// for the work a pass does: the whole pods it changes, and the back-off of failed ones.
import type { Statement } from './replicaset-pods.js';
import type { Taint } from './scheduling.js';
import { daemonNode, type DaemonNode } from './daemonset-nodes.js';
import type { DaemonPod } from './daemonset-sync.js';

const DAEMON_SET_NAMESPACES = "SELECT namespace FROM objects WHERE kind = 'DaemonSet'";

/** The node a pod not yet bound is aimed at: its one required matchFields metadata.name In term (GetTargetNodeName). */
const TARGET_NODE = `(SELECT f.value ->> '$.values[0]'
  FROM json_each(p.object, '$.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms') t,
    json_each(t.value, '$.matchFields') f
  WHERE f.value ->> 'key' = 'metadata.name' AND f.value ->> 'operator' = 'In' AND json_array_length(f.value, '$.values') = 1
  LIMIT 1)`;

export const READS: Statement[] = [
  // Least recently written first: one that acted has its status rewritten and goes behind the rest.
  { sql: "SELECT rv, object FROM objects WHERE kind = 'DaemonSet' ORDER BY rv", args: [] },
  { sql: "SELECT name, object -> '$.metadata.labels' AS labels, object -> '$.spec.taints' AS taints FROM objects WHERE kind = 'Node' ORDER BY name", args: [] },
  {
    sql: `SELECT p.owner_uid AS owner, p.uid, p.name, p.namespace, p.rv, p.phase, p.node_name AS node_name,
        CASE WHEN COALESCE(p.node_name, '') = '' THEN ${TARGET_NODE} END AS target,
        p.summary ->> '$.deleting' AS deleting, p.summary -> '$.labels' AS labels, p.summary ->> '$.ready' AS ready,
        p.summary ->> '$.readySince' AS ready_since, p.summary ->> '$.created' AS created
      FROM objects d JOIN objects p ON p.owner_uid = d.uid AND p.kind = 'Pod'
      WHERE d.kind = 'DaemonSet'`,
    args: [],
  },
  { sql: `SELECT rv, object FROM objects WHERE kind = 'ControllerRevision' AND namespace IN (${DAEMON_SET_NAMESPACES})`, args: [] },
  {
    // Pods without a controller (ClaimPods adopts those not being deleted, in any phase).
    sql: `SELECT namespace, summary ->> '$.labels' AS labels, COUNT(*) AS adoptable
      FROM objects WHERE kind = 'Pod' AND owner_uid IS NULL AND NOT (summary ->> '$.deleting')
        AND namespace IN (${DAEMON_SET_NAMESPACES})
      GROUP BY 1, 2`,
    args: [],
  },
];

export function toNode(r: Record<string, unknown>): DaemonNode {
  const json = <T>(v: unknown) => (v == null ? null : (JSON.parse(String(v)) as T));
  return daemonNode(String(r.name), json<Record<string, string>>(r.labels), json<Taint[]>(r.taints));
}

export interface OwnedPod extends DaemonPod {
  ownerUid: string;
}

export function toPod(r: Record<string, unknown>): OwnedPod {
  const bound = r.node_name != null && r.node_name !== '';
  return {
    ownerUid: String(r.owner),
    uid: String(r.uid),
    name: String(r.name),
    namespace: String(r.namespace),
    rv: Number(r.rv),
    node: bound ? String(r.node_name) : r.target == null ? null : String(r.target),
    bound,
    phase: String(r.phase ?? ''),
    deleting: !!Number(r.deleting),
    labels: JSON.parse(String(r.labels ?? '{}')) as Record<string, string>,
    ready: !!Number(r.ready),
    readySince: r.ready_since == null ? undefined : String(r.ready_since),
    created: String(r.created ?? ''),
  };
}

/** Orphans in one namespace holding a DaemonSet, sharing one label set. */
export interface OrphanGroup {
  namespace: string;
  labelsJson: string;
  labels: Record<string, string>;
  adoptable: number;
}

export function toOrphanGroup(r: Record<string, unknown>): OrphanGroup {
  const labelsJson = String(r.labels ?? '{}');
  return { namespace: String(r.namespace), labelsJson, labels: JSON.parse(labelsJson) as Record<string, string>, adoptable: Number(r.adoptable) };
}

/** Round trip 2: whole pods by uid. */
export function podsByUid(uids: string[]): Statement {
  return { sql: "SELECT rv, object FROM objects WHERE kind = 'Pod' AND uid IN (SELECT value FROM json_each(?))", args: [JSON.stringify(uids)] };
}

/** Round trip 2: up to `limit` whole orphans of a group. */
export function orphansSql(g: OrphanGroup, limit: number): Statement {
  return {
    sql: `SELECT rv, object FROM objects WHERE kind = 'Pod' AND owner_uid IS NULL AND namespace = ?
      AND summary ->> '$.labels' = ? AND NOT (summary ->> '$.deleting') LIMIT ?`,
    args: [g.namespace, g.labelsJson, limit],
  };
}

/**
 * Round trip 2: when each of these DaemonSets (uids) last killed a failed pod, per node: its
 * FailedDaemonPod events (named "<daemonset>.<hash>"), with their messages and times.
 */
export function failedKillsSql(uids: string[]): Statement {
  return {
    sql: `SELECT d.uid AS owner, e.object ->> '$.message' AS message, e.object ->> '$.lastTimestamp' AS last
      FROM json_each(?) u CROSS JOIN objects d ON d.uid = u.value
      CROSS JOIN objects e ON e.kind = 'Event' AND e.namespace = d.namespace AND e.name > d.name || '.' AND e.name < d.name || '/'
      WHERE e.object ->> '$.reason' = 'FailedDaemonPod' AND e.object ->> '$.involvedObject.uid' = d.uid`,
    args: [JSON.stringify(uids)],
  };
}

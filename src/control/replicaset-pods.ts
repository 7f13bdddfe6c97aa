// What the ReplicaSet controller reads of pods: per-group counts computed in SQL, and then, only for
// the work a pass will do, the few whole pods it changes. Pods are grouped by owner, namespace and
// label set (the summary's labels JSON): a ReplicaSet's pods share one or two label sets, so there are
// a handful of groups however many pods, and selectors are matched in JS on each group's labels.

/** One SQL statement, as the store's batch takes it. */
export interface Statement {
  sql: string;
  args: (string | number)[];
}

// Over a pod row's columns (kind = 'Pod'). `summary ->> '$.deleting'` is 1 while the pod has a deletionTimestamp.
const LIVE = "NOT (summary ->> '$.deleting')";
const ACTIVE = `${LIVE} AND COALESCE(phase, '') NOT IN ('Succeeded', 'Failed')`;
const READY = "summary ->> '$.ready'";
const LABELS = "summary ->> '$.labels'";

/** The pods a ReplicaSet owns that share one label set, counted. */
export interface OwnedGroup {
  ownerUid: string;
  namespace: string;
  /** The labels as the summary holds them (JSON), the key to read the group's pods by. */
  labelsJson: string;
  labels: Record<string, string>;
  /** Not being deleted (what the live-count guard counts). */
  live: number;
  /** Live and not Succeeded or Failed: the pods that count as replicas. */
  active: number;
  ready: number;
  /** Ready for at least the owner's minReadySeconds. */
  available: number;
}

/** Active pods without a controller in one namespace holding a ReplicaSet, sharing one label set. */
export interface OrphanGroup {
  namespace: string;
  labelsJson: string;
  labels: Record<string, string>;
  adoptable: number;
}

/**
 * Counts of the pods owned by each ReplicaSet, per label set. Availability compares each ready pod's
 * readySince with `now` less its owner's minReadySeconds, in SQL, so no pod row leaves the database.
 */
export function ownedGroupsSql(nowMs: number): Statement {
  return {
    sql: `WITH sets AS MATERIALIZED (
        SELECT uid AS set_uid, COALESCE(object ->> '$.spec.minReadySeconds', 0) AS min_ready FROM objects WHERE kind = 'ReplicaSet')
      SELECT owner_uid, namespace, ${LABELS} AS labels,
        COUNT(*) FILTER (WHERE ${LIVE}) AS live,
        COUNT(*) FILTER (WHERE ${ACTIVE}) AS active,
        COUNT(*) FILTER (WHERE ${ACTIVE} AND ${READY}) AS ready,
        COUNT(*) FILTER (WHERE ${ACTIVE} AND ${READY}
          AND (min_ready <= 0 OR unixepoch(summary ->> '$.readySince', 'subsec') + min_ready <= ?)) AS available
      FROM sets JOIN objects ON owner_uid = set_uid AND kind = 'Pod'
      GROUP BY 1, 2, 3 HAVING live > 0`,
    args: [nowMs / 1000],
  };
}

/** Counts of adoptable orphans (no controller, active) per namespace holding a ReplicaSet and label set. */
export const ORPHAN_GROUPS_SQL = `SELECT namespace, ${LABELS} AS labels, COUNT(*) AS adoptable
  FROM objects WHERE kind = 'Pod' AND owner_uid IS NULL AND ${ACTIVE}
    AND namespace IN (SELECT namespace FROM objects WHERE kind = 'ReplicaSet')
  GROUP BY 1, 2`;

export function toOwnedGroup(r: Record<string, unknown>): OwnedGroup {
  const labelsJson = String(r.labels ?? '{}');
  return {
    ownerUid: String(r.owner_uid),
    namespace: String(r.namespace),
    labelsJson,
    labels: JSON.parse(labelsJson) as Record<string, string>,
    live: Number(r.live),
    active: Number(r.active),
    ready: Number(r.ready),
    available: Number(r.available),
  };
}

export function toOrphanGroup(r: Record<string, unknown>): OrphanGroup {
  const labelsJson = String(r.labels ?? '{}');
  return { namespace: String(r.namespace), labelsJson, labels: JSON.parse(labelsJson) as Record<string, string>, adoptable: Number(r.adoptable) };
}

/** Up to `limit` whole live pods of an owned group (to release). */
export function ownedPodsSql(g: OwnedGroup, limit: number): Statement {
  return {
    sql: `SELECT rv, object FROM objects WHERE kind = 'Pod' AND owner_uid = ? AND ${LABELS} = ? AND ${LIVE} LIMIT ?`,
    args: [g.ownerUid, g.labelsJson, limit],
  };
}

/** Up to `limit` whole adoptable pods of an orphan group. */
export function orphanPodsSql(g: OrphanGroup, limit: number): Statement {
  return {
    sql: `SELECT rv, object FROM objects WHERE kind = 'Pod' AND owner_uid IS NULL AND namespace = ? AND ${LABELS} = ? AND ${ACTIVE} LIMIT ?`,
    args: [g.namespace, g.labelsJson, limit],
  };
}

/**
 * The first `limit` active pods of a ReplicaSet in Kubernetes' order for deleting surplus pods
 * (controller.ActivePodsWithRanks): unassigned before assigned, Pending < Unknown < Running, not
 * ready before ready, more pods of the same ReplicaSet on the node first, more recently ready first,
 * newer before older. The database sorts; only the victims come back, whole.
 */
export function surplusPodsSql(ownerUid: string, limit: number): Statement {
  return {
    sql: `WITH active AS (SELECT uid, name, node_name, phase, summary FROM objects WHERE kind = 'Pod' AND owner_uid = ? AND ${ACTIVE}),
      crowding AS (SELECT node_name, COUNT(*) AS pods FROM active WHERE node_name IS NOT NULL GROUP BY node_name),
      victims AS (SELECT uid FROM active LEFT JOIN crowding USING (node_name)
        ORDER BY node_name IS NOT NULL,
          CASE phase WHEN 'Unknown' THEN 1 WHEN 'Running' THEN 2 ELSE 0 END,
          COALESCE(${READY}, 0),
          COALESCE(crowding.pods, 0) DESC,
          CASE WHEN ${READY} THEN summary ->> '$.readySince' END DESC,
          summary ->> '$.created' DESC,
          name
        LIMIT ?)
      SELECT rv, object FROM objects WHERE uid IN (SELECT uid FROM victims)`,
    args: [ownerUid, limit],
  };
}

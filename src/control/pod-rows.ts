import type { PodSummary } from '../kinds/pod-summary.js';

/** A pod as controllers read it in bulk: its key columns and summary, not the whole object. */
export interface PodRow {
  rv: number;
  namespace: string;
  name: string;
  uid: string;
  ownerUid: string | null;
  nodeName: string | null;
  phase: string | null;
  summary: PodSummary;
}

/** SELECT of pod rows matching `where` (SQL over the objects columns). */
export function podRowsSql(where: string): string {
  return `SELECT rv, namespace, name, uid, owner_uid, node_name, phase, summary FROM objects WHERE kind = 'Pod' AND (${where})`;
}

export function toPodRow(r: Record<string, unknown>): PodRow {
  return {
    rv: Number(r.rv),
    namespace: String(r.namespace),
    name: String(r.name),
    uid: String(r.uid),
    ownerUid: (r.owner_uid as string | null) ?? null,
    nodeName: (r.node_name as string | null) ?? null,
    phase: (r.phase as string | null) ?? null,
    summary: JSON.parse(String(r.summary)) as PodSummary,
  };
}

/** The guard that keeps racing passes from binding past a node's capacity: the node still has `count` pods. */
function nodePodCountGuard(node: string, count: number) {
  return { sql: "(SELECT COUNT(*) FROM objects WHERE kind = 'Pod' AND node_name = ?) = ?", args: [node, count] };
}

/**
 * The guard on a binding: the pod count as read, and room left for the pod's requests. The count alone
 * misses pods that went and others that came in between (passes that read at different moments), and
 * then a node could be filled twice; the room is checked against the node's pods as they are.
 */
export function nodeBindingGuard(node: string, count: number, requests: Record<string, number>, allocatable: Record<string, number>) {
  const wanted = Object.entries(requests).filter(([, v]) => v > 0);
  const room = wanted.map(
    () => "(SELECT COALESCE(SUM(json_extract(summary, ?)), 0) FROM objects WHERE kind = 'Pod' AND node_name = ? AND COALESCE(phase, '') NOT IN ('Succeeded', 'Failed')) + ? <= ?",
  );
  const counted = nodePodCountGuard(node, count);
  return {
    sql: [counted.sql, ...room].join(' AND '),
    args: [...counted.args, ...wanted.flatMap(([r, v]) => [`$.requests."${r}"`, node, v, allocatable[r] ?? 0])],
  };
}

/** The guard that keeps racing passes from creating or deleting pods twice: the owner still has `count` live pods. */
export function ownedPodCountGuard(ownerUid: string, count: number) {
  return {
    sql: "(SELECT COUNT(*) FROM objects WHERE kind = 'Pod' AND owner_uid = ? AND json_extract(object, '$.metadata.deletionTimestamp') IS NULL) = ?",
    args: [ownerUid, count],
  };
}

/** Rows grouped by a key, so controllers look pods up by namespace or owner instead of scanning them all. */
export function groupBy<T>(items: T[], key: (item: T) => string | null): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k === null) continue;
    const g = groups.get(k);
    if (g) g.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

import type { PodSummary } from '../kinds/pod-summary.js';
import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { hostPortsFree } from './scheduler-reads.js';

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

/**
 * What the guard on a binding (bindingGuard) needs to know of it, carried with the binding (as `with`
 * of an `updates` op's item).
 */
export interface Binding {
  node: string;
  /** The node's pods as the pass read them: how many, and their resourceVersions summed. */
  pods: number;
  rvSum: number;
  /** Per resource the pass's pods bound to the node request: [their requests summed, the node's allocatable]. */
  room: Record<string, [number, number]>;
  /** On a node whose pods share the host's network, the pod's ports (wantedPorts). */
  ports?: string;
}

/** A field of the binding (`with`, as `v.w`) of the item an `updates` op is writing. */
const b = (field: keyof Binding) => `(v.w ->> '${field}')`;

/**
 * The guard on the bindings of an `updates` op (one statement, every guard evaluated before any pod is
 * bound), as of change-log revision `rev` (when the pass read the nodes), that keeps racing passes
 * from binding past a node's capacity, whatever each one read. The pass's pods for one node are bound
 * all together or not at all. Either of:
 * - the node holds the pods the pass read, and no other: as many, none written since (a
 *   resourceVersion at most `rev`), their resourceVersions summing as read. A pod that came, went or
 *   changed since the read was written after it, so this holds exactly when the pass's picture of the
 *   node does, whatever was committed in between. From the index alone.
 * - otherwise, the node's pods as they are: as many as the pass counted, room left among those not
 *   finished for the requests of all the pass's pods bound there, and the pod's host ports free where
 *   they must be.
 * CASE, not OR: only CASE leaves the second (reading every pod's JSON) unevaluated when the first holds.
 */
export function bindingGuard(rev: number): { sql: string; args: number[] } {
  const onNode = `FROM objects o WHERE o.kind = 'Pod' AND o.node_name = ${b('node')}`;
  const unchanged = `(SELECT COUNT(*) = ${b('pods')} AND COALESCE(SUM(o.rv), 0) = ${b('rvSum')} AND COALESCE(MAX(o.rv), 0) <= ? ${onNode})`;
  const active = `COALESCE(o.phase, '') NOT IN ('Succeeded', 'Failed')`;
  const fits = `(SELECT COUNT(*) = ${b('pods')} ${onNode})
    AND NOT EXISTS (SELECT 1 FROM json_each(v.w, '$.room') r
      WHERE r.value ->> 0 + (SELECT TOTAL(CASE WHEN ${active} THEN json_extract(o.summary, '$.requests."' || r.key || '"') END) ${onNode}) > r.value ->> 1)
    AND (${b('ports')} IS NULL OR ${hostPortsFree(b('node'), b('ports'))})`;
  return { sql: `CASE WHEN ${unchanged} THEN 1 ELSE ${fits} END`, args: [rev] };
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

/** The most objects one set-based op writes: its statement binds a parameter or several per object (SQLite takes 32,766). */
export const SET_ROWS = 1000;

/**
 * Commits a controller's writes, set-based ones included, `updates` and `events` cut to at most
 * SET_ROWS objects each, in order (a later op may depend on an earlier one having been written): in
 * one round trip, or where the pass bounds its transactions (commitChunk), one op after another, of
 * at most that many objects each.
 */
export async function commitSets(ctx: PassContext, ops: WriteOp[]): Promise<void> {
  const size = Math.min(ctx.opts.commitChunk || SET_ROWS, SET_ROWS);
  const cut: WriteOp[] = ops.flatMap((op): WriteOp[] => {
    if (op.op === 'updates') return pieces(op.items, size).map((items) => ({ ...op, items }));
    if (op.op === 'events') return pieces(op.objects, size).map((objects) => ({ ...op, objects }));
    return [op];
  });
  if (!ctx.opts.commitChunk) await ctx.commit(cut);
  else for (const op of cut) await ctx.commit([op]);
}

function pieces<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** What is left of a pass's batchSize: each object a controller creates, deletes or reads whole takes one. */
export class Budget {
  constructor(private left: number) {}

  take(wanted: number): number {
    const n = Math.max(0, Math.min(wanted, this.left));
    this.left -= n;
    return n;
  }
}

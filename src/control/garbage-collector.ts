import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp, releaseOp, removeFinalizerOp } from './deletion.js';

// Garbage collection through controller ownerReferences (the owner_uid column):
// - dependents whose owner is gone are deleted (Background propagation);
// - an owner with the foregroundDeletion finalizer has its dependents deleted, and goes once none is left;
// - an owner with the orphan finalizer has its dependents released, and goes once none points at it.
// One read round trip and one write round trip per pass. The read is the work itself, in SQL, whole
// objects, at most batchSize of them: owners to finish (none of their dependents left, counted in SQL,
// not from what was read), dependents to delete (not those already being deleted, which would fill the
// batch forever) and dependents to release. Each written object leaves the set, so the next pass goes on
// with the rest. Idle: the same query, no row.

const NOT_DELETING = (t: string) => `json_extract(${t}.object, '$.metadata.deletionTimestamp') IS NULL`;

type Work = 'finish-foreground' | 'finish-orphan' | 'delete' | 'release';

const WORK_SQL = `
  WITH owners AS MATERIALIZED (
    SELECT o.uid, o.rv, o.object,
      EXISTS (SELECT 1 FROM json_each(o.object, '$.metadata.finalizers') WHERE value = 'foregroundDeletion') AS foreground
    FROM objects o
    WHERE json_extract(o.object, '$.metadata.deletionTimestamp') IS NOT NULL
      AND EXISTS (SELECT 1 FROM json_each(o.object, '$.metadata.finalizers') WHERE value IN ('foregroundDeletion', 'orphan'))
  )
  SELECT CASE WHEN o.foreground THEN 'finish-foreground' ELSE 'finish-orphan' END AS work, o.rv, o.object, NULL AS owner FROM owners o
    WHERE NOT EXISTS (SELECT 1 FROM objects d WHERE d.owner_uid = o.uid)
  UNION ALL
  SELECT 'delete', d.rv, d.object, NULL FROM objects d
    WHERE d.owner_uid IS NOT NULL AND ${NOT_DELETING('d')} AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.uid = d.owner_uid)
  UNION ALL
  SELECT CASE WHEN o.foreground THEN 'delete' ELSE 'release' END, d.rv, d.object, o.uid FROM owners o CROSS JOIN objects d ON d.owner_uid = o.uid
    WHERE NOT o.foreground OR ${NOT_DELETING('d')}
  LIMIT ?`;

/** An owner finishing goes only if still no dependent points at it when written (one may have come since the read). */
const noDependentsGuard = (uid: string) => ({ sql: 'NOT EXISTS (SELECT 1 FROM objects WHERE owner_uid = ?)', args: [uid] });

function finished(owner: KObject, finalizer: string): WriteOp {
  const op = removeFinalizerOp(owner, finalizer);
  return op.op === 'update' || op.op === 'delete' ? { ...op, guard: noDependentsGuard(owner.metadata!.uid!) } : op;
}

export async function collectGarbage(ctx: PassContext): Promise<void> {
  const [rows] = await ctx.store.rows([{ sql: WORK_SQL, args: [ctx.opts.batchSize] }]);
  const now = ctx.now();
  const ops: WriteOp[] = [];
  for (const row of rows) {
    const obj = objectOf(row);
    const work = row.work as Work;
    const op =
      work === 'finish-foreground' ? finished(obj, 'foregroundDeletion')
      : work === 'finish-orphan' ? finished(obj, 'orphan')
      : work === 'release' ? releaseOp(obj, String(row.owner))
      : deleteOp(obj, now);
    if (op) ops.push(op);
  }
  await ctx.commit(ops);
}

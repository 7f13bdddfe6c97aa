import { kinds } from '../kinds/registry.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp } from './deletion.js';

// A namespace being deleted (Terminating) has everything in it deleted; once it is empty it goes.
// One read round trip and one write round trip per pass. The read is the work itself, at most
// batchSize rows: the terminating namespaces found empty in SQL (key and rv only; "empty" is counted
// in the database, never inferred from a read that was cut short, and checked again by the delete),
// then the objects in terminating namespaces not yet being deleted, whole. Each written object leaves
// the set, so the next pass goes on with the rest. Idle: the same query, no row (it reads by the
// primary key, kind by kind, only in terminating namespaces).

const NAMESPACED_KINDS = JSON.stringify(kinds.filter((k) => k.namespaced).map((k) => k.kind));

const IN_NAMESPACE = `SELECT 1 FROM json_each(:kinds) k CROSS JOIN objects o ON o.kind = k.value AND o.namespace = n.name`;

const WORK_SQL = `WITH terminating AS MATERIALIZED (
    SELECT name, rv FROM objects n
    WHERE kind = 'Namespace' AND namespace = '' AND json_extract(object, '$.metadata.deletionTimestamp') IS NOT NULL
  )
  SELECT 'finish' AS work, n.rv, n.name, NULL AS object FROM terminating n WHERE NOT EXISTS (${IN_NAMESPACE})
  UNION ALL
  SELECT 'delete', o.rv, o.name, o.object FROM terminating n CROSS JOIN json_each(:kinds) k CROSS JOIN objects o ON o.kind = k.value AND o.namespace = n.name
    WHERE json_extract(o.object, '$.metadata.deletionTimestamp') IS NULL
  LIMIT :limit`;

/** The namespace goes only if it is still empty when written. */
const emptyGuard = (namespace: string) => ({
  sql: 'NOT EXISTS (SELECT 1 FROM json_each(?) k CROSS JOIN objects o ON o.kind = k.value AND o.namespace = ?)',
  args: [NAMESPACED_KINDS, namespace],
});

export async function finishNamespaces(ctx: PassContext): Promise<void> {
  const [rows] = await ctx.store.rows([{ sql: WORK_SQL, args: { kinds: NAMESPACED_KINDS, limit: ctx.opts.batchSize } }]);
  const now = ctx.now();
  const ops: WriteOp[] = [];
  for (const row of rows) {
    if (row.work === 'finish') {
      const name = String(row.name);
      ops.push({ op: 'delete', kind: 'Namespace', namespace: '', name, rv: Number(row.rv), guard: emptyGuard(name) });
      continue;
    }
    const op = deleteOp(objectOf(row), now);
    if (op) ops.push(op);
  }
  await ctx.commit(ops);
}

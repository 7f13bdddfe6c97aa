import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp } from './deletion.js';

// A namespace being deleted (Terminating) has everything in it deleted; once it is empty it goes.
// One read round trip and one write round trip per pass.

const TERMINATING = `SELECT name FROM objects WHERE kind = 'Namespace' AND namespace = ''
  AND json_extract(object, '$.metadata.deletionTimestamp') IS NOT NULL`;

export async function finishNamespaces(ctx: PassContext): Promise<void> {
  const [namespaces, contents] = await ctx.store.query([
    `SELECT rv, object FROM objects WHERE kind = 'Namespace' AND namespace = '' AND name IN (${TERMINATING})`,
    `SELECT rv, object FROM objects WHERE namespace IN (${TERMINATING})`,
  ]);
  const now = ctx.now();
  const occupied = new Set(contents.map((o) => o.metadata!.namespace));
  const ops: WriteOp[] = [];
  for (const obj of contents) {
    const op = deleteOp(obj, now);
    if (op) ops.push(op);
  }
  for (const ns of namespaces) {
    if (occupied.has(ns.metadata!.name)) continue;
    ops.push({ op: 'delete', kind: 'Namespace', namespace: '', name: ns.metadata!.name!, rv: Number(ns.metadata!.resourceVersion) });
  }
  await ctx.commit(ops);
}

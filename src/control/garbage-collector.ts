import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp, removeFinalizerOp } from './deletion.js';

// Garbage collection through controller ownerReferences (the owner_uid column):
// - dependents whose owner is gone are deleted (Background propagation);
// - an owner with the foregroundDeletion finalizer has its dependents deleted, and goes once none is left;
// - an owner with the orphan finalizer has its dependents released, and goes once none points at it.
// One read round trip and one write round trip per pass.

const DELETING_WITH = (finalizer: string) => `SELECT rv, object FROM objects
  WHERE json_extract(object, '$.metadata.deletionTimestamp') IS NOT NULL
    AND EXISTS (SELECT 1 FROM json_each(object, '$.metadata.finalizers') WHERE value = '${finalizer}')`;

export async function collectGarbage(ctx: PassContext): Promise<void> {
  const [dangling, foreground, orphaning, dependents] = await ctx.store.query([
    `SELECT o.rv, o.object FROM objects o
      WHERE o.owner_uid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM objects p WHERE p.uid = o.owner_uid)`,
    DELETING_WITH('foregroundDeletion'),
    DELETING_WITH('orphan'),
    `SELECT d.rv, d.object FROM objects d JOIN objects p ON d.owner_uid = p.uid
      WHERE json_extract(p.object, '$.metadata.deletionTimestamp') IS NOT NULL
        AND EXISTS (SELECT 1 FROM json_each(p.object, '$.metadata.finalizers') WHERE value IN ('foregroundDeletion', 'orphan'))`,
  ]);
  const now = ctx.now();
  const ops: WriteOp[] = [];
  for (const obj of dangling) {
    const op = deleteOp(obj, now);
    if (op) ops.push(op);
  }
  const byOwner = new Map<string, typeof dependents>();
  for (const d of dependents) {
    const owner = d.metadata!.ownerReferences!.find((r) => r.controller)!.uid;
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), d]);
  }
  for (const owner of foreground) {
    const deps = byOwner.get(owner.metadata!.uid!) ?? [];
    if (deps.length === 0) ops.push(removeFinalizerOp(owner, 'foregroundDeletion'));
    for (const d of deps) {
      const op = deleteOp(d, now);
      if (op) ops.push(op);
    }
  }
  for (const owner of orphaning) {
    const uid = owner.metadata!.uid!;
    const deps = byOwner.get(uid) ?? [];
    if (deps.length === 0) ops.push(removeFinalizerOp(owner, 'orphan'));
    for (const d of deps) {
      const next = structuredClone(d);
      const refs = (next.metadata!.ownerReferences ?? []).filter((r) => r.uid !== uid);
      if (refs.length) next.metadata!.ownerReferences = refs;
      else delete next.metadata!.ownerReferences;
      ops.push({ op: 'update', object: next, rv: Number(d.metadata!.resourceVersion) });
    }
  }
  await ctx.commit(ops);
}

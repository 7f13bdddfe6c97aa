import { gracePeriodSeconds, markDeleted } from '../kinds/deletion.js';
import type { KObject } from '../kinds/types.js';
import type { WriteOp } from '../store/store.js';

/** The write that deletes `obj` as a controller does (Background): marked when a node must stop it first. */
export function deleteOp(obj: KObject, now: Date): Exclude<WriteOp, { op: 'event' }> | undefined {
  const meta = obj.metadata!;
  const kind = String(obj.kind);
  if (meta.deletionTimestamp) return undefined; // already on its way
  const rv = Number(meta.resourceVersion);
  const grace = gracePeriodSeconds(kind, obj);
  if (grace > 0 || (meta.finalizers ?? []).length > 0) return { op: 'update', object: markDeleted(obj, now, grace), rv };
  return { op: 'delete', kind, namespace: meta.namespace ?? '', name: String(meta.name), rv };
}

/** The write that drops `finalizer` from `obj`, deleting it when it was the last one of an object being deleted. */
export function removeFinalizerOp(obj: KObject, finalizer: string): WriteOp {
  const meta = obj.metadata!;
  const rv = Number(meta.resourceVersion);
  const finalizers = (meta.finalizers ?? []).filter((f) => f !== finalizer);
  if (meta.deletionTimestamp && finalizers.length === 0) {
    return { op: 'delete', kind: String(obj.kind), namespace: meta.namespace ?? '', name: String(meta.name), rv };
  }
  const next = structuredClone(obj);
  if (finalizers.length) next.metadata!.finalizers = finalizers;
  else delete next.metadata!.finalizers;
  return { op: 'update', object: next, rv };
}

/** The write that releases `obj` from the owner `ownerUid` (drops that ownerReference): orphaning, or a selector no longer matching. */
export function releaseOp(obj: KObject, ownerUid: string): WriteOp {
  const next = structuredClone(obj);
  const refs = (next.metadata!.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
  if (refs.length) next.metadata!.ownerReferences = refs;
  else delete next.metadata!.ownerReferences;
  return { op: 'update', object: next, rv: Number(obj.metadata!.resourceVersion) };
}

import type { KObject } from './types.js';
import { clone } from './clone.js';

/**
 * Seconds a deletion waits for a node to stop the object: pods bound to a node and not yet
 * finished get their grace period; everything else goes at once.
 */
export function gracePeriodSeconds(kind: string, obj: KObject, requested?: number): number {
  if (kind !== 'Pod') return 0;
  const spec = (obj.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
  const phase = (obj.status as { phase?: string } | undefined)?.phase;
  if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
  return requested ?? spec.terminationGracePeriodSeconds ?? 30;
}

/** `obj` marked as being deleted at `now` with the given grace period and extra finalizers. */
export function markDeleted(obj: KObject, now: Date, grace: number, addFinalizers: string[] = []): KObject {
  const next = clone(obj);
  const meta = next.metadata!;
  meta.deletionTimestamp ??= new Date(now.getTime() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  meta.deletionGracePeriodSeconds = grace;
  const finalizers = [...(meta.finalizers ?? [])];
  for (const f of addFinalizers) if (!finalizers.includes(f)) finalizers.push(f);
  if (finalizers.length) meta.finalizers = finalizers;
  return next;
}

// A DaemonSet's ControllerRevisions, as pkg/controller/daemon keeps them (constructHistory, snapshot,
// dedupCurHistories, cleanupHistory): one per distinct pod template, named DSNAME-HASH, holding the
// strategic merge patch that puts the template back (what `kubectl rollout undo` sends), numbered by
// revision. Worked on as copies; what changed becomes writes at the end of the pass.
import type { KObject, OwnerReference } from '../kinds/types.js';
import { selectorMatches, type LabelSelector } from '../kinds/validation.js';
import type { WriteOp } from '../store/store.js';
import { deleteOp } from './deletion.js';
import { REVISION_HASH_LABEL } from './daemonset-nodes.js';
import { templateHash, templateKey } from './rollout.js';

export interface Revision extends KObject {
  data?: { spec?: { template?: Record<string, unknown> } };
  revision?: number;
}

interface Entry {
  cr: Revision;
  /** As read; none for a revision this pass creates. */
  stored?: Revision;
  deleted?: boolean;
}

/** Keys sorted at every level, as Go marshals the maps getPatch builds. */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
}

/**
 * getPatch: a strategic merge patch replacing spec.template with `template`. Keys in Go's order and
 * metadata.creationTimestamp null (a typed ObjectMeta always carries it), so kubectl, which compares
 * the bytes it computes from the DaemonSet with these, finds a template it already runs.
 */
export function revisionData(template: unknown): Revision['data'] {
  const t = structuredClone((template ?? {}) as Record<string, any>);
  t.metadata = { creationTimestamp: null, ...t.metadata };
  return { spec: { template: sorted({ $patch: 'replace', ...t }) as Record<string, unknown> } };
}

/** The template a revision restores (its patch without the directive). */
function revisionTemplate(cr: Revision): unknown {
  const { $patch: _directive, ...template } = cr.data?.spec?.template ?? {};
  return template;
}

const hashOf = (cr: Revision) => cr.metadata?.labels?.[REVISION_HASH_LABEL] ?? '';
const revisionNumber = (cr: Revision) => cr.revision ?? 0;
const controllerOf = (o: KObject) => o.metadata?.ownerReferences?.find((r) => r.controller);

function ownerReference(ds: KObject): OwnerReference {
  const meta = ds.metadata!;
  return { apiVersion: 'apps/v1', kind: 'DaemonSet', name: meta.name!, uid: meta.uid!, controller: true, blockOwnerDeletion: true };
}

/** The pass's ControllerRevisions in the namespaces holding DaemonSets. */
export class RevisionPool {
  private byNamespace = new Map<string, Entry[]>();
  private keys = new WeakMap<Revision, string>();

  constructor(stored: Revision[]) {
    for (const cr of stored) this.track({ cr: structuredClone(cr), stored: cr });
  }

  private track(e: Entry): void {
    const ns = e.cr.metadata!.namespace!;
    this.byNamespace.set(ns, [...(this.byNamespace.get(ns) ?? []), e]);
  }

  inNamespace(ns: string): Entry[] {
    return (this.byNamespace.get(ns) ?? []).filter((e) => !e.deleted);
  }

  /** Whether the revision restores this template (Match), by the template's identity computed once per revision. */
  matches(cr: Revision, key: string): boolean {
    let own = this.keys.get(cr);
    if (own === undefined) this.keys.set(cr, (own = templateKey(revisionTemplate(cr))));
    return own === key;
  }

  create(cr: Revision): Entry {
    const e = { cr };
    this.track(e);
    return e;
  }

  writes(now: Date): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const entries of this.byNamespace.values()) {
      for (const { cr, stored, deleted } of entries) {
        if (!stored) ops.push({ op: 'create', object: cr, requireNamespace: true });
        else if (deleted) {
          const op = deleteOp(stored, now);
          if (op) ops.push(op);
        } else if (JSON.stringify(cr) !== JSON.stringify(stored)) ops.push({ op: 'update', object: cr, rv: Number(stored.metadata!.resourceVersion) });
      }
    }
    return ops;
  }
}

export type History =
  | { hash: string; old: Entry[]; /** Hashes of duplicate current revisions deleted, whose pods take `hash`. */ duplicates: string[] }
  /** The revision's name is another template's: the DaemonSet's status.collisionCount becomes this. */
  | { collisionCount: number };

/**
 * constructHistory: claim the DaemonSet's revisions (adopt orphans its selector matches, release
 * those it stops matching), label them with their hash, find the one for the current template
 * (create it, or keep the newest of duplicates) and give it the next revision number.
 */
export function constructHistory(ds: KObject, pool: RevisionPool, now: string): History {
  const meta = ds.metadata!;
  const spec = (ds.spec ?? {}) as { selector?: LabelSelector; template?: { metadata?: { labels?: Record<string, string> } } };
  const owned: Entry[] = [];
  for (const e of pool.inNamespace(meta.namespace!)) {
    const ref = controllerOf(e.cr);
    if (ref && ref.uid !== meta.uid) continue;
    const labels = e.cr.metadata!.labels;
    if (ref) {
      if (selectorMatches(spec.selector, labels)) owned.push(e);
      else release(e.cr, meta.uid!);
    } else if (selectorMatches(spec.selector, labels) && !e.cr.metadata!.deletionTimestamp) {
      (e.cr.metadata!.ownerReferences ??= []).push(ownerReference(ds));
      owned.push(e);
    }
  }
  for (const { cr } of owned) {
    if (!hashOf(cr)) cr.metadata!.labels = { ...cr.metadata!.labels, [REVISION_HASH_LABEL]: cr.metadata!.name! };
  }
  const key = templateKey(spec.template);
  const current = owned.filter((e) => pool.matches(e.cr, key));
  const old = owned.filter((e) => !current.includes(e));
  const next = old.reduce((m, e) => Math.max(m, revisionNumber(e.cr)), 0) + 1;

  if (current.length === 0) {
    const collisionCount = (ds.status as { collisionCount?: number } | undefined)?.collisionCount;
    const hash = templateHash(spec.template, collisionCount);
    const name = `${meta.name}-${hash}`;
    const taken = pool.inNamespace(meta.namespace!).find((e) => e.cr.metadata!.name === name);
    if (taken) {
      // Made already (by a pass that raced this one, say) or another template's: a collision.
      if (pool.matches(taken.cr, key)) return { hash: hashOf(taken.cr) || name, old, duplicates: [] };
      return { collisionCount: (collisionCount ?? 0) + 1 };
    }
    pool.create({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        namespace: meta.namespace,
        uid: crypto.randomUUID(),
        creationTimestamp: now,
        labels: { ...spec.template?.metadata?.labels, [REVISION_HASH_LABEL]: hash },
        ...(meta.annotations ? { annotations: { ...meta.annotations } } : {}),
        ownerReferences: [ownerReference(ds)],
      },
      data: revisionData(spec.template),
      revision: next,
    });
    return { hash, old, duplicates: [] };
  }

  // dedupCurHistories: the highest revision stays (the last of equals).
  let keep = current[0];
  for (const e of current) if (revisionNumber(e.cr) >= revisionNumber(keep.cr)) keep = e;
  const duplicates: string[] = [];
  for (const e of current) {
    if (e === keep) continue;
    e.deleted = true;
    duplicates.push(hashOf(e.cr));
  }
  if (revisionNumber(keep.cr) < next) keep.cr.revision = next;
  return { hash: hashOf(keep.cr), old, duplicates };
}

function release(cr: Revision, ownerUid: string): void {
  const refs = (cr.metadata!.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
  if (refs.length) cr.metadata!.ownerReferences = refs;
  else delete cr.metadata!.ownerReferences;
}

/**
 * cleanupHistory: beyond revisionHistoryLimit old revisions, the oldest go, but never one whose hash
 * a pod of the DaemonSet still carries (`liveHashes`).
 */
export function cleanupHistory(limit: number, old: Entry[], liveHashes: Set<string>): void {
  let toKill = old.length - limit;
  if (toKill <= 0) return;
  for (const e of [...old].sort((a, b) => revisionNumber(a.cr) - revisionNumber(b.cr))) {
    if (toKill <= 0) break;
    if (liveHashes.has(hashOf(e.cr))) continue;
    e.deleted = true;
    toKill--;
  }
}

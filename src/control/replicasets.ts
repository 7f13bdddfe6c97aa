import { addDefaultTolerations } from '../kinds/pod.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import { selectorMatches, type LabelSelector } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import { eventObject, type PassContext } from './context.js';
import { deleteOp, releaseOp } from './deletion.js';
import { Budget, commitSets, groupBy, ownedPodCountGuard, SET_ROWS } from './pod-rows.js';
import {
  ORPHAN_GROUPS_SQL,
  orphanPodsSql,
  ownedGroupsSql,
  ownedPodsSql,
  surplusPodsSql,
  toOrphanGroup,
  toOwnedGroup,
  type OrphanGroup,
  type OwnedGroup,
  type Statement,
} from './replicaset-pods.js';

// The ReplicaSet controller: each ReplicaSet owns pods through a controller ownerReference and its
// selector; it adopts matching orphans, releases pods that stop matching, creates or deletes pods to
// match spec.replicas, and reports status.
//
// Round trips: (1) the ReplicaSets, whole, with pod counts per (owner, namespace, label set) and
// adoptable orphans per (namespace, label set), aggregated in SQL: rows grow with ReplicaSets and
// label sets, not pods; an idle pass ends here. (2) Only when pods must be released, adopted or
// deleted: those pods, whole, picked in SQL (surplus in Kubernetes' deletion order), at most
// batchSize. (3) One write. Work is bounded per pass: at most replicaSetBurst creations or deletions
// per ReplicaSet and batchSize pods changed in all; the rest waits for the next pass.

const COMPONENT = 'replicaset-controller';
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

interface RSSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: LabelSelector;
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };
}

// A ReplicaSet's deletions in one pass form a chain: the first is conditional on the owner still
// having the live pods that were read, each later one on the one before it having happened. Its
// creations are written together, conditional on that count. Racing passes cannot both act on one
// count, and each condition is an index lookup.
const deletedGuard = (uid: string) => ({
  sql: "NOT EXISTS (SELECT 1 FROM objects WHERE uid = ? AND json_extract(object, '$.metadata.deletionTimestamp') IS NULL)",
  args: [uid],
});

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return Array.from(bytes, (b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

function ownerRef(rs: KObject) {
  return { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata!.name!, uid: rs.metadata!.uid!, controller: true, blockOwnerDeletion: true };
}

/**
 * A generated name not among those made this pass (`taken`, namespace/name), then taken. Names of
 * existing pods are not read; one in use makes the create fail, and with it the rest of the
 * ReplicaSet's chain, which the next pass retries.
 */
function freshName(rs: KObject, taken: Set<string>): string {
  let name: string;
  do name = `${rs.metadata!.name}-${randomSuffix()}`;
  while (taken.has(`${rs.metadata!.namespace}/${name}`));
  taken.add(`${rs.metadata!.namespace}/${name}`);
  return name;
}

function newPod(ctx: PassContext, rs: KObject, spec: RSSpec, taken: Set<string>): KObject {
  const tmpl = spec.template ?? {};
  const pod: KObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: freshName(rs, taken),
      generateName: `${rs.metadata!.name}-`,
      namespace: rs.metadata!.namespace,
      uid: crypto.randomUUID(),
      creationTimestamp: ctx.timestamp(),
      ...(tmpl.metadata?.labels ? { labels: { ...tmpl.metadata.labels } } : {}),
      ...(tmpl.metadata?.annotations ? { annotations: { ...tmpl.metadata.annotations } } : {}),
      ownerReferences: [ownerRef(rs)],
    },
    spec: structuredClone(tmpl.spec ?? {}),
    status: {},
  };
  kindNamed('Pod')!.defaults!(pod);
  addDefaultTolerations(pod.spec, ctx.opts.defaultNotReadyTolerationSeconds, ctx.opts.defaultUnreachableTolerationSeconds);
  return pod;
}

const sum = (groups: OwnedGroup[], count: (g: OwnedGroup) => number) => groups.reduce((n, g) => n + count(g), 0);

function statusOf(rs: KObject, spec: RSSpec, groups: OwnedGroup[]): Record<string, unknown> {
  const templateLabels = Object.entries(spec.template?.metadata?.labels ?? {});
  const fullyLabeled = groups.filter((g) => templateLabels.every(([k, v]) => g.labels[k] === v));
  return {
    ...((rs.status ?? {}) as Record<string, unknown>),
    replicas: sum(groups, (g) => g.active),
    fullyLabeledReplicas: sum(fullyLabeled, (g) => g.active),
    readyReplicas: sum(groups, (g) => g.ready),
    availableReplicas: sum(groups, (g) => g.available),
    observedGeneration: rs.metadata!.generation ?? 1,
  };
}

function adoptOp(pod: KObject, rs: KObject): WriteOp {
  const next = structuredClone(pod);
  next.metadata!.ownerReferences = [...(next.metadata!.ownerReferences ?? []), ownerRef(rs)];
  return { op: 'update', object: next, rv: Number(pod.metadata!.resourceVersion) };
}

/**
 * `count` new pods, written set-based behind the guard on the `live` pods read, so racing passes cannot
 * both act on one count: one write per SET_ROWS pods (or, where the pass cuts its transactions, per
 * commitChunk), each conditional on the ones before it having been created. Their events go to `events`.
 */
function creations(ctx: PassContext, rs: KObject, spec: RSSpec, count: number, live: number, taken: Set<string>, events: KObject[]): WriteOp[] {
  const pods = Array.from({ length: count }, () => newPod(ctx, rs, spec, taken));
  const now = ctx.timestamp();
  for (const pod of pods) events.push(eventObject({ involved: rs, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${pod.metadata!.name}`, component: COMPONENT }, now));
  const chunk = Math.min(ctx.opts.commitChunk || SET_ROWS, SET_ROWS);
  const ops: WriteOp[] = [];
  for (let i = 0; i < pods.length; i += chunk) {
    ops.push({ op: 'creates', objects: pods.slice(i, i + chunk), requireNamespace: true, guard: ownedPodCountGuard(rs.metadata!.uid!, live + i) });
  }
  return ops;
}

/** Deletion of the `victims` read, chained behind the guard on the `live` pods read. */
function deletions(ctx: PassContext, rs: KObject, victims: KObject[], live: number): WriteOp[] {
  const ops: WriteOp[] = [];
  let previous: string | undefined;
  for (const pod of victims) {
    const op = deleteOp(pod, ctx.now());
    if (!op) continue;
    const guard = previous ? deletedGuard(previous) : ownedPodCountGuard(rs.metadata!.uid!, live);
    ops.push(op.op === 'update' || op.op === 'delete' ? { ...op, guard } : op);
    previous = pod.metadata!.uid;
    ctx.event({ involved: rs, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${pod.metadata!.name}`, component: COMPONENT });
  }
  return ops;
}

export async function replicaSets(ctx: PassContext): Promise<void> {
  // Least recently written first: a ReplicaSet that acted has its status rewritten on the next pass
  // and goes behind those still waiting, so a busy one cannot keep the batch to itself.
  const [setRows, ownedRows, orphanRows] = await ctx.store.rows([
    `SELECT rv, object FROM objects WHERE kind = 'ReplicaSet' ORDER BY rv`,
    ownedGroupsSql(ctx.now().getTime()),
    ORPHAN_GROUPS_SQL,
  ]);
  if (setRows.length === 0) return;
  const owned = groupBy(ownedRows.map(toOwnedGroup), (g) => g.ownerUid);
  const orphans = groupBy(orphanRows.map(toOrphanGroup), (g) => g.namespace);
  const claimed = new Set<OrphanGroup>();
  const budget = new Budget(ctx.opts.batchSize);
  const taken = new Set<string>();

  const ops: WriteOp[] = [];
  // The events of the pods created (set-based, as they may be many).
  const events: KObject[] = [];
  // Whole pods to read in round trip 2, each statement with what to write for the pods it returns.
  const reads: { stmt: Statement; write: (pods: KObject[]) => WriteOp[] }[] = [];

  for (const rs of setRows.map(objectOf)) {
    const meta = rs.metadata!;
    const spec = (rs.spec ?? {}) as RSSpec;
    const groups = owned.get(meta.uid!) ?? [];

    const status = statusOf(rs, spec, groups);
    if (JSON.stringify(status) !== JSON.stringify(rs.status ?? {})) {
      ops.push({ op: 'update', object: { ...rs, status }, rv: Number(meta.resourceVersion) });
    }
    if (meta.deletionTimestamp) continue;

    // Ownership first; replica counts are fixed on a later pass, once ownership has settled.
    const release = groups.filter((g) => !selectorMatches(spec.selector, g.labels));
    const adopt = (orphans.get(meta.namespace!) ?? []).filter((g) => !claimed.has(g) && selectorMatches(spec.selector, g.labels));
    if (release.length || adopt.length) {
      for (const g of release) {
        const n = budget.take(g.live);
        if (n) reads.push({ stmt: ownedPodsSql(g, n), write: (pods) => pods.map((p) => releaseOp(p, meta.uid!)) });
      }
      for (const g of adopt) {
        claimed.add(g);
        const n = budget.take(g.adoptable);
        if (n) reads.push({ stmt: orphanPodsSql(g, n), write: (pods) => pods.map((p) => adoptOp(p, rs)) });
      }
      continue;
    }

    const live = sum(groups, (g) => g.live);
    const diff = sum(groups, (g) => g.active) - (spec.replicas ?? 1);
    const n = budget.take(Math.min(Math.abs(diff), ctx.opts.replicaSetBurst));
    if (n === 0) continue;
    if (diff < 0) ops.push(...creations(ctx, rs, spec, n, live, taken, events));
    else reads.push({ stmt: surplusPodsSql(meta.uid!, n), write: (pods) => deletions(ctx, rs, pods, live) });
  }

  if (reads.length > 0) {
    const results = await ctx.store.query(reads.map((r) => r.stmt));
    reads.forEach((r, i) => ops.push(...r.write(results[i])));
  }
  await commitSets(ctx, [...ops, ...(events.length ? [{ op: 'events' as const, objects: events }] : [])]);
}

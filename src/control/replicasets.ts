import { addDefaultTolerations } from '../kinds/pod.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import { selectorMatches, type LabelSelector } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp } from './deletion.js';
import { groupBy, isTerminal, ownedPodCountGuard, podRowsSql, toPodRow, type PodRow } from './pod-rows.js';

// The ReplicaSet controller: each ReplicaSet owns pods through a controller ownerReference and its
// selector; it adopts matching orphans, releases pods that stop matching, creates or deletes pods to
// match spec.replicas, and reports status. Round trips: one read of ReplicaSets and pod rows, one read
// of the whole pods it must change (only when there are some), one write.

const COMPONENT = 'replicaset-controller';
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

interface RSSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: LabelSelector;
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * Kubernetes' order for deleting surplus pods (controller.ActivePodsWithRanks): unassigned before
 * assigned, pending before running, not ready before ready, on crowded nodes first, more recently ready
 * first, newer before older.
 */
export function deletionOrder(pods: PodRow[]): PodRow[] {
  const perNode = new Map<string, number>();
  for (const p of pods) if (p.nodeName) perNode.set(p.nodeName, (perNode.get(p.nodeName) ?? 0) + 1);
  const key = (p: PodRow) => [
    p.nodeName ? 1 : 0,
    PHASE_RANK[p.phase ?? 'Pending'] ?? 0,
    p.summary.ready ? 1 : 0,
    -(p.nodeName ? perNode.get(p.nodeName)! : 0),
  ];
  return [...pods].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
    if (a.summary.ready && b.summary.ready && a.summary.readySince !== b.summary.readySince) {
      return (b.summary.readySince ?? '').localeCompare(a.summary.readySince ?? '');
    }
    return b.summary.created.localeCompare(a.summary.created) || a.name.localeCompare(b.name);
  });
}

// A ReplicaSet's creations (or deletions) in one pass form a chain: the first is conditional on the
// owner still having the live pods that were read, each later one on the one before it having
// happened. Racing passes cannot both act on one count, and each condition is an index lookup.
const createdGuard = (uid: string) => ({ sql: 'EXISTS (SELECT 1 FROM objects WHERE uid = ?)', args: [uid] });
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
 * A generated name not in `taken` (namespace/name of the pods read and made this pass), then taken.
 * A name that is in use makes the create fail, and with it every later create guarded by the pod count.
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

function availableCount(pods: PodRow[], minReadySeconds: number, now: number): number {
  return pods.filter((p) => p.summary.ready && (minReadySeconds <= 0 || Date.parse(p.summary.readySince ?? '') + minReadySeconds * 1000 <= now)).length;
}

function statusOf(rs: KObject, spec: RSSpec, active: PodRow[], now: number): Record<string, unknown> {
  const templateLabels = spec.template?.metadata?.labels ?? {};
  const old = (rs.status ?? {}) as Record<string, unknown>;
  return {
    ...old,
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) => Object.entries(templateLabels).every(([k, v]) => p.summary.labels[k] === v)).length,
    readyReplicas: active.filter((p) => p.summary.ready).length,
    availableReplicas: availableCount(active, spec.minReadySeconds ?? 0, now),
    observedGeneration: rs.metadata!.generation ?? 1,
  };
}

export async function replicaSets(ctx: PassContext): Promise<void> {
  const [rsRows, podRows] = await ctx.store.rows([
    `SELECT rv, object FROM objects WHERE kind = 'ReplicaSet'`,
    podRowsSql("namespace IN (SELECT namespace FROM objects WHERE kind = 'ReplicaSet')"),
  ]);
  if (rsRows.length === 0) return;
  const sets = rsRows.map(objectOf);
  const pods = podRows.map(toPodRow);
  const now = ctx.now().getTime();
  const byOwner = groupBy(pods, (p) => p.ownerUid);
  const orphans = groupBy(pods, (p) => (p.ownerUid === null ? p.namespace : null));
  const taken = new Set(pods.map((p) => `${p.namespace}/${p.name}`));

  const ops: WriteOp[] = [];
  const change = new Map<string, (pod: KObject) => WriteOp | undefined>(); // pod uid -> how to change it
  const after: ((full: Map<string, KObject>) => void)[] = [];

  for (const rs of sets) {
    const meta = rs.metadata!;
    const spec = (rs.spec ?? {}) as RSSpec;
    const owned = byOwner.get(meta.uid!) ?? [];
    const live = owned.filter((p) => !p.summary.deleting);
    const active = live.filter((p) => !isTerminal(p));

    const status = statusOf(rs, spec, active, now);
    if (JSON.stringify(status) !== JSON.stringify(rs.status ?? {})) {
      ops.push({ op: 'update', object: { ...rs, status }, rv: Number(meta.resourceVersion) });
    }
    if (meta.deletionTimestamp) continue;

    // Ownership first; replica counts are fixed on a later pass, once ownership has settled.
    const release = live.filter((p) => !selectorMatches(spec.selector, p.summary.labels));
    const adopt = (orphans.get(meta.namespace!) ?? []).filter((p) => !p.summary.deleting && !isTerminal(p) && selectorMatches(spec.selector, p.summary.labels));
    if (release.length || adopt.length) {
      for (const p of release) {
        change.set(p.uid, (pod) => {
          const next = structuredClone(pod);
          const refs = (next.metadata!.ownerReferences ?? []).filter((r) => r.uid !== meta.uid);
          if (refs.length) next.metadata!.ownerReferences = refs;
          else delete next.metadata!.ownerReferences;
          return { op: 'update', object: next, rv: Number(pod.metadata!.resourceVersion) };
        });
      }
      for (const p of adopt) {
        change.set(p.uid, (pod) => {
          const next = structuredClone(pod);
          next.metadata!.ownerReferences = [...(next.metadata!.ownerReferences ?? []), ownerRef(rs)];
          return { op: 'update', object: next, rv: Number(pod.metadata!.resourceVersion) };
        });
      }
      continue;
    }

    const diff = active.length - (spec.replicas ?? 1);
    if (diff < 0) {
      let previous: string | undefined;
      for (let i = 0; i < -diff; i++) {
        const pod = newPod(ctx, rs, spec, taken);
        ops.push({ op: 'create', object: pod, requireNamespace: true, guard: previous ? createdGuard(previous) : ownedPodCountGuard(meta.uid!, live.length) });
        previous = pod.metadata!.uid;
        ctx.event({ involved: rs, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${pod.metadata!.name}`, component: COMPONENT });
      }
    } else if (diff > 0) {
      const victims = deletionOrder(active).slice(0, diff);
      after.push((full) => {
        let previous: string | undefined;
        for (const v of victims) {
          const pod = full.get(v.uid);
          const op = pod && deleteOp(pod, ctx.now());
          if (!op) continue;
          ops.push({ ...op, guard: previous ? deletedGuard(previous) : ownedPodCountGuard(meta.uid!, live.length) });
          previous = v.uid;
          ctx.event({ involved: rs, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${v.name}`, component: COMPONENT });
        }
      });
      for (const v of victims) change.set(v.uid, () => undefined);
    }
  }

  if (change.size > 0) {
    const [full] = await ctx.store.query([
      { sql: `SELECT rv, object FROM objects WHERE kind = 'Pod' AND uid IN (SELECT value FROM json_each(?))`, args: [JSON.stringify([...change.keys()])] },
    ]);
    const byUid = new Map(full.map((p) => [p.metadata!.uid!, p]));
    for (const [uid, how] of change) {
      const pod = byUid.get(uid);
      const op = pod && how(pod);
      if (op) ops.push(op);
    }
    for (const f of after) f(byUid);
  }
  await ctx.commit(ops);
}

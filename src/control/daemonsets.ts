import { templateGeneration } from '../kinds/daemonset.js';
import { addDefaultTolerations } from '../kinds/pod.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import { deepEqual, selectorMatches, type LabelSelector } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import { eventObject, type PassContext } from './context.js';
import { deleteOp, releaseOp } from './deletion.js';
import { cleanupHistory, constructHistory, RevisionPool, type Revision } from './daemonset-history.js';
import { nodeFit, pinnedAffinity, REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL, withDaemonTolerations, type DaemonNode } from './daemonset-nodes.js';
import {
  failedKillsSql, orphansSql, podsByUid, READS, toNode, toOrphanGroup, toPod, type OrphanGroup, type OwnedPod,
} from './daemonset-reads.js';
import { failedMessage, failedNodeOf, inBackoff, syncDaemonSet, type DaemonStatusCounts, type Deletion } from './daemonset-sync.js';
import { Budget, commitSets, groupBy, ownedPodCountGuard, SET_ROWS } from './pod-rows.js';
import type { IntOrString } from './rollout.js';
import type { Statement } from './replicaset-pods.js';

// The DaemonSet controller (pkg/controller/daemon): one pod per node the DaemonSet belongs on, made
// with the node pinned in its required node affinity so the scheduler binds it there in the same
// pass; pods leave nodes that stop matching; RollingUpdate and OnDelete updates; a
// ControllerRevision per template; status as kube reports it.
//
// Round trips: (1) everything decided from, set-based (daemonset-reads.ts): an idle pass ends here,
// having read no whole pod. (2) Only for the work found: the whole pods it deletes, releases, adopts
// or relabels, and the back-off of failed pods. (3) One write. Work is bounded per pass: at most
// BURST creations and deletions per DaemonSet, and batchSize pods in all; the rest waits for the
// next pass.

const COMPONENT = 'daemonset-controller';
/** BurstReplicas: the most pods one DaemonSet creates or deletes in one sync. */
const BURST = 250;
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** names.SimpleNameGenerator: the generateName base is cut so that base and suffix fit a label (63). */
const MAX_GENERATED_BASE = 58;

interface DaemonSetSpec {
  selector?: LabelSelector;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  updateStrategy?: { type?: string; rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString } };
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] }; spec?: Record<string, any> };
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return Array.from(bytes, (b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

function ownerRef(ds: KObject) {
  return { apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata!.name!, uid: ds.metadata!.uid!, controller: true, blockOwnerDeletion: true };
}

/** The pod a DaemonSet makes for one node (GetPodFromTemplate over CreatePodTemplate). */
function newPod(ctx: PassContext, ds: KObject, spec: DaemonSetSpec, tolerations: unknown[], hash: string, node: string): KObject {
  const meta = ds.metadata!;
  const tmpl = spec.template ?? {};
  const generation = templateGeneration(ds);
  const base = `${meta.name}-`.slice(0, MAX_GENERATED_BASE);
  const podSpec = structuredClone(tmpl.spec ?? {});
  podSpec.tolerations = structuredClone(tolerations);
  podSpec.affinity = pinnedAffinity(podSpec.affinity, node);
  const pod: KObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${base}${randomSuffix()}`,
      generateName: base,
      namespace: meta.namespace,
      uid: crypto.randomUUID(),
      creationTimestamp: ctx.timestamp(),
      labels: {
        ...tmpl.metadata?.labels,
        ...(generation !== undefined ? { [TEMPLATE_GENERATION_LABEL]: String(generation) } : {}),
        [REVISION_HASH_LABEL]: hash,
      },
      ...(tmpl.metadata?.annotations ? { annotations: { ...tmpl.metadata.annotations } } : {}),
      ...(tmpl.metadata?.finalizers?.length ? { finalizers: [...tmpl.metadata.finalizers] } : {}),
      ownerReferences: [ownerRef(ds)],
    },
    spec: podSpec,
    status: {},
  };
  kindNamed('Pod')!.defaults!(pod);
  addDefaultTolerations(pod.spec, ctx.opts.defaultNotReadyTolerationSeconds, ctx.opts.defaultUnreachableTolerationSeconds);
  return pod;
}

/** The status as the DaemonSet controller writes it: zero counts omitted where the API type omits them. */
function statusOf(ds: KObject, counts: DaemonStatusCounts): Record<string, unknown> {
  const old = (ds.status ?? {}) as Record<string, unknown>;
  const status: Record<string, unknown> = {
    currentNumberScheduled: counts.currentNumberScheduled,
    numberMisscheduled: counts.numberMisscheduled,
    desiredNumberScheduled: counts.desiredNumberScheduled,
    numberReady: counts.numberReady,
  };
  const optional: [string, number][] = [
    ['observedGeneration', ds.metadata!.generation ?? 0],
    ['updatedNumberScheduled', counts.updatedNumberScheduled],
    ['numberAvailable', counts.numberAvailable],
    ['numberUnavailable', counts.numberUnavailable],
  ];
  for (const [k, v] of optional) if (v) status[k] = v;
  if (old.collisionCount !== undefined) status.collisionCount = old.collisionCount;
  if (Array.isArray(old.conditions) && old.conditions.length) status.conditions = old.conditions;
  return status;
}

function adoptOp(pod: KObject, ds: KObject): WriteOp {
  const next = structuredClone(pod);
  next.metadata!.ownerReferences = [...(next.metadata!.ownerReferences ?? []), ownerRef(ds)];
  return { op: 'update', object: next, rv: Number(pod.metadata!.resourceVersion) };
}

function relabelOp(pod: KObject, hash: string): WriteOp {
  const next = structuredClone(pod);
  next.metadata!.labels = { ...next.metadata!.labels, [REVISION_HASH_LABEL]: hash };
  return { op: 'update', object: next, rv: Number(pod.metadata!.resourceVersion) };
}

/** One DaemonSet's work that needs whole pods (round trip 2), and what to write once they are read. */
interface Pending {
  ds: KObject;
  /** Owned pods not being deleted, as read: what the creations' guard expects, less the deletions. */
  live: number;
  deletions: Deletion[];
  failed: OwnedPod[];
  releases: OwnedPod[];
  adoptions: OrphanGroup[];
  relabel: { pods: OwnedPod[]; hash: string };
  creations: KObject[];
}

export async function daemonSets(ctx: PassContext): Promise<void> {
  if (!(await ctx.present('DaemonSet'))) return;
  const [setRows, nodeRows, podRows, revisionRows, orphanRows] = await ctx.store.rows(READS);
  if (setRows.length === 0) return;
  const now = ctx.now();
  const stamp = ctx.timestamp();
  const nodes = nodeRows.map(toNode);
  const owned = groupBy(podRows.map(toPod), (p) => p.ownerUid);
  const pool = new RevisionPool(revisionRows.map(objectOf) as Revision[]);
  const orphans = groupBy(orphanRows.map(toOrphanGroup), (g) => g.namespace);
  const claimed = new Set<OrphanGroup>();
  const budget = new Budget(ctx.opts.batchSize);

  const statusOps: WriteOp[] = [];
  const pending: Pending[] = [];
  for (const ds of setRows.map(objectOf)) {
    const meta = ds.metadata!;
    // As kube: a DaemonSet being deleted is left to the garbage collector, status and all.
    if (meta.deletionTimestamp) continue;
    const spec = (ds.spec ?? {}) as DaemonSetSpec;
    const writeStatus = (status: Record<string, unknown>) => {
      if (!deepEqual(status, ds.status ?? {})) statusOps.push({ op: 'update', object: { ...ds, status }, rv: Number(meta.resourceVersion) });
    };
    const history = constructHistory(ds, pool, stamp);
    if ('collisionCount' in history) {
      // Another template has the revision's name: count it, and hash again next pass (snapshot).
      writeStatus({ ...(ds.status as object), collisionCount: history.collisionCount });
      continue;
    }
    const pods = owned.get(meta.uid!) ?? [];
    const work = sync(ds, spec, nodes, pods, history.hash, now);
    writeStatus(statusOf(ds, work.plan.status));
    cleanupHistory(spec.revisionHistoryLimit ?? 10, history.old, new Set(pods.map((p) => p.labels[REVISION_HASH_LABEL]).filter(Boolean)));

    const p: Pending = {
      ds, live: pods.filter((x) => !x.deleting).length, deletions: [], failed: [], releases: [], adoptions: [],
      relabel: { pods: [], hash: history.hash }, creations: [],
    };
    pending.push(p);
    // Ownership first (ClaimPods); pods are made and deleted on a later pass, once it has settled.
    p.releases = work.release.slice(0, budget.take(work.release.length));
    for (const g of orphans.get(meta.namespace!) ?? []) {
      if (claimed.has(g) || !selectorMatches(spec.selector, g.labels)) continue;
      claimed.add(g);
      if (budget.take(g.adoptable)) p.adoptions.push(g);
    }
    if (history.duplicates.length) {
      const stale = pods.filter((x) => history.duplicates.includes(x.labels[REVISION_HASH_LABEL]));
      p.relabel.pods = stale.slice(0, budget.take(stale.length));
    }
    if (p.releases.length || p.adoptions.length || history.duplicates.length) continue;

    p.deletions = work.plan.delete.slice(0, budget.take(Math.min(work.plan.delete.length, BURST)));
    p.failed = work.plan.failed.slice(0, budget.take(Math.min(work.plan.failed.length, BURST - p.deletions.length))) as OwnedPod[];
    const creates = work.plan.create.slice(0, budget.take(Math.min(work.plan.create.length, BURST)));
    p.creations = creates.map((node) => newPod(ctx, ds, spec, work.tolerations, history.hash, node));
  }

  // Round trip 2: the whole pods the work changes, orphans to adopt, and failed pods' back-off.
  const wholeUids = pending.flatMap((p) => [...p.deletions.map((d) => d.pod), ...p.failed, ...p.releases, ...p.relabel.pods].map((x) => x.uid));
  const adoptions = pending.flatMap((p) => p.adoptions.map((g) => ({ p, g })));
  const withFailed = pending.filter((p) => p.failed.length).map((p) => p.ds.metadata!.uid!);
  const reads: Statement[] = [
    ...(wholeUids.length ? [podsByUid(wholeUids)] : []),
    ...adoptions.map(({ g }) => orphansSql(g, g.adoptable)),
    ...(withFailed.length ? [failedKillsSql(withFailed)] : []),
  ];
  const results = reads.length ? await ctx.store.rows(reads) : [];
  const whole = new Map<string, KObject>();
  let at = 0;
  if (wholeUids.length) for (const r of results[at++]) whole.set(String(objectOf(r).metadata!.uid), objectOf(r));
  const adopted = adoptions.map(() => results[at++].map(objectOf));
  const kills = new Map<string, number[]>();
  if (withFailed.length) {
    for (const r of results[at++]) {
      const node = failedNodeOf(String(r.message ?? ''));
      const t = Date.parse(String(r.last ?? ''));
      if (!node || !Number.isFinite(t)) continue;
      const key = `${r.owner}/${node}`;
      kills.set(key, [...(kills.get(key) ?? []), t]);
    }
  }

  const podOps: WriteOp[] = [];
  const events: KObject[] = [];
  const event = (ds: KObject, type: 'Normal' | 'Warning', reason: string, message: string) =>
    events.push(eventObject({ involved: ds, type, reason, message, component: COMPONENT }, stamp));
  adoptions.forEach(({ p }, i) => podOps.push(...adopted[i].map((pod) => adoptOp(pod, p.ds))));
  for (const p of pending) {
    const uid = p.ds.metadata!.uid!;
    for (const pod of p.releases) {
      const obj = whole.get(pod.uid);
      if (obj) podOps.push(releaseOp(obj, uid));
    }
    for (const pod of p.relabel.pods) {
      const obj = whole.get(pod.uid);
      if (obj) podOps.push(relabelOp(obj, p.relabel.hash));
    }
    const deletions = [...p.deletions];
    for (const pod of p.failed) {
      if (inBackoff(kills.get(`${uid}/${pod.node}`) ?? [], now.getTime())) continue;
      deletions.push({ pod, event: { type: 'Warning', reason: 'FailedDaemonPod', message: failedMessage(pod) } });
    }
    let deleted = 0;
    for (const { pod, event: reported } of deletions) {
      const obj = whole.get(pod.uid);
      const op = obj && deleteOp(obj, now);
      if (!op) continue;
      podOps.push(op);
      deleted++;
      if (reported) event(p.ds, reported.type, reported.reason, reported.message);
      event(p.ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.name}`);
    }
    // Creations go in behind the deletions, conditional on the live pods the pass expects by then.
    const chunk = Math.min(ctx.opts.commitChunk || SET_ROWS, SET_ROWS);
    for (let i = 0; i < p.creations.length; i += chunk) {
      podOps.push({ op: 'creates', objects: p.creations.slice(i, i + chunk), requireNamespace: true, guard: ownedPodCountGuard(uid, p.live - deleted + i) });
    }
    for (const pod of p.creations) event(p.ds, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata!.name}`);
  }
  await commitSets(ctx, [...pool.writes(now), ...podOps, ...statusOps, ...(events.length ? [{ op: 'events' as const, objects: events }] : [])]);
}

/** One DaemonSet's sync over the pass's rows: which of its pods to release, and the plan for the rest. */
function sync(ds: KObject, spec: DaemonSetSpec, nodes: DaemonNode[], pods: OwnedPod[], hash: string, now: Date) {
  const template = spec.template ?? {};
  const podSpec = template.spec ?? {};
  const tolerations = withDaemonTolerations(podSpec);
  const release = pods.filter((p) => !selectorMatches(spec.selector, p.labels));
  const released = new Set(release);
  const claimed = pods.filter((p) => !released.has(p));
  const strategy = spec.updateStrategy ?? {};
  const plan = syncDaemonSet({
    namespace: ds.metadata!.namespace!,
    hash,
    generation: templateGeneration(ds),
    minReadySeconds: spec.minReadySeconds ?? 0,
    rollingUpdate: (strategy.type ?? 'RollingUpdate') === 'RollingUpdate' ? strategy.rollingUpdate ?? {} : undefined,
    nodes: nodes.map((n) => ({ name: n.name, fit: nodeFit(podSpec, tolerations, n) })),
    pods: claimed,
    now,
  });
  return { plan, release, tolerations };
}

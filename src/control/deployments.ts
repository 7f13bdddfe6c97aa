// The Deployment controller, as kube-controller-manager's (pkg/controller/deployment: sync.go,
// rolling.go, recreate.go, progress.go): each Deployment claims its ReplicaSets, finds or creates
// the one for its template, scales them by its strategy, and reports status and conditions.
// One read round trip for every Deployment and ReplicaSet; every change is made to working copies
// and written at the end in one round trip, each write conditional on the resourceVersion read.
// Where kube writes several times within one sync, this pass writes the end result once.
import type { OwnerReference } from '../kinds/types.js';
import { deepEqual, selectorMatches } from '../kinds/validation.js';
import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp } from './deletion.js';
import {
  DESIRED_REPLICAS, HASH_LABEL, PROGRESSING, REPLICA_FAILURE, REVISION, Reason, active, actualReplicas,
  availableReplicas, byCreation, byRevision, bySizeNewer, bySizeOlder, calculateStatus, deploymentComplete,
  deploymentProgressing, deploymentTimedOut, desired, findActiveOrLatest, getCondition, hasProgressDeadline,
  intAnnotation, isRollingUpdate, isSaturated, maxRevision, maxSurge, maxUnavailable, newCondition, newRSNewReplicas,
  removeCondition, replicaSetProportion, setCondition, setNewReplicaSetAnnotations, setReplicasAnnotations,
  specReplicas, templateHash, templateKey, type Condition, type Deployment, type ReplicaSet,
} from './rollout.js';

const COMPONENT = 'deployment-controller';

const READ = [
  "SELECT rv, object FROM objects WHERE kind = 'Deployment' ORDER BY namespace, name",
  `SELECT rv, object FROM objects WHERE kind = 'ReplicaSet'
    AND namespace IN (SELECT namespace FROM objects WHERE kind = 'Deployment') ORDER BY namespace, name`,
  // ReplicaSets that count no pods but still have some that have not finished (being deleted,
  // say): Recreate waits for those too (oldPodsRunning).
  `SELECT r.rv, r.object FROM objects r WHERE r.kind = 'ReplicaSet'
    AND COALESCE(json_extract(r.object, '$.status.replicas'), 0) = 0
    AND EXISTS (SELECT 1 FROM objects p WHERE p.owner_uid = r.uid AND p.kind = 'Pod'
      AND COALESCE(p.phase, '') NOT IN ('Succeeded', 'Failed'))`,
];

export async function deployments(ctx: PassContext): Promise<void> {
  const [stored, replicaSets, draining] = (await ctx.store.query(READ)) as unknown as [Deployment[], ReplicaSet[], ReplicaSet[]];
  const pool = new ReplicaSetPool(replicaSets);
  const podsLeft = new Set(draining.map((rs) => rs.metadata!.uid!));
  const ops: WriteOp[] = [];
  for (const d of stored) {
    const op = new DeploymentSync(ctx, d, pool, podsLeft).run();
    if (op) ops.push(op);
  }
  ops.push(...pool.writes(ctx.now()));
  await ctx.commit(ops);
}

interface Entry {
  rs: ReplicaSet;
  /** As read; none for a ReplicaSet this pass creates. */
  stored?: ReplicaSet;
  deleted?: boolean;
}

/** The pass's ReplicaSets as working copies; what changed becomes writes at the end. */
class ReplicaSetPool {
  private byNamespace = new Map<string, Entry[]>();
  private entries = new Map<ReplicaSet, Entry>();
  private keys = new WeakMap<ReplicaSet, string>();

  constructor(stored: ReplicaSet[]) {
    for (const rs of stored) this.track({ rs: structuredClone(rs), stored: rs });
  }

  private track(e: Entry): void {
    const ns = e.rs.metadata!.namespace!;
    this.byNamespace.set(ns, [...(this.byNamespace.get(ns) ?? []), e]);
    this.entries.set(e.rs, e);
  }

  inNamespace(ns: string): ReplicaSet[] {
    return (this.byNamespace.get(ns) ?? []).filter((e) => !e.deleted).map((e) => e.rs);
  }

  named(ns: string, name: string): ReplicaSet | undefined {
    return this.inNamespace(ns).find((rs) => rs.metadata!.name === name);
  }

  /** The template's identity (templateKey), computed once per ReplicaSet: its template never changes here. */
  templateKey(rs: ReplicaSet): string {
    let key = this.keys.get(rs);
    if (key === undefined) this.keys.set(rs, (key = templateKey(rs.spec.template)));
    return key;
  }

  create(rs: ReplicaSet): void {
    this.track({ rs });
  }

  delete(rs: ReplicaSet): void {
    this.entries.get(rs)!.deleted = true;
  }

  writes(now: Date): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const { rs, stored, deleted } of this.entries.values()) {
      if (!stored) {
        ops.push({ op: 'create', object: rs, requireNamespace: true });
      } else if (deleted) {
        const op = deleteOp(stored, now);
        if (op) ops.push(op);
      } else if (!deepEqual(rs, stored)) {
        // what the API server does on a spec change
        if (!deepEqual(rs.spec, stored.spec)) rs.metadata!.generation = (stored.metadata?.generation ?? 0) + 1;
        ops.push({ op: 'update', object: rs, rv: Number(stored.metadata!.resourceVersion) });
      }
    }
    return ops;
  }
}

const controllerOf = (rs: ReplicaSet) => rs.metadata?.ownerReferences?.find((r) => r.controller);

function ownerReference(d: Deployment): OwnerReference {
  const meta = d.metadata!;
  return { apiVersion: 'apps/v1', kind: 'Deployment', name: meta.name!, uid: meta.uid!, controller: true, blockOwnerDeletion: true };
}

const present = (rss: (ReplicaSet | undefined)[]): ReplicaSet[] => rss.filter((rs): rs is ReplicaSet => !!rs);

/** One Deployment's sync (syncDeployment), on working copies of it and its ReplicaSets. */
class DeploymentSync {
  private readonly d: Deployment;
  private readonly now: string;
  private readonly templateKey: string;
  private rsList: ReplicaSet[] = [];

  constructor(
    private ctx: PassContext,
    private stored: Deployment,
    private pool: ReplicaSetPool,
    private podsLeft: Set<string>,
  ) {
    this.d = structuredClone(stored);
    this.d.status ??= {};
    this.now = ctx.timestamp();
    this.templateKey = templateKey(this.d.spec.template);
  }

  /** Runs the sync; the Deployment's write (annotations and status together), if anything changed. */
  run(): WriteOp | undefined {
    const d = this.d;
    this.rsList = this.claimReplicaSets();
    if (d.metadata!.deletionTimestamp) this.syncStatusOnly();
    else {
      this.checkPausedConditions();
      if (d.spec.paused || this.isScalingEvent()) this.sync();
      else if (isRollingUpdate(d)) this.rolloutRolling();
      else this.rolloutRecreate();
    }
    const same = deepEqual(d.metadata!.annotations, this.stored.metadata!.annotations) && deepEqual(d.status, this.stored.status);
    return same ? undefined : { op: 'update', object: d, rv: Number(this.stored.metadata!.resourceVersion) };
  }

  /** ClaimReplicaSets: owned ones the selector still matches; orphans it matches are adopted, owned ones it no longer matches released. */
  private claimReplicaSets(): ReplicaSet[] {
    const meta = this.d.metadata!;
    const deleting = !!meta.deletionTimestamp;
    const owned: ReplicaSet[] = [];
    for (const rs of this.pool.inNamespace(meta.namespace!)) {
      const ref = controllerOf(rs);
      if (ref && ref.uid !== meta.uid) continue;
      const matches = selectorMatches(this.d.spec.selector, rs.metadata!.labels);
      if (ref) {
        if (matches) owned.push(rs);
        else if (!deleting) this.release(rs);
      } else if (matches && !deleting && !rs.metadata!.deletionTimestamp) {
        (rs.metadata!.ownerReferences ??= []).push(ownerReference(this.d));
        owned.push(rs);
      }
    }
    return owned;
  }

  private release(rs: ReplicaSet): void {
    const refs = rs.metadata!.ownerReferences!.filter((r) => r.uid !== this.d.metadata!.uid);
    if (refs.length) rs.metadata!.ownerReferences = refs;
    else delete rs.metadata!.ownerReferences;
  }

  /** getAllReplicaSetsAndSyncRevision: the new ReplicaSet (the oldest with the Deployment's template) and the old ones. */
  private replicaSets(create: boolean): { newRS?: ReplicaSet; oldRSs: ReplicaSet[] } {
    this.rsList.sort(byCreation);
    const existing = this.rsList.find((rs) => this.pool.templateKey(rs) === this.templateKey);
    const oldRSs = this.rsList.filter((rs) => rs !== existing);
    return { newRS: this.newReplicaSet(existing, oldRSs, create), oldRSs };
  }

  /** getNewReplicaSet: bring the new ReplicaSet's annotations and revision up to date, or create it. */
  private newReplicaSet(existing: ReplicaSet | undefined, oldRSs: ReplicaSet[], create: boolean): ReplicaSet | undefined {
    const d = this.d;
    const revision = maxRevision(oldRSs) + 1;
    if (!existing) return create ? this.createReplicaSet(oldRSs, revision) : undefined;
    setNewReplicaSetAnnotations(d, existing, revision, true);
    const minReady = d.spec.minReadySeconds ?? 0;
    if ((existing.spec.minReadySeconds ?? 0) !== minReady) {
      if (minReady) existing.spec.minReadySeconds = minReady;
      else delete existing.spec.minReadySeconds;
    }
    this.setRevision(existing.metadata!.annotations![REVISION]);
    if (hasProgressDeadline(d) && !getCondition(d.status, PROGRESSING)) {
      const message = `Found new replica set "${existing.metadata!.name}"`;
      setCondition(d.status!, newCondition(PROGRESSING, 'True', Reason.foundNewRS, message, this.now));
    }
    return existing;
  }

  private createReplicaSet(oldRSs: ReplicaSet[], revision: number): ReplicaSet {
    const d = this.d;
    const { name, namespace } = d.metadata!;
    // A name taken by a ReplicaSet that is not this template's is a hash collision: count it, hash again.
    let hash = templateHash(d.spec.template, d.status!.collisionCount);
    while (this.pool.named(namespace!, `${name}-${hash}`)) {
      d.status!.collisionCount = (d.status!.collisionCount ?? 0) + 1;
      hash = templateHash(d.spec.template, d.status!.collisionCount);
    }
    const template = structuredClone(d.spec.template ?? {});
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH_LABEL]: hash } };
    const selector = structuredClone(d.spec.selector ?? {});
    selector.matchLabels = { ...selector.matchLabels, [HASH_LABEL]: hash };
    const rsName = `${name}-${hash}`;
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: rsName,
        namespace,
        uid: crypto.randomUUID(),
        creationTimestamp: this.now,
        generation: 1,
        labels: { ...template.metadata.labels },
        ownerReferences: [ownerReference(d)],
      },
      spec: { replicas: 0, ...(d.spec.minReadySeconds ? { minReadySeconds: d.spec.minReadySeconds } : {}), selector, template },
      status: { replicas: 0 },
    };
    rs.spec.replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    setNewReplicaSetAnnotations(d, rs, revision, false);
    this.pool.create(rs);
    this.rsList.push(rs);
    if (rs.spec.replicas > 0) this.scalingEvent(rsName, 0, rs.spec.replicas);
    this.setRevision(String(revision));
    if (hasProgressDeadline(d)) {
      setCondition(d.status!, newCondition(PROGRESSING, 'True', Reason.newRSCreated, `Created new replica set "${rsName}"`, this.now));
    }
    return rs;
  }

  private setRevision(revision: string): void {
    (this.d.metadata!.annotations ??= {})[REVISION] = revision;
  }

  // ------------------------------------------------------------ scaling (sync.go)

  /** isScalingEvent: an active ReplicaSet was sized for a different replica count than the Deployment's. */
  private isScalingEvent(): boolean {
    const { newRS, oldRSs } = this.replicaSets(false);
    return active([...oldRSs, newRS]).some((rs) => {
      const want = intAnnotation(rs, DESIRED_REPLICAS);
      return want !== undefined && want !== desired(this.d);
    });
  }

  /** sync: scaling only (a scaling event, or a paused Deployment). */
  private sync(): void {
    const { newRS, oldRSs } = this.replicaSets(false);
    this.scale(newRS, oldRSs);
    if (this.d.spec.paused) this.cleanupDeployment(oldRSs);
    this.syncDeploymentStatus(present([...oldRSs, newRS]), newRS);
  }

  private syncStatusOnly(): void {
    const { newRS, oldRSs } = this.replicaSets(false);
    this.syncDeploymentStatus(present([...oldRSs, newRS]), newRS);
  }

  /** scale: the whole size to the one active ReplicaSet, or spread over all of them in proportion to their sizes. */
  private scale(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): void {
    const d = this.d;
    const only = findActiveOrLatest(newRS, oldRSs);
    if (only) {
      this.scaleReplicaSetAndRecordEvent(only, desired(d));
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of active(oldRSs)) this.scaleReplicaSetAndRecordEvent(old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = active([...oldRSs, newRS]);
    const allowed = desired(d) > 0 ? desired(d) + maxSurge(d) : 0;
    const toAdd = allowed - specReplicas(all);
    // Larger ReplicaSets first; among equals, newer ones grow first and older ones shrink first.
    if (toAdd > 0) all.sort(bySizeNewer);
    else if (toAdd < 0) all.sort(bySizeOlder);
    let added = 0;
    const sizes = all.map((rs) => {
      const proportion = replicaSetProportion(rs, d, toAdd, added);
      added += proportion;
      return desired(rs) + proportion;
    });
    if (toAdd !== 0) sizes[0] = Math.max(sizes[0] + toAdd - added, 0); // leftovers to the largest
    all.forEach((rs, i) => this.scaleReplicaSet(rs, sizes[i]));
  }

  private scaleReplicaSetAndRecordEvent(rs: ReplicaSet, size: number): boolean {
    return desired(rs) !== size && this.scaleReplicaSet(rs, size);
  }

  /** scaleReplicaSet: the new size, and the replicas annotations the next proportional scaling starts from. */
  private scaleReplicaSet(rs: ReplicaSet, size: number): boolean {
    const d = this.d;
    const from = desired(rs);
    setReplicasAnnotations(rs, desired(d), desired(d) + maxSurge(d));
    if (from === size) return false;
    rs.spec.replicas = size;
    this.scalingEvent(rs.metadata!.name!, from, size);
    return true;
  }

  private scalingEvent(rsName: string, from: number, to: number): void {
    this.ctx.event({
      involved: this.d,
      type: 'Normal',
      reason: 'ScalingReplicaSet',
      message: `Scaled ${from < to ? 'up' : 'down'} replica set ${rsName} from ${from} to ${to}`,
      component: COMPONENT,
    });
  }

  /** cleanupDeployment: delete the oldest old ReplicaSets beyond revisionHistoryLimit, once they are empty. */
  private cleanupDeployment(oldRSs: ReplicaSet[]): void {
    const limit = this.d.spec.revisionHistoryLimit;
    if (limit === undefined || limit === null || limit === 2147483647) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata!.deletionTimestamp).sort(byRevision);
    for (const rs of cleanable.slice(0, Math.max(cleanable.length - limit, 0))) {
      const drained = (rs.status?.replicas ?? 0) === 0 && desired(rs) === 0;
      const observed = (rs.metadata!.generation ?? 0) <= (rs.status?.observedGeneration ?? 0);
      if (drained && observed) this.pool.delete(rs);
    }
  }

  // ------------------------------------------------------------ RollingUpdate (rolling.go)

  private rolloutRolling(): void {
    const { newRS, oldRSs } = this.replicaSets(true) as { newRS: ReplicaSet; oldRSs: ReplicaSet[] };
    const allRSs = [...oldRSs, newRS];
    if (this.reconcileNewReplicaSet(allRSs, newRS) || this.reconcileOldReplicaSets(allRSs, active(oldRSs), newRS)) {
      this.syncRolloutStatus(allRSs, newRS);
      return;
    }
    if (deploymentComplete(this.d, this.d.status!)) this.cleanupDeployment(oldRSs);
    this.syncRolloutStatus(allRSs, newRS);
  }

  /** reconcileNewReplicaSet: grow the new ReplicaSet as far as maxSurge allows (or shrink it to the Deployment's size). */
  private reconcileNewReplicaSet(allRSs: ReplicaSet[], newRS: ReplicaSet): boolean {
    const want = desired(this.d);
    if (desired(newRS) === want) return false;
    if (desired(newRS) > want) return this.scaleReplicaSetAndRecordEvent(newRS, want);
    return this.scaleReplicaSetAndRecordEvent(newRS, newRSNewReplicas(this.d, allRSs, newRS));
  }

  /** reconcileOldReplicaSets: shrink old ReplicaSets as far as maxUnavailable allows, unhealthy pods first. */
  private reconcileOldReplicaSets(allRSs: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet): boolean {
    if (specReplicas(oldRSs) === 0) return false;
    const minAvailable = desired(this.d) - maxUnavailable(this.d);
    const newUnavailable = desired(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = specReplicas(allRSs) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = this.cleanupUnhealthyReplicas(oldRSs, maxScaledDown);
    if (cleaned === undefined) return false;
    return cleaned + this.scaleDownOldReplicaSetsForRollingUpdate([...oldRSs, newRS], oldRSs) > 0;
  }

  /** cleanupUnhealthyReplicas: drop old pods that are not available, which costs no availability; undefined when a status is inconsistent. */
  private cleanupUnhealthyReplicas(oldRSs: ReplicaSet[], max: number): number | undefined {
    oldRSs.sort(byCreation);
    let total = 0;
    for (const rs of oldRSs) {
      if (total >= max) break;
      const available = rs.status?.availableReplicas ?? 0;
      if (desired(rs) === 0 || desired(rs) === available) continue;
      const count = Math.min(max - total, desired(rs) - available);
      if (count < 0) return undefined; // more available than asked for: kube gives up on this sync
      this.scaleReplicaSetAndRecordEvent(rs, desired(rs) - count);
      total += count;
    }
    return total;
  }

  /** scaleDownOldReplicaSetsForRollingUpdate: remove old pods while more than replicas - maxUnavailable are available. */
  private scaleDownOldReplicaSetsForRollingUpdate(allRSs: ReplicaSet[], oldRSs: ReplicaSet[]): number {
    const minAvailable = desired(this.d) - maxUnavailable(this.d);
    const available = availableReplicas(allRSs);
    if (available <= minAvailable) return 0;
    oldRSs.sort(byCreation);
    const target = available - minAvailable;
    let total = 0;
    for (const rs of oldRSs) {
      if (total >= target) break;
      if (desired(rs) === 0) continue;
      const count = Math.min(desired(rs), target - total);
      this.scaleReplicaSetAndRecordEvent(rs, desired(rs) - count);
      total += count;
    }
    return total;
  }

  // ------------------------------------------------------------ Recreate (recreate.go)

  private rolloutRecreate(): void {
    let { newRS, oldRSs } = this.replicaSets(false);
    const status = () => this.syncRolloutStatus(present([...oldRSs, newRS]), newRS);
    // Every old ReplicaSet to zero first, and no new pod until the old ones are gone.
    let scaledDown = false;
    for (const rs of active(oldRSs)) if (this.scaleReplicaSetAndRecordEvent(rs, 0)) scaledDown = true;
    if (scaledDown || this.oldPodsRunning(newRS, oldRSs)) return status();
    if (!newRS) ({ newRS, oldRSs } = this.replicaSets(true));
    this.scaleReplicaSetAndRecordEvent(newRS!, desired(this.d));
    if (deploymentComplete(this.d, this.d.status!)) this.cleanupDeployment(oldRSs);
    status();
  }

  private oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    return actualReplicas(oldRSs) > 0 || oldRSs.some((rs) => rs !== newRS && this.podsLeft.has(rs.metadata!.uid!));
  }

  // ------------------------------------------------------------ status (sync.go, progress.go)

  private syncDeploymentStatus(allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): void {
    this.d.status = calculateStatus(allRSs, newRS, this.d, this.now);
  }

  /** syncRolloutStatus: the status, and the Progressing condition estimated from how it moved since the last one. */
  private syncRolloutStatus(allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): void {
    const d = this.d;
    const status = calculateStatus(allRSs, newRS, d, this.now);
    if (!hasProgressDeadline(d)) removeCondition(status, PROGRESSING);
    const current = getCondition(d.status, PROGRESSING);
    const complete = status.replicas === status.updatedReplicas && current?.reason === Reason.newRSAvailable;
    if (hasProgressDeadline(d) && !complete) {
      const subject = newRS ? `ReplicaSet "${newRS.metadata!.name}"` : `Deployment "${d.metadata!.name}"`;
      if (deploymentComplete(d, status)) {
        setCondition(status, newCondition(PROGRESSING, 'True', Reason.newRSAvailable, `${subject} has successfully progressed.`, this.now));
      } else if (deploymentProgressing(d, status)) {
        // Progress moves lastUpdateTime even under the same reason, which setCondition alone would not.
        const c = newCondition(PROGRESSING, 'True', Reason.rsUpdated, `${subject} is progressing.`, this.now);
        if (current?.status === 'True') c.lastTransitionTime = current.lastTransitionTime;
        removeCondition(status, PROGRESSING);
        setCondition(status, c);
      } else if (deploymentTimedOut(d, status, this.ctx.now())) {
        setCondition(status, newCondition(PROGRESSING, 'False', Reason.timedOut, `${subject} has timed out progressing.`, this.now));
      }
    }
    const failure = replicaFailure(allRSs, newRS);
    if (failure) setCondition(status, failure);
    else removeCondition(status, REPLICA_FAILURE);
    d.status = status;
  }

  private checkPausedConditions(): void {
    const d = this.d;
    if (!hasProgressDeadline(d)) return;
    const current = getCondition(d.status, PROGRESSING);
    if (current?.reason === Reason.timedOut) return; // a reported lack of progress stays
    const pausedCondition = current?.reason === Reason.paused;
    if (d.spec.paused && !pausedCondition) {
      setCondition(d.status!, newCondition(PROGRESSING, 'Unknown', Reason.paused, 'Deployment is paused', this.now));
    } else if (!d.spec.paused && pausedCondition) {
      setCondition(d.status!, newCondition(PROGRESSING, 'Unknown', Reason.resumed, 'Deployment is resumed', this.now));
    }
  }
}

/** getReplicaFailures: a ReplicaFailure condition of the new ReplicaSet, else of any, as the Deployment's. */
function replicaFailure(allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): Condition | undefined {
  const failureOf = (rs: ReplicaSet) => rs.status?.conditions?.find((c) => c.type === REPLICA_FAILURE);
  const c = (newRS && failureOf(newRS)) ?? allRSs.map(failureOf).find((x) => x);
  return c && { type: REPLICA_FAILURE, status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime, reason: c.reason, message: c.message };
}

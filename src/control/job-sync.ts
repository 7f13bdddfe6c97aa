// One Job's sync (the Job controller's syncJob, pkg/controller/job), in two steps so a pass reads in
// bulk: plan() decides from the Job and its pods' counts which pods to read whole; sync() then
// decides everything (pods to create, delete and count, status, conditions, events) from those.
//
// Counting: a pod carries the job-tracking finalizer until the Job has counted it. The Job's new
// status and the pods without their finalizer are written in one statement that writes all of them
// or none (each at the resourceVersion read), so a count is never lost nor made twice, whatever
// races or dies halfway. status.uncountedTerminatedPods, which Kubernetes needs because its writes
// are separate requests, stays empty.
import { formatIndexes, indexCount, mergeIntervals, parseIndexes, withIndexes, firstPendingIndexes, type Intervals } from '../kinds/job-indexes.js';
import { MAX_INT32, type JobCondition } from '../kinds/job-keys.js';
import type { KObject } from '../kinds/types.js';
import type { WriteOp } from '../store/store.js';
import type { EventSpec, PassContext } from './context.js';
import {
  activePodsOrder, completionIndex, deletedPod, indexFailureCounts, isActive, isPodFailed, isReady, isTracked, newJobPod,
  phaseOf, releasedPod, type NewPodIndex,
} from './job-pods.js';
import { backoffRemainingMs, matchPodFailurePolicy, matchSuccessPolicy, podFinishedMs } from './job-policies.js';
import {
  activeOrTrackedPodsSql, activePodsSql, finishedTrackedPodsSql, lastFailedPodPerIndexSql, type JobCounts,
} from './job-reads.js';
import { Budget, ownedPodCountGuard, SET_ROWS } from './pod-rows.js';
import type { Statement } from './replicaset-pods.js';

export const COMPONENT = 'job-controller';
/** MaxPodCreateDeletePerSync. */
const MAX_CREATE_DELETE = 500;
/** The most pods one Job lets go of (counts, deletes) in a pass: they and the Job are one statement. */
const MAX_RELEASED = SET_ROWS - 1;
/** The most failed pods read to work out the failures of an Indexed Job's indexes. */
const MAX_FAILED_INDEXED_READ = 500;
const JOB_CONTROLLER = 'kubernetes.io/job-controller';

type ReadKind = 'finished' | 'all' | 'active' | 'failedIndexed';

interface Read {
  kind: ReadKind;
  stmt: Statement;
  /** How many the counts say there are, and how many the statement may return. */
  expected: number;
  limit: number;
}

/**
 * The guard that keeps a Job and the pods it writes with it together: every one of them is still at
 * the resourceVersion read (`items`: uid and rv). It reads no item of the statement, so SQLite
 * evaluates it once, before any is written: all are written or none.
 */
function allAsRead(items: { object: KObject; rv: number }[]) {
  return {
    sql: 'NOT EXISTS (SELECT 1 FROM json_each(?) e WHERE NOT EXISTS (SELECT 1 FROM objects x WHERE x.uid = e.value ->> 0 AND x.rv = e.value ->> 1))',
    args: [JSON.stringify(items.map((it) => [it.object.metadata!.uid, it.rv]))],
  };
}

export interface SyncOutcome {
  /** The Job's status with the pods it lets go of (one statement), or the status alone. */
  write?: WriteOp;
  /** New pods, behind the guard on the Job's live pods. */
  create?: WriteOp;
  created: KObject[];
  events: EventSpec[];
}

function condition(type: string, status: string, reason: string, message: string, now: string): JobCondition {
  return { type, status, lastProbeTime: now, lastTransitionTime: now, ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
}

const findCondition = (conditions: JobCondition[], type: string) => conditions.find((c) => c.type === type);
const isTrue = (conditions: JobCondition[], type: string) => findCondition(conditions, type)?.status === 'True';

/** ensureJobConditionStatus: the condition set or changed; false when it was already so. */
function ensureCondition(conditions: JobCondition[], next: JobCondition): boolean {
  const existing = findCondition(conditions, next.type);
  if (existing) {
    if (existing.status === next.status && (existing.reason ?? '') === (next.reason ?? '') && (existing.message ?? '') === (next.message ?? '')) return false;
    Object.keys(existing).forEach((k) => delete (existing as unknown as Record<string, unknown>)[k]);
    Object.assign(existing, next);
    return true;
  }
  if (next.status === 'False') return false;
  conditions.push(next);
  return true;
}

export class JobSync {
  readonly spec: any;
  readonly indexed: boolean;
  readonly completions: number | null;
  readonly parallelism: number;
  readonly backoffLimit: number;
  readonly onlyReplaceFailed: boolean;
  readonly perIndex: boolean;
  readonly suspended: boolean;
  readonly deleting: boolean;
  /** Not ours to sync: managed by another controller (spec.managedBy). */
  readonly external: boolean;
  /** Succeeded indexes: those in status and those of pods not yet counted. */
  readonly succeededIndexes: Intervals;
  /** For decisions: the Job's successes, counted or not yet. */
  readonly succeeded: number;
  private readonly reads: Read[] = [];

  constructor(
    readonly job: KObject,
    readonly counts: JobCounts,
    private readonly ctx: PassContext,
  ) {
    this.spec = job.spec ?? {};
    const status: any = job.status ?? {};
    this.indexed = this.spec.completionMode === 'Indexed';
    this.completions = this.spec.completions ?? null;
    this.parallelism = Number(this.spec.parallelism ?? 1);
    this.backoffLimit = Number(this.spec.backoffLimit ?? (this.spec.backoffLimitPerIndex != null ? MAX_INT32 : 6));
    this.onlyReplaceFailed = this.spec.podReplacementPolicy === 'Failed' || !!this.spec.podFailurePolicy;
    this.perIndex = this.indexed && this.spec.backoffLimitPerIndex != null;
    this.suspended = this.spec.suspend === true;
    this.deleting = !!job.metadata?.deletionTimestamp;
    this.external = this.spec.managedBy != null && this.spec.managedBy !== JOB_CONTROLLER;
    const completions = this.completions ?? 0;
    this.succeededIndexes = this.indexed
      ? withIndexes(parseIndexes(status.completedIndexes, completions), counts.succeededIndexes.filter((i) => i < completions))
      : [];
    this.succeeded = this.indexed ? indexCount(this.succeededIndexes) : Number(status.succeeded ?? 0) + counts.newSucceeded;
  }

  private get conditions(): JobCondition[] {
    return ((this.job.status as { conditions?: JobCondition[] } | undefined)?.conditions ?? []);
  }

  private wantActive(active: number): number {
    if (this.completions === null) return this.succeeded > 0 ? active : this.parallelism;
    return Math.max(0, Math.min(this.completions - this.succeeded, this.parallelism));
  }

  private pastActiveDeadline(startTime: string | undefined): boolean {
    const ads = this.spec.activeDeadlineSeconds;
    if (ads == null || !startTime || this.suspended) return false;
    return this.ctx.now().getTime() - Date.parse(startTime) >= ads * 1000;
  }

  /** pastBackoffLimitOnFailure: container restarts of running pods, for restartPolicy OnFailure. */
  private pastBackoffLimitOnFailure(): boolean {
    if (this.spec.template?.spec?.restartPolicy !== 'OnFailure') return false;
    return this.backoffLimit === 0 ? this.counts.restarts > 0 : this.counts.restarts >= this.backoffLimit;
  }

  /** Whether active pods of an Indexed Job share an index or have none valid. */
  private hasStrayIndexes(): boolean {
    const seen = new Set<number>();
    for (const ix of this.counts.activeIndexes) {
      if (ix < 0 || ix >= (this.completions ?? 0) || seen.has(ix)) return true;
      seen.add(ix);
    }
    return false;
  }

  /**
   * Whether the Job is finishing on what the counts alone tell (the rest, pod failure policies and
   * failed indexes, needs the pods read; a Job they end gets its pods deleted on the next pass).
   */
  private finishingFromCounts(): boolean {
    const conditions = this.conditions;
    if (isTrue(conditions, 'SuccessCriteriaMet') || isTrue(conditions, 'FailureTarget')) return true;
    const status: any = this.job.status ?? {};
    const failed = Number(status.failed ?? 0) + (this.spec.podFailurePolicy ? 0 : this.counts.newFailed);
    if (failed > this.backoffLimit || this.pastBackoffLimitOnFailure()) return true;
    if (this.pastActiveDeadline(status.startTime ?? (this.suspended ? undefined : this.ctx.timestamp()))) return true;
    return this.indexed && !!matchSuccessPolicy(this.spec.successPolicy, this.completions ?? 0, this.succeededIndexes);
  }

  /** The whole pods this Job's sync needs, within the budget. */
  plan(budget: Budget): Statement[] {
    if (this.external) return [];
    const uid = this.job.metadata!.uid!;
    const c = this.counts;
    const add = (kind: ReadKind, expected: number, make: (limit: number) => Statement) => {
      if (expected <= 0) return;
      const limit = budget.take(Math.min(expected, MAX_RELEASED));
      if (limit > 0) this.reads.push({ kind, stmt: make(limit), expected, limit });
      else this.reads.push({ kind, stmt: make(0), expected, limit: 0 });
    };
    const completions = this.completions ?? 0;
    if (this.finishingFromCounts() || this.deleting) {
      add('all', c.active + c.tracked, (n) => activeOrTrackedPodsSql(uid, n));
    } else {
      add('finished', c.newSucceeded + c.newFailed, (n) => finishedTrackedPodsSql(uid, this.onlyReplaceFailed, n));
      const excess = c.active - this.wantActive(c.active) > 0;
      if (this.suspended || excess || (this.indexed && this.hasStrayIndexes())) add('active', c.active, (n) => activePodsSql(uid, n));
      else if (this.perIndex && this.wantActive(c.active) > c.active) {
        add('failedIndexed', Math.min(completions, MAX_FAILED_INDEXED_READ), (n) => lastFailedPodPerIndexSql(uid, n));
      }
    }
    return this.reads.filter((r) => r.limit > 0).map((r) => r.stmt);
  }

  /** The statements plan() asked for whose results sync() takes, in the same order. */
  get readCount(): number {
    return this.reads.filter((r) => r.limit > 0).length;
  }

  /** Everything the sync writes, from the pods read (`results`, one list per planned statement). */
  sync(results: KObject[][], budget: Budget, taken: Set<string>): SyncOutcome {
    const out: SyncOutcome = { created: [], events: [] };
    if (this.external) return out;
    const ctx = this.ctx;
    const now = ctx.timestamp();
    const job = this.job;
    const spec = this.spec;
    const c = this.counts;
    const completions = this.completions ?? 0;
    const policy = spec.podFailurePolicy;

    // The pods read, and whether each read got all there were.
    const got = new Map<ReadKind, KObject[]>();
    const complete = new Map<ReadKind, boolean>();
    let at = 0;
    for (const r of this.reads) {
      const pods = r.limit > 0 ? results[at++] : [];
      got.set(r.kind, pods);
      complete.set(r.kind, r.limit > 0 && pods.length >= r.expected);
    }
    const readAll = got.has('all');
    const all = got.get('all') ?? [];
    const trackedRead = [...(got.get('finished') ?? []), ...all.filter((p) => !isActive(p))].filter(isTracked);
    const activeRead = readAll ? all.filter(isActive) : got.get('active') ?? [];
    const allTrackedRead = readAll ? complete.get('all') === true : c.newSucceeded + c.newFailed === 0 || complete.get('finished') === true;

    const oldStatus: any = job.status ?? {};
    const status: any = structuredClone(oldStatus);
    const conditions: JobCondition[] = (status.conditions ??= []);
    if (!status.startTime && !this.suspended) status.startTime = now;

    const validIndex = (p: KObject) => !this.indexed || (completionIndex(p) >= 0 && completionIndex(p) < completions);
    const newFailedPods = trackedRead.filter((p) => isPodFailed(p, this.onlyReplaceFailed) && validIndex(p));
    // Without a policy every failure counts, read or not; with one, those read (the rest next pass).
    const failed = Number(oldStatus.failed ?? 0) + (policy ? newFailedPods.filter((p) => matchPodFailurePolicy(policy, p).countFailed).length : c.newFailed);

    // Why the Job ends, when it does: a condition already set, a FailJob rule, the back-off
    // limit, the deadline, failed indexes, or the success policy.
    let finished: JobCondition | undefined;
    if (isTrue(conditions, 'SuccessCriteriaMet')) finished = findCondition(conditions, 'SuccessCriteriaMet');
    else if (isTrue(conditions, 'FailureTarget')) finished = findCondition(conditions, 'FailureTarget');
    else if (policy) {
      const message = newFailedPods.map((p) => matchPodFailurePolicy(policy, p).failJobMessage).find((m) => m);
      if (message) finished = condition('FailureTarget', 'True', 'PodFailurePolicy', message, now);
    }
    if (!finished) {
      if (failed > this.backoffLimit || this.pastBackoffLimitOnFailure()) {
        finished = condition('FailureTarget', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', now);
      } else if (this.pastActiveDeadline(status.startTime)) {
        finished = condition('FailureTarget', 'True', 'DeadlineExceeded', 'Job was active longer than specified deadline', now);
      }
    }
    let failedIndexes: Intervals | undefined;
    if (this.perIndex) {
      const newlyFailed = newFailedPods.filter((p) => this.isIndexFailed(p)).map(completionIndex);
      failedIndexes = withIndexes(parseIndexes(oldStatus.failedIndexes, completions), newlyFailed);
      const failedCount = indexCount(failedIndexes);
      if (finished) {
        // A reason found above stands.
      } else if (spec.maxFailedIndexes != null && failedCount > spec.maxFailedIndexes) {
        finished = condition('FailureTarget', 'True', 'MaxFailedIndexesExceeded', 'Job has exceeded the specified maximal number of failed indexes', now);
      } else if (failedCount > 0 && failedCount + indexCount(this.succeededIndexes) >= completions) {
        finished = condition('FailureTarget', 'True', 'FailedIndexes', 'Job has failed indexes', now);
      }
    }
    if (!finished && this.indexed) {
      const message = matchSuccessPolicy(spec.successPolicy, completions, this.succeededIndexes);
      if (message) finished = condition('SuccessCriteriaMet', 'True', 'SuccessPolicy', message, now);
    }

    let active = c.active;
    let ready = c.ready;
    let terminating = c.terminating;
    /** Active pods deleted this pass. */
    const victims: KObject[] = [];
    const toCreate: (NewPodIndex | undefined)[] = [];
    const remove = (pods: KObject[]) => {
      for (const p of pods) {
        victims.push(p);
        active--;
        terminating++;
        if (isReady(p)) ready--;
        out.events.push(this.event('Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`));
      }
    };

    if (finished) {
      // Active pods go (those read: the rest on the next passes); until they are gone the Job keeps
      // its interim condition.
      remove(activeRead);
    } else {
      if (!this.deleting) {
        if (this.suspended) {
          remove(activeRead.slice(0, MAX_CREATE_DELETE));
        } else {
          const want = this.wantActive(active);
          const surplus = this.podsForRemoval(activeRead, Math.max(0, active - want)).slice(0, MAX_CREATE_DELETE);
          if (surplus.length > 0) remove(surplus);
          else {
            const diff = want - (this.onlyReplaceFailed ? terminating : 0) - active;
            // With a failure policy, or failures per index, failures not read yet could change what is wanted.
            const unsure = (!!policy || this.perIndex) && !allTrackedRead;
            if (diff > 0 && !unsure) toCreate.push(...this.podsToCreate(diff, failedIndexes, got.get('failedIndexed'), budget));
            active += toCreate.length;
          }
        }
      }
      const done = active === 0 && (this.completions === null ? this.succeeded > 0 : this.succeeded >= completions);
      if (done) {
        finished = condition('SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', now);
      } else if (!this.deleting) {
        const suspended = this.suspended
          ? condition('Suspended', 'True', 'JobSuspended', 'Job suspended', now)
          : condition('Suspended', 'False', 'JobResumed', 'Job resumed', now);
        if (ensureCondition(conditions, suspended)) {
          out.events.push(this.suspended ? this.event('Normal', 'Suspended', 'Job suspended') : this.event('Normal', 'Resumed', 'Job resumed'));
          // activeDeadlineSeconds counts the time a Job runs without a pause.
          if (!this.suspended) status.startTime = now;
        }
      }
    }

    // The pods the Job lets go of, and which of them it counts: the finished ones; all of them
    // when it ends or is deleted; suspended or surplus pods go uncounted (deleteJobPods).
    const failing = !!finished && finished.type === 'FailureTarget';
    const letGo = new Map<string, { pod: KObject; count: boolean }>();
    for (const p of this.deleting || finished ? [...trackedRead, ...all.filter(isTracked)] : trackedRead) {
      if (this.deleting || finished || phaseOf(p) === 'Succeeded' || isPodFailed(p, this.onlyReplaceFailed)) letGo.set(p.metadata!.uid!, { pod: p, count: true });
    }
    for (const p of victims) if (!letGo.has(p.metadata!.uid!)) letGo.set(p.metadata!.uid!, { pod: p, count: !!finished });
    let newSucceeded = 0;
    let newFailed = 0;
    for (const { pod, count } of letGo.values()) {
      if (!count || !isTracked(pod)) continue;
      if (phaseOf(pod) === 'Succeeded') newSucceeded++;
      else if ((isPodFailed(pod, this.onlyReplaceFailed) || failing) && validIndex(pod) && matchPodFailurePolicy(policy, pod).countFailed) newFailed++;
    }

    if (this.indexed) {
      // Indexes are a set: the status takes every success seen, counted now or not yet.
      status.succeeded = indexCount(this.succeededIndexes);
      const text = formatIndexes(this.succeededIndexes);
      if (text) status.completedIndexes = text;
      else delete status.completedIndexes;
    } else {
      status.succeeded = Number(oldStatus.succeeded ?? 0) + newSucceeded;
    }
    status.failed = Number(oldStatus.failed ?? 0) + newFailed;
    if (failedIndexes) status.failedIndexes = formatIndexes(failedIndexes);

    // The interim condition now; the terminal one once no pod is left to count or to stop.
    let terminal: JobCondition | undefined;
    if (finished) {
      if (!isTrue(conditions, finished.type)) conditions.push(finished);
      terminal = condition(failing ? 'Failed' : 'Complete', 'True', finished.reason ?? '', finished.message ?? '', now);
    }
    const nothingLeft = allTrackedRead && trackedRead.every((p) => letGo.has(p.metadata!.uid!)) && terminating === 0 && active === 0;
    if (terminal && nothingLeft) {
      ensureCondition(conditions, terminal);
      if (terminal.type === 'Complete') {
        status.completionTime = terminal.lastTransitionTime;
        if (this.completions !== null && status.succeeded > this.completions) {
          out.events.push(this.event('Warning', 'TooManySucceededPods', 'Too many succeeded pods running after completion count reached'));
        }
        out.events.push(this.event('Normal', 'Completed', 'Job completed'));
      } else {
        out.events.push(this.event('Warning', terminal.reason ?? '', terminal.message ?? ''));
      }
    }

    status.active = active;
    status.ready = ready;
    status.terminating = terminating;
    status.uncountedTerminatedPods = {};
    for (const f of ['active', 'succeeded', 'failed'] as const) if (!status[f]) delete status[f];
    if (conditions.length === 0) delete status.conditions;

    // The Job and the pods it lets go of in one statement, all at the versions read or none.
    const victimUids = new Set(victims.map((p) => p.metadata!.uid!));
    const pods = [...letGo.values()]
      .filter(({ pod }) => isTracked(pod) || victimUids.has(pod.metadata!.uid!))
      .map(({ pod }) => ({ object: victimUids.has(pod.metadata!.uid!) ? deletedPod(pod, ctx.now()) : releasedPod(pod), rv: Number(pod.metadata!.resourceVersion) }));
    const next: KObject = { ...job, status };
    const rv = Number(job.metadata!.resourceVersion);
    if (pods.length > 0) {
      const items = [{ object: next, rv }, ...pods];
      out.write = { op: 'updates', items, guard: allAsRead(items) };
    }
    else if (JSON.stringify(status) !== JSON.stringify(oldStatus)) out.write = { op: 'update', object: next, rv };
    if (toCreate.length > 0) {
      const created = toCreate.map((ix) => newJobPod(ctx, job, ix, taken));
      out.create = { op: 'creates', objects: created, requireNamespace: true, guard: ownedPodCountGuard(job.metadata!.uid!, c.live) };
      out.created = created;
    }
    return out;
  }

  /** isIndexFailed: the pod's failure ends its index (FailIndex, or the index's back-off limit reached). */
  private isIndexFailed(pod: KObject): boolean {
    if (!isPodFailed(pod, this.onlyReplaceFailed)) return false;
    const m = matchPodFailurePolicy(this.spec.podFailurePolicy, pod);
    if (m.action === 'FailIndex') return true;
    return m.countFailed && indexFailureCounts(pod).counted >= Number(this.spec.backoffLimitPerIndex);
  }

  /**
   * activePodsForRemoval: for an Indexed Job, pods with no valid index and all but one of those
   * sharing an index; then, up to `rmAtLeast`, the first in controller.ActivePods order.
   */
  private podsForRemoval(active: KObject[], rmAtLeast: number): KObject[] {
    const rm: KObject[] = [];
    let left = active;
    if (this.indexed) {
      left = [];
      const byIndex = new Map<number, KObject[]>();
      for (const p of active) {
        const ix = completionIndex(p);
        if (ix < 0 || ix >= (this.completions ?? 0)) rm.push(p);
        else byIndex.set(ix, [...(byIndex.get(ix) ?? []), p]);
      }
      for (const pods of byIndex.values()) {
        const sorted = [...pods].sort(activePodsOrder);
        rm.push(...sorted.slice(0, -1));
        left.push(sorted[sorted.length - 1]);
      }
    }
    if (rm.length < rmAtLeast) rm.push(...[...left].sort(activePodsOrder).slice(0, rmAtLeast - rm.length));
    return rm;
  }

  /** The pods to create now: none while the back-off lasts; for an Indexed Job, the first pending indexes. */
  private podsToCreate(diff: number, failedIndexes: Intervals | undefined, lastFailed: KObject[] | undefined, budget: Budget): (NewPodIndex | undefined)[] {
    const nowMs = this.ctx.now().getTime();
    if (!this.perIndex && backoffRemainingMs(this.counts.failuresAfterSuccess, this.counts.lastFailureMs, nowMs) > 0) return [];
    if (this.perIndex && !lastFailed) return [];
    if (!this.indexed) return Array.from({ length: budget.take(Math.min(diff, MAX_CREATE_DELETE)) }, () => undefined);
    const completions = this.completions ?? 0;
    let taken = withIndexes(this.succeededIndexes, this.counts.activeIndexes.filter((ix) => ix >= 0));
    if (this.onlyReplaceFailed) taken = withIndexes(taken, this.counts.terminatingIndexes);
    if (failedIndexes) taken = mergeIntervals(taken, failedIndexes);
    const indexes = firstPendingIndexes(taken, Math.min(diff, MAX_CREATE_DELETE), completions);
    if (!this.perIndex) return indexes.slice(0, budget.take(indexes.length)).map((index) => ({ index }));
    // Per index: the failures so far, from the index's last failed pod, and the index's own back-off.
    const last = new Map((lastFailed ?? []).map((p) => [completionIndex(p), p]));
    const out: NewPodIndex[] = [];
    for (const index of indexes) {
      const prev = last.get(index);
      if (!prev) {
        out.push({ index, failures: { counted: 0, ignored: 0 } });
        continue;
      }
      const counts = indexFailureCounts(prev);
      if (backoffRemainingMs(counts.counted + counts.ignored + 1, podFinishedMs(prev), nowMs) > 0) continue;
      const countFailed = matchPodFailurePolicy(this.spec.podFailurePolicy, prev).countFailed;
      out.push({ index, failures: { counted: counts.counted + (countFailed ? 1 : 0), ignored: counts.ignored + (countFailed ? 0 : 1) } });
    }
    return out.slice(0, budget.take(out.length));
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): EventSpec {
    return { involved: this.job, type, reason, message, component: COMPONENT };
  }
}

import { formatRFC3339, resolveTimeZone, type Schedule } from '../kinds/cron-schedule.js';
import { cronJobSchedule } from '../kinds/cronjob.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import { deepEqual } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import { eventObject, type PassContext } from './context.js';
import { deleteOp } from './deletion.js';
import { Budget, groupBy, SET_ROWS } from './pod-rows.js';

// The CronJob controller (kube-controller-manager's cronjob controller v2): at each schedule time it
// makes a Job from the template, named for that time (NAME-<minutes since the epoch>, so a racing pass
// cannot make it twice), honours concurrencyPolicy, startingDeadlineSeconds and suspend, tracks
// status.active, lastScheduleTime and lastSuccessfulTime, and deletes finished Jobs beyond the
// history limits (their pods go with them, as a Background deletion's dependents do).
//
// Round trips: (1) the CronJobs with something to do, whole, at most batchSize: those due (by the
// summary written with them) or with an active Job that ended, found from their summaries alone; with
// the Jobs they own as the few fields the controller reads (set-based, by owner_uid). An idle pass ends
// here. (2) One write: statuses, Jobs, deletions and events, set-based where they may be many. Unlike
// Kubernetes, which syncs a CronJob on every change of it or its Jobs, a lowered history limit, or the
// end of a Job it does not list as active (one made by `kubectl create job --from=cronjob/...`), is
// seen when the CronJob next runs or one of its active Jobs ends.
//
// Kubernetes' controller requeues each CronJob for its next schedule time and emits some events once
// per time; a pass keeps no memory, so the events about a scheduled time that was not run
// (JobAlreadyActive, MissSchedule) carry that time in their name (NAME.<ns since the epoch in hex>, the
// shape of Kubernetes' own event names), are created only where absent, and the read sees which exist.

const COMPONENT = 'cronjob-controller';
const SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
const MANY_MISSED = 100;

interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
}

interface CronJobStatus {
  active?: ObjectReference[];
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
}

/** What the controller reads of a Job. */
interface JobRow {
  ownerUid: string;
  namespace: string;
  name: string;
  uid: string;
  rv: number;
  deleting: boolean;
  startTime: string | null;
  completionTime: string | null;
  /** The Complete or Failed condition that is True, if any. */
  finished: 'Complete' | 'Failed' | null;
  /** The whole Job, read only where deleting it means marking it (it has finalizers). */
  whole: KObject | null;
}

/** When the CronJob is due, as its summary has it; 0 (due) where it has none. */
const DUE = `(CASE WHEN x.summary IS NULL THEN 0 ELSE x.summary ->> '$.due' END)`;

/** Whether the Job `j` has a Complete or Failed condition that is True. */
const FINISHED = (j: string) => `EXISTS (SELECT 1 FROM json_each(${j}.object, '$.status.conditions') f
  WHERE f.value ->> '$.type' IN ('Complete', 'Failed') AND f.value ->> '$.status' = 'True')`;

/** Whether a Job the CronJob x lists as active has finished or is gone. */
const ACTIVE_ENDED = `EXISTS (SELECT 1 FROM json_each(x.summary, '$.active') a LEFT JOIN objects j ON j.uid = a.value
  WHERE j.uid IS NULL OR ${FINISHED('j')})`;

/**
 * The CronJobs with something to do (?1: now): due, or with an active Job that ended; due ones first,
 * at most ?2. The others cost this scan of their summaries alone.
 */
const CRONJOBS = `SELECT x.uid, x.namespace, x.name, ${DUE} AS due FROM objects x
  WHERE x.kind = 'CronJob' AND (${DUE} <= ?1 OR ${ACTIVE_ENDED})
  ORDER BY ${DUE} IS NULL, ${DUE}, x.rv LIMIT ?2`;

/** Events named NAME.<16 hex digits> about the CronJob: the newest such name. */
const MARKER = `(SELECT MAX(e.name) FROM objects e WHERE e.kind = 'Event' AND e.namespace = c.namespace
  AND e.name > c.name || '.' AND e.name < c.name || '/' AND length(e.name) = length(c.name) + 17
  AND e.object ->> '$.involvedObject.uid' = c.uid)`;

function readStatements(now: number, limit: number) {
  return [
    {
      sql: `WITH c AS (${CRONJOBS}) SELECT o.rv, o.object, c.due, CASE WHEN c.due <= ?1 THEN ${MARKER} END AS marker
        FROM c JOIN objects o ON o.kind = 'CronJob' AND o.namespace = c.namespace AND o.name = c.name
        ORDER BY c.due IS NULL, c.due`,
      args: [now, limit],
    },
    {
      sql: `WITH c AS (${CRONJOBS}) SELECT j.owner_uid, j.namespace, j.name, j.uid, j.rv,
          j.object ->> '$.metadata.deletionTimestamp' AS deleting,
          j.object ->> '$.status.startTime' AS start_time,
          j.object ->> '$.status.completionTime' AS completion_time,
          (SELECT f.value ->> '$.type' FROM json_each(j.object, '$.status.conditions') f
            WHERE f.value ->> '$.type' IN ('Complete', 'Failed') AND f.value ->> '$.status' = 'True' LIMIT 1) AS finished,
          CASE WHEN json_array_length(j.object, '$.metadata.finalizers') > 0 THEN j.object END AS whole
        FROM objects j WHERE j.kind = 'Job' AND j.owner_uid IN (SELECT uid FROM c)`,
      args: [now, limit],
    },
  ];
}

function toJobRow(r: Record<string, unknown>): JobRow {
  return {
    ownerUid: String(r.owner_uid),
    namespace: String(r.namespace),
    name: String(r.name),
    uid: String(r.uid),
    rv: Number(r.rv),
    deleting: r.deleting !== null && r.deleting !== undefined,
    startTime: (r.start_time as string | null) ?? null,
    completionTime: (r.completion_time as string | null) ?? null,
    finished: (r.finished as JobRow['finished']) ?? null,
    whole: r.whole ? objectOf({ rv: r.rv, object: r.whole }) : null,
  };
}

type Missed = 'none' | 'few' | 'many';

/**
 * mostRecentScheduleTime: the newest schedule time at or before `now` since the last one (or the
 * CronJob's creation, or with `withDeadline` startingDeadlineSeconds ago, whichever is later), and
 * roughly how many were missed.
 */
export function mostRecentScheduleTime(cj: KObject, now: number, schedule: Schedule, withDeadline: boolean): { time?: number; missed: Missed } {
  const status = (cj.status ?? {}) as CronJobStatus;
  let earliest = Date.parse(status.lastScheduleTime ?? cj.metadata?.creationTimestamp ?? '');
  const deadline = (cj.spec as { startingDeadlineSeconds?: number } | undefined)?.startingDeadlineSeconds;
  if (withDeadline && typeof deadline === 'number') earliest = Math.max(earliest, now - deadline * 1000);
  if (Number.isNaN(earliest)) return { missed: 'none' };
  const t1 = schedule.next(earliest);
  // No time within reach (e.g. "0 0 30 2 *"): Kubernetes finds the two times 0s apart and gives up too.
  if (t1 === undefined || now < t1) return { missed: 'none' };
  const t2 = schedule.next(t1);
  if (t2 === undefined || now < t2) return { time: t1, missed: 'none' };
  const between = Math.round((t2 - t1) / 1000);
  if (between < 1) return { missed: 'none' };
  // Roughly how many fit between the first and now; the newest is then found from just before it,
  // as the gaps of an irregular schedule ("30 6-16/4 * * 1-5") differ.
  const missedCount = Math.floor(Math.trunc((now - t1) / 1000) / between) + 1;
  let time: number | undefined;
  for (let t = schedule.next(t1 + (missedCount - 2) * between * 1000); t !== undefined && t <= now; t = schedule.next(t)) time = t;
  return { time, missed: missedCount > MANY_MISSED ? 'many' : missedCount > 0 ? 'few' : 'none' };
}

/** getJobName: the CronJob's name and the scheduled time in minutes since the epoch. */
export const jobName = (cj: KObject, scheduled: number): string => `${cj.metadata!.name}-${Math.floor(scheduled / 60_000)}`;

/** The name of the event about scheduled time `scheduled` not being run (`nth` tells reasons apart). */
function markerName(cj: KObject, scheduled: number, nth: number): string {
  return `${cj.metadata!.name}.${(BigInt(scheduled) * 1_000_000n + BigInt(nth)).toString(16).padStart(16, '0')}`;
}

/** Go's time.RFC1123Z of a UTC time: "Mon, 02 Jan 2006 15:04:05 +0000". */
function rfc1123z(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

const timestampOf = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** getJobFromTemplate2, with what kube-apiserver adds on create. */
function jobFromTemplate(ctx: PassContext, cj: KObject, scheduled: number, zone: string): KObject {
  const template = ((cj.spec as { jobTemplate?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown } }).jobTemplate) ?? {};
  const labels = template.metadata?.labels;
  const job: KObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(cj, scheduled),
      namespace: cj.metadata!.namespace,
      uid: crypto.randomUUID(),
      generation: 1,
      creationTimestamp: ctx.timestamp(),
      ...(labels && Object.keys(labels).length ? { labels: { ...labels } } : {}),
      annotations: { ...template.metadata?.annotations, [SCHEDULED_TIMESTAMP]: formatRFC3339(scheduled, zone) },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata!.name!, uid: cj.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: structuredClone(template.spec ?? {}),
    status: {},
  };
  kindNamed('Job')?.defaults?.(job);
  return job;
}

const refOf = (job: KObject): ObjectReference => ({
  kind: 'Job',
  namespace: job.metadata!.namespace,
  name: job.metadata!.name,
  uid: job.metadata!.uid,
  apiVersion: 'batch/v1',
});

/** byJobStartTime: started ones first, oldest first; then by name. */
function byStartTime(a: JobRow, b: JobRow): number {
  if (!a.startTime !== !b.startTime) return a.startTime ? -1 : 1;
  const d = a.startTime && b.startTime ? Date.parse(a.startTime) - Date.parse(b.startTime) : 0;
  return d || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** What one pass writes, gathered over all CronJobs. */
interface Writes {
  /** Status writes, each with the Job it lists as newly made, if any. */
  statuses: { object: KObject; rv: number; job?: KObject }[];
  deletions: WriteOp[];
  markers: KObject[];
  events: KObject[];
}

/** One CronJob's reconcile: cleanupFinishedJobs, then syncCronJob, as Kubernetes runs them. */
function reconcileCronJob(ctx: PassContext, cj: KObject, due: number | null, marker: string | null, jobs: JobRow[], budget: Budget, out: Writes): void {
  const now = ctx.now().getTime();
  const stamp = ctx.timestamp();
  const meta = cj.metadata!;
  const spec = (cj.spec ?? {}) as {
    concurrencyPolicy?: string; suspend?: boolean; timeZone?: string | null; startingDeadlineSeconds?: number;
    successfulJobsHistoryLimit?: number | null; failedJobsHistoryLimit?: number | null;
  };
  const old = (cj.status ?? {}) as CronJobStatus;
  let active = [...(old.active ?? [])];
  let lastScheduleTime = old.lastScheduleTime;
  let lastSuccessfulTime = old.lastSuccessfulTime;
  const event = (type: 'Normal' | 'Warning', reason: string, message: string) =>
    eventObject({ involved: cj, type, reason, message, component: COMPONENT }, stamp);

  /** deleteJob: the Job goes (Background: its pods follow), and out of the active list. */
  const removeJob = (j: JobRow): boolean => {
    if (!budget.take(1)) return false;
    const op = deleteOp(j.whole ?? { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: j.name, namespace: j.namespace, resourceVersion: String(j.rv) } }, ctx.now());
    if (op) out.deletions.push(op);
    active = active.filter((r) => r.uid !== j.uid);
    out.events.push(event('Normal', 'SuccessfulDelete', `Deleted job ${j.name}`));
    return true;
  };

  // History: the oldest finished Jobs beyond each limit (those already being deleted are on their way).
  for (const [type, limit] of [['Complete', spec.successfulJobsHistoryLimit], ['Failed', spec.failedJobsHistoryLimit]] as const) {
    if (typeof limit !== 'number') continue;
    const finished = jobs.filter((j) => j.finished === type && !j.deleting).sort(byStartTime);
    for (const j of finished.slice(0, Math.max(0, finished.length - limit))) removeJob(j);
  }

  // What the Jobs say: finished ones leave the active list; the newest completion is the last success.
  for (const j of jobs) {
    const found = active.some((r) => r.uid === j.uid);
    if (found && j.finished) {
      active = active.filter((r) => r.uid !== j.uid);
      out.events.push(event('Normal', 'SawCompletedJob', `Saw completed job: ${j.name}, status: ${j.finished}`));
    }
    // (An unfinished Job of ours missing from the list is not adopted, as in Kubernetes, whose
    // UnexpectedJob warning, repeated on every sync, is left out: here it would be every pass.)
    if (j.finished === 'Complete' && j.completionTime && (!lastSuccessfulTime || Date.parse(j.completionTime) > Date.parse(lastSuccessfulTime))) {
      lastSuccessfulTime = j.completionTime;
    }
  }
  const children = new Set(jobs.map((j) => j.uid));
  for (const r of active.filter((r) => !children.has(r.uid ?? ''))) {
    out.events.push(event('Normal', 'MissingJob', `Active job went missing: ${r.name}`));
    active = active.filter((a) => a !== r);
  }

  /** The Job made this pass, written after the status that lists it. */
  let made: KObject | undefined;
  const finish = () => {
    const status: CronJobStatus = {
      ...(active.length ? { active } : {}),
      ...(lastScheduleTime ? { lastScheduleTime } : {}),
      ...(lastSuccessfulTime ? { lastSuccessfulTime } : {}),
    };
    if (!deepEqual(status, cj.status ?? {})) out.statuses.push({ object: { ...cj, status }, rv: Number(meta.resourceVersion), job: made });
  };

  // Only the CronJobs whose next time has come (by the summary written with them) have a schedule to
  // work out; the rest, whether suspended, being deleted or not yet due, are done.
  if (meta.deletionTimestamp || spec.suspend === true || due === null || due > now) return finish();
  let zone = 'UTC';
  if (spec.timeZone !== undefined && spec.timeZone !== null) {
    const resolved = resolveTimeZone(String(spec.timeZone));
    if (!resolved) return finish(); // UnknownTimeZone: validation keeps such names out
    zone = resolved;
  }
  let schedule: Schedule;
  try {
    schedule = cronJobSchedule(cj);
  } catch {
    return finish(); // UnparseableSchedule: likewise
  }

  const { time: scheduled, missed } = mostRecentScheduleTime(cj, now, schedule, true);
  if (scheduled === undefined || scheduled > now) return finish();
  const tooManyMissed = () => {
    if (missed === 'many') out.events.push(event('Warning', 'TooManyMissedTimes', 'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew'));
  };
  // A scheduled time that is not run is told once (see the top of this file).
  const notRun = (nth: number, type: 'Normal' | 'Warning', reason: string, message: string) => {
    if (marker !== null && marker >= markerName(cj, scheduled, 0)) return;
    tooManyMissed();
    const e = event(type, reason, message);
    out.markers.push({ ...e, metadata: { ...e.metadata, name: markerName(cj, scheduled, nth) } });
  };

  const deadline = spec.startingDeadlineSeconds;
  if (typeof deadline === 'number' && scheduled + deadline * 1000 < now) {
    notRun(1, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${rfc1123z(scheduled)}`);
    return finish();
  }
  const name = jobName(cj, scheduled);
  if (active.some((r) => r.name === name && r.namespace === meta.namespace) || (lastScheduleTime && Date.parse(lastScheduleTime) === scheduled)) return finish();
  if (spec.concurrencyPolicy === 'Forbid' && active.length > 0) {
    notRun(0, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
    return finish();
  }
  if (spec.concurrencyPolicy === 'Replace') {
    for (const r of [...active]) {
      const j = jobs.find((x) => x.uid === r.uid);
      if (j && !removeJob(j)) return finish();
    }
  }
  const existing = jobs.find((j) => j.name === name && j.namespace === meta.namespace);
  if (existing) {
    // Made by an earlier pass whose status write did not land: listed now, not made again.
    if (!active.some((r) => r.uid === existing.uid)) active.push({ kind: 'Job', namespace: existing.namespace, name: existing.name, uid: existing.uid, apiVersion: 'batch/v1' });
  } else {
    if (!budget.take(1)) return finish();
    const job = (made = jobFromTemplate(ctx, cj, scheduled, zone));
    active.push(refOf(job));
    tooManyMissed();
    out.events.push(event('Normal', 'SuccessfulCreate', `Created job ${job.metadata!.name}`));
  }
  lastScheduleTime = timestampOf(scheduled);
  finish();
}

/**
 * A Job is created only if its CronJob's status, as stored, lists it: where that status write lost a
 * race, so does the Job (no Job its CronJob does not know of). Evaluated per row (`v`: uid, owner).
 */
const LISTED_BY_OWNER = {
  sql: `EXISTS (SELECT 1 FROM objects o, json_each(o.object, '$.status.active') a WHERE o.uid = v.ow AND a.value ->> '$.uid' = v.uid)`,
  args: [],
};

function pieces<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The pass's writes: statuses, each chunk with the Jobs they list (in the same transaction, so no
 * pass sees a status listing a Job not yet made), then deletions and events. One round trip, or where
 * the pass bounds its transactions (commitChunk), a chunk of statuses and Jobs at a time, and the
 * other writes commitChunk at a time.
 */
async function commitWrites(ctx: PassContext, w: Writes): Promise<void> {
  const size = Math.min(ctx.opts.commitChunk || SET_ROWS, SET_ROWS);
  const chunks = pieces(w.statuses, size).map((items): WriteOp[] => {
    const jobs = items.flatMap((i) => (i.job ? [i.job] : []));
    return [
      { op: 'updates', items: items.map(({ object, rv }) => ({ object, rv })) },
      ...(jobs.length ? [{ op: 'creates' as const, objects: jobs, requireNamespace: true, guard: LISTED_BY_OWNER }] : []),
    ];
  });
  const after: WriteOp[] = [
    ...pieces(w.markers, size).map((objects): WriteOp => ({ op: 'creates', objects })),
    ...pieces(w.events, size).map((objects): WriteOp => ({ op: 'events', objects })),
  ];
  if (!ctx.opts.commitChunk) {
    await ctx.commit([...chunks.flat(), ...w.deletions, ...after]);
    return;
  }
  for (const ops of chunks) await ctx.commit(ops);
  if (w.deletions.length) await ctx.commit(w.deletions);
  for (const op of after) await ctx.commit([op]);
}

export async function cronJobs(ctx: PassContext): Promise<void> {
  if (!(await ctx.present('CronJob'))) return;
  const now = ctx.now().getTime();
  const [cronRows, jobRows] = await ctx.store.rows(readStatements(now, ctx.opts.batchSize));
  if (cronRows.length === 0) return;
  const owned = groupBy(jobRows.map(toJobRow), (j) => j.ownerUid);
  const budget = new Budget(ctx.opts.batchSize);
  const out: Writes = { statuses: [], deletions: [], markers: [], events: [] };
  for (const row of cronRows) {
    const cj = objectOf(row);
    const due = row.due === null || row.due === undefined ? null : Number(row.due);
    reconcileCronJob(ctx, cj, due, (row.marker as string | null) ?? null, owned.get(cj.metadata!.uid!) ?? [], budget, out);
  }
  if (out.statuses.length + out.deletions.length + out.markers.length + out.events.length === 0) return;
  await commitWrites(ctx, out);
}

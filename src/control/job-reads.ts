// What the Job controller reads: the unfinished Jobs whole, their pods counted per Job in SQL (from
// the phase column, the summary, and for the few pods that finished, their finalizers and finish
// times), and then, only for the work a pass does, the pods it changes, whole.
import { COMPLETION_INDEX, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT, JOB_TRACKING_FINALIZER } from '../kinds/job-keys.js';
import type { Statement } from './replicaset-pods.js';

/** A Job with a Complete or Failed condition (SQL over the Job row `o`). */
const finished = (o: string) => `EXISTS (SELECT 1 FROM json_each(${o}.object, '$.status.conditions') c
  WHERE c.value ->> 'type' IN ('Complete', 'Failed') AND c.value ->> 'status' = 'True')`;

const UNFINISHED_JOBS = `FROM objects o WHERE o.kind = 'Job' AND NOT ${finished('o')} ORDER BY o.rv LIMIT ?`;

/** The unfinished Jobs, least recently written first, at most `limit`. */
export function jobsSql(limit: number): Statement {
  return { sql: `SELECT o.rv, o.object ${UNFINISHED_JOBS}`, args: [limit] };
}

// Over a pod row `p`.
const DELETING = "(p.summary ->> '$.deleting')";
const TERMINAL = "COALESCE(p.phase, '') IN ('Succeeded', 'Failed')";
const TRACKED = `EXISTS (SELECT 1 FROM json_each(p.object, '$.metadata.finalizers') WHERE value = '${JOB_TRACKING_FINALIZER}')`;
/** A deleting pod with no grace period left: its node finished it, or it never had one. */
const SETTLED = `(${DELETING} AND COALESCE(p.object ->> '$.metadata.deletionGracePeriodSeconds', 0) = 0)`;
/** getCompletionIndex: the annotation when it is a non-negative integer. */
const INDEX = `(SELECT CASE WHEN a GLOB '[0-9]*' AND a NOT GLOB '*[^0-9]*' THEN CAST(a AS INTEGER) END
  FROM (SELECT p.object ->> '$.metadata.annotations."${COMPLETION_INDEX}"' AS a))`;
const RESTARTS = `((SELECT TOTAL(value ->> '$.restartCount') FROM json_each(p.object, '$.status.containerStatuses'))
  + (SELECT TOTAL(value ->> '$.restartCount') FROM json_each(p.object, '$.status.initContainerStatuses')))`;
/** getFinishedTime, in seconds. */
const FINISHED_AT = `COALESCE(
  (SELECT CASE WHEN COUNT(*) > 0 AND COUNT(*) = COUNT(value -> '$.state.terminated.finishedAt')
    THEN MAX(unixepoch(value ->> '$.state.terminated.finishedAt', 'subsec')) END FROM json_each(p.object, '$.status.containerStatuses')),
  (SELECT unixepoch(value ->> '$.lastTransitionTime', 'subsec') FROM json_each(p.object, '$.status.conditions')
    WHERE value ->> '$.type' = 'Ready' AND value ->> '$.status' = 'False' AND value ->> '$.lastTransitionTime' IS NOT NULL LIMIT 1),
  unixepoch(p.object ->> '$.metadata.deletionTimestamp', 'subsec') - COALESCE(p.object ->> '$.metadata.deletionGracePeriodSeconds', 0),
  unixepoch(p.object ->> '$.metadata.creationTimestamp', 'subsec'))`;

/**
 * Per unfinished Job (the same ones jobsSql reads), its pods counted. `failed` is isPodFailed: Failed,
 * or deleted and not Succeeded (with podReplacementPolicy Failed, only once the pod is settled). A pod
 * is `tracked` while it carries the job-tracking finalizer, that is, until the Job has counted it.
 * Finish times (for the back-off) are computed only for failed pods, and for succeeded ones of Jobs
 * that ever failed.
 */
export function jobCountsSql(limit: number): Statement {
  return {
    sql: `WITH jobs AS MATERIALIZED (
        SELECT o.uid,
          o.object ->> '$.spec.completionMode' = 'Indexed' AS indexed,
          (o.object ->> '$.spec.podReplacementPolicy' = 'Failed' OR json_type(o.object, '$.spec.podFailurePolicy') = 'object') AS only_failed,
          o.object ->> '$.spec.template.spec.restartPolicy' = 'OnFailure' AS on_failure,
          COALESCE(o.object ->> '$.status.failed', 0) > 0 AS failed_before
        ${UNFINISHED_JOBS}),
      pods AS MATERIALIZED (
        SELECT j.uid AS job, j.indexed, j.only_failed, p.phase,
          ${DELETING} AS deleting,
          COALESCE(p.summary ->> '$.ready', 0) AS ready,
          CASE WHEN ${DELETING} THEN ${SETTLED} ELSE 0 END AS settled,
          CASE WHEN ${TERMINAL} OR ${DELETING} THEN ${TRACKED} ELSE 0 END AS tracked,
          CASE WHEN j.indexed THEN ${INDEX} END AS idx,
          CASE WHEN j.on_failure AND COALESCE(p.phase, 'Pending') IN ('Running', 'Pending') THEN ${RESTARTS} ELSE 0 END AS restarts,
          CASE WHEN p.phase = 'Failed' OR ${DELETING} OR (p.phase = 'Succeeded' AND j.failed_before) THEN ${FINISHED_AT} END AS finished_at
        FROM jobs j JOIN objects p ON p.owner_uid = j.uid AND p.kind = 'Pod'),
      facts AS (
        SELECT *,
          NOT deleting AND COALESCE(phase, '') NOT IN ('Succeeded', 'Failed') AS active,
          deleting AND COALESCE(phase, '') NOT IN ('Succeeded', 'Failed') AND NOT settled AS terminating,
          COALESCE(phase, '') != 'Succeeded' AND (phase = 'Failed' OR (deleting AND (NOT only_failed OR settled))) AS failed
        FROM pods),
      last AS (SELECT job, MAX(finished_at) FILTER (WHERE phase = 'Succeeded') AS last_success FROM facts GROUP BY job)
      SELECT f.job AS uid,
        COUNT(*) FILTER (WHERE NOT deleting) AS live,
        COUNT(*) FILTER (WHERE active) AS active,
        COUNT(*) FILTER (WHERE active AND ready) AS ready,
        COUNT(*) FILTER (WHERE terminating) AS terminating,
        COUNT(*) FILTER (WHERE tracked AND phase = 'Succeeded') AS new_succeeded,
        COUNT(*) FILTER (WHERE tracked AND failed) AS new_failed,
        COUNT(*) FILTER (WHERE tracked) AS tracked,
        group_concat(idx) FILTER (WHERE tracked AND phase = 'Succeeded' AND idx IS NOT NULL) AS succeeded_indexes,
        group_concat(COALESCE(idx, -1)) FILTER (WHERE active AND indexed) AS active_indexes,
        group_concat(idx) FILTER (WHERE terminating AND idx IS NOT NULL) AS terminating_indexes,
        TOTAL(restarts) AS restarts,
        MAX(finished_at) FILTER (WHERE failed AND (tracked OR phase = 'Failed')) AS last_failure,
        COUNT(*) FILTER (WHERE failed AND (tracked OR phase = 'Failed') AND (l.last_success IS NULL OR finished_at > l.last_success)) AS failures_after_success
      FROM facts f JOIN last l ON l.job = f.job
      GROUP BY f.job`,
    args: [limit],
  };
}

/** What jobCountsSql counts of one Job's pods. */
export interface JobCounts {
  /** Not being deleted: what the guard on pod creation counts. */
  live: number;
  active: number;
  ready: number;
  terminating: number;
  /** Finished and not yet counted in the Job's status. */
  newSucceeded: number;
  newFailed: number;
  /** Carrying the job-tracking finalizer. */
  tracked: number;
  succeededIndexes: number[];
  /** Indexes of active pods (-1: none or not a valid one), repeated when pods share one. */
  activeIndexes: number[];
  terminatingIndexes: number[];
  restarts: number;
  /** For the back-off: the last failure (ms) and the failures since the last success. */
  lastFailureMs?: number;
  failuresAfterSuccess: number;
}

export const NO_PODS: JobCounts = {
  live: 0, active: 0, ready: 0, terminating: 0, newSucceeded: 0, newFailed: 0, tracked: 0,
  succeededIndexes: [], activeIndexes: [], terminatingIndexes: [], restarts: 0, failuresAfterSuccess: 0,
};

const numbers = (v: unknown): number[] => (v == null || v === '' ? [] : String(v).split(',').map(Number));

export function toJobCounts(r: Record<string, unknown>): JobCounts {
  return {
    live: Number(r.live),
    active: Number(r.active),
    ready: Number(r.ready),
    terminating: Number(r.terminating),
    newSucceeded: Number(r.new_succeeded),
    newFailed: Number(r.new_failed),
    tracked: Number(r.tracked),
    succeededIndexes: numbers(r.succeeded_indexes),
    activeIndexes: numbers(r.active_indexes),
    terminatingIndexes: numbers(r.terminating_indexes),
    restarts: Number(r.restarts),
    lastFailureMs: r.last_failure == null ? undefined : Math.round(Number(r.last_failure) * 1000),
    failuresAfterSuccess: Number(r.failures_after_success),
  };
}

/**
 * Finished Jobs whose ttlSecondsAfterFinished has run out (the TTL-after-finished controller):
 * counted from the Complete or Failed condition's transition.
 */
export function expiredJobsSql(nowMs: number, limit: number): Statement {
  return {
    sql: `SELECT o.rv, o.object FROM objects o WHERE o.kind = 'Job'
        AND o.object ->> '$.spec.ttlSecondsAfterFinished' IS NOT NULL
        AND o.object ->> '$.metadata.deletionTimestamp' IS NULL
        AND (SELECT MAX(unixepoch(c.value ->> 'lastTransitionTime', 'subsec')) FROM json_each(o.object, '$.status.conditions') c
          WHERE c.value ->> 'type' IN ('Complete', 'Failed') AND c.value ->> 'status' = 'True')
          + (o.object ->> '$.spec.ttlSecondsAfterFinished') <= ?
      LIMIT ?`,
    args: [nowMs / 1000, limit],
  };
}

/**
 * Pods to let go of outside any Job's sync: deleted ones still carrying the job-tracking finalizer
 * whose Job is gone or finished (the garbage collector deleting the pods of a deleted Job), found by
 * the index of objects being deleted; ones without a controller still carrying it (their Job
 * deleted with the orphan policy); and deleted ones that nothing holds any more and that have no
 * grace period left, which a Job let go of in the statement that counted them.
 */
export function podsToLetGoSql(limit: number): Statement {
  return {
    sql: `SELECT p.rv, p.object FROM objects p
        WHERE p.kind = 'Pod' AND json_extract(p.object, '$.metadata.deletionTimestamp') IS NOT NULL
          AND ((${TRACKED} AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.uid = p.owner_uid AND o.kind = 'Job' AND NOT ${finished('o')}))
            OR (COALESCE(json_array_length(p.object, '$.metadata.finalizers'), 0) = 0 AND ${SETTLED}))
      UNION ALL
      SELECT p.rv, p.object FROM objects p
        WHERE p.kind = 'Pod' AND p.owner_uid IS NULL AND json_extract(p.object, '$.metadata.deletionTimestamp') IS NULL
          AND instr(p.object, '${JOB_TRACKING_FINALIZER}') > 0 AND ${TRACKED}
      LIMIT ?`,
    args: [limit],
  };
}

// ---- round trip 2: whole pods, for the work a pass does

/** A Job's tracked pods that finished (what it counts now), by name, at most `limit`. */
export function finishedTrackedPodsSql(jobUid: string, onlyFailed: boolean, limit: number): Statement {
  const failed = `(p.phase = 'Failed' OR (${DELETING} AND COALESCE(p.phase, '') != 'Succeeded' AND (${onlyFailed ? 0 : 1} OR ${SETTLED})))`;
  return {
    sql: `SELECT p.rv, p.object FROM objects p WHERE p.kind = 'Pod' AND p.owner_uid = ?
        AND (p.phase = 'Succeeded' OR ${failed}) AND ${TRACKED} ORDER BY p.name LIMIT ?`,
    args: [jobUid, limit],
  };
}

/** A Job's active pods (not finished, not being deleted), at most `limit`. */
export function activePodsSql(jobUid: string, limit: number): Statement {
  return {
    sql: `SELECT p.rv, p.object FROM objects p WHERE p.kind = 'Pod' AND p.owner_uid = ?
        AND NOT ${DELETING} AND COALESCE(p.phase, '') NOT IN ('Succeeded', 'Failed') ORDER BY p.name LIMIT ?`,
    args: [jobUid, limit],
  };
}

/** Every pod of a Job that is active or still tracked (a Job finishing or being deleted lets go of them all). */
export function activeOrTrackedPodsSql(jobUid: string, limit: number): Statement {
  return {
    sql: `SELECT p.rv, p.object FROM objects p WHERE p.kind = 'Pod' AND p.owner_uid = ?
        AND ((NOT ${DELETING} AND COALESCE(p.phase, '') NOT IN ('Succeeded', 'Failed')) OR ${TRACKED}) ORDER BY p.name LIMIT ?`,
    args: [jobUid, limit],
  };
}

/**
 * For backoffLimitPerIndex: per index of a Job, its failed pod with the most failures recorded
 * (the index-failure-count annotations), the latest of those; at most `limit` indexes.
 */
export function lastFailedPodPerIndexSql(jobUid: string, limit: number): Statement {
  const count = (key: string) => `CAST(COALESCE(p.object ->> '$.metadata.annotations."${key}"', 0) AS INTEGER)`;
  return {
    sql: `WITH failed AS (
        SELECT p.rv, p.object, ${INDEX} AS idx, ${count(INDEX_FAILURE_COUNT)} + ${count(INDEX_IGNORED_FAILURE_COUNT)} AS failures, ${FINISHED_AT} AS finished_at
        FROM objects p WHERE p.kind = 'Pod' AND p.owner_uid = ?
          AND (p.phase = 'Failed' OR (${DELETING} AND COALESCE(p.phase, '') != 'Succeeded'))),
      ranked AS (SELECT rv, object, idx, ROW_NUMBER() OVER (PARTITION BY idx ORDER BY failures DESC, finished_at DESC) AS n FROM failed WHERE idx IS NOT NULL)
      SELECT rv, object FROM ranked WHERE n = 1 ORDER BY idx LIMIT ?`,
    args: [jobUid, limit],
  };
}

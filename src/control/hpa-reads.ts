// What the HorizontalPodAutoscaler controller reads, in one round trip: the HPAs due for a sync (each
// syncs every --horizontal-pod-autoscaler-sync-period) with what it remembers of them, their scale
// targets, and the pods of their namespaces grouped by label set and container requests, each group
// counted as replica_calculator.go's groupPods sorts pods (unready, missing metrics, measured) with
// the usage its nodes reported summed in SQL: pods of one template share a group, so rows grow with
// templates, not pods; and every HPA of those namespaces with its target's selector, a row each, for
// the check that no two HPAs select the same pods. Selectors are matched in JS on each group's labels.
import type { Statement } from './replicaset-pods.js';
import { USAGE_STALE_MS } from '../store/pod-usage.js';

/** Timing the replica calculation takes from kube-controller-manager's flags. */
export interface HpaTiming {
  nowMs: number;
  /** --horizontal-pod-autoscaler-sync-period */
  syncPeriodMs: number;
  /** --horizontal-pod-autoscaler-cpu-initialization-period */
  cpuInitializationMs: number;
  /** --horizontal-pod-autoscaler-initial-readiness-delay */
  initialReadinessDelayMs: number;
  batchSize: number;
}

/** The HPAs due, least recently synced first (never-synced first of all). */
function dueSql(t: HpaTiming): { sql: string; args: (string | number)[] } {
  return {
    sql: `SELECT o.uid, o.namespace, o.rv, o.object, s.synced, s.recommendations, s.scale_events,
        o.object ->> '$.spec.scaleTargetRef.kind' AS target_kind, o.object ->> '$.spec.scaleTargetRef.name' AS target_name
      FROM objects o LEFT JOIN hpa_state s ON s.uid = o.uid
      WHERE o.kind = 'HorizontalPodAutoscaler' AND (s.synced IS NULL OR s.synced <= ?)
        AND json_extract(o.object, '$.metadata.deletionTimestamp') IS NULL
      ORDER BY COALESCE(s.synced, 0), o.namespace, o.name LIMIT ?`,
    args: [t.nowMs - t.syncPeriodMs, t.batchSize],
  };
}

/** The container requests of a pod (`o`), restartable init containers included, as JSON [{name, requests}]. */
const REQUESTS = `(SELECT json_group_array(json_object('name', c.value ->> '$.name', 'requests', json(COALESCE(c.value -> '$.resources.requests', '{}'))))
  FROM (SELECT value FROM json_each(o.object, '$.spec.containers')
    UNION ALL SELECT value FROM json_each(o.object, '$.spec.initContainers') WHERE value ->> '$.restartPolicy' = 'Always') c)`;

export interface HpaReads {
  /** The due HPAs: rows with uid, namespace, rv, object, synced, recommendations, scale_events. */
  hpas: Statement;
  /** Their scale targets, whole (rv, object). */
  targets: Statement;
  /** Pod groups of the due HPAs' namespaces (toPodGroup). */
  pods: Statement;
  /**
   * Every HPA of the due HPAs' namespaces not being deleted, whose target exists: namespace, name,
   * api_version and target_kind of its scaleTargetRef, and its target's spec.selector (JSON).
   */
  peers: Statement;
  /** How many rows of hpa_state belong to no HPA (deleted ones). */
  orphans: string;
}

export function hpaReads(t: HpaTiming): HpaReads {
  const due = dueSql(t);
  const withDue = `WITH due AS MATERIALIZED (${due.sql})`;
  // Per pod: live (not being deleted, not Failed), Pending, metered (a fresh report), and for cpu
  // whether its sample counts as unready (groupPods' rules over the Ready condition and startTime).
  const pods = `${withDue},
    p AS MATERIALIZED (
      SELECT o.namespace, o.name, o.summary ->> '$.labels' AS labels, ${REQUESTS} AS reqs,
        NOT (o.summary ->> '$.deleting') AND COALESCE(o.phase, '') != 'Failed' AS live,
        COALESCE(o.phase, '') = 'Pending' AS pending,
        u.uid IS NOT NULL AS metered, u.cpu_nanocores, u.memory_bytes, u.sampled, u.window_ms,
        (SELECT c.value FROM json_each(o.object, '$.status.conditions') c WHERE c.value ->> '$.type' = 'Ready') AS ready,
        unixepoch(o.object ->> '$.status.startTime', 'subsec') * 1000 AS started
      FROM objects o LEFT JOIN pod_usage u ON u.uid = o.uid AND u.received >= ?
      WHERE o.kind = 'Pod' AND o.namespace IN (SELECT namespace FROM due)),
    q AS (SELECT *, live AND NOT pending AND metered AS measured,
        COALESCE(CASE WHEN ready IS NULL OR started IS NULL THEN 1
          WHEN started + ? > ? THEN (ready ->> '$.status' = 'False' OR sampled < unixepoch(ready ->> '$.lastTransitionTime', 'subsec') * 1000 + window_ms)
          ELSE (ready ->> '$.status' = 'False' AND started + ? > unixepoch(ready ->> '$.lastTransitionTime', 'subsec') * 1000) END, 0) AS cpu_unready
      FROM p)
    SELECT namespace, labels, reqs, MIN(name) AS name, COUNT(*) AS pods, SUM(metered) AS metered,
      COUNT(*) FILTER (WHERE live AND pending) AS pending,
      COUNT(*) FILTER (WHERE live AND NOT pending AND NOT metered) AS missing,
      COUNT(*) FILTER (WHERE measured) AS measured,
      COUNT(*) FILTER (WHERE measured AND cpu_unready) AS cpu_unready,
      TOTAL((cpu_nanocores + 999999) / 1000000) FILTER (WHERE measured AND NOT cpu_unready) AS cpu_ready_milli,
      TOTAL(memory_bytes) FILTER (WHERE measured) AS memory_bytes
    FROM q GROUP BY namespace, labels, reqs`;
  return {
    hpas: due,
    targets: {
      sql: `${withDue} SELECT t.rv, t.object FROM due JOIN objects t ON t.kind = due.target_kind AND t.namespace = due.namespace AND t.name = due.target_name`,
      args: due.args,
    },
    pods: { sql: pods, args: [...due.args, t.nowMs - USAGE_STALE_MS, t.cpuInitializationMs, t.nowMs, t.initialReadinessDelayMs] },
    peers: {
      sql: `${withDue} SELECT h.namespace, h.name, h.object ->> '$.spec.scaleTargetRef.apiVersion' AS api_version,
          h.object ->> '$.spec.scaleTargetRef.kind' AS target_kind, t.object -> '$.spec.selector' AS selector
        FROM objects h JOIN objects t ON t.kind = h.object ->> '$.spec.scaleTargetRef.kind' AND t.namespace = h.namespace
          AND t.name = h.object ->> '$.spec.scaleTargetRef.name'
        WHERE h.kind = 'HorizontalPodAutoscaler' AND h.namespace IN (SELECT DISTINCT namespace FROM due)
          AND json_extract(h.object, '$.metadata.deletionTimestamp') IS NULL`,
      args: due.args,
    },
    orphans: `SELECT COUNT(*) AS n FROM hpa_state WHERE uid NOT IN (SELECT uid FROM objects WHERE kind = 'HorizontalPodAutoscaler')`,
  };
}

/** Pods of one namespace sharing a label set and container requests, sorted as groupPods sorts them. */
export interface PodGroup {
  namespace: string;
  labels: Record<string, string>;
  /** Each container's (and restartable init container's) requests, as written. */
  containers: { name: string; requests: Record<string, unknown> }[];
  /** A pod of the group, for messages. */
  name: string;
  pods: number;
  /** With a fresh usage report, whatever their state. */
  metered: number;
  /** Live and Pending: unready. */
  pending: number;
  /** Live, not Pending, no fresh report. */
  missing: number;
  /** Live, not Pending, reported. */
  measured: number;
  /** Of the measured, those whose cpu sample counts as unready. */
  cpuUnready: number;
  /** Cpu of the measured and cpu-ready pods, millicores (each pod's rounded up, as MilliValue does). */
  cpuReadyMilli: number;
  /** Memory of the measured pods, bytes. */
  memoryBytes: number;
}

export function toPodGroup(r: Record<string, unknown>): PodGroup {
  return {
    namespace: String(r.namespace),
    labels: JSON.parse(String(r.labels ?? '{}')) as Record<string, string>,
    containers: JSON.parse(String(r.reqs ?? '[]')) as PodGroup['containers'],
    name: String(r.name),
    pods: Number(r.pods),
    metered: Number(r.metered ?? 0),
    pending: Number(r.pending),
    missing: Number(r.missing),
    measured: Number(r.measured),
    cpuUnready: Number(r.cpu_unready),
    cpuReadyMilli: Number(r.cpu_ready_milli ?? 0),
    memoryBytes: Number(r.memory_bytes ?? 0),
  };
}

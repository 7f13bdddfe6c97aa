// How kubectl judges workloads, as pure functions over the API's objects: rollout status
// (kubectl's DeploymentStatusViewer / DaemonSetStatusViewer), a Deployment's ReplicaSets by
// revision, the rollback target (`kubectl rollout undo`'s deploymentRevision), and the Job and
// CronJob columns of `kubectl get`. Kept apart from the views so they stay small and testable.
import type { Obj } from '../collection.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const HASH_LABEL = 'pod-template-hash';
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

export type RolloutState = 'Complete' | 'Progressing' | 'Paused' | 'Failed' | 'OnDelete';

export interface Rollout {
  state: RolloutState;
  /** Shown after the state: "ProgressDeadlineExceeded" for a failed rollout. */
  reason?: string;
  /** What `kubectl rollout status` would print (or the condition's message). */
  message: string;
}

const condition = (o: Obj, type: string) => (o.status?.conditions as { type: string; status: string; reason?: string; message?: string }[] | undefined)?.find((c) => c.type === type);

/** The Deployment's rollout as `kubectl rollout status` judges it, with Paused shown as such. */
export function deploymentRollout(d: Obj): Rollout {
  const s = d.status ?? {};
  const desired = d.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  // kubectl rollout status waits forever on a paused Deployment; a console says why.
  if (d.spec?.paused) return { state: 'Paused', message: 'Rollout paused: resume it to continue.' };
  if ((d.metadata.generation ?? 0) > (s.observedGeneration ?? 0)) {
    return { state: 'Progressing', message: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = condition(d, 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { state: 'Failed', reason: 'ProgressDeadlineExceeded', message: progressing.message || `deployment "${d.metadata.name}" exceeded its progress deadline` };
  }
  if (updated < desired) {
    return { state: 'Progressing', message: `Waiting for rollout to finish: ${updated} out of ${desired} new replicas have been updated...` };
  }
  if ((s.replicas ?? 0) > updated) {
    return { state: 'Progressing', message: `Waiting for rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...` };
  }
  if ((s.availableReplicas ?? 0) < updated) {
    return { state: 'Progressing', message: `Waiting for rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...` };
  }
  return { state: 'Complete', message: 'Successfully rolled out.' };
}

/** The DaemonSet's rollout as `kubectl rollout status` judges it (RollingUpdate only). */
export function daemonSetRollout(ds: Obj): Rollout {
  const s = ds.status ?? {};
  if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') {
    return { state: 'OnDelete', message: 'OnDelete: pods are replaced only when deleted.' };
  }
  if ((ds.metadata.generation ?? 0) > (s.observedGeneration ?? 0)) {
    return { state: 'Progressing', message: 'Waiting for daemon set spec update to be observed...' };
  }
  const want = s.desiredNumberScheduled ?? 0;
  if ((s.updatedNumberScheduled ?? 0) < want) {
    return { state: 'Progressing', message: `Waiting for rollout to finish: ${s.updatedNumberScheduled ?? 0} out of ${want} new pods have been updated...` };
  }
  if ((s.numberAvailable ?? 0) < want) {
    return { state: 'Progressing', message: `Waiting for rollout to finish: ${s.numberAvailable ?? 0} of ${want} updated pods are available...` };
  }
  return { state: 'Complete', message: 'Successfully rolled out.' };
}

export function rolloutTone(state: RolloutState): string {
  return { Complete: 'ok', Progressing: 'warn', Paused: 'unknown', Failed: 'bad', OnDelete: '' }[state];
}

/** The strategy in a line: "RollingUpdate · max surge 1, max unavailable 0". */
export function deploymentStrategy(d: Obj): string {
  const st = d.spec?.strategy ?? {};
  const type = st.type ?? 'RollingUpdate';
  if (type !== 'RollingUpdate') return type;
  const ru = st.rollingUpdate ?? {};
  return `RollingUpdate · max surge ${ru.maxSurge ?? '25%'}, max unavailable ${ru.maxUnavailable ?? '25%'}`;
}

/** The revision annotation; 0 when absent and -1 when unreadable, as deploymentutil.Revision has it. */
export function revisionOf(o: Obj): number {
  const raw = o.metadata.annotations?.[REVISION];
  if (raw === undefined) return 0;
  return /^\d+$/.test(raw) ? Number(raw) : -1;
}

export function images(template: any): string[] {
  return ((template?.spec?.containers ?? []) as { image?: string }[]).map((c) => c.image ?? '');
}

/** The controller's uid of an object (its ownerReference with controller: true). */
export function controllerUid(o: Obj): string | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

/** ReplicaSets by their controlling Deployment's uid, each list newest revision first. */
export function replicaSetsByOwner(rss: Obj[]): Map<string, Obj[]> {
  const by = new Map<string, Obj[]>();
  for (const rs of rss) {
    const uid = controllerUid(rs);
    if (!uid) continue;
    let list = by.get(uid);
    if (!list) by.set(uid, (list = []));
    list.push(rs);
  }
  for (const list of by.values()) list.sort((a, b) => revisionOf(b) - revisionOf(a) || a.metadata.name.localeCompare(b.metadata.name));
  return by;
}

export interface RevisionRow {
  rs: Obj;
  revision: number;
  isNew: boolean;
  desired: number;
  /** Pods the ReplicaSet has (status.replicas), ready, available. */
  current: number;
  ready: number;
  available: number;
}

/**
 * A Deployment's ReplicaSets (newest revision first) split into the rows worth showing, the new one
 * and every one with replicas wanted or still running, and the older, empty revisions.
 */
export function revisionRows(owned: Obj[]): { shown: RevisionRow[]; older: RevisionRow[] } {
  const shown: RevisionRow[] = [];
  const older: RevisionRow[] = [];
  owned.forEach((rs, i) => {
    const row: RevisionRow = {
      rs,
      revision: revisionOf(rs),
      isNew: i === 0,
      desired: rs.spec?.replicas ?? 1,
      current: rs.status?.replicas ?? 0,
      ready: rs.status?.readyReplicas ?? 0,
      available: rs.status?.availableReplicas ?? 0,
    };
    (row.isNew || row.desired > 0 || row.current > 0 ? shown : older).push(row);
  });
  return { shown, older };
}

/**
 * The ReplicaSet `kubectl rollout undo` goes back to: the second-newest revision among the
 * Deployment's ReplicaSets (deploymentRevision with toRevision 0), or undefined when there is none.
 */
export function previousRevision(owned: Obj[]): Obj | undefined {
  let latest: Obj | undefined;
  let latestRev = -1;
  let previous: Obj | undefined;
  let previousRev = -1;
  for (const rs of owned) {
    const v = revisionOf(rs);
    if (v < 0) continue;
    if (latestRev < v) {
      previous = latest;
      previousRev = latestRev;
      latest = rs;
      latestRev = v;
    } else if (previousRev < v) {
      previous = rs;
      previousRev = v;
    }
  }
  return previous;
}

/** Annotations a rollback keeps from the Deployment rather than taking from the ReplicaSet (kubectl's annotationsToSkip). */
const ROLLBACK_SKIPPED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

/** The template without the pod-template-hash label the ReplicaSet's copy carries. */
export function templateWithoutHash(template: any): any {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as any)[k], (b as any)[k]));
}

/**
 * What `kubectl rollout undo` sends (DeploymentRollbacker.Rollback): a JSON patch replacing
 * spec.template with the ReplicaSet's (less its hash label) and metadata.annotations with the
 * Deployment's own rollout bookkeeping plus the ReplicaSet's other annotations. Undefined when the
 * template already matches (kubectl skips the rollback then).
 */
export function rollbackPatch(d: Obj, rs: Obj): unknown[] | undefined {
  const template = templateWithoutHash(rs.spec?.template);
  if (deepEqual(template, templateWithoutHash(d.spec?.template))) return undefined;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (ROLLBACK_SKIPPED.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries(rs.metadata.annotations ?? {})) if (!ROLLBACK_SKIPPED.has(k)) annotations[k] = v;
  return [
    { op: 'replace', path: '/spec/template', value: template },
    { op: 'replace', path: '/metadata/annotations', value: annotations },
  ];
}

/** Now in RFC 3339, as kubectl rollout restart stamps it (whole seconds). */
export function rfc3339(now = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** kubectl get jobs' STATUS column (printJob). */
export function jobStatus(job: Obj): string {
  const has = (t: string) => condition(job, t)?.status === 'True';
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (job.metadata.deletionTimestamp) return 'Terminating';
  if (has('Suspended')) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

export function jobTone(status: string): string {
  if (status === 'Complete' || status === 'SuccessCriteriaMet') return 'ok';
  if (status === 'Failed' || status === 'FailureTarget') return 'bad';
  if (status === 'Suspended') return 'unknown';
  return 'warn';
}

/** Succeeded against wanted completions: kubectl's COMPLETIONS column and the numbers for a meter. */
export function jobCompletions(job: Obj): { text: string; done: number; of: number } {
  const done = job.status?.succeeded ?? 0;
  const completions = job.spec?.completions;
  if (completions != null) return { text: `${done}/${completions}`, done, of: completions };
  const parallelism = job.spec?.parallelism ?? 0;
  return { text: parallelism > 1 ? `${done}/1 of ${parallelism}` : `${done}/1`, done, of: 1 };
}

/** From start to completion (or now): kubectl's DURATION, in ms; undefined before the Job started. */
export function jobDurationMs(job: Obj, now: number): number | undefined {
  const start = Date.parse(job.status?.startTime ?? '');
  if (Number.isNaN(start)) return undefined;
  const end = Date.parse(job.status?.completionTime ?? '');
  return (Number.isNaN(end) ? now : end) - start;
}

/** Node selector as "k=v" strings. */
export function nodeSelector(template: any): string[] {
  return Object.entries((template?.spec?.nodeSelector ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
}

/** Case-insensitive match on namespace/name and, for workloads with pods, their images. */
export function matches(o: Obj, filter: string, template?: any): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  if (`${o.metadata.namespace ?? ''}/${o.metadata.name}`.toLowerCase().includes(f)) return true;
  return template ? images(template).some((i) => i.toLowerCase().includes(f)) : false;
}

export function byNamespaceAndName(a: Obj, b: Obj): number {
  return (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name);
}

// The pods of a Job: how the Job controller makes them, tells their state, orders them for deletion,
// and lets go of them (the job-tracking finalizer).
import { gracePeriodSeconds, markDeleted } from '../kinds/deletion.js';
import {
  COMPLETION_INDEX, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT, JOB_TRACKING_FINALIZER,
} from '../kinds/job-keys.js';
import { addDefaultTolerations } from '../kinds/pod.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import type { WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** names.MaxGeneratedNameLength: a generated name's prefix leaves room for the 5 random characters. */
const MAX_GENERATED_PREFIX = 63 - 5;

export const isDeleting = (pod: KObject): boolean => !!pod.metadata?.deletionTimestamp;
export const phaseOf = (pod: KObject): string => String((pod.status as { phase?: string } | undefined)?.phase ?? '');
export const isTerminal = (pod: KObject): boolean => ['Succeeded', 'Failed'].includes(phaseOf(pod));
export const isTracked = (pod: KObject): boolean => (pod.metadata?.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
/** Deleted with no grace period left: its node finished it, or it was never bound to one. */
export const isSettled = (pod: KObject): boolean => isDeleting(pod) && Number(pod.metadata?.deletionGracePeriodSeconds ?? 0) === 0;
export const isActive = (pod: KObject): boolean => !isDeleting(pod) && !isTerminal(pod);

export function isReady(pod: KObject): boolean {
  const conditions = ((pod.status as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? []);
  return conditions.some((c) => c?.type === 'Ready' && c?.status === 'True');
}

/**
 * isPodFailed: Failed, or deleted before it succeeded. With podReplacementPolicy Failed, a deleted
 * pod counts only once it has settled (kubelet would have marked it Failed by then).
 */
export function isPodFailed(pod: KObject, onlyReplaceFailed: boolean): boolean {
  if (phaseOf(pod) === 'Failed') return true;
  if (!isDeleting(pod) || phaseOf(pod) === 'Succeeded') return false;
  return !onlyReplaceFailed || isSettled(pod);
}

/** getCompletionIndex: the annotation as a non-negative integer, or -1. */
export function completionIndex(pod: KObject): number {
  const v = pod.metadata?.annotations?.[COMPLETION_INDEX];
  return v !== undefined && /^\d+$/.test(v) ? Number.parseInt(v, 10) : -1;
}

function annotationCount(pod: KObject | undefined, key: string): number {
  const v = pod?.metadata?.annotations?.[key];
  const n = v !== undefined && /^\d+$/.test(v) ? Number.parseInt(v, 10) : 0;
  return n <= 2147483647 ? n : 0;
}

/** The failures an index had before this pod, counted and ignored (the index-failure-count annotations). */
export function indexFailureCounts(pod: KObject | undefined): { counted: number; ignored: number } {
  return { counted: annotationCount(pod, INDEX_FAILURE_COUNT), ignored: annotationCount(pod, INDEX_IGNORED_FAILURE_COUNT) };
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return Array.from(bytes, (b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

/** podGenerateNameWithIndex: NAME-INDEX-, the name cut so the index stays. */
function generateNameOf(jobName: string, index: number | undefined): string {
  if (index === undefined) return `${jobName}-`.slice(0, MAX_GENERATED_PREFIX);
  const suffix = `-${index}-`;
  const prefix = jobName + suffix;
  return prefix.length > MAX_GENERATED_PREFIX ? prefix.slice(0, MAX_GENERATED_PREFIX - suffix.length) + suffix : prefix;
}

export function jobOwnerRef(job: KObject) {
  return { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata!.name!, uid: job.metadata!.uid!, controller: true, blockOwnerDeletion: true };
}

/** JOB_COMPLETION_INDEX from the pod's index label, in every container that does not set it. */
function addIndexEnv(spec: any): void {
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    c.env ??= [];
    if (c.env.some((e: any) => e?.name === 'JOB_COMPLETION_INDEX')) continue;
    c.env.push({ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.labels['${COMPLETION_INDEX}']` } } });
  }
}

export interface NewPodIndex {
  index: number;
  /** With backoffLimitPerIndex: the index's failures so far. */
  failures?: { counted: number; ignored: number };
}

/**
 * A pod of the Job from its template, as the Job controller creates it: owned by the Job, with the
 * job-tracking finalizer, and for an Indexed Job its index (annotation, label, hostname NAME-INDEX,
 * JOB_COMPLETION_INDEX). `taken` holds the names made this pass.
 */
export function newJobPod(ctx: PassContext, job: KObject, at: NewPodIndex | undefined, taken: Set<string>): KObject {
  const tmpl = structuredClone((job.spec as { template?: any } | undefined)?.template ?? {});
  const tmeta = tmpl.metadata ?? {};
  const spec = tmpl.spec ?? {};
  const labels: Record<string, string> = { ...(tmeta.labels ?? {}) };
  const annotations: Record<string, string> = { ...(tmeta.annotations ?? {}) };
  const jobName = job.metadata!.name!;
  if (at) {
    annotations[COMPLETION_INDEX] = String(at.index);
    labels[COMPLETION_INDEX] = String(at.index);
    spec.hostname = `${jobName}-${at.index}`;
    addIndexEnv(spec);
    if (at.failures) {
      annotations[INDEX_FAILURE_COUNT] = String(at.failures.counted);
      if (at.failures.ignored > 0) annotations[INDEX_IGNORED_FAILURE_COUNT] = String(at.failures.ignored);
    }
  }
  const finalizers: string[] = [...(tmeta.finalizers ?? [])];
  if (!finalizers.includes(JOB_TRACKING_FINALIZER)) finalizers.push(JOB_TRACKING_FINALIZER);
  const generateName = generateNameOf(jobName, at?.index);
  const namespace = job.metadata!.namespace!;
  let name: string;
  do name = generateName + randomSuffix();
  while (taken.has(`${namespace}/${name}`));
  taken.add(`${namespace}/${name}`);
  const pod: KObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      generateName,
      namespace,
      uid: crypto.randomUUID(),
      creationTimestamp: ctx.timestamp(),
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
      ownerReferences: [jobOwnerRef(job)],
      finalizers,
    },
    spec,
    status: {},
  };
  kindNamed('Pod')!.defaults!(pod);
  addDefaultTolerations(pod.spec, ctx.opts.defaultNotReadyTolerationSeconds, ctx.opts.defaultUnreachableTolerationSeconds);
  return pod;
}

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function readySince(pod: KObject): number {
  const c = ((pod.status as { conditions?: any[] } | undefined)?.conditions ?? []).find((x) => x?.type === 'Ready');
  return Date.parse(c?.lastTransitionTime ?? '') || 0;
}

function maxRestarts(pod: KObject): number {
  const statuses: any[] = (pod.status as { containerStatuses?: any[] } | undefined)?.containerStatuses ?? [];
  return statuses.reduce((m, s) => Math.max(m, Number(s?.restartCount ?? 0)), 0);
}

/** A later time first, an unset one before any (afterOrZero). */
function laterFirst(a: number, b: number): number {
  if (a === b) return 0;
  if (a === 0) return -1;
  if (b === 0) return 1;
  return a > b ? -1 : 1;
}

/**
 * controller.ActivePods: the order in which active pods are deleted first. Unassigned before
 * assigned, Pending < Unknown < Running, not ready before ready, the most recently ready first, more
 * restarts first, newer before older.
 */
export function activePodsOrder(a: KObject, b: KObject): number {
  const nodeA = String((a.spec as { nodeName?: string } | undefined)?.nodeName ?? '');
  const nodeB = String((b.spec as { nodeName?: string } | undefined)?.nodeName ?? '');
  if (nodeA !== nodeB && (!nodeA || !nodeB)) return nodeA ? 1 : -1;
  const pa = PHASE_ORDINAL[phaseOf(a)] ?? 0;
  const pb = PHASE_ORDINAL[phaseOf(b)] ?? 0;
  if (pa !== pb) return pa - pb;
  if (isReady(a) !== isReady(b)) return isReady(a) ? 1 : -1;
  if (isReady(a) && isReady(b)) {
    const c = laterFirst(readySince(a), readySince(b));
    if (c !== 0) return c;
  }
  if (maxRestarts(a) !== maxRestarts(b)) return maxRestarts(b) - maxRestarts(a);
  return laterFirst(Date.parse(a.metadata?.creationTimestamp ?? '') || 0, Date.parse(b.metadata?.creationTimestamp ?? '') || 0);
}

/** The pod without the job-tracking finalizer. */
export function releasedPod(pod: KObject): KObject {
  const next = structuredClone(pod);
  const finalizers = (next.metadata!.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER);
  if (finalizers.length) next.metadata!.finalizers = finalizers;
  else delete next.metadata!.finalizers;
  return next;
}

/**
 * The pod deleted (as the Job controller deletes, Background) and without the job-tracking
 * finalizer: marked while its node stops it. One that had no node to stop it (no grace period) and
 * no other finalizer is left for the sweep to remove (lettingGoOp), as it is written together with
 * its Job, in one statement of updates.
 */
export function deletedPod(pod: KObject, now: Date): KObject {
  if (isDeleting(pod)) return releasedPod(pod);
  return releasedPod(markDeleted(pod, now, gracePeriodSeconds('Pod', pod)));
}

/** A pod deleted with no grace period left and nothing holding it: what kube-apiserver would have removed. */
export function isFinishedDeletion(pod: KObject): boolean {
  return isSettled(pod) && (pod.metadata?.finalizers ?? []).length === 0;
}

/** The sweep's write for a pod: gone when nothing holds it any more, else without the job-tracking finalizer. */
export function lettingGoOp(pod: KObject): WriteOp {
  const meta = pod.metadata!;
  const rv = Number(meta.resourceVersion);
  const next = releasedPod(pod);
  if (isFinishedDeletion(next)) return { op: 'delete', kind: 'Pod', namespace: meta.namespace ?? '', name: String(meta.name), rv };
  return { op: 'update', object: next, rv };
}

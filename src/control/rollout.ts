// The arithmetic of a Deployment rollout, as kube-controller-manager's deployment util
// (pkg/controller/deployment/util/deployment_util.go) does it: surge and unavailability
// fenceposts, proportional scaling, revisions, conditions, status, and template identity.
// Pure functions over plain objects; the controller (deployments.ts) does the reading and writing.
import type { KObject } from '../kinds/types.js';
import { defaultPodTemplate } from '../kinds/podspec.js';
import type { LabelSelector } from '../kinds/validation.js';

export const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const HASH_LABEL = 'pod-template-hash';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ROLLBACK_TO = 'deprecated.deployment.rollback.to';
/** Deployment annotations a ReplicaSet never copies (annotationsToSkip). */
const NOT_COPIED = new Set([LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO]);
/** revision-history is kept under this many characters (maxRevHistoryLengthInChars). */
const MAX_REVISION_HISTORY_CHARS = 2000;
const MAX_INT32 = 2147483647;

export type IntOrString = number | string;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastUpdateTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: Condition[];
  collisionCount?: number;
}

export interface Deployment extends KObject {
  spec: {
    replicas?: number;
    selector?: LabelSelector;
    template?: any;
    strategy?: { type?: string; rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    progressDeadlineSeconds?: number;
    paused?: boolean;
  };
  status?: DeploymentStatus;
}

export interface ReplicaSet extends KObject {
  spec: { replicas?: number; minReadySeconds?: number; selector?: LabelSelector; template?: any };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    fullyLabeledReplicas?: number;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

// ---------------------------------------------------------------- counts

/** spec.replicas, defaulted as the API defaults it. */
export const desired = (o: Deployment | ReplicaSet): number => o.spec.replicas ?? 1;

const sum = (rss: ReplicaSet[], f: (rs: ReplicaSet) => number | undefined) => rss.reduce((n, rs) => n + (f(rs) ?? 0), 0);
/** Replicas the ReplicaSets ask for (GetReplicaCountForReplicaSets). */
export const specReplicas = (rss: ReplicaSet[]) => sum(rss, desired);
/** Pods the ReplicaSets have (GetActualReplicaCountForReplicaSets). */
export const actualReplicas = (rss: ReplicaSet[]) => sum(rss, (rs) => rs.status?.replicas);
const readyReplicas = (rss: ReplicaSet[]) => sum(rss, (rs) => rs.status?.readyReplicas);
export const availableReplicas = (rss: ReplicaSet[]) => sum(rss, (rs) => rs.status?.availableReplicas);

/** ReplicaSets that ask for at least one pod (FilterActiveReplicaSets). */
export const active = (rss: (ReplicaSet | undefined)[]): ReplicaSet[] => rss.filter((rs): rs is ReplicaSet => !!rs && desired(rs) > 0);

// ---------------------------------------------------------------- surge and unavailability

/** GetScaledValueFromIntOrPercent: an int as is, a percentage of `total` rounded up or down. */
export function scaledValue(v: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) return 0; // validation admits only percentages as strings
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/** ResolveFenceposts: surge rounds up, unavailable down; both zero means one may be unavailable. */
export function resolveFenceposts(maxSurge: IntOrString | undefined, maxUnavailable: IntOrString | undefined, replicas: number): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? 0, replicas, true);
  const unavailable = scaledValue(maxUnavailable ?? 0, replicas, false);
  return surge === 0 && unavailable === 0 ? { surge, unavailable: 1 } : { surge, unavailable };
}

export const isRollingUpdate = (d: Deployment) => (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, desired(d)).surge;
}

export function maxUnavailable(d: Deployment): number {
  if (!isRollingUpdate(d) || desired(d) === 0) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return Math.min(resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, desired(d)).unavailable, desired(d));
}

/** NewRSNewReplicas: how far the new ReplicaSet may grow now without passing replicas + surge in total. */
export function newRSNewReplicas(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet): number {
  if (!isRollingUpdate(d)) return desired(d);
  const surge = scaledValue(d.spec.strategy?.rollingUpdate?.maxSurge, desired(d), true);
  const maxTotal = desired(d) + surge;
  const current = specReplicas(allRSs);
  if (current >= maxTotal) return desired(newRS);
  return desired(newRS) + Math.min(maxTotal - current, desired(d) - desired(newRS));
}

/** A non-negative integer annotation, or undefined. */
export function intAnnotation(o: KObject, key: string): number | undefined {
  const v = o.metadata?.annotations?.[key];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n <= MAX_INT32 ? n : undefined;
}

/** IsSaturated: the new ReplicaSet is at full size, meant to be, and all of it available. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const want = intAnnotation(rs, DESIRED_REPLICAS);
  return want !== undefined && desired(rs) === desired(d) && want === desired(d) && (rs.status?.availableReplicas ?? 0) === desired(d);
}

/** FindActiveOrLatest: the only active ReplicaSet, or the newest when none is active, or none when several are. */
export function findActiveOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const newestFirst = [...oldRSs].sort(byCreation).reverse();
  const all = active([...newestFirst, newRS]);
  if (all.length === 0) return newRS ?? newestFirst[0];
  return all.length === 1 ? all[0] : undefined;
}

/** GetReplicaSetProportion: this ReplicaSet's share of `toAdd`, never past what is left to add. */
export function replicaSetProportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (desired(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  if (desired(d) === 0) return -desired(rs);
  const maxNow = desired(d) + maxSurge(d);
  let maxBefore = intAnnotation(rs, MAX_REPLICAS) ?? 0;
  if (maxBefore === 0) maxBefore = d.status?.replicas ?? 0;
  if (maxBefore === 0) return 0;
  // integer.RoundToInt32: halves away from zero (the value is never negative here)
  return Math.floor((desired(rs) * maxNow) / maxBefore + 0.5) - desired(rs);
}

// ---------------------------------------------------------------- ordering and revisions

const created = (rs: ReplicaSet) => rs.metadata?.creationTimestamp ?? '';
const nameOf = (rs: ReplicaSet) => rs.metadata?.name ?? '';

/** ReplicaSetsByCreationTimestamp: oldest first, ties by name. */
export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  if (created(a) !== created(b)) return Date.parse(created(a)) - Date.parse(created(b));
  return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0;
}

/** ReplicaSetsBySizeNewer: largest first, ties newest first (scaling up). */
export const bySizeNewer = (a: ReplicaSet, b: ReplicaSet) => desired(b) - desired(a) || byCreation(b, a);
/** ReplicaSetsBySizeOlder: largest first, ties oldest first (scaling down). */
export const bySizeOlder = (a: ReplicaSet, b: ReplicaSet) => desired(b) - desired(a) || byCreation(a, b);

export const revisionOf = (rs: ReplicaSet): number | undefined => intAnnotation(rs, REVISION);

/** ReplicaSetsByRevision: lowest revision first, ties (or unparseable) by creation. */
export function byRevision(a: ReplicaSet, b: ReplicaSet): number {
  const ra = revisionOf(a);
  const rb = revisionOf(b);
  return ra === undefined || rb === undefined || ra === rb ? byCreation(a, b) : ra - rb;
}

export const maxRevision = (rss: ReplicaSet[]) => rss.reduce((m, rs) => Math.max(m, revisionOf(rs) ?? 0), 0);

/** SetReplicasAnnotations; true when they changed. */
export function setReplicasAnnotations(rs: ReplicaSet, want: number, max: number): boolean {
  const annotations = (rs.metadata!.annotations ??= {});
  const changed = annotations[DESIRED_REPLICAS] !== String(want) || annotations[MAX_REPLICAS] !== String(max);
  annotations[DESIRED_REPLICAS] = String(want);
  annotations[MAX_REPLICAS] = String(max);
  return changed;
}

/**
 * SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision to
 * `revision` (remembering the old one in revision-history when a ReplicaSet comes back),
 * and on a ReplicaSet about to be created, the replicas annotations. True when anything changed.
 */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, revision: number, exists: boolean): boolean {
  const annotations = (rs.metadata!.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) {
    if (NOT_COPIED.has(k) || annotations[k] === v) continue;
    annotations[k] = v;
    changed = true;
  }
  const old = annotations[REVISION] || undefined;
  if (old !== undefined && !/^\d+$/.test(old)) return false; // kube leaves a ReplicaSet with a foreign revision alone
  if (Number(old ?? 0) < revision) {
    annotations[REVISION] = String(revision);
    changed = true;
    if (old !== undefined) {
      const history = annotations[REVISION_HISTORY] ? annotations[REVISION_HISTORY].split(',') : [];
      history.push(old);
      while (history.join(',').length > MAX_REVISION_HISTORY_CHARS) history.shift();
      annotations[REVISION_HISTORY] = history.join(',');
    }
  }
  if (!exists && setReplicasAnnotations(rs, desired(d), desired(d) + maxSurge(d))) changed = true;
  return changed;
}

// ---------------------------------------------------------------- conditions

const AVAILABLE = 'Available';
export const PROGRESSING = 'Progressing';
export const REPLICA_FAILURE = 'ReplicaFailure';
export const Reason = {
  newRSCreated: 'NewReplicaSetCreated',
  foundNewRS: 'FoundNewReplicaSet',
  rsUpdated: 'ReplicaSetUpdated',
  newRSAvailable: 'NewReplicaSetAvailable',
  timedOut: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  minimumAvailable: 'MinimumReplicasAvailable',
  minimumUnavailable: 'MinimumReplicasUnavailable',
} as const;

export function newCondition(type: string, status: Condition['status'], reason: string, message: string, now: string): Condition {
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

export const getCondition = (s: DeploymentStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

export function removeCondition(s: DeploymentStatus, type: string): void {
  const rest = (s.conditions ?? []).filter((c) => c.type !== type);
  if (rest.length) s.conditions = rest;
  else delete s.conditions;
}

/** SetDeploymentCondition: no change when status and reason are the same; the transition time survives a same-status change. */
export function setCondition(s: DeploymentStatus, c: Condition): void {
  const current = getCondition(s, c.type);
  if (current && current.status === c.status && current.reason === c.reason) return;
  const next = current && current.status === c.status ? { ...c, lastTransitionTime: current.lastTransitionTime } : c;
  s.conditions = [...(s.conditions ?? []).filter((x) => x.type !== c.type), next];
}

export const hasProgressDeadline = (d: Deployment) =>
  d.spec.progressDeadlineSeconds !== undefined && d.spec.progressDeadlineSeconds !== null && d.spec.progressDeadlineSeconds !== MAX_INT32;

/** DeploymentComplete: every desired replica updated and available, no old ones left, this generation seen. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const n = desired(d);
  return (s.updatedReplicas ?? 0) === n && (s.replicas ?? 0) === n && (s.availableReplicas ?? 0) === n
    && (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** DeploymentProgressing: more updated, ready or available pods, or fewer old ones, than the status last said. */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld
    || (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** DeploymentTimedOut: the Progressing condition last moved more than progressDeadlineSeconds ago. */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: Date): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, PROGRESSING);
  if (!c || c.reason === Reason.newRSAvailable) return false;
  if (c.reason === Reason.timedOut) return true;
  const from = Date.parse(c.lastUpdateTime ?? '');
  return Number.isFinite(from) && from + d.spec.progressDeadlineSeconds! * 1000 < now.getTime();
}

/** calculateStatus: counts from the ReplicaSets, the Available condition; zero counts omitted as Go's omitempty does. */
export function calculateStatus(allRSs: ReplicaSet[], newRS: ReplicaSet | undefined, d: Deployment, now: string): DeploymentStatus {
  const available = availableReplicas(allRSs);
  const counts: Omit<DeploymentStatus, 'conditions' | 'collisionCount'> = {
    observedGeneration: d.metadata?.generation ?? 0,
    replicas: actualReplicas(allRSs),
    updatedReplicas: newRS ? actualReplicas([newRS]) : 0,
    readyReplicas: readyReplicas(allRSs),
    availableReplicas: available,
    unavailableReplicas: Math.max(specReplicas(allRSs) - available, 0),
  };
  const status: DeploymentStatus = Object.fromEntries(Object.entries(counts).filter(([, v]) => v !== 0));
  if (d.status?.conditions?.length) status.conditions = d.status.conditions.map((c) => ({ ...c }));
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
  if (available >= desired(d) - maxUnavailable(d)) {
    setCondition(status, newCondition(AVAILABLE, 'True', Reason.minimumAvailable, 'Deployment has minimum availability.', now));
  } else {
    setCondition(status, newCondition(AVAILABLE, 'False', Reason.minimumUnavailable, 'Deployment does not have minimum availability.', now));
  }
  return status;
}

// ---------------------------------------------------------------- templates

/**
 * A pod template in one canonical form: API defaults applied, the pod-template-hash label
 * dropped, and null / {} / [] dropped everywhere (so `creationTimestamp: null` and
 * `resources: {}`, which `kubectl rollout undo` sends back, make no difference), keys sorted.
 */
export function normaliseTemplate(template: unknown): unknown {
  const t = structuredClone(template ?? {}) as any;
  defaultPodTemplate(t);
  if (t.metadata?.labels) delete t.metadata.labels[HASH_LABEL];
  return canonical(t);
}

function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    const items = v.map(canonical);
    return items.length ? items.map((x) => x ?? null) : undefined;
  }
  if (typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const c = canonical((v as Record<string, unknown>)[k]);
    if (c !== undefined) out[k] = c;
  }
  return Object.keys(out).length ? out : undefined;
}

/** A string equal for two templates exactly when EqualIgnoreHash holds for them. */
export const templateKey = (template: unknown): string => JSON.stringify(normaliseTemplate(template)) ?? '';

const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * ComputeHash: FNV-1a (32 bits) of the canonical template, then of collisionCount as 8
 * little-endian bytes when set, printed in decimal and encoded as rand.SafeEncodeString does
 * (no vowels, so no words; at most 10 characters).
 */
export function templateHash(template: unknown, collisionCount?: number): string {
  const bytes = [...new TextEncoder().encode(templateKey(template))];
  if (collisionCount !== undefined) {
    const n = collisionCount >>> 0;
    bytes.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff, 0, 0, 0, 0);
  }
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE_ALPHANUMS[c.charCodeAt(0) % SAFE_ALPHANUMS.length]).join('');
}

// What one sync of a DaemonSet decides, as pkg/controller/daemon does (manage, podsShouldBeOnNode,
// rollingUpdate, updateDaemonSetStatus), over the pass's rows: which nodes get a pod, which pods go,
// which failed pods wait for their back-off, and the status. Pure: no store, no clock.
import type { NodeFit } from './daemonset-nodes.js';
import { REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL } from './daemonset-nodes.js';
import { scaledValue, type IntOrString } from './rollout.js';

/** A pod a DaemonSet owns, as the pass reads it (columns and summary, not the whole pod). */
export interface DaemonPod {
  uid: string;
  name: string;
  namespace: string;
  rv: number;
  /** The node it runs on, or for a pod not yet bound the node its affinity names (GetTargetNodeName). */
  node: string | null;
  bound: boolean;
  phase: string;
  deleting: boolean;
  labels: Record<string, string>;
  ready: boolean;
  readySince?: string;
  created: string;
}

/** What a sync needs of the DaemonSet. */
export interface SyncInput {
  namespace: string;
  /** The current revision's hash. */
  hash: string;
  /** The template generation (annotation), if any. */
  generation?: number;
  minReadySeconds: number;
  /** undefined: OnDelete. */
  rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString };
  /** Every node, with whether this DaemonSet belongs there. */
  nodes: { name: string; fit: NodeFit }[];
  pods: DaemonPod[];
  now: Date;
}

export interface DaemonStatusCounts {
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  updatedNumberScheduled: number;
  numberAvailable: number;
  numberUnavailable: number;
}

export interface Deletion {
  pod: DaemonPod;
  /** The event the deletion is reported with besides SuccessfulDelete (a finished pod found). */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

export interface SyncPlan {
  /** Nodes to make a pod for. */
  create: string[];
  delete: Deletion[];
  /** Failed pods to delete unless their node's back-off holds them (the caller decides). */
  failed: DaemonPod[];
  status: DaemonStatusCounts;
}

/** IsPodUpdated: the pod carries the current revision's hash or the current template generation. */
export function isPodUpdated(pod: DaemonPod, hash: string, generation: number | undefined): boolean {
  const byGeneration = generation !== undefined && pod.labels[TEMPLATE_GENERATION_LABEL] === String(generation);
  return (hash !== '' && pod.labels[REVISION_HASH_LABEL] === hash) || byGeneration;
}

/** IsPodAvailable: ready, for longer than minReadySeconds. */
export function isAvailable(pod: DaemonPod, minReadySeconds: number, now: Date): boolean {
  if (!pod.ready) return false;
  if (minReadySeconds <= 0) return true;
  const since = Date.parse(pod.readySince ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 < now.getTime();
}

/** podByCreationTimestampAndPhase: bound pods first, then oldest first, then by name. */
export function byCreation(a: DaemonPod, b: DaemonPod): number {
  if (a.bound !== b.bound) return a.bound ? -1 : 1;
  const [ta, tb] = [Date.parse(a.created), Date.parse(b.created)];
  if (ta !== tb) return ta - tb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** AllowsSurge: maxSurge scales to more than 0 of a single node. */
const allowsSurge = (input: SyncInput) => !!input.rollingUpdate && scaledValue(input.rollingUpdate.maxSurge, 1, true) !== 0;

/**
 * The DaemonSet's pods by target node (getNodesToDaemonPods): pods that are both finished and being
 * deleted are left to whoever deletes them, and pods naming no node are left alone.
 */
export function podsByNode(pods: DaemonPod[]): Map<string, DaemonPod[]> {
  const byNode = new Map<string, DaemonPod[]>();
  for (const pod of pods) {
    if (pod.node === null || (pod.deleting && (pod.phase === 'Succeeded' || pod.phase === 'Failed'))) continue;
    const list = byNode.get(pod.node);
    if (list) list.push(pod);
    else byNode.set(pod.node, [pod]);
  }
  return byNode;
}

const finished = (pod: DaemonPod, how: 'failed' | 'succeeded', node: string) =>
  `Found ${how} daemon pod ${pod.namespace}/${pod.name} on node ${node}, will try to ${how === 'failed' ? 'kill' : 'delete'} it`;

/** podsShouldBeOnNode for one node: whether it needs a pod, and which of its pods go. */
function onNode(input: SyncInput, node: string, fit: NodeFit, pods: DaemonPod[] | undefined, plan: SyncPlan): void {
  if (fit.shouldRun && !pods) {
    plan.create.push(node);
    return;
  }
  if (!fit.shouldContinueRunning) {
    for (const pod of pods ?? []) if (!pod.deleting) plan.delete.push({ pod });
    return;
  }
  const running: DaemonPod[] = [];
  for (const pod of pods ?? []) {
    if (pod.deleting) continue;
    if (pod.phase === 'Failed') plan.failed.push(pod);
    else if (pod.phase === 'Succeeded') {
      plan.delete.push({ pod, event: { type: 'Normal', reason: 'SucceededDaemonPod', message: finished(pod, 'succeeded', node) } });
    } else running.push(pod);
  }
  running.sort(byCreation);
  if (!allowsSurge(input)) {
    // More than one: all but the oldest go.
    for (const pod of running.slice(1)) plan.delete.push({ pod });
    return;
  }
  if (running.length <= 1) {
    if (running.length === 0 && fit.shouldRun) plan.create.push(node);
    return;
  }
  // Surging: an old and a new pod may share the node while the old one is ready and the new one not yet available.
  let oldestNew: DaemonPod | undefined;
  let oldestOld: DaemonPod | undefined;
  for (const pod of running) {
    const updated = isPodUpdated(pod, input.hash, input.generation);
    if (updated && !oldestNew) oldestNew = pod;
    else if (!updated && !oldestOld) oldestOld = pod;
    else plan.delete.push({ pod });
  }
  if (oldestNew && oldestOld && (!oldestOld.ready || isAvailable(oldestNew, input.minReadySeconds, input.now))) {
    plan.delete.push({ pod: oldestOld });
  }
}

/** manage: per node, the pods to make and to delete; then unbound pods aimed at nodes that are gone. */
function manage(input: SyncInput, byNode: Map<string, DaemonPod[]>): SyncPlan {
  const plan: SyncPlan = { create: [], delete: [], failed: [], status: countStatus(input, byNode) };
  const names = new Set<string>();
  for (const { name, fit } of input.nodes) {
    names.add(name);
    onNode(input, name, fit, byNode.get(name), plan);
  }
  for (const [node, pods] of byNode) {
    if (names.has(node)) continue;
    for (const pod of pods) if (!pod.bound && !pod.deleting) plan.delete.push({ pod });
  }
  return plan;
}

/** The node's not-deleted pods split into at most one new and one old (findUpdatedPodsOnNode); undefined when there are more. */
function updatedOnNode(input: SyncInput, pods: DaemonPod[]): { newPod?: DaemonPod; oldPod?: DaemonPod } | undefined {
  let newPod: DaemonPod | undefined;
  let oldPod: DaemonPod | undefined;
  for (const pod of pods) {
    if (pod.deleting) continue;
    if (isPodUpdated(pod, input.hash, input.generation)) {
      if (newPod) return undefined;
      newPod = pod;
    } else {
      if (oldPod) return undefined;
      oldPod = pod;
    }
  }
  return { newPod, oldPod };
}

/**
 * rollingUpdate: old pods to delete (without surge: never more nodes without an available pod than
 * maxUnavailable) or nodes to surge onto (with surge: at most maxSurge new pods not yet available).
 * Nodes are taken in name order.
 */
function rollingUpdate(input: SyncInput, byNode: Map<string, DaemonPod[]>, plan: SyncPlan): void {
  const ru = input.rollingUpdate!;
  const fits = new Map(input.nodes.map((n) => [n.name, n.fit]));
  const nodes = new Map(byNode);
  let desired = 0;
  for (const { name, fit } of input.nodes) {
    if (!fit.shouldRun) continue;
    desired++;
    if (!nodes.has(name)) nodes.set(name, []);
  }
  const maxSurge = scaledValue(ru.maxSurge, desired, true);
  let maxUnavailable = scaledValue(ru.maxUnavailable, desired, true);
  // An impossible configuration (both 0) falls back to one node at a time.
  if (desired > 0 && maxUnavailable === 0 && maxSurge === 0) maxUnavailable = 1;
  const available = (pod: DaemonPod) => isAvailable(pod, input.minReadySeconds, input.now);
  const ordered = [...nodes.keys()].sort();

  if (maxSurge === 0) {
    let unavailable = 0;
    const replacements: DaemonPod[] = [];
    const candidates: DaemonPod[] = [];
    for (const node of ordered) {
      const found = updatedOnNode(input, nodes.get(node)!);
      if (!found) {
        unavailable++;
        continue;
      }
      const { newPod, oldPod } = found;
      if ((!oldPod && !newPod) || (oldPod && newPod)) unavailable++;
      else if (newPod) {
        if (!available(newPod)) unavailable++;
      } else if (!available(oldPod!)) {
        replacements.push(oldPod!);
        unavailable++;
      } else if (unavailable < maxUnavailable) candidates.push(oldPod!);
    }
    const room = Math.min(Math.max(maxUnavailable - unavailable, 0), candidates.length);
    for (const pod of [...replacements, ...candidates.slice(0, room)]) plan.delete.push({ pod });
    return;
  }

  let surging = 0;
  let availableNodes = 0;
  const allowedNew: string[] = [];
  const candidateNew: string[] = [];
  const shouldNotRun: DaemonPod[] = [];
  for (const node of ordered) {
    const found = updatedOnNode(input, nodes.get(node)!);
    if (!found) {
      surging++;
      continue;
    }
    const { newPod, oldPod } = found;
    if (oldPod ? available(oldPod) : newPod && available(newPod)) availableNodes++;
    if (!oldPod) continue;
    const shouldRun = fits.get(node)?.shouldRun ?? false;
    if (!newPod) {
      if (!available(oldPod)) {
        if (!shouldRun) plan.delete.push({ pod: oldPod });
        else allowedNew.push(node);
      } else if (!shouldRun) shouldNotRun.push(oldPod);
      else if (surging < maxSurge) candidateNew.push(node);
    } else if (!available(newPod)) surging++;
    else plan.delete.push({ pod: oldPod });
  }
  // A pod on a node it no longer belongs on goes only once as many nodes as desired have an available pod.
  const deletable = Math.min(Math.max(availableNodes - desired, 0), shouldNotRun.length);
  for (const pod of shouldNotRun.slice(0, deletable)) plan.delete.push({ pod });
  const room = Math.min(Math.max(maxSurge - surging, 0), candidateNew.length);
  plan.create.push(...allowedNew, ...candidateNew.slice(0, room));
}

/** updateDaemonSetStatus's numbers, from the oldest pod on each node. */
function countStatus(input: SyncInput, byNode: Map<string, DaemonPod[]>): DaemonStatusCounts {
  const s = { desiredNumberScheduled: 0, currentNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, updatedNumberScheduled: 0, numberAvailable: 0, numberUnavailable: 0 };
  for (const { name, fit } of input.nodes) {
    const pods = byNode.get(name);
    if (!fit.shouldRun) {
      if (pods?.length) s.numberMisscheduled++;
      continue;
    }
    s.desiredNumberScheduled++;
    if (!pods?.length) continue;
    s.currentNumberScheduled++;
    const pod = [...pods].sort(byCreation)[0];
    if (pod.ready) {
      s.numberReady++;
      if (isAvailable(pod, input.minReadySeconds, input.now)) s.numberAvailable++;
    }
    if (isPodUpdated(pod, input.hash, input.generation)) s.updatedNumberScheduled++;
  }
  s.numberUnavailable = s.desiredNumberScheduled - s.numberAvailable;
  return s;
}

/**
 * One sync: manage, and when it had nothing to do (kube's expectations satisfied, nothing failed
 * pending) the rolling update. OnDelete replaces a pod only once it is gone.
 */
export function syncDaemonSet(input: SyncInput): SyncPlan {
  const byNode = podsByNode(input.pods);
  const plan = manage(input, byNode);
  const idle = plan.create.length === 0 && plan.delete.length === 0 && plan.failed.length === 0;
  if (idle && input.rollingUpdate) rollingUpdate(input, byNode, plan);
  return plan;
}

/** The warning a failed pod's deletion is reported with (FailedDaemonPod). */
export function failedMessage(pod: DaemonPod): string {
  return finished(pod, 'failed', pod.node ?? '');
}

/** The node a FailedDaemonPod event's message names. */
export function failedNodeOf(message: string): string | undefined {
  return /^Found failed daemon pod \S+ on node (\S+), will try to kill it$/.exec(message)?.[1];
}

/** flowcontrol.Backoff as the DaemonSet controller uses it for failed pods: 1 s doubling to 15 min. */
export const FAILED_BACKOFF_INITIAL_MS = 1000;
export const FAILED_BACKOFF_MAX_MS = 15 * 60_000;

/**
 * Whether a node's failed pods are held back, given when the earlier ones there were killed (the
 * FailedDaemonPod events, replayed): each kill doubles the delay, an entry older than twice the
 * maximum starts over, and another kill waits for the delay since the last.
 */
export function inBackoff(killedAt: number[], now: number): boolean {
  let delay = 0;
  let last = -Infinity;
  for (const t of [...killedAt].sort((a, b) => a - b)) {
    delay = delay === 0 || t - last > 2 * FAILED_BACKOFF_MAX_MS ? FAILED_BACKOFF_INITIAL_MS : Math.min(2 * delay, FAILED_BACKOFF_MAX_MS);
    last = t;
  }
  return delay > 0 && now - last <= 2 * FAILED_BACKOFF_MAX_MS && now - last < delay;
}

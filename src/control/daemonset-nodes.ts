// Which nodes a DaemonSet's pods belong on (NodeShouldRunDaemonPod), and the pod it makes for one node
// (CreatePodTemplate, AddOrUpdateDaemonPodTolerations, ReplaceDaemonSetPodNodeNameNodeAffinity), as
// pkg/controller/daemon does. Pure: no store, no clock.
import { TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE } from '../kinds/pod.js';
import { termMatches, TAINT_NODE_UNSCHEDULABLE, untoleratedTaint, type NodeAffinity, type Taint, type Toleration } from './scheduling.js';

/** apps.DefaultDaemonSetUniqueLabelKey: the ControllerRevision a pod was made from. */
export const REVISION_HASH_LABEL = 'controller-revision-hash';
/** extensions.DaemonSetTemplateGenerationKey: the template generation a pod was made from. */
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

const LABEL_HOSTNAME = 'kubernetes.io/hostname';

/** A Node as the DaemonSet controller reads it. */
export interface DaemonNode {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
}

export function daemonNode(name: string, labels: Record<string, string> | null, taints: Taint[] | null): DaemonNode {
  // The kubelet always labels its node with its hostname; the scheduler assumes it too.
  return { name, labels: { [LABEL_HOSTNAME]: name, ...(labels ?? {}) }, taints: taints ?? [] };
}

interface PodSpecLike {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  hostNetwork?: boolean;
  tolerations?: Toleration[];
  affinity?: { nodeAffinity?: NodeAffinity; [k: string]: unknown };
  [k: string]: unknown;
}

/** The tolerations the DaemonSet controller gives its pods: node problems never keep or drive them off. */
export function daemonTolerations(hostNetwork: boolean): Toleration[] {
  const noExecute = [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE].map((key) => ({ key, operator: 'Exists', effect: 'NoExecute' }));
  const noSchedule = [
    'node.kubernetes.io/disk-pressure',
    'node.kubernetes.io/memory-pressure',
    'node.kubernetes.io/pid-pressure',
    TAINT_NODE_UNSCHEDULABLE,
    ...(hostNetwork ? ['node.kubernetes.io/network-unavailable'] : []),
  ].map((key) => ({ key, operator: 'Exists', effect: 'NoSchedule' }));
  return [...noExecute, ...noSchedule];
}

/** AddOrUpdateTolerationInPodSpec for each daemon toleration: one with the same key, operator, value and effect is replaced. */
export function withDaemonTolerations(spec: PodSpecLike): Toleration[] {
  const tolerations = [...(spec.tolerations ?? [])];
  for (const t of daemonTolerations(!!spec.hostNetwork)) {
    const same = tolerations.findIndex((x) => (x.key ?? '') === t.key && (x.operator || 'Equal') === t.operator && (x.value ?? '') === '' && (x.effect ?? '') === t.effect);
    if (same >= 0) tolerations[same] = t;
    else tolerations.push(t);
  }
  return tolerations;
}

/** Whether the node matches the template's nodeSelector and required node affinity (GetRequiredNodeAffinity.Match). */
function fitsAffinity(spec: PodSpecLike, node: DaemonNode): boolean {
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (node.labels[k] !== v) return false;
  const required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  return !required || (required.nodeSelectorTerms ?? []).some((t) => termMatches(t, node));
}

export interface NodeFit {
  /** A daemon pod should be made here when there is none. */
  shouldRun: boolean;
  /** A daemon pod already here may stay. */
  shouldContinueRunning: boolean;
}

/**
 * NodeShouldRunDaemonPod for a template whose tolerations already include the daemon ones
 * (`tolerations`): the node's name and affinity must match; an untolerated NoSchedule or NoExecute
 * taint keeps new pods off, and only an untolerated NoExecute one drives a running pod away.
 */
export function nodeFit(spec: PodSpecLike, tolerations: Toleration[], node: DaemonNode): NodeFit {
  if ((spec.nodeName && spec.nodeName !== node.name) || !fitsAffinity(spec, node)) return { shouldRun: false, shouldContinueRunning: false };
  if (!untoleratedTaint(node.taints, tolerations, ['NoSchedule', 'NoExecute'])) return { shouldRun: true, shouldContinueRunning: true };
  return { shouldRun: false, shouldContinueRunning: !untoleratedTaint(node.taints, tolerations, ['NoExecute']) };
}

/** ReplaceDaemonSetPodNodeNameNodeAffinity: the required node affinity becomes one term naming the node. */
export function pinnedAffinity(affinity: PodSpecLike['affinity'], node: string): NonNullable<PodSpecLike['affinity']> {
  const term = { matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] };
  const nodeAffinity = { ...affinity?.nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term] } };
  return { ...affinity, nodeAffinity };
}

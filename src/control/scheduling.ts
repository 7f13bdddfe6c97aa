// The scheduler's decisions, as kube-scheduler's default profile makes them, over an in-memory
// picture of the nodes built from aggregates (per node and priority), never from a list of every
// bound pod. Pure: no store, no clock. Filters run in kube-scheduler's order and a node
// is rejected by the first that fails: NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts,
// NodeResourcesFit, PodTopologySpread. Scores (weights as kube-scheduler's): TaintToleration 3,
// NodeAffinity 2, NodeResourcesFit (LeastAllocated) 1, PodTopologySpread 2. Messages are
// kube-scheduler's words, so `kubectl describe` reads the same.
import { LABEL_POD_NETWORK, POD_NETWORK_HOST } from '../kinds/node.js';
import { podSummary } from '../kinds/pod-summary.js';
import { TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE } from '../kinds/pod.js';
import { milliValue, wholeValue } from '../kinds/quantity.js';
import type { KObject } from '../kinds/types.js';
import { selectorMatches, type LabelSelector } from '../kinds/validation.js';

export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
const LABEL_HOSTNAME = 'kubernetes.io/hostname';
const LABEL_ZONE = 'topology.kubernetes.io/zone';
const MAX_NODE_SCORE = 100;
// What a container that requests nothing counts for when scoring (schedutil.DefaultMilliCPURequest / DefaultMemoryRequest).
const DEFAULT_MILLI_CPU_REQUEST = 100;
const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;
// Owners whose pods kube-scheduler spreads by default (PodTopologySpread system defaults).
const SPREAD_BY_DEFAULT = new Set(['ReplicaSet', 'ReplicationController', 'StatefulSet']);

export const REASON = {
  unschedulable: 'node(s) were unschedulable',
  affinity: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  tooManyPods: 'Too many pods',
  spread: "node(s) didn't match pod topology spread constraints",
  spreadLabel: "node(s) didn't match pod topology spread constraints (missing required label)",
  noVictims: 'No preemption victims found for incoming pod',
  preemptionNotHelpful: 'Preemption is not helpful for scheduling',
} as const;
export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

export const untoleratedTaintReason = (t: Taint) => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
export const insufficientReason = (resource: string) => `Insufficient ${resource}`;

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] };
  preferredDuringSchedulingIgnoredDuringExecution?: { weight?: number; preference?: NodeSelectorTerm }[];
}

export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: string;
  labelSelector?: LabelSelector;
  minDomains?: number;
  nodeAffinityPolicy?: string;
  nodeTaintsPolicy?: string;
  matchLabelKeys?: string[];
}

/** A pod as it weighs on its node. */
export interface PlacedPod {
  namespace: string;
  labels: Record<string, string>;
  ownerUid: string | null;
  /** Effective requests (cpu in millicores, `pods` 1), as the pod summary has them. */
  requests: Record<string, number>;
  /** "PROTOCOL/HOSTIP/PORT", as the pod summary has them. */
  hostPorts: string[];
  /** Every container port as a host port, in the same form: what it takes on a node whose pods share the host's network. */
  podPorts: string[];
  priority: number;
  terminal: boolean;
  deleting: boolean;
}

/** A pod waiting for a node: what the filters and scores read of it. */
export interface PendingPod extends PlacedPod {
  name: string;
  uid: string;
  created: string;
  ownerKind: string | null;
  preemptionPolicy: string;
  nodeSelector: Record<string, string>;
  nodeAffinity: NodeAffinity;
  tolerations: Toleration[];
  spreadConstraints: TopologySpreadConstraint[];
}

export function pendingPod(pod: KObject): PendingPod {
  const spec = (pod.spec ?? {}) as {
    priority?: number;
    preemptionPolicy?: string;
    nodeSelector?: Record<string, string>;
    affinity?: { nodeAffinity?: NodeAffinity };
    tolerations?: Toleration[];
    topologySpreadConstraints?: TopologySpreadConstraint[];
  };
  const meta = pod.metadata ?? {};
  const owner = meta.ownerReferences?.find((o) => o.controller);
  const summary = podSummary(pod);
  return {
    name: String(meta.name),
    namespace: meta.namespace ?? '',
    uid: String(meta.uid),
    created: String(meta.creationTimestamp ?? ''),
    labels: summary.labels,
    ownerUid: owner?.uid ?? null,
    ownerKind: owner?.kind ?? null,
    requests: summary.requests,
    hostPorts: summary.hostPorts,
    podPorts: hostNetworkPorts(pod),
    priority: spec.priority ?? 0,
    preemptionPolicy: spec.preemptionPolicy ?? 'PreemptLowerPriority',
    terminal: false,
    deleting: summary.deleting,
    nodeSelector: spec.nodeSelector ?? {},
    nodeAffinity: spec.affinity?.nodeAffinity ?? {},
    tolerations: spec.tolerations ?? [],
    spreadConstraints: spec.topologySpreadConstraints ?? [],
  };
}

type ContainerPort = { containerPort?: number; hostPort?: number; hostIP?: string; protocol?: string };

/**
 * The ports a pod listens on where its pods share the host's network (LABEL_POD_NETWORK host):
 * each container port, on its hostPort when it has one (on its hostIP), else on its containerPort (on
 * every address). HOST_NETWORK_PORTS_SQL in scheduler-reads.ts says the same of the pods placed.
 */
export function hostNetworkPorts(pod: KObject): string[] {
  const containers = ((pod.spec as { containers?: { ports?: ContainerPort[] }[] } | undefined)?.containers ?? []);
  const ports = new Set<string>();
  for (const c of containers) {
    for (const p of c?.ports ?? []) {
      const port = p.hostPort || p.containerPort;
      if (port) ports.add(`${p.protocol ?? 'TCP'}/${(p.hostPort && p.hostIP) || '0.0.0.0'}/${port}`);
    }
  }
  return [...ports];
}

/**
 * What placing a pod depends on: all of it but its name, uid and age. Pods alike (a ReplicaSet's)
 * that found no node find none again until a binding changes the nodes.
 */
export function placementKey(pod: PendingPod): string {
  return JSON.stringify({ ...pod, name: undefined, uid: undefined, created: undefined });
}

/** Kubernetes' priority queue order: higher priority first, then older first (then by key, to be deterministic). */
export function queueOrder(a: PendingPod, b: PendingPod): number {
  return b.priority - a.priority || compare(a.created, b.created) || compare(a.namespace, b.namespace) || compare(a.name, b.name);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What the active (not Succeeded or Failed) pods of one priority weigh on a node, summed. */
export interface Usage {
  priority: number;
  /** Summed effective requests; `pods` is how many pods. */
  requests: Record<string, number>;
  /** cpu and memory, counting pods that request none at kube-scheduler's defaults (for scoring). */
  nonZeroCpu: number;
  nonZeroMemory: number;
  /** Host ports in use, as the pod summary has them. */
  hostPorts: string[];
}

/**
 * The usage of active pods summed by the store: their summed requests (`pods` is their number), and
 * how many of them request a positive amount of each resource (the others count at the defaults).
 */
export function summedUsage(priority: number, requests: Record<string, number>, requesting: Record<string, number>): Usage {
  const pods = requests.pods ?? 0;
  return {
    priority,
    requests,
    nonZeroCpu: (requests.cpu ?? 0) + DEFAULT_MILLI_CPU_REQUEST * (pods - (requesting.cpu ?? 0)),
    nonZeroMemory: (requests.memory ?? 0) + DEFAULT_MEMORY_REQUEST * (pods - (requesting.memory ?? 0)),
    hostPorts: [],
  };
}

/** Active pods not being deleted that look alike to topology spreading, counted. */
export interface PodGroup {
  priority: number;
  namespace: string;
  ownerUid: string | null;
  /** Their labels; read from the store, only those the pass's spread selectors look at. */
  labels: Record<string, string>;
  /** The labels as JSON, so a selector is matched once per label set, not once per group. */
  labelsKey: string;
  count: number;
}

/**
 * A node and what is placed on it, as aggregates (a pass reads sums per node, not pods), updated as
 * the pass binds pods so each decision sees the ones before. Kept per priority so preemption can
 * take away the lower ones.
 */
export class NodeState {
  /** Every pod bound to the node, in any phase (what nodePodCountGuard counts). */
  podCount = 0;
  /** Its pods share the host's network: each of their container ports is a host port. */
  readonly hostNetwork: boolean;
  /** Sum of the requests of the active pods. */
  readonly requested: Record<string, number> = {};
  nonZeroCpu = 0;
  nonZeroMemory = 0;
  readonly hostPorts: string[] = [];
  readonly usage: Usage[] = [];
  readonly groups: PodGroup[] = [];

  constructor(
    readonly name: string,
    readonly labels: Record<string, string>,
    readonly taints: Taint[],
    readonly unschedulable: boolean,
    readonly allocatable: Record<string, number>,
  ) {
    this.hostNetwork = labels[LABEL_POD_NETWORK] === POD_NETWORK_HOST;
  }

  /** The host ports a pod takes on this node. */
  portsOf(p: Pick<PlacedPod, 'hostPorts' | 'podPorts'>): string[] {
    return this.hostNetwork ? p.podPorts : p.hostPorts;
  }

  /** One pod placed on the node. */
  add(p: PlacedPod): void {
    this.podCount++;
    if (p.terminal) return;
    const { priority, requests } = p;
    const hostPorts = this.portsOf(p);
    this.addUsage({ priority, requests, hostPorts, nonZeroCpu: requests.cpu || DEFAULT_MILLI_CPU_REQUEST, nonZeroMemory: requests.memory || DEFAULT_MEMORY_REQUEST });
    if (!p.deleting) this.groups.push({ priority, namespace: p.namespace, ownerUid: p.ownerUid, labels: p.labels, labelsKey: JSON.stringify(p.labels), count: 1 });
  }

  addUsage(u: Usage): void {
    this.usage.push(u);
    for (const k in u.requests) this.requested[k] = (this.requested[k] ?? 0) + u.requests[k];
    this.nonZeroCpu += u.nonZeroCpu;
    this.nonZeroMemory += u.nonZeroMemory;
    for (const port of u.hostPorts) this.hostPorts.push(port);
  }

  /** How many of the node's active pods, not being deleted, `matches` picks. */
  count(matches: (g: PodGroup) => boolean): number {
    let n = 0;
    for (const g of this.groups) if (matches(g)) n += g.count;
    return n;
  }

  /** Whether the node holds active pods of lower priority (victims preemption could take). */
  hasBelow(priority: number): boolean {
    return this.usage.some((u) => u.priority < priority);
  }

  /** The same node without its active pods of lower priority (to see whether preempting them would help). */
  withoutBelow(priority: number): NodeState {
    const next = new NodeState(this.name, this.labels, this.taints, this.unschedulable, this.allocatable);
    for (const u of this.usage) if (u.priority >= priority) next.addUsage(u);
    for (const g of this.groups) if (g.priority >= priority) next.groups.push(g);
    return next;
  }
}

type Condition = { type?: string; status?: string };

/**
 * The scheduler's view of a Node object. A node that is not Ready carries the taint the node
 * lifecycle controller gives it (TaintNodesByCondition), so only pods tolerating it land there.
 */
export function nodeState(node: KObject): NodeState {
  const name = String(node.metadata?.name);
  const spec = (node.spec ?? {}) as { taints?: Taint[]; unschedulable?: boolean };
  const status = (node.status ?? {}) as { allocatable?: Record<string, unknown>; capacity?: Record<string, unknown>; conditions?: Condition[] };
  const taints = [...(spec.taints ?? [])];
  const ready = status.conditions?.find((c) => c?.type === 'Ready')?.status;
  if (ready !== 'True') {
    const key = ready === 'Unknown' ? TAINT_NODE_UNREACHABLE : TAINT_NODE_NOT_READY;
    if (!taints.some((t) => t.key === key && t.effect === 'NoSchedule')) taints.push({ key, effect: 'NoSchedule' });
  }
  const allocatable: Record<string, number> = {};
  for (const [k, q] of Object.entries(status.allocatable ?? status.capacity ?? {})) {
    const v = k === 'cpu' ? milliValue(q) : wholeValue(q);
    if (v !== undefined) allocatable[k] = v;
  }
  // The kubelet always labels its node with its hostname; default it for nodes registered without.
  const labels = { [LABEL_HOSTNAME]: name, ...(node.metadata?.labels ?? {}) };
  return new NodeState(name, labels, taints, !!spec.unschedulable, allocatable);
}

// ---- taints and tolerations (k8s.io/api/core/v1 Toleration.ToleratesTaint)

export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** The first of the node's taints with one of these effects that no toleration tolerates. */
export function untoleratedTaint(taints: Taint[], tolerations: Toleration[], effects: readonly string[]): Taint | undefined {
  return taints.find((taint) => effects.includes(taint.effect) && !tolerations.some((t) => toleratesTaint(t, taint)));
}

const DO_NOT_SCHEDULE = ['NoSchedule', 'NoExecute'] as const;

// ---- node selectors and affinity (component-helpers nodeaffinity)

const INTEGER = /^[+-]?\d+$/;

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return values.length > 0 && value !== undefined && values.includes(value);
    case 'NotIn':
      return values.length > 0 && (value === undefined || !values.includes(value));
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1 || !INTEGER.test(values[0]) || !INTEGER.test(value)) return false;
      return r.operator === 'Gt' ? BigInt(value) > BigInt(values[0]) : BigInt(value) < BigInt(values[0]);
    }
    default:
      return false;
  }
}

/** One nodeSelectorTerm: its expressions and fields ANDed; a term with neither selects nothing. */
export function termMatches(term: NodeSelectorTerm, node: { name: string; labels: Record<string, string> }): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const label = (k: string) => (Object.prototype.hasOwnProperty.call(node.labels, k) ? node.labels[k] : undefined);
  return (
    exprs.every((r) => requirementMatches(r, label(r.key))) &&
    fields.every((r) => r.key === 'metadata.name' && (r.operator === 'In' || r.operator === 'NotIn') && requirementMatches(r, node.name))
  );
}

/** nodeSelector (every label) and required node affinity (terms ORed). */
export function matchesNodeAffinity(pod: Pick<PendingPod, 'nodeSelector' | 'nodeAffinity'>, node: NodeState): boolean {
  for (const [k, v] of Object.entries(pod.nodeSelector)) if (node.labels[k] !== v) return false;
  const required = pod.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  return !required || (required.nodeSelectorTerms ?? []).some((t) => termMatches(t, node));
}

// ---- host ports (framework.HostPortInfo.CheckConflict)

const WILDCARD_IPS = new Set(['0.0.0.0', '::', '']);

function hostPort(s: string): { protocol: string; ip: string; port: string } {
  const first = s.indexOf('/');
  const last = s.lastIndexOf('/');
  return { protocol: s.slice(0, first), ip: s.slice(first + 1, last), port: s.slice(last + 1) };
}

/** Same protocol and port, and host IPs that overlap (a wildcard IP overlaps every IP). */
export function portsConflict(wanted: string[], used: string[]): boolean {
  const usedPorts = used.map(hostPort);
  return wanted.map(hostPort).some((w) =>
    usedPorts.some((u) => u.protocol === w.protocol && u.port === w.port && (WILDCARD_IPS.has(w.ip) || WILDCARD_IPS.has(u.ip) || u.ip === w.ip)),
  );
}

// ---- topology spread (PodTopologySpread)

interface Spread {
  maxSkew: number;
  topologyKey: string;
  minDomains: number;
  /** Whether placed pods count for this constraint (same namespace, selected). */
  counts: (g: PodGroup) => boolean;
  selfMatch: boolean;
  honourAffinity: boolean;
  honourTaints: boolean;
}

/** Whether kube-scheduler's system default constraints apply: pods of ReplicaSets and the like, spread among their siblings. */
const spreadsByOwner = (pod: PendingPod) => pod.spreadConstraints.length === 0 && !!pod.ownerUid && SPREAD_BY_DEFAULT.has(pod.ownerKind ?? '');

/**
 * What spreading these pods needs to know of the pods already placed: counts of the owners' pods
 * (default spreading), and of the pods in the namespaces with explicit constraints, by the label
 * keys those constraints' selectors look at.
 */
export function spreadNeeds(pods: PendingPod[]): { owners: string[]; namespaces: string[]; labelKeys: string[] } {
  const owners = new Set<string>();
  const namespaces = new Set<string>();
  const labelKeys = new Set<string>();
  for (const pod of pods) {
    if (spreadsByOwner(pod)) owners.add(pod.ownerUid!);
    if (pod.spreadConstraints.length) namespaces.add(pod.namespace);
    for (const c of pod.spreadConstraints) {
      for (const k of Object.keys(c.labelSelector?.matchLabels ?? {})) labelKeys.add(k);
      for (const e of c.labelSelector?.matchExpressions ?? []) labelKeys.add(e.key);
      for (const k of c.matchLabelKeys ?? []) labelKeys.add(k);
    }
  }
  return { owners: [...owners], namespaces: [...namespaces], labelKeys: [...labelKeys] };
}

function spreadConstraints(pod: PendingPod, when: 'DoNotSchedule' | 'ScheduleAnyway'): Spread[] {
  if (pod.spreadConstraints.length === 0) {
    if (when !== 'ScheduleAnyway' || !spreadsByOwner(pod)) return [];
    const counts = (g: PodGroup) => g.ownerUid === pod.ownerUid && g.namespace === pod.namespace;
    const base = { minDomains: 1, counts, selfMatch: true, honourAffinity: true, honourTaints: false };
    return [
      { ...base, maxSkew: 3, topologyKey: LABEL_HOSTNAME },
      { ...base, maxSkew: 5, topologyKey: LABEL_ZONE },
    ];
  }
  return pod.spreadConstraints
    .filter((c) => c.whenUnsatisfiable === when)
    .map((c) => {
      // matchLabelKeys add "key In (the pod's value)" for keys the pod carries.
      const extra = (c.matchLabelKeys ?? []).filter((k) => k in pod.labels).map((k) => ({ key: k, operator: 'In', values: [pod.labels[k]] }));
      const selector = c.labelSelector && { ...c.labelSelector, matchExpressions: [...(c.labelSelector.matchExpressions ?? []), ...extra] };
      const selected = new Map<string, boolean>();
      const selects = (g: PodGroup) => {
        let yes = selected.get(g.labelsKey);
        if (yes === undefined) selected.set(g.labelsKey, (yes = selectorMatches(selector, g.labels)));
        return yes;
      };
      return {
        maxSkew: c.maxSkew,
        topologyKey: c.topologyKey,
        minDomains: c.minDomains ?? 1,
        counts: (g: PodGroup) => g.namespace === pod.namespace && selects(g),
        selfMatch: selectorMatches(selector, pod.labels),
        honourAffinity: (c.nodeAffinityPolicy ?? 'Honor') === 'Honor',
        honourTaints: c.nodeTaintsPolicy === 'Honor',
      };
    });
}

function includesNode(c: Spread, pod: PendingPod, node: NodeState): boolean {
  if (c.honourAffinity && !matchesNodeAffinity(pod, node)) return false;
  return !c.honourTaints || !untoleratedTaint(node.taints, pod.tolerations, DO_NOT_SCHEDULE);
}

const hasKeys = (node: NodeState, cs: Spread[]) => cs.every((c) => c.topologyKey in node.labels);
const matching = (node: NodeState, c: Spread) => node.count(c.counts);

interface SpreadFilter {
  constraint: Spread;
  perDomain: Map<string, number>;
  min: number;
}

/** PreFilter: matching pods per topology domain, over the nodes the constraints take in. */
function spreadFilter(pod: PendingPod, nodes: NodeState[]): SpreadFilter[] {
  const cs = spreadConstraints(pod, 'DoNotSchedule');
  if (cs.length === 0) return [];
  const state = cs.map((constraint) => ({ constraint, perDomain: new Map<string, number>(), min: 0 }));
  for (const node of nodes) {
    if (!hasKeys(node, cs)) continue;
    for (const s of state) {
      if (!includesNode(s.constraint, pod, node)) continue;
      const domain = node.labels[s.constraint.topologyKey];
      s.perDomain.set(domain, (s.perDomain.get(domain) ?? 0) + matching(node, s.constraint));
    }
  }
  for (const s of state) {
    if (s.perDomain.size < s.constraint.minDomains) continue;
    s.min = Infinity;
    for (const n of s.perDomain.values()) s.min = Math.min(s.min, n);
    if (s.min === Infinity) s.min = 0;
  }
  return state;
}

/**
 * The spread state as `node` sees it once `freed` (the node with pods taken away) replaces it. Only
 * the node's own domain loses pods, so only its count and the minimum change: no pass over the nodes.
 */
function spreadWithout(spread: SpreadFilter[], pod: PendingPod, node: NodeState, freed: NodeState): SpreadFilter[] {
  if (!hasKeys(node, spread.map((s) => s.constraint))) return spread;
  return spread.map((s) => {
    if (!includesNode(s.constraint, pod, node)) return s;
    const domain = node.labels[s.constraint.topologyKey];
    const count = s.perDomain.get(domain)! - matching(node, s.constraint) + matching(freed, s.constraint);
    const min = s.perDomain.size < s.constraint.minDomains ? 0 : Math.min(s.min, count);
    return { constraint: s.constraint, perDomain: new Map([[domain, count]]), min };
  });
}

// ---- filters

/** Why a node cannot take the pod; `resolvable` when removing pods from it could change that. */
export interface Rejection {
  reasons: string[];
  resolvable: boolean;
}

function fitsResources(pod: PendingPod, node: NodeState): string[] {
  const reasons: string[] = [];
  if ((node.requested.pods ?? 0) + 1 > (node.allocatable.pods ?? 0)) reasons.push(REASON.tooManyPods);
  // for-in rather than Object.entries: this runs for every pod and node, and allocates nothing.
  for (const resource in pod.requests) {
    const want = pod.requests[resource];
    if (resource === 'pods' || !(want > 0)) continue;
    if (want > (node.allocatable[resource] ?? 0) - (node.requested[resource] ?? 0)) reasons.push(insufficientReason(resource));
  }
  return reasons;
}

function filterWith(pod: PendingPod, node: NodeState, spread: SpreadFilter[]): Rejection | undefined {
  if (node.unschedulable && !pod.tolerations.some((t) => toleratesTaint(t, { key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' }))) {
    return { reasons: [REASON.unschedulable], resolvable: false };
  }
  const taint = untoleratedTaint(node.taints, pod.tolerations, DO_NOT_SCHEDULE);
  if (taint) return { reasons: [untoleratedTaintReason(taint)], resolvable: false };
  if (!matchesNodeAffinity(pod, node)) return { reasons: [REASON.affinity], resolvable: false };
  // Only a pod asking for host ports can conflict; most ask for none, so skip gathering the node's.
  // On a node whose pods share the host's network, every container port is a host port.
  const ports = node.portsOf(pod);
  if (ports.length && portsConflict(ports, node.hostPorts)) return { reasons: [REASON.ports], resolvable: true };
  const short = fitsResources(pod, node);
  if (short.length) return { reasons: short, resolvable: true };
  for (const s of spread) {
    const domain = node.labels[s.constraint.topologyKey];
    if (domain === undefined) return { reasons: [REASON.spreadLabel], resolvable: false };
    const skew = (s.perDomain.get(domain) ?? 0) + (s.constraint.selfMatch ? 1 : 0) - s.min;
    if (skew > s.constraint.maxSkew) return { reasons: [REASON.spread], resolvable: true };
  }
  return undefined;
}

/** Whether `node` can take `pod`, given every node (for topology spread): undefined when it can. */
export function filterNode(pod: PendingPod, node: NodeState, nodes: NodeState[]): Rejection | undefined {
  return filterWith(pod, node, spreadFilter(pod, nodes));
}

// ---- scores

/** framework DefaultNormalizeScore: scale to 0..100 by the highest; `reverse` for counts where fewer is better. */
function normalize(scores: number[], reverse: boolean): number[] {
  const max = Math.max(0, ...scores);
  if (max === 0) return scores.map(() => (reverse ? MAX_NODE_SCORE : 0));
  return scores.map((s) => {
    const v = Math.floor((MAX_NODE_SCORE * s) / max);
    return reverse ? MAX_NODE_SCORE - v : v;
  });
}

function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** NodeResourcesFit LeastAllocated over cpu and memory (weights 1 and 1), the pod included. */
export function leastAllocatedScore(pod: PendingPod, node: NodeState): number {
  const cpu = leastRequested(node.nonZeroCpu + (pod.requests.cpu || DEFAULT_MILLI_CPU_REQUEST), node.allocatable.cpu ?? 0);
  const memory = leastRequested(node.nonZeroMemory + (pod.requests.memory || DEFAULT_MEMORY_REQUEST), node.allocatable.memory ?? 0);
  return Math.floor((cpu + memory) / 2);
}

/** PodTopologySpread scoring (PreScore, Score, NormalizeScore), for the ScheduleAnyway constraints. */
function spreadScores(pod: PendingPod, feasible: NodeState[], nodes: NodeState[]): number[] {
  const cs = spreadConstraints(pod, 'ScheduleAnyway');
  if (cs.length === 0) return feasible.map(() => 0);
  // Explicit constraints need every key on a node; the system defaults score with what a node has.
  const requireAll = pod.spreadConstraints.length > 0;
  const ignored = new Set(feasible.filter((n) => requireAll && !hasKeys(n, cs)));
  const perDomain = cs.map(() => new Map<string, number>());
  for (const n of feasible) {
    if (ignored.has(n)) continue;
    cs.forEach((c, i) => {
      if (c.topologyKey !== LABEL_HOSTNAME && c.topologyKey in n.labels) perDomain[i].set(n.labels[c.topologyKey], 0);
    });
  }
  // Only domains other than hostname (zones) count pods on every node; without any, skip that pass.
  if (perDomain.some((d) => d.size > 0)) {
    // Plain loops: this runs for every node, for every pod of the batch.
    for (const n of nodes) {
      if (requireAll && !hasKeys(n, cs)) continue;
      for (let i = 0; i < cs.length; i++) {
        const c = cs[i];
        const domain = n.labels[c.topologyKey];
        const sum = c.topologyKey === LABEL_HOSTNAME ? undefined : perDomain[i].get(domain);
        if (sum !== undefined && includesNode(c, pod, n)) perDomain[i].set(domain, sum + matching(n, c));
      }
    }
  }
  const weights = cs.map((c, i) => Math.log((c.topologyKey === LABEL_HOSTNAME ? feasible.length - ignored.size : perDomain[i].size) + 2));
  const raw = feasible.map((n) => {
    if (ignored.has(n)) return 0;
    let score = 0;
    cs.forEach((c, i) => {
      const domain = n.labels[c.topologyKey];
      if (domain === undefined) return;
      const count = c.topologyKey === LABEL_HOSTNAME ? hostnameCount(pod, n, c) : perDomain[i].get(domain)!;
      score += count * weights[i] + (c.maxSkew - 1);
    });
    return Math.round(score);
  });
  const scored = raw.filter((_, i) => !ignored.has(feasible[i]));
  const min = Math.min(...scored);
  const max = Math.max(0, ...scored);
  return raw.map((s, i) => {
    if (ignored.has(feasible[i])) return 0;
    if (max === 0) return MAX_NODE_SCORE;
    return Math.floor((MAX_NODE_SCORE * (max + min - s)) / max);
  });
}

/** Matching pods on one node; for the default (owner) constraint, kept counted on the node. */
function hostnameCount(pod: PendingPod, node: NodeState, c: Spread): number {
  return pod.spreadConstraints.length === 0 ? node.count((g) => g.ownerUid === pod.ownerUid) : matching(node, c);
}

/** Every feasible node's total score, in the order given. */
export function scoreNodes(pod: PendingPod, feasible: NodeState[], nodes: NodeState[]): number[] {
  const preferNoSchedule = pod.tolerations.filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  const taints = normalize(
    feasible.map((n) => n.taints.filter((t) => t.effect === 'PreferNoSchedule' && !preferNoSchedule.some((tol) => toleratesTaint(tol, t))).length),
    true,
  );
  const preferred = pod.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const affinity = normalize(
    feasible.map((n) => preferred.reduce((sum, p) => sum + (p.weight && p.preference && termMatches(p.preference, n) ? p.weight : 0), 0)),
    false,
  );
  const spread = spreadScores(pod, feasible, nodes);
  return feasible.map((n, i) => 3 * taints[i] + 2 * affinity[i] + leastAllocatedScore(pod, n) + 2 * spread[i]);
}

// ---- the decision and its message

/** kube-scheduler's FitError text: reasons counted over nodes, "N reason" sorted as strings. */
export function fitMessage(nodeCount: number, rejections: Rejection[]): string {
  const counts = new Map<string, number>();
  for (const r of rejections) for (const reason of r.reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  const histogram = [...counts].map(([reason, n]) => `${n} ${reason}`).sort(compare);
  return `0/${nodeCount} nodes are available:${histogram.length ? ` ${histogram.join(', ')}.` : ''}`;
}

/**
 * What DefaultPreemption's PostFilter reports. This scheduler does not preempt; the diagnosis is
 * kube-scheduler's: nodes rejected for good are not helped, nodes with no lower-priority pods have no
 * victims, and others say why the pod would still not fit without those pods.
 */
function preemptionMessage(pod: PendingPod, nodes: NodeState[], rejections: Map<NodeState, Rejection>, spread: SpreadFilter[]): string {
  if (pod.preemptionPolicy === 'Never') return 'not eligible due to preemptionPolicy=Never.';
  const outcome = nodes.map((node): Rejection => {
    const rejected = rejections.get(node)!;
    if (!rejected.resolvable) return { reasons: [REASON.preemptionNotHelpful], resolvable: false };
    if (!node.hasBelow(pod.priority)) return { reasons: [REASON.noVictims], resolvable: false };
    const freed = node.withoutBelow(pod.priority);
    return filterWith(pod, freed, spreadWithout(spread, pod, node, freed)) ?? rejected;
  });
  return fitMessage(nodes.length, outcome);
}

export type Placement = { node: NodeState } | { message: string };

/**
 * How many feasible nodes kube-scheduler looks for before it stops filtering (its adaptive
 * percentageOfNodesToScore): all of a small cluster, 10% of 5,000 nodes, never fewer than 100.
 */
export function feasibleNodesToFind(nodeCount: number): number {
  if (nodeCount < 100) return nodeCount;
  const percentage = Math.max(5, 50 - Math.floor(nodeCount / 125));
  return Math.max(100, Math.floor((nodeCount * percentage) / 100));
}

/**
 * The best node for the pod (ties to the first name), or kube-scheduler's message saying why there
 * is none. Filtering starts at `cursor.start` and stops once enough feasible nodes are found;
 * the cursor then moves past the nodes looked at, so the next pod starts elsewhere, as in kube-scheduler.
 */
export function placePod(pod: PendingPod, nodes: NodeState[], cursor = { start: 0 }): Placement {
  if (nodes.length === 0) return { message: NO_NODES_AVAILABLE };
  const spread = spreadFilter(pod, nodes);
  const pinned = pinnedNodes(pod, nodes);
  if (pinned) {
    // NodeAffinity's PreFilter: a pod pinned by name (a DaemonSet's) is filtered on those nodes
    // alone. Where none fits, the whole filter below says why, as kube-scheduler's message does.
    const feasible = pinned.filter((node) => !filterWith(pod, node, spread));
    if (feasible.length > 0) return { node: best(feasible, scoreNodes(pod, feasible, nodes)) };
  }
  const rejections = new Map<NodeState, Rejection>();
  const feasible: NodeState[] = [];
  const wanted = feasibleNodesToFind(nodes.length);
  let looked = 0;
  while (looked < nodes.length && feasible.length < wanted) {
    const node = nodes[(cursor.start + looked++) % nodes.length];
    const rejected = filterWith(pod, node, spread);
    if (rejected) rejections.set(node, rejected);
    else feasible.push(node);
  }
  cursor.start = (cursor.start + looked) % nodes.length;
  if (feasible.length === 0) {
    return { message: `${fitMessage(nodes.length, [...rejections.values()])} preemption: ${preemptionMessage(pod, nodes, rejections, spread)}` };
  }
  return { node: best(feasible, scoreNodes(pod, feasible, nodes)) };
}

/** The highest-scoring node, ties to the first name. */
function best(feasible: NodeState[], scores: number[]): NodeState {
  let top = 0;
  for (let i = 1; i < feasible.length; i++) {
    if (scores[i] > scores[top] || (scores[i] === scores[top] && feasible[i].name < feasible[top].name)) top = i;
  }
  return feasible[top];
}

/**
 * The nodes a pod's required node affinity names outright (every term has a matchFields
 * `metadata.name In` requirement), or undefined when it may go anywhere its filters allow.
 */
function pinnedNodes(pod: PendingPod, nodes: NodeState[]): NodeState[] | undefined {
  const terms = pod.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  if (terms.length === 0) return undefined;
  const names = new Set<string>();
  for (const term of terms) {
    const byName = term.matchFields?.find((r) => r.key === 'metadata.name' && r.operator === 'In');
    if (!byName) return undefined;
    for (const v of byName.values ?? []) names.add(v);
  }
  return nodes.filter((n) => names.has(n.name));
}

// What the Fleet view knows of each node, derived from the Node, Pod and Lease collections. Every
// function here is O(items) per collection change (never per render) and keeps unchanged results
// identical (===), so cards whose facts did not change are not rendered again.
import { milliValue, wholeValue } from '../../kinds/quantity.js';
import { podRequests } from '../../kinds/pod-summary.js';
import type { Obj } from '../collection.js';

export type NodeStatus = 'Ready' | 'NotReady' | 'Unknown';

export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** kubelet's lease duration when a node has no lease (or it does not say). */
export const DEFAULT_LEASE_SECONDS = 40;

export interface NodeFacts {
  name: string;
  status: NodeStatus;
  /** The Ready condition's reason and message, for the badge's title. */
  reason: string;
  /** The Ready condition's lastHeartbeatTime (ms), NaN when absent. */
  readyHeartbeat: number;
  created: number;
  unschedulable: boolean;
  /** "key=value:Effect" each. */
  taints: string[];
  roles: string[];
  /** Group heading ("eu-west / eu-west-1a"), '' without topology labels. */
  group: string;
  allocatable: { cpu: number; memory: number; pods: number };
  kubelet: string;
  os: string;
  ip: string;
  /** Name and labels (k=v), lower case, for the filter box. */
  search: string;
}

export interface Requested {
  cpu: number;
  memory: number;
  pods: number;
}

export interface LeaseFacts {
  renew: number;
  durationSeconds: number;
}

export interface Usage {
  cpu: number;
  memory: number;
}

/** kubectl's "key=value:Effect" (no "=value" when the value is empty). */
export function taintString(t: { key?: string; value?: string; effect?: string }): string {
  return `${t.key ?? ''}${t.value ? `=${t.value}` : ''}:${t.effect ?? ''}`;
}

export function groupOf(labels: Record<string, string> | undefined): string {
  const region = labels?.[REGION_LABEL] ?? '';
  const zone = labels?.[ZONE_LABEL] ?? '';
  return [region, zone].filter(Boolean).join(' / ');
}

/** kubectl get nodes' ROLES: node-role.kubernetes.io/ROLE labels and kubernetes.io/role. */
function rolesOf(labels: Record<string, string>): string[] {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 24) roles.add(k.slice(24));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return [...roles].sort();
}

const factsCache = new WeakMap<Obj, NodeFacts>();

/** One Node's facts, computed once per Node object (an update replaces the object). */
export function nodeFacts(node: Obj): NodeFacts {
  let f = factsCache.get(node);
  if (f) return f;
  const labels = node.metadata.labels ?? {};
  const status = node.status ?? {};
  const ready = (status.conditions ?? []).find((c: any) => c?.type === 'Ready');
  const alloc = status.allocatable ?? {};
  const info = status.nodeInfo ?? {};
  const ip = (status.addresses ?? []).find((a: any) => a?.type === 'InternalIP')?.address ?? '';
  f = {
    name: node.metadata.name,
    status: ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown',
    reason: ready ? [ready.reason, ready.message].filter(Boolean).join(': ') : 'no Ready condition posted',
    readyHeartbeat: ready?.lastHeartbeatTime ? Date.parse(ready.lastHeartbeatTime) : NaN,
    created: node.metadata.creationTimestamp ? Date.parse(node.metadata.creationTimestamp) : NaN,
    unschedulable: !!node.spec?.unschedulable,
    taints: (node.spec?.taints ?? []).map(taintString),
    roles: rolesOf(labels),
    group: groupOf(labels),
    allocatable: { cpu: milliValue(alloc.cpu) ?? 0, memory: wholeValue(alloc.memory) ?? 0, pods: wholeValue(alloc.pods) ?? 0 },
    kubelet: info.kubeletVersion ?? '',
    os: [info.operatingSystem, info.architecture].filter(Boolean).join('/'),
    ip,
    search: [node.metadata.name, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)].join('\n').toLowerCase(),
  };
  factsCache.set(node, f);
  return f;
}

const requestsCache = new WeakMap<Obj, Requested>();
const TERMINATED = new Set(['Succeeded', 'Failed']);

/** What one pod requests (cached per pod object, so a watch event re-sums instead of re-parsing 10,000 specs). */
function requestsOf(pod: Obj): Requested {
  let r = requestsCache.get(pod);
  if (!r) {
    const all = podRequests(pod.spec ?? {});
    r = { cpu: all.cpu ?? 0, memory: all.memory ?? 0, pods: 1 };
    requestsCache.set(pod, r);
  }
  return r;
}

/**
 * Requests per node over the pods bound there and not terminated (what the scheduler counts), in
 * one pass. Totals equal to `previous` keep their object, so their cards are not rendered again.
 */
export function requestedByNode(pods: Obj[], previous?: Map<string, Requested>): Map<string, Requested> {
  const sums = new Map<string, Requested>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || TERMINATED.has(pod.status?.phase)) continue;
    const r = requestsOf(pod);
    const s = sums.get(node);
    if (s) {
      s.cpu += r.cpu;
      s.memory += r.memory;
      s.pods += 1;
    } else sums.set(node, { ...r });
  }
  if (previous) {
    for (const [node, s] of sums) {
      const p = previous.get(node);
      if (p && p.cpu === s.cpu && p.memory === s.memory && p.pods === s.pods) sums.set(node, p);
    }
  }
  return sums;
}

export function leasesByNode(leases: Obj[]): Map<string, LeaseFacts> {
  const out = new Map<string, LeaseFacts>();
  for (const l of leases) {
    const renew = l.spec?.renewTime ? Date.parse(l.spec.renewTime) : NaN;
    out.set(l.metadata.name, { renew, durationSeconds: Number(l.spec?.leaseDurationSeconds) || DEFAULT_LEASE_SECONDS });
  }
  return out;
}

/** NodeMetricsList → usage per node (cpu in millicores, memory in bytes). */
export function usageByNode(list: { items?: any[] } | undefined): Map<string, Usage> {
  const out = new Map<string, Usage>();
  for (const m of list?.items ?? []) {
    const name = m?.metadata?.name;
    const cpu = milliValue(m?.usage?.cpu);
    const memory = wholeValue(m?.usage?.memory);
    if (name && cpu !== undefined && memory !== undefined) out.set(name, { cpu, memory });
  }
  return out;
}

/**
 * The node's last sign of life, as the node lifecycle controller reads it: the newest of its lease's
 * renewTime and its Ready condition's lastHeartbeatTime (NaN: none).
 */
export function heartbeatOf(f: NodeFacts, lease: LeaseFacts | undefined): number {
  const renew = lease?.renew ?? NaN;
  if (Number.isNaN(renew)) return f.readyHeartbeat;
  if (Number.isNaN(f.readyHeartbeat)) return renew;
  return Math.max(renew, f.readyHeartbeat);
}

/**
 * Stale: no heartbeat for half the lease's duration (20 s by default, while agents renew every 10 s),
 * well before the controller's grace period (40 s) marks the node Unknown. A node that never sent
 * one counts from its creation.
 */
export function isStale(heartbeat: number, created: number, lease: LeaseFacts | undefined, now: number): boolean {
  const since = Number.isNaN(heartbeat) ? created : heartbeat;
  if (Number.isNaN(since)) return true;
  return now - since > ((lease?.durationSeconds ?? DEFAULT_LEASE_SECONDS) * 1000) / 2;
}

/** Problem nodes first (not Ready, then stale), then by name. */
export function rank(status: NodeStatus, stale: boolean): number {
  return status !== 'Ready' ? 0 : stale ? 1 : 2;
}

export type StatusFilter = 'All' | NodeStatus | 'Stale';

export interface Row {
  facts: NodeFacts;
  /** Last sign of life (ms; NaN: none). */
  heartbeat: number;
  stale: boolean;
}

export interface FleetView {
  total: number;
  counts: { Ready: number; NotReady: number; Unknown: number; stale: number; cordoned: number };
  /** The groups with nodes passing the filters, by title ('' for no topology labels, last); problem nodes first in each. */
  groups: { title: string; rows: Row[] }[];
}

/** The fleet at `now`: staleness, counts, the filter (`query` in lower case) and the groups, in O(n log n). */
export function arrange(facts: NodeFacts[], leases: Map<string, LeaseFacts>, now: number, query: string, status: StatusFilter): FleetView {
  const counts = { Ready: 0, NotReady: 0, Unknown: 0, stale: 0, cordoned: 0 };
  const byGroup = new Map<string, Row[]>();
  for (const f of facts) {
    const lease = leases.get(f.name);
    const heartbeat = heartbeatOf(f, lease);
    const row = { facts: f, heartbeat, stale: isStale(heartbeat, f.created, lease, now) };
    counts[f.status]++;
    if (row.stale) counts.stale++;
    if (f.unschedulable) counts.cordoned++;
    if (query && !f.search.includes(query)) continue;
    if (status !== 'All' && (status === 'Stale' ? !row.stale : f.status !== status)) continue;
    const g = byGroup.get(f.group);
    if (g) g.push(row);
    else byGroup.set(f.group, [row]);
  }
  const titles = [...byGroup.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
  const byName = (a: Row, b: Row) => (a.facts.name < b.facts.name ? -1 : a.facts.name > b.facts.name ? 1 : 0);
  const groups = titles.map((title) => {
    const rows = byGroup.get(title)!;
    rows.sort((a, b) => rank(a.facts.status, a.stale) - rank(b.facts.status, b.stale) || byName(a, b));
    return { title, rows };
  });
  return { total: facts.length, counts, groups };
}

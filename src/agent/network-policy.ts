// What the NetworkPolicy API allows, computed from the cluster's policies, pods and namespaces: for
// each pod of this node that a policy isolates, the peers and ports it may receive from (ingress) or
// send to (egress), which network-policy-iptables.ts writes as rules; and, for one connection, whether
// it is allowed, which the relay asks (allowsRelayed) before it dials a pod, since a relayed
// connection reaches the pod from the node and no packet filter sees its real source.
//
// As the API specifies: a pod selected by a policy whose policyTypes has Ingress (Egress) is isolated
// for ingress (egress), and then only traffic some such policy's rules allow passes; rules of all the
// policies selecting a pod add up. A rule's peers are pods by podSelector (the policy's namespace),
// namespaceSelector (+ podSelector), or an ipBlock minus its excepts; its ports are numbers, ranges
// (endPort) or named container ports (of the pod receiving the traffic). Empty peers or ports: any.
// A pod always reaches itself; traffic between a pod and its node is always allowed (enforced where the
// packets flow, not here). hostNetwork pods are neither selected nor peers; pods in a terminal phase
// are not peers (their address may go to another pod).
import type { LabelSelector } from '../kinds/validation.js';
import { selectorMatches } from '../kinds/validation.js';
import type { NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec } from '../kinds/networkpolicy.js';
import { cidrContains, formatCidr, parseCidr, parseIP, subtractCidrs, type ParsedCidr } from '../kinds/networkpolicy-cidr.js';

/** The label every namespace carries with its own name (kube-apiserver sets it). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** What policies need of a pod. */
export interface PolicyPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  ip?: string;
  nodeName?: string;
  hostNetwork: boolean;
  /** Succeeded or Failed: no longer a peer. */
  terminal: boolean;
  /** Named container ports, for named ports in rules. */
  ports: { name: string; port: number; protocol: string }[];
}

export interface PolicyObject {
  namespace: string;
  name: string;
  spec: NetworkPolicySpec;
}

export interface PolicyState {
  policies: PolicyObject[];
  pods: PolicyPod[];
  /** Namespace labels by name. */
  namespaces: Map<string, Record<string, string>>;
}

/**
 * One allowed kind of traffic: from (ingress) or to (egress) `cidr` (any peer when absent), with
 * `protocol` (any protocol when absent) on `port`..`endPort` (any port when absent).
 */
export interface Allow {
  cidr?: string;
  protocol?: string;
  port?: number;
  endPort?: number;
}

export interface PodRules {
  pod: PolicyPod & { ip: string };
  /** Absent: not isolated for ingress. Empty: nothing gets in. */
  ingress?: Allow[];
  /** Absent: not isolated for egress. Empty: nothing gets out. */
  egress?: Allow[];
}

type Direction = 'Ingress' | 'Egress';

export function policyPod(obj: any): PolicyPod {
  const spec = obj?.spec ?? {};
  const ports: PolicyPod['ports'] = [];
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const p of c?.ports ?? []) {
      if (p?.name && typeof p.containerPort === 'number') ports.push({ name: p.name, port: p.containerPort, protocol: p.protocol ?? 'TCP' });
    }
  }
  const phase = obj?.status?.phase;
  return {
    namespace: obj?.metadata?.namespace ?? '',
    name: obj?.metadata?.name ?? '',
    uid: obj?.metadata?.uid ?? '',
    labels: obj?.metadata?.labels ?? {},
    ip: obj?.status?.podIP || undefined,
    nodeName: spec.nodeName,
    hostNetwork: !!spec.hostNetwork,
    terminal: phase === 'Succeeded' || phase === 'Failed',
    ports,
  };
}

export function policyObject(obj: any): PolicyObject {
  return { namespace: obj?.metadata?.namespace ?? '', name: obj?.metadata?.name ?? '', spec: obj?.spec ?? {} };
}

/** A namespace's labels, with the name label kube-apiserver puts on every namespace. */
export function namespaceLabels(state: PolicyState, name: string): Record<string, string> {
  return { ...state.namespaces.get(name), [NAMESPACE_NAME_LABEL]: name };
}

/** policyTypes as defaulted (the API defaults them; a policy stored before that reads the same). */
function typesOf(spec: NetworkPolicySpec): string[] {
  if (spec.policyTypes?.length) return spec.policyTypes;
  return spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** The policies that isolate `pod` in `direction`. */
export function selecting(state: PolicyState, pod: PolicyPod, direction: Direction): PolicyObject[] {
  if (pod.hostNetwork) return [];
  return state.policies.filter(
    (p) => p.namespace === pod.namespace && typesOf(p.spec).includes(direction) && selectorMatches(p.spec.podSelector ?? {}, pod.labels),
  );
}

/** Pods that may be peers: with an address of their own, not finished. */
const peerCandidate = (p: PolicyPod): p is PolicyPod & { ip: string } => !!p.ip && !p.hostNetwork && !p.terminal;

/** Whether a selector peer (podSelector and/or namespaceSelector) selects `pod`, for a policy in `namespace`. */
function selectorPeerMatches(state: PolicyState, peer: NetworkPolicyPeer, namespace: string, pod: { namespace: string; labels: Record<string, string> }): boolean {
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, namespaceLabels(state, pod.namespace))) return false;
  } else if (pod.namespace !== namespace) {
    return false;
  }
  return peer.podSelector ? selectorMatches(peer.podSelector as LabelSelector, pod.labels) : true;
}

function ipBlockOf(peer: NetworkPolicyPeer): { cidr: ParsedCidr; except: ParsedCidr[] } | undefined {
  const cidr = peer.ipBlock && parseCidr(peer.ipBlock.cidr);
  if (!cidr) return undefined;
  return { cidr, except: (peer.ipBlock!.except ?? []).map((e) => parseCidr(e)).filter((e): e is ParsedCidr => !!e) };
}

function inIPBlock(block: { cidr: ParsedCidr; except: ParsedCidr[] }, ip: string | undefined): boolean {
  const parsed = ip ? parseIP(ip) : undefined;
  return !!parsed && cidrContains(block.cidr, parsed) && !block.except.some((e) => cidrContains(e, parsed));
}

const protocolOf = (p: NetworkPolicyPort) => p.protocol ?? 'TCP';

/** A rule's port resolved on the pod that receives the traffic (named ports are its container ports). */
function resolvePort(p: NetworkPolicyPort, receiver: PolicyPod | undefined): Allow[] {
  const protocol = protocolOf(p);
  if (p.port == null) return [{ protocol }];
  if (typeof p.port === 'number') return [{ protocol, port: p.port, ...(p.endPort != null && p.endPort > p.port ? { endPort: p.endPort } : {}) }];
  const named = receiver?.ports.filter((c) => c.name === p.port && c.protocol === protocol) ?? [];
  return named.map((c) => ({ protocol, port: c.port }));
}

const keyOf = (a: Allow) => `${a.cidr ?? '*'} ${a.protocol ?? '*'} ${a.port ?? '*'} ${a.endPort ?? ''}`;

/** Sorted, without duplicates; just the allow-everything entry when there is one. */
function normalized(list: Allow[]): Allow[] {
  const byKey = new Map(list.map((a) => [keyOf(a), a]));
  if (byKey.has(keyOf({}))) return [{}];
  return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
}

const hostCidr = (ip: string) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`);

/** The CIDRs (IPv4) of an ipBlock minus its excepts. */
function blockCidrs(block: { cidr: ParsedCidr; except: ParsedCidr[] }): string[] {
  if (block.cidr.v6) return [];
  return subtractCidrs(block.cidr, block.except.filter((e) => !e.v6)).map(formatCidr);
}

/** Ingress entries of `pod` (isolated by `policies`). */
function ingressAllows(state: PolicyState, pod: PolicyPod, policies: PolicyObject[]): Allow[] {
  const out: Allow[] = [];
  for (const policy of policies) {
    for (const rule of policy.spec.ingress ?? []) {
      const ports = rule.ports?.length ? rule.ports.flatMap((p) => resolvePort(p, pod)) : [{}];
      if (ports.length === 0) continue; // only named ports this pod does not have
      let sources: (string | undefined)[] = [];
      if (!rule.from?.length) sources = [undefined];
      for (const peer of rule.from ?? []) {
        if (peer.ipBlock) {
          const block = ipBlockOf(peer);
          if (block) sources.push(...blockCidrs(block));
        } else {
          for (const p of state.pods) {
            if (peerCandidate(p) && !p.ip.includes(':') && selectorPeerMatches(state, peer, policy.namespace, p)) sources.push(hostCidr(p.ip));
          }
        }
      }
      for (const cidr of sources) for (const port of ports) out.push({ ...(cidr ? { cidr } : {}), ...port });
    }
  }
  return normalized(out);
}

/** Egress entries of `pod` (isolated by `policies`): named ports resolve on each destination pod. */
function egressAllows(state: PolicyState, policies: PolicyObject[]): Allow[] {
  const out: Allow[] = [];
  const peers = state.pods.filter((p): p is PolicyPod & { ip: string } => peerCandidate(p) && !p.ip.includes(':'));
  for (const policy of policies) {
    for (const rule of policy.spec.egress ?? []) {
      const ports = rule.ports ?? [];
      const unnamed = ports.length ? ports.filter((p) => typeof p.port !== 'string').flatMap((p) => resolvePort(p, undefined)) : [{}];
      const named = ports.filter((p) => typeof p.port === 'string');
      const toPod = (p: PolicyPod & { ip: string }) => {
        for (const port of [...unnamed, ...named.flatMap((n) => resolvePort(n, p))]) out.push({ cidr: hostCidr(p.ip), ...port });
      };
      // A named port somewhere in a block (or anywhere): the pods there that have it.
      const namedIn = (inside: (ip: string) => boolean) => {
        if (named.length === 0) return;
        for (const p of peers) if (inside(p.ip)) for (const port of named.flatMap((n) => resolvePort(n, p))) out.push({ cidr: hostCidr(p.ip), ...port });
      };
      if (!rule.to?.length) {
        for (const port of unnamed) out.push({ ...port });
        namedIn(() => true);
      }
      for (const peer of rule.to ?? []) {
        if (peer.ipBlock) {
          const block = ipBlockOf(peer);
          if (!block) continue;
          for (const cidr of blockCidrs(block)) for (const port of unnamed) out.push({ cidr, ...port });
          namedIn((ip) => inIPBlock(block, ip));
        } else {
          for (const p of peers) if (selectorPeerMatches(state, peer, policy.namespace, p)) toPod(p);
        }
      }
    }
  }
  return normalized(out);
}

/** The rules of the pods `isLocal` picks that some policy isolates (pods with an address, not hostNetwork). */
export function computePodRules(state: PolicyState, isLocal: (pod: PolicyPod) => boolean): PodRules[] {
  const out: PodRules[] = [];
  for (const pod of state.pods) {
    if (!isLocal(pod) || !pod.ip || pod.hostNetwork || pod.terminal || pod.ip.includes(':')) continue;
    const ingress = selecting(state, pod, 'Ingress');
    const egress = selecting(state, pod, 'Egress');
    if (ingress.length === 0 && egress.length === 0) continue;
    out.push({
      pod: pod as PolicyPod & { ip: string },
      ...(ingress.length ? { ingress: ingressAllows(state, pod, ingress) } : {}),
      ...(egress.length ? { egress: egressAllows(state, egress) } : {}),
    });
  }
  return out.sort((a, b) => a.pod.ip.localeCompare(b.pod.ip));
}

// ---- one connection ----

export interface ConnectionEnd {
  namespace?: string;
  podName?: string;
  podIP?: string;
  labels?: Record<string, string>;
}

export interface RelayedConnection {
  /** The pod the connection comes from: by namespace and name, or by address; labels when the caller knows them. */
  from: ConnectionEnd;
  /** The pod dialled, its port and protocol (TCP when absent). */
  to: { podIP: string; port: number; protocol?: string };
}

function portMatches(ports: NetworkPolicyPort[] | undefined, port: number, protocol: string, receiver: PolicyPod | undefined): boolean {
  if (!ports?.length) return true;
  return ports.some((p) => {
    if (protocolOf(p) !== protocol) return false;
    if (p.port == null) return true;
    if (typeof p.port === 'number') return port >= p.port && port <= Math.max(p.port, p.endPort ?? p.port);
    return resolvePort(p, receiver).some((r) => r.port === port);
  });
}

function peerMatches(state: PolicyState, peers: NetworkPolicyPeer[] | undefined, namespace: string, pod: PolicyPod | undefined, ip: string | undefined): boolean {
  if (!peers?.length) return true;
  return peers.some((peer) => {
    if (peer.ipBlock) {
      const block = ipBlockOf(peer);
      return !!block && inIPBlock(block, ip);
    }
    return !!pod && !pod.hostNetwork && selectorPeerMatches(state, peer, namespace, pod);
  });
}

const findByIP = (state: PolicyState, ip: string | undefined) => (ip ? state.pods.find((p) => p.ip === ip && !p.hostNetwork && !p.terminal) : undefined);

/** Whether the policies allow a connection from one pod (or address) to a pod's port: egress of the one, ingress of the other. */
export function connectionAllowed(state: PolicyState, c: RelayedConnection): boolean {
  const protocol = c.to.protocol ?? 'TCP';
  const to = findByIP(state, c.to.podIP);
  let from = c.from.podName && c.from.namespace
    ? state.pods.find((p) => p.namespace === c.from.namespace && p.name === c.from.podName && !p.terminal)
    : findByIP(state, c.from.podIP);
  if (!from && c.from.namespace && c.from.labels) {
    from = { namespace: c.from.namespace, name: c.from.podName ?? '', uid: '', labels: c.from.labels, ip: c.from.podIP, hostNetwork: false, terminal: false, ports: [] };
  } else if (from && c.from.labels) {
    from = { ...from, labels: c.from.labels };
  }
  const fromIP = c.from.podIP ?? from?.ip;
  if (from && to && from.namespace === to.namespace && from.name === to.name) return true;
  if (from) {
    const policies = selecting(state, from, 'Egress');
    const out = policies.length === 0 || policies.some((p) => (p.spec.egress ?? []).some(
      (r) => portMatches(r.ports, c.to.port, protocol, to) && peerMatches(state, r.to, p.namespace, to, c.to.podIP),
    ));
    if (!out) return false;
  }
  if (to) {
    const policies = selecting(state, to, 'Ingress');
    return policies.length === 0 || policies.some((p) => (p.spec.ingress ?? []).some(
      (r) => portMatches(r.ports, c.to.port, protocol, to) && peerMatches(state, r.from, p.namespace, from, fromIP),
    ));
  }
  return true;
}

// ---- the relay's question ----

/** A running policy agent's current view; undefined until it has listed policies, pods and namespaces. */
export type PolicyStateSource = () => PolicyState | undefined;

const sources = new Set<PolicyStateSource>();

/** Makes `source` the view allowsRelayed answers from (network-policy-agent.ts); returns the undo. */
export function registerPolicyState(source: PolicyStateSource): () => void {
  sources.add(source);
  return () => void sources.delete(source);
}

/**
 * Whether NetworkPolicy allows a relayed connection, which reaches the pod from its node's address so
 * the node's packet filter cannot judge it: the relay calls this before dialling `to`. True when no
 * policy agent runs in this process (no pod network); false until the agent has its first view.
 */
export function allowsRelayed(c: RelayedConnection): boolean {
  if (sources.size === 0) return true;
  for (const source of sources) {
    const state = source();
    if (state) return connectionAllowed(state, c);
  }
  return false;
}

// The iptables rules that make Services work on a node, as kube-proxy's iptables mode writes them
// (pkg/proxy/iptables/proxier.go), generated as iptables-restore text: pure, no I/O. Every chain is
// the agent's own, named after its pod bridge (two agents on one machine never share one), and every
// rule carries the comment `skiff <bridge>`. service-proxy.ts writes the text and hooks the chains in.
//
// nat table (sfx: the bridge's suffix, H: a hash of the service port / endpoint):
//   PREROUTING -i <bridge>                        -> SKIFF-SVC-sfx   ClusterIPs, for this node's pods only
//   PREROUTING ! -d 127/8 --dst-type LOCAL        -> SKIFF-NP-sfx    NodePorts on the node's addresses
//   OUTPUT                                        -> SKIFF-SVC-sfx   ClusterIPs, from the host
//   OUTPUT ! -d 127/8 --dst-type LOCAL            -> SKIFF-NP-sfx    NodePorts, from the host
//   POSTROUTING                                   -> SKIFF-POST-sfx  masquerade what carries the mark
//   SKIFF-SVC-sfx  -d CIP -p P --dport PORT       -> SKIFF-C-sfx-H (cluster endpoints) or SKIFF-L-sfx-H (internalTrafficPolicy Local)
//   SKIFF-C-sfx-H  ! -s <podCIDR> -d CIP ...      -> SKIFF-MARK-sfx  (from off this node's pods: masquerade)
//                  -m recent --rcheck (ClientIP affinity, one rule per endpoint)
//                  -m statistic --mode random --probability 1/n, 1/(n-1), ... -> SKIFF-E-sfx-H
//   SKIFF-E-sfx-H  -s <endpoint IP>               -> SKIFF-MARK-sfx  (hairpin: a pod reaching itself)
//                  -p P [-m recent --set] -j DNAT --to-destination IP:PORT (or the endpoint's relay listener)
//   SKIFF-NP-sfx   -p P --dport NODEPORT          -> SKIFF-X-sfx-H   (-> MARK, then the cluster chain;
//                                                                      externalTrafficPolicy Local as kube-proxy)
//   SKIFF-MARK-sfx -j MARK --or-mark BIT;  SKIFF-POST-sfx: unmarked RETURN, --xor-mark BIT, MASQUERADE
// filter table:
//   INPUT   ctstate NEW                           -> SKIFF-EXT-sfx   NodePorts without endpoints: REJECT (no local ones: DROP)
//   FORWARD -i <bridge> ctstate NEW               -> SKIFF-SVC-sfx   ClusterIPs without endpoints: REJECT (no local ones: DROP)
//   OUTPUT  ctstate NEW                           -> SKIFF-SVC-sfx
//   FORWARD (appended, after policy chains)       -> SKIFF-FWD-sfx   ACCEPT marked traffic and Service (DNAT) connections of the bridge
import { createHash } from 'node:crypto';
import type { EndpointView, ServicePortView, ServiceView } from './cluster-catalog.js';

export interface ProxyConfig {
  /** The node's pod bridge: pods' traffic enters the host through it. */
  bridge: string;
  /** The node's podCIDR: traffic from anywhere else to a ClusterIP is masqueraded (kube-proxy's NodeCIDR local detection). */
  podCIDR: string;
  nodeName: string;
  /**
   * Whether bridged traffic passes through iptables (br_netfilter). Without it a pod's reply to a
   * pod on the same bridge skips the host's conntrack, so Service traffic between pods of one bridge
   * is masqueraded too (its replies then come back through the host).
   */
  bridgeNetfilter: boolean;
}

export interface ServiceEntry {
  service: ServiceView;
  endpoints: EndpointView[];
}

export interface Hook {
  table: 'nat' | 'filter';
  chain: string;
  /** insert at the top (as kube-proxy does), or append (after what others inserted, e.g. policy chains) */
  position: 'insert' | 'append';
  /** The rule's arguments, in the order iptables-save prints them (see specText), without `-A CHAIN`. */
  spec: string[];
}

export interface RuleSet {
  /** chains (declared, so flushed by iptables-restore --noflush) and rules per table */
  nat: { chains: string[]; rules: string[] };
  filter: { chains: string[]; rules: string[] };
}

const MAX_CHAIN = 28;
const HASH_LEN = 11;

/** The agent's tag in its chain names: the bridge's name without `skiff` (bridgeFor gives 8 hex digits). */
export function bridgeSuffix(bridge: string): string {
  const rest = bridge.replace(/^skiff/, '');
  if (/^[0-9a-zA-Z]{1,8}$/.test(rest)) return rest;
  return base32(createHash('sha256').update(bridge).digest()).slice(0, 8);
}

/** One bit of the packet mark for this agent's masquerade, outside kube-proxy's 0x4000 and 0x8000; two agents sharing one is harmless (both masquerade alike). */
export function markBit(bridge: string): number {
  const h = createHash('sha256').update(bridge).digest();
  return 1 << (16 + (h[0]! % 8));
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}

export interface ChainNames {
  sfx: string;
  natServices: string;
  nodePorts: string;
  mark: string;
  post: string;
  filterServices: string;
  external: string;
  forward: string;
}

export function chainNames(bridge: string): ChainNames {
  const sfx = bridgeSuffix(bridge);
  return {
    sfx,
    natServices: `SKIFF-SVC-${sfx}`,
    nodePorts: `SKIFF-NP-${sfx}`,
    mark: `SKIFF-MARK-${sfx}`,
    post: `SKIFF-POST-${sfx}`,
    filterServices: `SKIFF-SVC-${sfx}`,
    external: `SKIFF-EXT-${sfx}`,
    forward: `SKIFF-FWD-${sfx}`,
  };
}

/**
 * Whether a chain is one of this bridge's Service chains (top-level or per Service port / endpoint),
 * by its exact kinds: the agent's other chains (NetworkPolicy's SKIFF-POL-, cross-node's) share the prefix.
 */
export function isOwnChain(bridge: string, chain: string): boolean {
  const sfx = bridgeSuffix(bridge);
  return new RegExp(`^SKIFF-((SVC|NP|MARK|POST|EXT|FWD)-${sfx}|[CLXE]-${sfx}-[A-Z2-7]{${HASH_LEN}})$`).test(chain);
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function chainFor(kind: 'C' | 'L' | 'X' | 'E', sfx: string, key: string): string {
  const name = `SKIFF-${kind}-${sfx}-${base32(createHash('sha256').update(key).digest()).slice(0, HASH_LEN)}`;
  return name.slice(0, MAX_CHAIN);
}

function ipv4ToInt(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function isIPv4(s: string): boolean {
  return ipv4ToInt(s) !== undefined;
}

export function inCIDR(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/') as [string, string];
  const a = ipv4ToInt(ip);
  const n = ipv4ToInt(net);
  if (a === undefined || n === undefined) return false;
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((n & mask) >>> 0);
}

/** kube-proxy's probability text: %0.10f of 1/(endpoints left). */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

export interface Backend {
  ip: string;
  port: number;
  local: boolean;
  /** Where its connections go, when not to ip:port (its relay listener). */
  to?: string;
}

/**
 * Which endpoints get traffic, as kube-proxy's CategorizeEndpoints: the ready ones; when there are
 * none, the serving and terminating ones (so a rollout's last pods still answer); the same among the
 * node's own endpoints for the Local traffic policies.
 */
export function backends(port: ServicePortView, endpoints: EndpointView[], nodeName: string, relay?: RelayTo): { cluster: Backend[]; local: Backend[] } {
  const all: (Backend & { ready: boolean; fallback: boolean })[] = [];
  const seen = new Set<string>();
  for (const ep of endpoints) {
    if (!isIPv4(ep.ip)) continue; // the process runtime's network is IPv4 only
    const p = ep.ports.find((x) => x.name === port.name && (x.protocol || 'TCP') === port.protocol);
    if (!p || !(p.port > 0)) continue;
    const key = `${ep.ip}:${p.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const local = ep.nodeName === nodeName;
    const to = local ? undefined : relay?.(ep.ip, p.port, port.protocol);
    if (to === null) continue;
    all.push({ ip: ep.ip, port: p.port, local, ...(to ? { to } : {}), ready: ep.ready, fallback: ep.serving && ep.terminating });
  }
  all.sort((a, b) => (ipv4ToInt(a.ip)! - ipv4ToInt(b.ip)! || a.port - b.port));
  const pick = (set: typeof all): Backend[] => {
    const ready = set.filter((e) => e.ready);
    return (ready.length ? ready : set.filter((e) => e.fallback)).map(({ ready: _r, fallback: _f, ...b }) => b);
  };
  return { cluster: pick(all), local: pick(all.filter((e) => e.local)) };
}

function proto(p: string): string {
  return p.toLowerCase();
}

/**
 * Where a connection for an endpoint must be sent instead of the endpoint's own address: the local
 * relay listener (GATEWAY:PORT) of an endpoint on a node reached only through the control plane (a
 * connection is DNATed once, so the Service's DNAT must go there itself; cross-node.ts); null when
 * it is relayed but has no listener yet (left out meanwhile); undefined: its own address.
 */
export type RelayTo = (ip: string, port: number, protocol: string) => string | null | undefined;

/** The whole rule set for these Services (all of this node's chains and rules, hooks apart). */
export function renderRules(cfg: ProxyConfig, entries: ServiceEntry[], relay?: RelayTo): RuleSet {
  const names = chainNames(cfg.bridge);
  const bit = hex(markBit(cfg.bridge));
  const tag = `skiff ${cfg.bridge}`;
  const comment = (text?: string) => ['-m', 'comment', '--comment', quote(text ? `${tag} ${text}` : tag)];
  const nat = { chains: [names.natServices, names.nodePorts, names.mark, names.post], rules: [] as string[] };
  const filter = { chains: [names.filterServices, names.external, names.forward], rules: [] as string[] };
  const natRule = (chain: string, ...args: string[]) => nat.rules.push(['-A', chain, ...args].join(' '));
  const filterRule = (chain: string, ...args: string[]) => filter.rules.push(['-A', chain, ...args].join(' '));
  const sorted = [...entries].sort((a, b) => `${a.service.namespace}/${a.service.name}`.localeCompare(`${b.service.namespace}/${b.service.name}`));

  for (const { service: svc, endpoints } of sorted) {
    if (svc.headless || svc.type === 'ExternalName') continue;
    const clusterIP = svc.clusterIPs.find(isIPv4);
    if (!clusterIP) continue;
    const hasNodePorts = svc.type === 'NodePort' || svc.type === 'LoadBalancer';
    for (const port of svc.ports) {
      const p = proto(port.protocol);
      const name = `${svc.namespace}/${svc.name}${port.name ? `:${port.name}` : ''}`;
      const key = `${svc.namespace}/${svc.name}:${port.name}${port.protocol}`;
      const { cluster, local } = backends(port, endpoints, cfg.nodeName, relay);
      // Usable endpoints anywhere (ready, else serving and terminating): else REJECT, as kube-proxy.
      const hasEndpoints = cluster.length > 0;
      const internalLocal = svc.internalTrafficPolicy === 'Local';
      const nodePort = hasNodePorts && port.nodePort ? port.nodePort : undefined;
      const externalLocal = nodePort !== undefined && svc.externalTrafficPolicy === 'Local';
      const clusterChain = chainFor('C', names.sfx, key);
      const localChain = chainFor('L', names.sfx, key);
      const extChain = chainFor('X', names.sfx, key);
      const usesCluster = cluster.length > 0 && (!internalLocal || (nodePort !== undefined));
      const usesLocal = local.length > 0 && (internalLocal || externalLocal);
      const match = ['-d', `${clusterIP}/32`, '-p', p, '-m', p, '--dport', String(port.port)];

      // The ClusterIP.
      const internalChain = internalLocal ? (local.length ? localChain : undefined) : cluster.length ? clusterChain : undefined;
      if (internalChain) {
        natRule(names.natServices, ...match, ...comment(`${name} cluster IP`), '-j', internalChain);
      } else {
        const [target, why] = hasEndpoints ? ['DROP', 'has no local endpoints'] : ['REJECT --reject-with icmp-port-unreachable', 'has no endpoints'];
        filterRule(names.filterServices, ...match, ...comment(`${name} ${why}`), '-j', target);
      }

      // The NodePort.
      if (nodePort !== undefined) {
        const nodeMatch = ['-p', p, '-m', p, '--dport', String(nodePort)];
        if (!hasEndpoints) {
          filterRule(names.external, '-m', 'addrtype', '--dst-type', 'LOCAL', ...nodeMatch, ...comment(`${name} has no endpoints`), '-j', 'REJECT --reject-with icmp-port-unreachable');
        } else {
          natRule(names.nodePorts, ...nodeMatch, ...comment(name), '-j', extChain);
          nat.chains.push(extChain);
          if (!externalLocal) {
            // From outside, the reply must come back through this node: masquerade.
            natRule(extChain, ...comment(`${name} masquerade external traffic`), '-j', names.mark);
            natRule(extChain, ...comment(name), '-j', clusterChain);
          } else {
            // externalTrafficPolicy Local keeps the client's address, so only this node's endpoints
            // may answer; pods and the node itself still reach all of them, as kube-proxy lets them.
            natRule(extChain, '-s', cfg.podCIDR, ...comment(`${name} pod traffic for external destinations`), '-j', clusterChain);
            natRule(extChain, '-m', 'addrtype', '--src-type', 'LOCAL', ...comment(`${name} masquerade LOCAL traffic`), '-j', names.mark);
            natRule(extChain, '-m', 'addrtype', '--src-type', 'LOCAL', ...comment(`${name} route LOCAL traffic to cluster endpoints`), '-j', clusterChain);
            if (local.length) natRule(extChain, ...comment(name), '-j', localChain);
            else filterRule(names.external, '-m', 'addrtype', '--dst-type', 'LOCAL', ...nodeMatch, ...comment(`${name} has no local endpoints`), '-j', 'DROP');
          }
        }
      }

      // The endpoint chains: cluster (all) and local (this node's).
      const endpointChains = new Map<string, Backend>();
      const writeSpread = (chain: string, set: Backend[], masqOffNode: boolean) => {
        nat.chains.push(chain);
        if (masqOffNode) natRule(chain, '!', '-s', cfg.podCIDR, ...match, ...comment(`${name} cluster IP`), '-j', names.mark);
        const epChain = (b: Backend) => {
          const c = chainFor('E', names.sfx, `${key}${b.ip}:${b.port}`);
          endpointChains.set(c, b);
          return c;
        };
        if (svc.sessionAffinity === 'ClientIP') {
          for (const b of set) {
            const c = epChain(b);
            natRule(chain, ...comment(`${name} -> ${b.ip}:${b.port}`), '-m', 'recent', '--rcheck', '--seconds', String(svc.affinityTimeoutSeconds), '--reap', '--name', c, '--mask', '255.255.255.255', '--rsource', '-j', c);
          }
        }
        set.forEach((b, i) => {
          const c = epChain(b);
          const left = set.length - i;
          const spread = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(left)] : [];
          natRule(chain, ...comment(`${name} -> ${b.ip}:${b.port}`), ...spread, '-j', c);
        });
      };
      if (usesCluster) writeSpread(clusterChain, cluster, !internalLocal);
      if (usesLocal) writeSpread(localChain, local, internalLocal);
      for (const [c, b] of endpointChains) {
        nat.chains.push(c);
        // A pod reaching itself through the Service gets the reply only when its source is rewritten.
        const hairpinSource = !cfg.bridgeNetfilter && inCIDR(b.ip, cfg.podCIDR) ? cfg.podCIDR : `${b.ip}/32`;
        natRule(c, '-s', hairpinSource, ...comment(name), '-j', names.mark);
        const affinity = svc.sessionAffinity === 'ClientIP' ? ['-m', 'recent', '--set', '--name', c, '--mask', '255.255.255.255', '--rsource'] : [];
        natRule(c, '-p', p, ...comment(name), ...affinity, '-m', p, '-j', 'DNAT', '--to-destination', b.to ?? `${b.ip}:${b.port}`);
      }
    }
  }

  natRule(names.mark, ...comment(), '-j', 'MARK', '--or-mark', bit);
  natRule(names.post, '-m', 'mark', '!', '--mark', `${bit}/${bit}`, ...comment(), '-j', 'RETURN');
  // Cleared so a packet that comes through again (re-encapsulated) is not masqueraded twice.
  natRule(names.post, ...comment(), '-j', 'MARK', '--xor-mark', bit);
  natRule(names.post, ...comment('service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully');

  filterRule(names.forward, '-m', 'mark', '--mark', `${bit}/${bit}`, ...comment('forwarding rules'), '-j', 'ACCEPT');
  filterRule(names.forward, '-i', cfg.bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...comment('service traffic from pods'), '-j', 'ACCEPT');
  filterRule(names.forward, '-o', cfg.bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...comment('service traffic to pods'), '-j', 'ACCEPT');

  nat.chains = [...new Set(nat.chains)];
  return { nat, filter };
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '')}"`;
}

/** The jumps from the built-in chains into this node's chains, in iptables-save's own spelling. */
export function hooks(bridge: string): Hook[] {
  const n = chainNames(bridge);
  const tag = ['-m', 'comment', '--comment', `skiff ${bridge}`];
  const notLoopback = ['!', '-d', '127.0.0.0/8'];
  const local = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
  const isNew = ['-m', 'conntrack', '--ctstate', 'NEW'];
  return [
    { table: 'nat', chain: 'PREROUTING', position: 'insert', spec: ['-i', bridge, ...tag, '-j', n.natServices] },
    { table: 'nat', chain: 'PREROUTING', position: 'insert', spec: [...notLoopback, ...local, ...tag, '-j', n.nodePorts] },
    { table: 'nat', chain: 'OUTPUT', position: 'insert', spec: [...tag, '-j', n.natServices] },
    { table: 'nat', chain: 'OUTPUT', position: 'insert', spec: [...notLoopback, ...local, ...tag, '-j', n.nodePorts] },
    { table: 'nat', chain: 'POSTROUTING', position: 'insert', spec: [...tag, '-j', n.post] },
    { table: 'filter', chain: 'INPUT', position: 'insert', spec: [...isNew, ...tag, '-j', n.external] },
    { table: 'filter', chain: 'FORWARD', position: 'insert', spec: ['-i', bridge, ...isNew, ...tag, '-j', n.filterServices] },
    { table: 'filter', chain: 'OUTPUT', position: 'insert', spec: [...isNew, ...tag, '-j', n.filterServices] },
    { table: 'filter', chain: 'FORWARD', position: 'append', spec: [...tag, '-j', n.forward] },
  ];
}

/**
 * iptables-restore --noflush input that replaces this node's chains with `rules` and deletes its
 * `stale` chains (the chains of Services and endpoints gone), table by table, each atomically.
 */
export function restoreText(rules: RuleSet, stale: { nat: string[]; filter: string[] } = { nat: [], filter: [] }): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const keep = new Set(rules[table].chains);
    const gone = stale[table].filter((c) => !keep.has(c));
    out.push(`*${table}`);
    for (const c of [...rules[table].chains, ...gone]) out.push(`:${c} - [0:0]`);
    out.push(...rules[table].rules);
    for (const c of gone) out.push(`-X ${c}`);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** Input that deletes all of these chains (after their hooks are gone). */
export function deleteText(chains: { nat: string[]; filter: string[] }): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    if (!chains[table].length) continue;
    out.push(`*${table}`, ...chains[table].map((c) => `:${c} - [0:0]`), ...chains[table].map((c) => `-X ${c}`), 'COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** From iptables-save text: this bridge's chains, and its rules in built-in chains that jump into them. */
export function ownedIn(bridge: string, saved: string): { chains: string[]; hooks: { chain: string; spec: string }[] } {
  const chains: string[] = [];
  const found: { chain: string; spec: string }[] = [];
  for (const line of saved.split('\n')) {
    const decl = /^:(\S+) /.exec(line);
    if (decl) {
      if (isOwnChain(bridge, decl[1]!)) chains.push(decl[1]!);
      continue;
    }
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule || isOwnChain(bridge, rule[1]!)) continue;
    const target = / -j (\S+)/.exec(' ' + rule[2]!)?.[1];
    if (target && isOwnChain(bridge, target)) found.push({ chain: rule[1]!, spec: rule[2]! });
  }
  return { chains, hooks: found };
}

/** A rule's arguments as iptables-save spells them: words with spaces in double quotes. */
export function specText(args: string[]): string {
  return args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');
}

/** The argument vector of a rule spec in iptables-save's spelling (double quotes group words). */
export function splitSpec(spec: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(spec))) out.push(m[1] ?? m[2]!);
  return out;
}

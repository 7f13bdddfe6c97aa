// Pods reaching pods on other nodes, with nothing to set up. The agent watches the Nodes (their
// spec.podCIDR and InternalIP) and, for each other node, picks a path:
//
// - local: the node's pod network is on this machine (two agents on one host): the kernel already
//   routes between the bridges; the agent only lets that traffic through FORWARD.
// - direct: the node's InternalIP is on a subnet this machine is directly connected to and its pod
//   gateway answers through a route via that address (a TCP probe: a refusal is an answer):
//   `ip route replace <podCIDR> via <InternalIP>`, forwarding allowed, as flannel's host-gw does.
// - relay: anything else (NAT on either side, another site): each remote endpoint this node's pods may
//   reach (the ports of Service endpoints, and the declared container ports of pods, on such nodes)
//   gets a local listener on the node's gateway and a DNAT rule sending pods' connections for it
//   there; each connection is carried over the control plane to the target's node (relay-listeners.ts).
//
// Pod-to-pod traffic is never masqueraded: pods see each other's real addresses on the direct paths
// (NetworkPolicy depends on it); on the relayed path the target pod sees its own node's gateway.
// `--pod-network-path direct|relay` forces one path for every other node (relay: also for nodes on
// this machine, which is how tests put two local agents on the relayed path).
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ApiClient } from './client.js';
import { ClusterCatalog } from './cluster-catalog.js';
import { applyCrossNodeRules, type CrossNodeRules } from './cross-node-rules.js';
import { RelayListeners, targetKey, type RelayTarget } from './relay-listeners.js';
import { parseCIDR, run } from './runtimes/pod-network.js';

export type PodNetworkPath = 'auto' | 'direct' | 'relay';

export interface PeerNode {
  name: string;
  podCIDR: string;
  internalIP?: string;
}

export interface LocalAddress {
  /** The interface's name. */
  name: string;
  address: string;
  /** address/prefix */
  cidr: string;
  internal: boolean;
}

/** How a pod on this node reaches pods on a peer. */
export type PeerPath = 'local' | 'direct' | 'relay';

/**
 * Where a peer is, from this machine's addresses alone: `local` when its pod gateway or its InternalIP
 * is one of them; `subnet` when its InternalIP is on a subnet of one of this machine's interfaces (not
 * loopback, not a pod bridge); `remote` otherwise.
 */
export function locatePeer(peer: PeerNode, addresses: LocalAddress[]): 'local' | 'subnet' | 'remote' {
  const gateway = gatewayOf(peer.podCIDR);
  if (gateway && addresses.some((a) => a.address === gateway)) return 'local';
  const ip = peer.internalIP;
  if (!ip || isLoopback(ip)) return 'remote';
  if (addresses.some((a) => a.address === ip && !a.internal)) return 'local';
  const connected = addresses.some((a) => !a.internal && !a.name.startsWith('skiff') && inCIDR(ip, a.cidr) && a.address !== ip);
  return connected ? 'subnet' : 'remote';
}

/** The first host of a podCIDR: its node's bridge holds it. */
export function gatewayOf(podCIDR: string): string | undefined {
  try {
    return parseCIDR(podCIDR).gateway;
  } catch {
    return undefined;
  }
}

function toInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function inCIDR(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const a = toInt(ip);
  const b = toInt(base ?? '');
  const prefix = Number(bits);
  if (a === undefined || b === undefined || !(prefix >= 0 && prefix <= 32)) return false;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

const isLoopback = (ip: string) => ip.startsWith('127.');

/** This machine's IPv4 addresses. */
export function localAddresses(): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && a.cidr) out.push({ name, address: a.address, cidr: a.cidr, internal: a.internal });
  }
  return out;
}

/** Whether the host at the far end of the route to `gateway` answers for it: a refused connection is an answer. */
export function probe(gateway: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: gateway, port: 9 });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}

export function peerOf(node: any): PeerNode | undefined {
  const name: string | undefined = node?.metadata?.name;
  const podCIDR: string | undefined = node?.spec?.podCIDR;
  if (!name || !podCIDR || podCIDR.includes(':')) return undefined;
  const internalIP: string | undefined = (node.status?.addresses ?? []).find((a: any) => a?.type === 'InternalIP')?.address;
  return { name, podCIDR, ...(internalIP ? { internalIP } : {}) };
}

/** The pods' TCP endpoints (IP and declared container port) that belong to relayed nodes. */
export interface CrossNodeOptions {
  client: ApiClient;
  nodeName: string;
  podCIDR: string;
  bridge: string;
  path?: PodNetworkPath;
  /** The control plane and the node's credential, for the relayed path. */
  server: string;
  token: string;
  ca?: string;
  /** The agent's watch cache of Services and EndpointSlices; one of its own when absent. */
  catalog?: ClusterCatalog;
  log?: (line: string) => void;
  /** Whether a pod's relayed connection may go out (NetworkPolicy egress on the relayed path); default: all may. */
  admitRelay?: (source: string, target: RelayTarget) => boolean | Promise<boolean>;
  /** Between re-checks of this machine's addresses and of peers that did not answer a probe; default 30 s. */
  resyncMs?: number;
}

/** How the Service proxy finds where a pod on this node reaches an endpoint. */
export interface RelayLookup {
  /**
   * The local address (the node's gateway and a listener's port) that a connection from this node's
   * pods to a relayed endpoint must be sent to; undefined when the endpoint is reached at its own
   * address (this node, or a node reached directly); null when it is relayed but has no listener yet
   * (onChange fires once it has).
   */
  relayAddress(ip: string, port: number): { host: string; port: number } | null | undefined;
  /** Called after the relayed endpoints' addresses changed. Returns an unsubscribe function. */
  onChange(fn: () => void): () => void;
}

export class CrossNode implements RelayLookup {
  private readonly abort = new AbortController();
  private readonly nodes = new Map<string, PeerNode>();
  private readonly probes = new Map<string, { key: string; ok: boolean; at: number }>();
  private readonly listeners: RelayListeners;
  private readonly catalog: ClusterCatalog;
  private readonly ownCatalog: boolean;
  private readonly changeFns = new Set<() => void>();
  private readonly gateway: string;
  private relayed: PeerNode[] = [];
  private published = '';
  private timer?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private nodesSynced = false;
  private applied = '';
  private lastError?: string;
  private unsubscribe?: () => void;
  private unsubscribePods?: () => void;
  private repair = false;
  private readonly log: (line: string) => void;
  /** The path each peer got last, for logging changes. */
  private readonly paths = new Map<string, PeerPath>();

  constructor(private readonly opts: CrossNodeOptions) {
    this.log = opts.log ?? (() => {});
    this.gateway = parseCIDR(opts.podCIDR).gateway;
    this.ownCatalog = !opts.catalog;
    this.catalog = opts.catalog ?? new ClusterCatalog({ client: opts.client, log: this.log });
    this.listeners = new RelayListeners({ server: opts.server, token: opts.token, ca: opts.ca, host: this.gateway, admit: opts.admitRelay, log: this.log });
  }

  get path(): PodNetworkPath {
    return this.opts.path ?? 'auto';
  }

  /** Connections this node relayed, and those that failed. */
  get relayCounts(): { connections: number; failed: number } {
    return this.listeners.counts;
  }

  start(): void {
    const signal = this.abort.signal;
    if (this.ownCatalog) this.catalog.start();
    this.unsubscribe = this.catalog.onChange(() => this.schedule());
    void this.opts.client.listWatch<any>(
      '/api/v1/nodes',
      {
        onSync: (items) => {
          this.nodes.clear();
          for (const n of items) this.putNode(n);
          this.nodesSynced = true;
          this.schedule();
        },
        onEvent: (e) => {
          if (e.type === 'DELETED') this.nodes.delete(e.object?.metadata?.name);
          else this.putNode(e.object);
          this.schedule();
        },
        onError: (err, retry) => this.log(`cross-node: nodes: ${err.message}; retrying in ${retry} ms`),
      },
      { signal },
    );
    // The declared ports of pods on relayed nodes, from the catalog's pod watch (NetworkPolicy's too);
    // a control plane that does not let nodes list every pod leaves the relayed path to Service endpoints.
    this.catalog.watchPods();
    this.unsubscribePods = this.catalog.onPodsChange(() => {
      if (this.relayed.length) this.schedule();
    });
    this.resync = setInterval(() => {
      this.repair = true; // rewrite the rules even if unchanged, in case someone removed them
      this.schedule();
    }, this.opts.resyncMs ?? 30_000);
    this.resync.unref();
  }

  /** Stops watching and relaying; the routes and rules stay (pods keep their direct paths while the agent is away). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.unsubscribe?.();
    this.unsubscribePods?.();
    clearInterval(this.resync);
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
    await this.listeners.close();
    if (this.ownCatalog) await this.catalog.stop();
  }

  relayAddress(ip: string, port: number): { host: string; port: number } | null | undefined {
    if (!this.relayed.some((p) => inCIDR(ip, p.podCIDR))) return undefined;
    return this.listeners.address(ip, port) ?? null;
  }

  onChange(fn: () => void): () => void {
    this.changeFns.add(fn);
    return () => void this.changeFns.delete(fn);
  }

  private putNode(node: any): void {
    const name = node?.metadata?.name;
    const peer = peerOf(node);
    if (!name || name === this.opts.nodeName) return;
    if (peer) this.nodes.set(name, peer);
    else this.nodes.delete(name); // its podCIDR went: nothing to route to
  }

  private schedule(): void {
    if (this.abort.signal.aborted || !this.nodesSynced) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.reconcile()
        .catch((e: Error) => {
          // Said once while it stays the same (e.g. no iptables), not at every resync.
          if (e.message !== this.lastError) this.log(`cross-node: ${e.message}`);
          this.lastError = e.message;
        })
        .finally(() => {
          this.running = undefined;
          if (this.again) {
            this.again = false;
            this.schedule();
          }
        });
    }, 50);
  }

  /** The path to each peer: by where it is, and for peers on a connected subnet, by a probe through the route. */
  private async decide(peers: PeerNode[], addresses: LocalAddress[]): Promise<Map<string, PeerPath>> {
    const out = new Map<string, PeerPath>();
    for (const peer of peers) {
      if (peer.podCIDR === this.opts.podCIDR) continue;
      if (this.path === 'relay') {
        out.set(peer.name, 'relay');
        continue;
      }
      const where = locatePeer(peer, addresses);
      if (where === 'local') out.set(peer.name, 'local');
      else if (this.path === 'direct') out.set(peer.name, 'direct');
      else if (where === 'remote') out.set(peer.name, 'relay');
      else out.set(peer.name, (await this.probed(peer)) ? 'direct' : 'relay');
    }
    for (const name of this.probes.keys()) if (!out.has(name)) this.probes.delete(name);
    return out;
  }

  /** A probe's answer, kept while the peer's address stays; one that failed is asked again after resyncMs. */
  private async probed(peer: PeerNode): Promise<boolean> {
    const key = `${peer.podCIDR} ${peer.internalIP}`;
    const known = this.probes.get(peer.name);
    if (known && known.key === key && (known.ok || Date.now() - known.at < (this.opts.resyncMs ?? 30_000))) return known.ok;
    const routed = (await run('ip', ['route', 'replace', peer.podCIDR, 'via', peer.internalIP!])).code === 0;
    const ok = routed && (await probe(gatewayOf(peer.podCIDR)!));
    // A route that led nowhere goes (applyCrossNodeRules keeps the ones that did).
    if (routed && !ok) await run('ip', ['route', 'del', peer.podCIDR, 'via', peer.internalIP!]);
    this.probes.set(peer.name, { key, ok, at: Date.now() });
    return ok;
  }

  private async reconcile(): Promise<void> {
    const peers = [...this.nodes.values()];
    const addresses = localAddresses();
    const paths = await this.decide(peers, addresses);
    for (const [name, p] of paths) {
      if (this.paths.get(name) !== p) this.log(`pods reach node ${name}'s pods ${p === 'relay' ? 'through the control plane (relayed)' : p === 'direct' ? 'directly (routed)' : 'directly (same machine)'}`);
    }
    this.paths.clear();
    for (const [k, v] of paths) this.paths.set(k, v);

    const byPath = (want: PeerPath) => peers.filter((p) => paths.get(p.name) === want);
    const relayed = byPath('relay');
    this.relayed = relayed;
    const targets = this.targets(relayed);
    await this.listeners.sync(targets);

    const rules: CrossNodeRules = {
      bridge: this.opts.bridge,
      podCIDR: this.opts.podCIDR,
      forward: [...byPath('local'), ...byPath('direct')].map((p) => p.podCIDR).sort(),
      routes: byPath('direct')
        .filter((p) => p.internalIP && locatePeer(p, addresses) === 'subnet')
        .map((p) => ({ cidr: p.podCIDR, via: p.internalIP! })),
      dnat: targets
        .map((t) => ({ t, a: this.listeners.address(t.ip, t.port) }))
        .filter((x) => x.a)
        .map(({ t, a }) => ({ ip: t.ip, port: t.port, to: `${a!.host}:${a!.port}` }))
        .sort((a, b) => targetKey(a.ip, a.port).localeCompare(targetKey(b.ip, b.port))),
    };
    const text = JSON.stringify(rules);
    if (text !== this.applied || this.repair) {
      this.repair = false;
      this.applied = '';
      await applyCrossNodeRules(rules, this.log);
      this.applied = text;
    }

    const published = JSON.stringify(rules.dnat);
    if (published !== this.published) {
      this.published = published;
      for (const fn of [...this.changeFns]) {
        try {
          fn();
        } catch (e) {
          this.log(`cross-node: change listener failed: ${(e as Error).message}`);
        }
      }
    }
  }

  /** Every TCP endpoint on a relayed node that this node's pods may reach: Service endpoints' ports and pods' declared ports. */
  private targets(relayed: PeerNode[]): RelayTarget[] {
    if (relayed.length === 0) return [];
    const onRelayed = (ip: string) => relayed.some((p) => inCIDR(ip, p.podCIDR));
    const out = new Map<string, RelayTarget>();
    for (const svc of this.catalog.services()) {
      for (const ep of this.catalog.endpoints(svc.namespace, svc.name)) {
        if (ep.targetRef?.kind !== 'Pod' || !onRelayed(ep.ip)) continue;
        for (const port of ep.ports) {
          if ((port.protocol ?? 'TCP') !== 'TCP') continue;
          out.set(targetKey(ep.ip, port.port), { ip: ep.ip, port: port.port, namespace: ep.targetRef.namespace ?? svc.namespace, pod: ep.targetRef.name });
        }
      }
    }
    for (const p of this.catalog.pods()) {
      if (!p.ip || p.hostNetwork || p.terminal || !onRelayed(p.ip)) continue;
      for (const port of p.tcpPorts) out.set(targetKey(p.ip, port), { ip: p.ip, port, namespace: p.namespace, pod: p.name });
    }
    return [...out.values()];
  }
}

// The docker runtime's pod network: one Docker bridge network per node, whose subnet is the node's
// podCIDR, so a pod's sandbox (its pause container) gets its address from the podCIDR as with the
// process runtime, and the Linux bridge has the name the rest of the agent expects (bridgeFor(podCIDR)
// in agent.ts: `skiff` + the podCIDR in hex), with the gateway (the podCIDR's first host) on it.
//
// - Created if absent, found again after an agent (or Docker) restart: Docker keeps networks, and the
//   network's name is the bridge's, derived from the podCIDR alone.
// - Docker's options, chosen for Kubernetes' network model (pods reach each other by address, with
//   their own source addresses):
//   - enable_icc=true: pods on the node reach each other (Docker's ACCEPT for traffic looping through
//     the bridge; with br_netfilter and a FORWARD policy of DROP it would be dropped otherwise).
//   - enable_ip_masquerade=false where the agent manages NAT itself (Linux, root, iptables, and the
//     daemon's bridges in the agent's network namespace): Docker's rule masquerades everything that
//     leaves the bridge, pod-to-pod traffic to other nodes' bridges on this machine included. The
//     agent's own rule instead masquerades only what leaves for a non-skiff interface:
//       -t nat -A POSTROUTING -s <podCIDR> ! -o skiff+ -m comment --comment "skiff <bridge>" -j MASQUERADE
//     Elsewhere (Docker Desktop's VM, rootless Docker, an agent without root) Docker masquerades, so
//     pods still reach beyond the node, with the node's address as their source.
//   - gateway_mode_ipv4=nat-unprotected on Docker 28 and later (API 1.48): in its default mode Docker
//     drops every packet routed into the network from elsewhere but published ports; Kubernetes pods
//     are reachable by address. Older daemons drop nothing of the kind.
//   Docker's inter-network isolation (DOCKER-ISOLATION-STAGE-1/2) drops traffic from one Docker
//   network to another: only between two Docker-managed bridges (two docker-runtime nodes on one
//   machine); the one chain Docker evaluates before it is DOCKER-USER.
// - teardown() removes the network, the NAT rule and the agent's other rules for the bridge (Service
//   proxy, NetworkPolicy, cross-node) once no container is attached to it.
// - IPv4 only. The daemon's --mtu (the default bridge's MTU option) is carried over: user-defined
//   networks do not inherit it.
import type Docker from 'dockerode';
import { parseCIDR, run } from './pod-network.js';

export const LABEL_NETWORK = 'io.skiff.pod-network';
const OPT_BRIDGE = 'com.docker.network.bridge.name';
const OPT_ICC = 'com.docker.network.bridge.enable_icc';
const OPT_MASQUERADE = 'com.docker.network.bridge.enable_ip_masquerade';
const OPT_GATEWAY_MODE = 'com.docker.network.bridge.gateway_mode_ipv4';
const OPT_MTU = 'com.docker.network.driver.mtu';
/** The Engine API version of Docker 28, the first with gateway_mode_ipv4=nat-unprotected. */
const API_NAT_UNPROTECTED = [1, 48];

export interface DockerPodNetworkOptions {
  docker: Docker;
  /** The node's spec.podCIDR, IPv4. */
  podCIDR: string;
  /** The Linux bridge's name (at most 15 characters); also the Docker network's name. */
  bridge: string;
  /** Put on the network besides skiff's own (tests mark theirs). */
  labels?: Record<string, string>;
}

interface NetworkInfo {
  Id: string;
  Name: string;
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] };
}

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

function apiAtLeast(version: string | undefined, [major, minor]: number[]): boolean {
  const [a, b] = (version ?? '').split('.').map(Number);
  return a! > major! || (a === major && b! >= minor!);
}

/**
 * Whether this process sees a bridge of the daemon's, by name and address: Docker's network namespace
 * is ours. (`ip`, as os.networkInterfaces() leaves out a bridge without ports: it has no carrier.)
 */
async function bridgeIsLocal(name: string | undefined, address: string | undefined): Promise<boolean> {
  if (!name || !address) return false;
  const r = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', name]);
  return r.code === 0 && r.stdout.includes(` ${address}/`);
}

export class DockerPodNetwork {
  /** The Docker network's name: the bridge's. */
  readonly name: string;
  readonly bridge: string;
  readonly podCIDR: string;
  readonly gateway: string;
  private readonly docker: Docker;
  private readonly labels: Record<string, string>;
  private ready?: Promise<void>;

  constructor(options: DockerPodNetworkOptions) {
    const cidr = parseCIDR(options.podCIDR);
    this.podCIDR = normalizeCIDR(options.podCIDR);
    this.gateway = cidr.gateway;
    this.bridge = options.bridge;
    if (this.bridge.length > 15) throw new Error(`bridge name ${this.bridge} is longer than 15 characters`);
    this.name = options.bridge;
    this.docker = options.docker;
    this.labels = { ...options.labels, 'io.skiff.managed': 'true', [LABEL_NETWORK]: this.podCIDR };
  }

  /** Makes the network (and its NAT rule) or finds it; once per runtime, again after a failure or forget(). */
  ensure(): Promise<void> {
    this.ready ??= this.ensureNow().catch((err) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /** The network went away under us (removed by hand): the next ensure() makes it again. */
  forget(): void {
    this.ready = undefined;
  }

  private async inspect(): Promise<NetworkInfo | undefined> {
    try {
      return (await this.docker.getNetwork(this.name).inspect()) as NetworkInfo;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async ensureNow(): Promise<void> {
    let net = await this.inspect();
    if (net && !this.matches(net)) {
      // Made for another podCIDR or bridge (by hand, or an agent of old): replace it while nothing uses it.
      if ((await this.attached()).length > 0) {
        throw new Error(`Docker network ${this.name} is not the pod network of ${this.podCIDR} on bridge ${this.bridge}, and containers use it`);
      }
      await this.remove();
      net = undefined;
    }
    if (!net) net = await this.create();
    if (net.Options?.[OPT_MASQUERADE] === 'false' && (await this.managesNat())) await this.addNatRule();
  }

  private matches(net: NetworkInfo): boolean {
    const subnets = (net.IPAM?.Config ?? []).map((c) => c.Subnet && normalizeCIDR(c.Subnet));
    return subnets.includes(this.podCIDR) && (net.Options?.[OPT_BRIDGE] ?? '') === this.bridge;
  }

  private async create(): Promise<NetworkInfo> {
    const [version, defaultBridge] = await Promise.all([
      this.docker.version() as Promise<{ ApiVersion?: string }>,
      this.docker
        .getNetwork('bridge')
        .inspect()
        .then((n) => n as NetworkInfo)
        .catch(() => undefined),
    ]);
    const defaultGateway = defaultBridge?.IPAM?.Config?.map((c) => c.Gateway).find((g) => g && !g.includes(':'));
    const local = await bridgeIsLocal(defaultBridge?.Options?.[OPT_BRIDGE] ?? 'docker0', defaultGateway);
    const ownNat = local && (await iptablesWorks());
    const options: Record<string, string> = {
      [OPT_BRIDGE]: this.bridge,
      [OPT_ICC]: 'true',
      [OPT_MASQUERADE]: String(!ownNat),
    };
    if (apiAtLeast(version.ApiVersion, API_NAT_UNPROTECTED)) options[OPT_GATEWAY_MODE] = 'nat-unprotected';
    const mtu = defaultBridge?.Options?.[OPT_MTU];
    if (mtu && mtu !== '0') options[OPT_MTU] = mtu;
    try {
      await this.docker.createNetwork({
        Name: this.name,
        CheckDuplicate: true,
        Driver: 'bridge',
        IPAM: { Driver: 'default', Config: [{ Subnet: this.podCIDR, Gateway: this.gateway }] },
        Options: options,
        Labels: this.labels,
      });
    } catch (err) {
      // Made meanwhile by another runtime of this node (it is the same network).
      if (statusCode(err) !== 409) throw new Error(`creating Docker network ${this.name} for ${this.podCIDR}: ${daemonMessage(err)}`);
    }
    const made = await this.inspect();
    if (!made) throw new Error(`Docker network ${this.name} is gone right after it was made`);
    return made;
  }

  /** Linux, root, iptables working, and the network's bridge in this network namespace. */
  private async managesNat(): Promise<boolean> {
    return process.platform === 'linux' && process.getuid?.() === 0 && (await bridgeIsLocal(this.bridge, this.gateway)) && (await iptablesWorks());
  }

  private natRule(): string[] {
    return ['POSTROUTING', '-s', this.podCIDR, '!', '-o', 'skiff+', '-m', 'comment', '--comment', `skiff ${this.bridge}`, '-j', 'MASQUERADE'];
  }

  private async addNatRule(): Promise<void> {
    const rule = this.natRule();
    if ((await run('iptables', ['-w', '-t', 'nat', '-C', ...rule])).code === 0) return;
    const r = await run('iptables', ['-w', '-t', 'nat', '-A', ...rule]);
    if (r.code !== 0) throw new Error(`iptables -t nat -A ${rule.join(' ')}: ${r.stderr.trim()}`);
  }

  /** Removes the NAT rule and what else the agent added for this bridge: as PodNetwork.removeRules does. */
  async removeRules(): Promise<void> {
    if (!(await iptablesWorks())) return;
    const rule = this.natRule();
    for (let i = 0; i < 10 && (await run('iptables', ['-w', '-t', 'nat', '-C', ...rule])).code === 0; i++) {
      if ((await run('iptables', ['-w', '-t', 'nat', '-D', ...rule])).code !== 0) break;
    }
    // Imported here: those rules are the agent's modules', not the runtime's.
    const { removeAgentNetworkRules } = await import('../network-rules.js');
    await removeAgentNetworkRules(this.bridge, this.podCIDR);
  }

  /** Containers on the network, running or not (a stopped sandbox starts again on it). */
  async attached(): Promise<string[]> {
    const list = await this.docker.listContainers({ all: true, filters: { network: [this.name] } });
    return list.map((c) => c.Id);
  }

  private async remove(): Promise<void> {
    try {
      await this.docker.getNetwork(this.name).remove();
    } catch (err) {
      if (statusCode(err) !== 404) throw new Error(`removing Docker network ${this.name}: ${daemonMessage(err)}`);
    }
  }

  /** The sandbox's address on this network, from its inspect. */
  addressOf(info: Docker.ContainerInspectInfo): string | undefined {
    return info.NetworkSettings?.Networks?.[this.name]?.IPAddress || undefined;
  }

  /**
   * Removes the network and the agent's rules for it (removeRules) once no container is attached to
   * it; returns whether it did.
   * Idempotent (a network already gone is torn down).
   */
  async teardown(): Promise<boolean> {
    this.forget();
    if (await this.inspect()) {
      if ((await this.attached()).length > 0) return false;
      try {
        await this.remove();
      } catch (err) {
        if (/active endpoints/i.test((err as Error).message)) return false;
        throw err;
      }
    }
    await this.removeRules();
    return true;
  }
}

function normalizeCIDR(cidr: string): string {
  const { network, prefix } = parseCIDR(cidr);
  return `${[network >>> 24, (network >>> 16) & 255, (network >>> 8) & 255, network & 255].join('.')}/${prefix}`;
}

let iptablesProbe: Promise<boolean> | undefined;
function iptablesWorks(): Promise<boolean> {
  iptablesProbe ??= run('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING']).then((r) => r.code === 0);
  return iptablesProbe;
}

function daemonMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}

// Pod networking for the process runtime, as the CNI bridge plugin does it: every pod gets a network
// namespace of its own with one address from the node's podCIDR, so two replicas listening on the same
// port do not collide on one node.
//
//   host namespace                         pod namespace /run/netns/skiff-<12 hex of uid>
//   bridge skiff0  10.244.3.1/24  <-- veth -->  eth0 10.244.3.N/24, default via 10.244.3.1; lo up
//          (host end: vs<12 hex of uid>)
//
// - The namespace is named after the pod's uid (skiff-<first 12 hex digits>) under /run/netns, so an
//   agent that restarted finds it again (`ip netns exec NAME cmd` runs a program inside it; it execs in
//   place, so the pid is the program's). The host end of the veth pair is vs<same 12 hex> (14 chars,
//   under IFNAMSIZ), the pod end is created as vp<12 hex> and renamed eth0 inside the namespace.
// - Addresses come from the podCIDR, skipping the network address, the gateway (the first host, which
//   the bridge holds) and the broadcast address. An allocation is one file, <dataDir>/ips/<ip>, holding
//   the pod's uid: it survives agent restarts and is released by removePod.
// - Host <-> pod and pod <-> pod traffic on this node goes over the bridge. Where iptables works, setup()
//   inserts a FORWARD ACCEPT rule for traffic between the bridge's ports (with br_netfilter loaded, a
//   FORWARD policy of DROP, which Docker sets, would drop pod-to-pod traffic otherwise). Traffic leaving
//   the node from a pod needs forwarding and NAT: with `masquerade: true`, setup() also turns on
//   net.ipv4.ip_forward and adds FORWARD ACCEPT rules out of and back into the bridge and a MASQUERADE
//   rule for the podCIDR. Every rule carries the comment `skiff <bridge>`; teardown() removes them.
//   Routes to other nodes' podCIDRs are the agent's (cross-node.ts); removeRules removes them too.
// - IPv4 only; needs Linux, root and iproute2 (`ip`). `PodNetwork.supported()` tells.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface PodNetworkOptions {
  /** The node's spec.podCIDR, IPv4, e.g. 10.244.3.0/24. */
  podCIDR: string;
  /** Where allocations are kept (<dataDir>/ips/<ip>). */
  dataDir: string;
  /** The bridge's name, skiff0 by default (at most 15 characters). */
  bridge?: string;
  /** Add an iptables MASQUERADE rule (and turn on ip_forward) so pods reach beyond the node. Default false. */
  masquerade?: boolean;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell; never throws for a non-zero exit (see code). */
export function run(file: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (error && !stderr ? error.message : '')) });
    });
  });
}

async function ip(args: string[]): Promise<string> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

function ipv4ToInt(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${s}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${s}`);
    n = n * 256 + Number(p);
  }
  return n;
}

function intToIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface ParsedCIDR {
  network: number;
  prefix: number;
  /** First and last address pods may get (network + 2 .. broadcast - 1). */
  first: number;
  last: number;
  gateway: string;
}

export function parseCIDR(cidr: string): ParsedCIDR {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) throw new Error(`podCIDR ${cidr} is not an IPv4 CIDR (IPv6 pod networks are not supported by the process runtime)`);
  const prefix = Number(m[2]);
  if (prefix > 30) throw new Error(`podCIDR ${cidr} is too small: at most /30`);
  const size = 2 ** (32 - prefix);
  const network = ipv4ToInt(m[1]) - (ipv4ToInt(m[1]) % size);
  return { network, prefix, first: network + 2, last: network + size - 2, gateway: intToIPv4(network + 1) };
}

/** The 12 hex digits a pod's names derive from. */
export function podKey(uid: string): string {
  const hex = uid.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length < 12) throw new Error(`pod uid ${uid} has fewer than 12 hex digits`);
  return hex.slice(0, 12);
}

/** The network namespace of a pod: skiff-<12 hex of its uid>, under /run/netns. */
export function netnsName(uid: string): string {
  return `skiff-${podKey(uid)}`;
}

/** The host end of a pod's veth pair (14 characters). */
export function hostVethName(uid: string): string {
  return `vs${podKey(uid)}`;
}

const NETNS_DIR = '/run/netns';

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function linkExists(name: string, netns?: string): Promise<boolean> {
  const r = await run('ip', [...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', name]);
  return r.code === 0;
}

export class PodNetwork {
  readonly podCIDR: string;
  readonly bridge: string;
  readonly gateway: string;
  readonly prefix: number;
  private readonly cidr: ParsedCIDR;
  private readonly ipsDir: string;
  private readonly masquerade: boolean;
  /** Serializes allocation and namespace changes within this process. */
  private chain: Promise<unknown> = Promise.resolve();

  /** Linux, root, `ip` present and a probe namespace can be added and deleted. */
  static async supported(): Promise<boolean> {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
    const probe = `skiff-probe-${process.pid}`;
    const added = await run('ip', ['netns', 'add', probe]);
    if (added.code !== 0) return false;
    const deleted = await run('ip', ['netns', 'delete', probe]);
    return deleted.code === 0;
  }

  constructor(options: PodNetworkOptions) {
    this.cidr = parseCIDR(options.podCIDR);
    this.podCIDR = `${intToIPv4(this.cidr.network)}/${this.cidr.prefix}`;
    this.gateway = this.cidr.gateway;
    this.prefix = this.cidr.prefix;
    this.bridge = options.bridge ?? 'skiff0';
    if (this.bridge.length > 15) throw new Error(`bridge name ${this.bridge} is longer than 15 characters`);
    this.ipsDir = path.join(options.dataDir, 'ips');
    this.masquerade = options.masquerade ?? false;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Creates the bridge with the gateway address (idempotent). */
  setup(): Promise<void> {
    return this.serialize(async () => {
      await fs.mkdir(this.ipsDir, { recursive: true });
      if (!(await linkExists(this.bridge))) {
        const r = await run('ip', ['link', 'add', 'name', this.bridge, 'type', 'bridge']);
        if (r.code !== 0 && !(await linkExists(this.bridge))) throw new Error(`ip link add ${this.bridge}: ${r.stderr.trim()}`);
      }
      await ip(['addr', 'replace', `${this.gateway}/${this.prefix}`, 'dev', this.bridge]);
      await ip(['link', 'set', 'dev', this.bridge, 'up']);
      if (this.masquerade) await fs.writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch(() => undefined);
      // A FORWARD policy of DROP (Docker sets one) also drops bridged pod-to-pod traffic when
      // br_netfilter is loaded: accept what crosses our bridge, as the CNI firewall plugin does.
      if (!(await this.iptablesWorks())) return;
      for (const [table, rule] of this.rules()) {
        if ((await run('iptables', ['-t', table, '-C', ...rule])).code === 0) continue;
        const r = await run('iptables', ['-t', table, table === 'filter' ? '-I' : '-A', ...rule]);
        if (r.code !== 0) throw new Error(`iptables -t ${table} ${rule.join(' ')}: ${r.stderr.trim()}`);
      }
    });
  }

  private iptables?: Promise<boolean>;
  private iptablesWorks(): Promise<boolean> {
    this.iptables ??= run('iptables', ['-t', 'filter', '-S', 'FORWARD']).then((r) => r.code === 0);
    return this.iptables;
  }

  /** The iptables rules of this bridge: [table, rule without the -A/-I/-D]. */
  private rules(): [string, string[]][] {
    const tag = ['-m', 'comment', '--comment', `skiff ${this.bridge}`];
    const rules: [string, string[]][] = [['filter', ['FORWARD', '-i', this.bridge, '-o', this.bridge, ...tag, '-j', 'ACCEPT']]];
    if (this.masquerade) {
      rules.push(
        ['filter', ['FORWARD', '-i', this.bridge, '!', '-o', this.bridge, ...tag, '-j', 'ACCEPT']],
        ['filter', ['FORWARD', '-o', this.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT']],
        ['nat', ['POSTROUTING', '-s', this.podCIDR, '!', '-o', this.bridge, ...tag, '-j', 'MASQUERADE']],
      );
    }
    return rules;
  }

  /** Removes this bridge's iptables rules, its Service proxy's and NetworkPolicy chains included (teardown does it too). */
  async removeRules(): Promise<void> {
    if (!(await this.iptablesWorks())) return;
    for (const [table, rule] of this.rules()) {
      for (let i = 0; i < 10 && (await run('iptables', ['-t', table, '-C', ...rule])).code === 0; i++) {
        if ((await run('iptables', ['-t', table, '-D', ...rule])).code !== 0) break;
      }
    }
    // Imported here: those rules are the agent's modules', not the runtime's.
    const { removeAgentNetworkRules } = await import('../network-rules.js');
    await removeAgentNetworkRules(this.bridge, this.podCIDR);
  }

  /** The namespace a pod's processes run in. */
  netns(uid: string): string {
    return netnsName(uid);
  }

  /** Whether the pod's namespace exists (under /run/netns). */
  async hasPod(uid: string): Promise<boolean> {
    return exists(path.join(NETNS_DIR, netnsName(uid)));
  }

  /** The address allocated to a pod, if any. */
  async podIP(uid: string): Promise<string | undefined> {
    return (await this.allocations()).get(uid);
  }

  /** uid by IP, read from <dataDir>/ips. */
  private async allocations(): Promise<Map<string, string>> {
    const byUid = new Map<string, string>();
    let names: string[] = [];
    try {
      names = await fs.readdir(this.ipsDir);
    } catch {
      return byUid;
    }
    for (const name of names) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(name)) continue;
      const uid = (await fs.readFile(path.join(this.ipsDir, name), 'utf8').catch(() => '')).trim();
      if (uid) byUid.set(uid, name);
    }
    return byUid;
  }

  private inRange(addr: string): boolean {
    try {
      const n = ipv4ToInt(addr);
      return n >= this.cidr.first && n <= this.cidr.last;
    } catch {
      return false;
    }
  }

  private async allocate(uid: string, preferred?: string): Promise<string> {
    const current = (await this.allocations()).get(uid);
    if (current) return current;
    await fs.mkdir(this.ipsDir, { recursive: true });
    const take = async (addr: string): Promise<boolean> => {
      try {
        await fs.writeFile(path.join(this.ipsDir, addr), `${uid}\n`, { flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    };
    if (preferred && this.inRange(preferred) && (await take(preferred))) return preferred;
    // As CNI's host-local IPAM: go on from the address given out last, so a freed address is not
    // handed out again at once (peers may still hold it in their ARP caches).
    const lastFile = path.join(this.ipsDir, 'last_reserved_ip');
    const last = await fs.readFile(lastFile, 'utf8').then((t) => t.trim(), () => '');
    const start = this.inRange(last) ? ipv4ToInt(last) + 1 : this.cidr.first;
    const size = this.cidr.last - this.cidr.first + 1;
    for (let i = 0; i < size; i++) {
      const addr = intToIPv4(this.cidr.first + ((start - this.cidr.first + i) % size));
      if (await take(addr)) {
        await fs.writeFile(lastFile, addr);
        return addr;
      }
    }
    throw new Error(`no free address left in podCIDR ${this.podCIDR}`);
  }

  /**
   * Gives the pod its namespace, veth pair and address, or finds them (idempotent, also after an agent
   * restart); returns the pod's IP. `preferredIP` (e.g. the SandboxConfig's podIP) is used when free.
   */
  addPod(uid: string, preferredIP?: string): Promise<string> {
    return this.serialize(async () => {
      const addr = await this.allocate(uid, preferredIP);
      const ns = netnsName(uid);
      const hostEnd = hostVethName(uid);
      const podEnd = `vp${podKey(uid)}`;
      try {
        if (!(await exists(path.join(NETNS_DIR, ns)))) await ip(['netns', 'add', ns]);
        if (!(await linkExists('eth0', ns))) {
          // A pair left half-made by a crash: start over.
          if (await linkExists(hostEnd)) await ip(['link', 'del', 'dev', hostEnd]);
          if (await linkExists(podEnd)) await ip(['link', 'del', 'dev', podEnd]);
          await ip(['link', 'add', 'name', hostEnd, 'type', 'veth', 'peer', 'name', podEnd]);
          await ip(['link', 'set', 'dev', podEnd, 'netns', ns]);
          await ip(['-n', ns, 'link', 'set', 'dev', podEnd, 'name', 'eth0']);
        }
        await ip(['link', 'set', 'dev', hostEnd, 'master', this.bridge]);
        await ip(['link', 'set', 'dev', hostEnd, 'up']);
        await ip(['-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
        await ip(['-n', ns, 'addr', 'replace', `${addr}/${this.prefix}`, 'dev', 'eth0']);
        await ip(['-n', ns, 'link', 'set', 'dev', 'eth0', 'up']);
        await ip(['-n', ns, 'route', 'replace', 'default', 'via', this.gateway, 'dev', 'eth0']);
        // The node may still map this address to a pod that had it before.
        await ip(['neigh', 'flush', 'to', addr, 'dev', this.bridge]);
      } catch (e) {
        throw new Error(`setting up the network of pod ${uid} (namespace ${ns}): ${(e as Error).message}`);
      }
      return addr;
    });
  }

  /**
   * Removes the pod's namespace (killing what still runs in it), its veth pair and its address
   * allocation. Idempotent.
   */
  removePod(uid: string): Promise<void> {
    return this.serialize(async () => {
      const ns = netnsName(uid);
      if (await exists(path.join(NETNS_DIR, ns))) {
        const pids = await run('ip', ['netns', 'pids', ns]);
        for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone already
          }
        }
        const r = await run('ip', ['netns', 'delete', ns]);
        if (r.code !== 0 && (await exists(path.join(NETNS_DIR, ns)))) throw new Error(`ip netns delete ${ns}: ${r.stderr.trim()}`);
      }
      // The files `ip netns exec` mounts over /etc for it (the pod's resolv.conf) go with the namespace.
      await fs.rm(path.join('/etc/netns', ns), { recursive: true, force: true });
      // The pair goes with the namespace once nothing holds it; delete the host end in case something does.
      const hostEnd = hostVethName(uid);
      if (await linkExists(hostEnd)) await run('ip', ['link', 'del', 'dev', hostEnd]);
      const addr = (await this.allocations()).get(uid);
      if (addr) await fs.rm(path.join(this.ipsDir, addr), { force: true });
    });
  }

  /** Pods with an address allocated (their uids). */
  async pods(): Promise<string[]> {
    return [...(await this.allocations()).keys()];
  }

  /**
   * Removes the bridge (and the MASQUERADE rule) once no pod has an address and no veth is on the
   * bridge any more; returns whether it did.
   */
  teardown(): Promise<boolean> {
    return this.serialize(async () => {
      if ((await this.allocations()).size > 0) return false;
      if (await linkExists(this.bridge)) {
        const ports = await run('ip', ['-o', 'link', 'show', 'master', this.bridge]);
        if (ports.stdout.trim()) return false;
        await ip(['link', 'del', 'dev', this.bridge]);
      }
      await this.removeRules();
      return true;
    });
  }
}

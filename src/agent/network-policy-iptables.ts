// NetworkPolicy as iptables rules in the filter table, one set per agent (named after its bridge, so two
// agents on one machine never touch each other's). Pod-to-pod traffic on one bridge and traffic routed
// into or out of it both cross FORWARD (bridged frames reach iptables through br_netfilter, which the
// agent turns on when it first isolates a pod, as kube-proxy needs it too), so, while some pod of the
// node is isolated:
//
//   FORWARD -m comment "skiff <bridge> netpol" -j SKIFF-POL-<s>    first in FORWARD
//   SKIFF-POL-<s>                                                   the agent's dispatch chain
//     -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN         replies of allowed connections
//     -s <pod IP> -j SKIFF-PE-<s>-<pod IP hex>                     each pod isolated for egress
//     -d <pod IP> -j SKIFF-PI-<s>-<pod IP hex>                     each pod isolated for ingress
//   SKIFF-PI-<s>-<hex>  -s <pod IP> -j RETURN (itself), -s <gateway> -j RETURN (its node), one
//                       RETURN per allowed [source CIDR] x [protocol [port[:endPort]]], then DROP
//   SKIFF-PE-<s>-<hex>  -d <pod IP> -j RETURN, one RETURN per allowed [destination] x [port], DROP
//
// <s> is the bridge's name without "skiff" (8 hex digits of the podCIDR), so chain names stay within
// iptables' 28 characters. A RETURN hands the packet back to the dispatch chain (a packet between two
// pods is checked against the egress of one and the ingress of the other), then to the rest of
// FORWARD: NetworkPolicy only ever removes traffic. The node's own traffic to its pods (probes,
// port-forward, relayed connections) leaves through OUTPUT and pods' traffic to their node arrives
// through INPUT: neither is filtered, as the API requires. Every change is one
// `iptables-restore --noflush` of the agent's own chains (those of pods no longer isolated deleted in
// the same transaction); with no pod isolated, nothing of the agent's is left. IPv4 only.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { Allow, PodRules } from './network-policy.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell, `input` on its stdin; never throws for a non-zero exit. */
function run(file: string, args: string[], input?: string, timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let child;
    try {
      child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      return resolve({ code: 127, stdout, stderr: (e as Error).message });
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Wait up to 5 s for the xtables lock rather than fail when another program holds it. */
const WAIT = ['-w', '5'];

const iptables = (args: string[]) => run('iptables', [...WAIT, ...args]);

/** The chain-name part that identifies an agent: its bridge's name without "skiff" (an FNV hash when longer). */
export function chainSuffix(bridge: string): string {
  const rest = bridge.startsWith('skiff') ? bridge.slice(5) : bridge;
  if (rest && rest.length <= 8 && /^[A-Za-z0-9]+$/.test(rest)) return rest;
  let h = 0x811c9dc5;
  for (let i = 0; i < bridge.length; i++) h = Math.imul(h ^ bridge.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

export interface ChainNames {
  /** The dispatch chain FORWARD jumps to. */
  main: string;
  /** Prefixes of the per-pod chains (followed by the pod IP in hex). */
  ingress: string;
  egress: string;
  /** The comment on the FORWARD jump. */
  comment: string;
}

export function chainNames(bridge: string): ChainNames {
  const s = chainSuffix(bridge);
  return { main: `SKIFF-POL-${s}`, ingress: `SKIFF-PI-${s}-`, egress: `SKIFF-PE-${s}-`, comment: `skiff ${bridge} netpol` };
}

/** The 8 hex digits of an IPv4 address (chain names stay within iptables' 28 characters). */
function ipHex(ip: string): string {
  return ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
}

function match(a: Allow, direction: '-s' | '-d'): string {
  const parts: string[] = [];
  if (a.cidr) parts.push(direction, a.cidr);
  if (a.protocol) {
    const proto = a.protocol.toLowerCase();
    parts.push('-p', proto);
    if (a.port != null) parts.push('-m', proto, '--dport', a.endPort != null ? `${a.port}:${a.endPort}` : String(a.port));
  }
  return parts.join(' ');
}

export interface RenderOptions {
  /** The pods' gateway: their node's address on the bridge, always allowed in. */
  gateway?: string;
  /** Chains of this agent that exist now: those not wanted any more are deleted. */
  existing?: string[];
  /** Leave SCTP ports out (when the kernel cannot match them). */
  noSctp?: boolean;
}

/** The iptables-restore input that makes this agent's chains say `rules` (for `--noflush`). */
export function renderRules(bridge: string, rules: PodRules[], opts: RenderOptions = {}): string {
  const names = chainNames(bridge);
  const chains: string[] = [names.main];
  const body: string[] = [`-A ${names.main} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`];
  const perPod: string[] = [];
  const keep = (list: Allow[]) => (opts.noSctp ? list.filter((a) => a.protocol !== 'SCTP') : list);
  for (const r of rules) {
    const { pod } = r;
    const who = `${pod.namespace}/${pod.name}`;
    const host = `${pod.ip}/32`;
    if (r.egress) {
      const chain = names.egress + ipHex(pod.ip);
      chains.push(chain);
      body.push(`-A ${names.main} -s ${host} -m comment --comment "${who} egress" -j ${chain}`);
      perPod.push(`-A ${chain} -d ${host} -j RETURN`);
      for (const a of keep(r.egress)) perPod.push(`-A ${chain} ${match(a, '-d')} -j RETURN`.replace(/ {2,}/g, ' '));
      perPod.push(`-A ${chain} -m comment --comment "${who} egress not allowed" -j DROP`);
    }
    if (r.ingress) {
      const chain = names.ingress + ipHex(pod.ip);
      chains.push(chain);
      body.push(`-A ${names.main} -d ${host} -m comment --comment "${who} ingress" -j ${chain}`);
      perPod.push(`-A ${chain} -s ${host} -j RETURN`);
      if (opts.gateway) perPod.push(`-A ${chain} -s ${opts.gateway}/32 -j RETURN`);
      for (const a of keep(r.ingress)) perPod.push(`-A ${chain} ${match(a, '-s')} -j RETURN`.replace(/ {2,}/g, ' '));
      perPod.push(`-A ${chain} -m comment --comment "${who} ingress not allowed" -j DROP`);
    }
  }
  const stale = (opts.existing ?? []).filter((c) => c !== names.main && !chains.includes(c));
  return [
    '*filter',
    ...[...chains, ...stale].map((c) => `:${c} - [0:0]`),
    ...body,
    ...perPod,
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** The chains of this agent that exist, from `iptables -S` (filter table). */
function ownChains(listing: string, names: ChainNames): string[] {
  return listing
    .split('\n')
    .map((l) => /^-N (\S+)/.exec(l)?.[1])
    .filter((c): c is string => !!c && (c === names.main || c.startsWith(names.ingress) || c.startsWith(names.egress)));
}

/** Whether iptables and iptables-restore work here (Linux, root, the tools installed). */
export async function iptablesUsable(): Promise<boolean> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const list = await iptables(['-t', 'filter', '-S', 'FORWARD']);
  if (list.code !== 0) return false;
  return (await run('iptables-restore', ['--version'])).code === 0;
}

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/**
 * Makes bridged traffic cross iptables (br_netfilter, bridge-nf-call-iptables=1), which kube-proxy and
 * every bridge CNI with policies need; without it pod-to-pod traffic on one bridge is never filtered.
 * A host-wide setting, left on. Returns what it did, or why it could not.
 */
export async function enableBridgeNetfilter(): Promise<string | undefined> {
  let changed: string | undefined;
  let value = await fs.readFile(BRIDGE_NF, 'utf8').catch(() => undefined);
  if (value === undefined) {
    const r = await run('modprobe', ['br_netfilter']);
    value = await fs.readFile(BRIDGE_NF, 'utf8').catch(() => undefined);
    if (value === undefined) return `br_netfilter could not be loaded (${r.stderr.trim() || `modprobe exit ${r.code}`}): traffic between pods of this node is not filtered`;
    changed = 'loaded br_netfilter';
  }
  if (value.trim() !== '1') {
    try {
      await fs.writeFile(BRIDGE_NF, '1');
      changed = `${changed ? `${changed}, ` : ''}set net.bridge.bridge-nf-call-iptables=1`;
    } catch (e) {
      return `could not set ${BRIDGE_NF}: ${(e as Error).message}`;
    }
  }
  return changed;
}

/** One agent's NetworkPolicy chains. */
export class PolicyIptables {
  readonly names: ChainNames;
  /** What was last written ('' for nothing at all); undefined when unknown (at start, after a failure). */
  private lastApplied?: string;
  private sctpUnsupported = false;

  private bridgeChecked = false;

  constructor(
    readonly bridge: string,
    private readonly gateway?: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.names = chainNames(bridge);
  }

  /**
   * Puts the FORWARD jump first, or after other agents' NetworkPolicy jumps only: an ACCEPT before it
   * (ours for the bridge, Docker's, ...) would let traffic past the policies.
   */
  async ensureHook(): Promise<void> {
    const listing = await iptables(['-t', 'filter', '-S', 'FORWARD']);
    if (listing.code !== 0) throw new Error(`iptables -S FORWARD: ${listing.stderr.trim()}`);
    const rules = listing.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD '));
    const ours = (l: string) => l.endsWith(` -j ${this.names.main}`);
    const at = rules.findIndex(ours);
    const first = at >= 0 && rules.slice(0, at).every((l) => / -j SKIFF-POL-\S+$/.test(l)) && rules.filter(ours).length === 1;
    if (first) return;
    // Moved in one transaction (old copies deleted, one inserted first), so no packet passes without it.
    const jump = `FORWARD -m comment --comment "${this.names.comment}" -j ${this.names.main}`;
    const text = ['*filter', ...rules.filter(ours).map(() => `-D ${jump}`), `-I ${jump.replace('FORWARD', 'FORWARD 1')}`, 'COMMIT', ''].join('\n');
    const r = await run('iptables-restore', [...WAIT, '--noflush'], text);
    if (r.code !== 0) throw new Error(`iptables-restore (the FORWARD jump to ${this.names.main}): ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  /** Puts the FORWARD jump back first if another program's rule went before it (while rules exist). */
  async checkHook(): Promise<void> {
    if (this.lastApplied) await this.ensureHook();
  }

  /**
   * Makes the chains say `rules`, then puts the FORWARD jump in place; with no rules (no pod isolated)
   * removes them all. Nothing runs when the rules are what was last written, unless `force` (a
   * periodic repair of what others may have changed).
   */
  async apply(rules: PodRules[], force = false): Promise<void> {
    const opts = { gateway: this.gateway, noSctp: this.sctpUnsupported };
    const desired = rules.length ? renderRules(this.bridge, rules, opts) : '';
    if (!force && desired === this.lastApplied) return;
    const listing = await iptables(['-t', 'filter', '-S']);
    if (listing.code !== 0) throw new Error(`iptables -S: ${listing.stderr.trim()}`);
    const existing = ownChains(listing.stdout, this.names);
    if (!desired) {
      // No pod of this node is isolated: nothing of ours on the host at all.
      if (existing.length || listing.stdout.includes(`-j ${this.names.main}`)) await removeNetworkPolicyRules(this.bridge);
      this.lastApplied = '';
      return;
    }
    if (!this.bridgeChecked) {
      this.bridgeChecked = true;
      const done = await enableBridgeNetfilter();
      if (done) this.log(`NetworkPolicy: ${done}`);
    }
    const r = await run('iptables-restore', [...WAIT, '--noflush'], renderRules(this.bridge, rules, { ...opts, existing }));
    if (r.code !== 0 && !this.sctpUnsupported && rules.some((p) => [...(p.ingress ?? []), ...(p.egress ?? [])].some((a) => a.protocol === 'SCTP'))) {
      // A kernel without SCTP matching: the other rules still apply (SCTP stays denied).
      this.sctpUnsupported = true;
      return this.apply(rules, true);
    }
    if (r.code !== 0) {
      this.lastApplied = undefined;
      throw new Error(`iptables-restore: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    this.lastApplied = desired;
    await this.ensureHook();
  }
}

/** Removes an agent's NetworkPolicy rules and chains (with its pod network: PodNetwork.teardown). */
export async function removeNetworkPolicyRules(bridge: string): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return;
  const names = chainNames(bridge);
  const hook = ['FORWARD', '-m', 'comment', '--comment', names.comment, '-j', names.main];
  for (let i = 0; i < 10 && (await iptables(['-t', 'filter', '-C', ...hook])).code === 0; i++) {
    if ((await iptables(['-t', 'filter', '-D', ...hook])).code !== 0) break;
  }
  const listing = await iptables(['-t', 'filter', '-S']);
  if (listing.code !== 0) return;
  const chains = ownChains(listing.stdout, names);
  if (chains.length === 0) return;
  const text = ['*filter', ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
  await run('iptables-restore', [...WAIT, '--noflush'], text);
}

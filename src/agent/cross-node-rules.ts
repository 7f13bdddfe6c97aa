// What the agent sets on the host so its pods reach pods on other nodes, all of it named after the
// node's bridge (two agents on one machine never touch each other's) and rewritten whole on change:
//
//   filter  SKIFF-XNODE-<bridge>   jumped to from FORWARD (appended: NetworkPolicy's chains come
//                                   first): accepts traffic between this node's bridge and the
//                                   podCIDRs of nodes reached through the kernel (a FORWARD policy
//                                   of DROP, which Docker sets, would drop it).
//   nat     SKIFF-NOMASQ-<bridge>  jumped to first from POSTROUTING for the node's podCIDR: pod-to-pod
//                                   traffic is never masqueraded, so pods (and NetworkPolicy) see each
//                                   other's real addresses.
//   nat     SKIFF-RELAY-<bridge>   jumped to from PREROUTING for the bridge: each relayed endpoint (pod
//                                   IP and port on a node not reachable directly) DNATed to its local
//                                   relay listener on the node's gateway.
//   routes  <podCIDR> via <InternalIP> for nodes on a directly connected subnet, remembered in
//           /run/skiff/<bridge>/cross-node-routes.json (gone at a reboot, as the routes are) so the
//           ones of nodes that went away are removed.
//
// The chains are written with iptables-restore --noflush (each declared chain is replaced in one
// transaction, nothing else is touched); the jumps are checked and added one by one. ip_forward is
// turned on while any node is reached through the kernel, and left on (Docker and others need it too).
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from './runtimes/pod-network.js';

export interface CrossNodeRules {
  bridge: string;
  /** This node's podCIDR. */
  podCIDR: string;
  /** Other nodes' podCIDRs reached through the kernel (same machine, or routed directly). */
  forward: string[];
  /** Routes to install: other nodes' podCIDRs via their InternalIP. */
  routes: { cidr: string; via: string }[];
  /** Relayed endpoints: pod IP and port, and the local listener (GATEWAY:PORT) it is sent to. */
  dnat: { ip: string; port: number; to: string }[];
}

export function chains(bridge: string): { forward: string; nomasq: string; relay: string } {
  return { forward: `SKIFF-XNODE-${bridge}`, nomasq: `SKIFF-NOMASQ-${bridge}`, relay: `SKIFF-RELAY-${bridge}` };
}

const comment = (bridge: string) => ['-m', 'comment', '--comment', `skiff ${bridge} cross-node`];

/** The jumps into the chains: [table, rule without -A/-I/-D]. */
export function jumps(bridge: string, podCIDR: string): [string, string[]][] {
  const c = chains(bridge);
  return [
    ['filter', ['FORWARD', ...comment(bridge), '-j', c.forward]],
    ['nat', ['POSTROUTING', '-s', podCIDR, ...comment(bridge), '-j', c.nomasq]],
    ['nat', ['PREROUTING', '-i', bridge, ...comment(bridge), '-j', c.relay]],
  ];
}

/** The iptables-restore input that replaces the three chains' rules. */
export function restoreInput(r: CrossNodeRules): string {
  const c = chains(r.bridge);
  const lines = ['*filter', `:${c.forward} - [0:0]`];
  for (const cidr of r.forward) {
    lines.push(`-A ${c.forward} -i ${r.bridge} -d ${cidr} -j ACCEPT`, `-A ${c.forward} -o ${r.bridge} -s ${cidr} -j ACCEPT`);
  }
  lines.push('COMMIT', '*nat', `:${c.nomasq} - [0:0]`, `:${c.relay} - [0:0]`);
  for (const cidr of r.forward) lines.push(`-A ${c.nomasq} -d ${cidr} -j ACCEPT`);
  for (const d of r.dnat) lines.push(`-A ${c.relay} -d ${d.ip}/32 -p tcp -m tcp --dport ${d.port} -j DNAT --to-destination ${d.to}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function restore(input: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('iptables-restore', ['--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (e) => resolve({ code: 127, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    child.stdin.end(input);
  });
}

/** iptables-restore, retried while another writer holds the xtables lock (legacy iptables). */
async function restoreWithRetry(input: string): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    const r = await restore(input);
    if (r.code === 0) return;
    last = r.stderr.trim() || `exit ${r.code}`;
    if (r.code !== 4 && !/lock|temporarily unavailable/i.test(last)) break;
    await new Promise((ok) => setTimeout(ok, 100 + attempt * 100));
  }
  throw new Error(`iptables-restore: ${last}`);
}

async function ensureJump(table: string, rule: string[]): Promise<void> {
  if ((await run('iptables', ['-w', '-t', table, '-C', ...rule])).code === 0) return;
  // FORWARD: appended, after the NetworkPolicy chains (inserted first) that may drop what this accepts.
  // nat: first, before any MASQUERADE (the pod network's, Docker's) and others' DNAT.
  const r = await run('iptables', ['-w', '-t', table, table === 'filter' ? '-A' : '-I', ...rule]);
  if (r.code !== 0) throw new Error(`iptables -t ${table} -I ${rule.join(' ')}: ${r.stderr.trim()}`);
}

/** Where the routes a bridge's agent added are remembered. */
export const routesFile = (bridge: string) => path.join('/run/skiff', bridge, 'cross-node-routes.json');

async function installedRoutes(bridge: string): Promise<{ cidr: string; via: string }[]> {
  try {
    return JSON.parse(await fs.readFile(routesFile(bridge), 'utf8'));
  } catch {
    return [];
  }
}

/** Sets the host to `r`: chains rewritten, jumps in place, routes added and the stale ones removed. */
export async function applyCrossNodeRules(r: CrossNodeRules, log?: (line: string) => void): Promise<void> {
  if (r.forward.length) await fs.writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch(() => log?.('cannot turn on net.ipv4.ip_forward'));
  await restoreWithRetry(restoreInput(r));
  for (const [table, rule] of jumps(r.bridge, r.podCIDR)) await ensureJump(table, rule);

  const wanted = new Map(r.routes.map((x) => [x.cidr, x.via]));
  const had = await installedRoutes(r.bridge);
  for (const old of had) {
    if (wanted.get(old.cidr) === old.via) continue;
    await run('ip', ['route', 'del', old.cidr, 'via', old.via]);
  }
  const installed: { cidr: string; via: string }[] = [];
  for (const { cidr, via } of r.routes) {
    const res = await run('ip', ['route', 'replace', cidr, 'via', via]);
    if (res.code === 0) installed.push({ cidr, via });
    else log?.(`cannot route ${cidr} via ${via}: ${res.stderr.trim()}`);
  }
  await fs.mkdir(path.dirname(routesFile(r.bridge)), { recursive: true });
  await fs.writeFile(routesFile(r.bridge), JSON.stringify(installed));
}

/** Removes everything applyCrossNodeRules set for this bridge (the agent's network is torn down). */
export async function removeCrossNodeRules(bridge: string, podCIDR: string): Promise<void> {
  if ((await run('iptables', ['-t', 'filter', '-S', 'FORWARD'])).code === 0) {
    for (const [table, rule] of jumps(bridge, podCIDR)) {
      for (let i = 0; i < 10 && (await run('iptables', ['-w', '-t', table, '-C', ...rule])).code === 0; i++) {
        if ((await run('iptables', ['-w', '-t', table, '-D', ...rule])).code !== 0) break;
      }
    }
    const c = chains(bridge);
    for (const [table, chain] of [['filter', c.forward], ['nat', c.nomasq], ['nat', c.relay]] as const) {
      if ((await run('iptables', ['-w', '-t', table, '-F', chain])).code === 0) await run('iptables', ['-w', '-t', table, '-X', chain]);
    }
  }
  for (const { cidr, via } of await installedRoutes(bridge)) await run('ip', ['route', 'del', cidr, 'via', via]);
  await fs.rm(routesFile(bridge), { force: true });
  // The folders too, unless something else keeps a file there.
  await fs.rmdir(path.dirname(routesFile(bridge))).then(() => fs.rmdir(path.dirname(path.dirname(routesFile(bridge))))).catch(() => {});
}

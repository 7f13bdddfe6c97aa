// kube-proxy's iptables mode, done by the agent: Services' ClusterIPs and NodePorts reach their
// endpoints through rules in the host's nat table (service-rules.ts makes them), rewritten whole
// with iptables-restore --noflush whenever the cluster catalog changes, and every minute to repair
// what someone else removed. The chains are the agent's own (named after its pod bridge), so two
// agents on one machine each manage theirs; the agent removes them when its pod network goes
// (PodNetwork.removeRules calls removeServiceRules) and replaces what an earlier run left on start.
//
// Where iptables cannot be used (not root, not Linux, no iptables) the proxy does nothing and says
// so once: Services are then not reachable from pods on the node. A user-space proxy would not help
// there, since pods get network namespaces of their own (and so a reason to proxy) only as root.
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import type { ClusterCatalog } from './cluster-catalog.js';
import { chainNames, hooks, ownedIn, renderRules, restoreText, deleteText, specText, splitSpec, type Hook, type ProxyConfig, type RelayTo, type ServiceEntry } from './service-rules.js';
import type { RelayLookup } from './cross-node.js';

export interface ServiceProxyOptions {
  catalog: ClusterCatalog;
  nodeName: string;
  /** The node's pod bridge and podCIDR (the process runtime's PodNetwork). */
  bridge: string;
  podCIDR: string;
  log?: (line: string) => void;
  /** Between full rewrites; default 60 s. */
  resyncMs?: number;
  /** Endpoints on nodes reached only through the control plane: where their connections go instead (cross-node.ts). */
  relay?: RelayLookup;
}

const RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell, feeding `input` on stdin; never throws for a non-zero exit. */
function exec(file: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (error && !stderr ? error.message : '')) });
    });
    child.stdin?.on('error', () => {}); // the program may exit before reading it all
    child.stdin?.end(input ?? '');
  });
}

// -w: wait for the xtables lock another agent (or Docker) holds rather than fail.
const iptables = (args: string[]) => exec('iptables', ['-w', '5', ...args]);
const restore = (text: string) => exec('iptables-restore', ['-w', '5', '--noflush'], text);

/** Why this machine's iptables cannot be used, or undefined when it can. */
export async function iptablesUnusable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `${process.platform} has no iptables`;
  if (process.getuid?.() !== 0) return 'the agent is not root';
  const nat = await iptables(['-t', 'nat', '-S', 'POSTROUTING']);
  if (nat.code !== 0) return `iptables does not work: ${nat.stderr.trim().split('\n').pop() || `exit ${nat.code}`}`;
  const r = await exec('iptables-restore', ['--version']);
  if (r.code !== 0) return 'iptables-restore is missing';
  return undefined;
}

async function save(table: 'nat' | 'filter'): Promise<string> {
  const r = await exec('iptables-save', ['-t', table]);
  if (r.code !== 0) throw new Error(`iptables-save -t ${table}: ${r.stderr.trim()}`);
  return r.stdout;
}

function failed(what: string, r: Result): Error {
  return new Error(`${what}: ${r.stderr.trim().split('\n').filter((l) => !l.startsWith('# Warning')).join('; ') || `exit ${r.code}`}`);
}

/**
 * Whether bridged pod traffic goes through iptables (br_netfilter): on when the host turned it on
 * for all bridges, else turned on for this bridge alone where the module is loaded.
 */
async function bridgeNetfilter(bridge: string): Promise<boolean> {
  const global = await readFile('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').catch(() => undefined);
  if (global === undefined) return false; // br_netfilter not loaded
  if (global.trim() === '1') return true;
  return (await exec('ip', ['link', 'set', 'dev', bridge, 'type', 'bridge', 'nf_call_iptables', '1'])).code === 0;
}

/**
 * Hairpin mode on every port of the bridge, as kubelet sets it: with br_netfilter, a pod's connection
 * to its own Service is DNATed back out of the port it came in on, which a bridge drops otherwise.
 */
async function hairpin(bridge: string): Promise<void> {
  const dir = `/sys/class/net/${bridge}/brif`;
  for (const port of await readdir(dir).catch(() => [] as string[])) {
    const file = `${dir}/${port}/hairpin_mode`;
    if ((await readFile(file, 'utf8').catch(() => '1')).trim() !== '1') await writeFile(file, '1').catch(() => {});
  }
}

/**
 * Removes this bridge's jumps from the built-in chains that are not (exactly) wanted: an earlier
 * version's, or duplicates. Done before the chains are rewritten, so that chains they jump to can go.
 */
async function dropStrayHooks(bridge: string, wanted: Hook[]): Promise<void> {
  for (const table of ['nat', 'filter'] as const) {
    const wantedLines = new Set(wanted.filter((h) => h.table === table).map((h) => `${h.chain} ${specText(h.spec)}`));
    const seen = new Set<string>();
    for (const f of ownedIn(bridge, await save(table)).hooks) {
      const line = `${f.chain} ${f.spec}`;
      if (wantedLines.has(line) && !seen.has(line)) {
        seen.add(line);
        continue;
      }
      const r = await iptables(['-t', table, '-D', f.chain, ...splitSpec(f.spec)]);
      if (r.code !== 0) throw failed(`iptables -t ${table} -D ${line}`, r);
    }
  }
}

/** Adds the jumps that are missing (after the chains exist). */
async function addHooks(wanted: Hook[]): Promise<void> {
  // Inserted in reverse, so the inserted ones end up at the top in the listed order.
  for (const h of [...wanted].reverse()) {
    if ((await iptables(['-t', h.table, '-C', h.chain, ...h.spec])).code === 0) continue;
    const op = h.position === 'insert' ? '-I' : '-A';
    const r = await iptables(['-t', h.table, op, h.chain, ...h.spec]);
    if (r.code !== 0) throw failed(`iptables -t ${h.table} ${op} ${h.chain} ${specText(h.spec)}`, r);
  }
}

/** Removes a bridge's Service chains and the jumps into them (idempotent; nothing when iptables is unusable). */
export async function removeServiceRules(bridge: string): Promise<void> {
  if (await iptablesUnusable()) return;
  const chains = { nat: [] as string[], filter: [] as string[] };
  for (const table of ['nat', 'filter'] as const) {
    const owned = ownedIn(bridge, await save(table));
    for (const h of owned.hooks) {
      const r = await iptables(['-t', table, '-D', h.chain, ...splitSpec(h.spec)]);
      if (r.code !== 0) throw failed(`iptables -t ${table} -D ${h.chain} ${h.spec}`, r);
    }
    chains[table] = owned.chains;
  }
  const text = deleteText(chains);
  if (!text) return;
  const r = await restore(text);
  if (r.code !== 0) throw failed('iptables-restore (removing Service chains)', r);
}

export class ServiceProxy {
  private readonly opts: ServiceProxyOptions;
  private readonly log: (line: string) => void;
  private unsubscribe?: () => void;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private cfg?: ProxyConfig;
  private lastText?: string;
  /** The next write checks the hooks and rewrites even unchanged rules. */
  private full = true;
  private retry?: NodeJS.Timeout;
  private retryMs = RETRY_MS;
  private lastError?: string;
  private written = false;
  private synced = false;

  constructor(opts: ServiceProxyOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
  }

  /**
   * Starts following the catalog; resolves false (after saying why, once) when iptables cannot be
   * used here. The first rule write waits for the catalog's first lists.
   */
  async start(): Promise<boolean> {
    const why = await iptablesUnusable();
    if (why) {
      this.log(`Services are not reachable from pods on this node: ${why} (the Service proxy needs root and iptables)`);
      return false;
    }
    const netfilter = await bridgeNetfilter(this.opts.bridge);
    if (this.stopped) return false;
    if (!netfilter) this.log(`br_netfilter is not loaded: Service traffic between pods of ${this.opts.bridge} is masqueraded`);
    this.cfg = { bridge: this.opts.bridge, podCIDR: this.opts.podCIDR, nodeName: this.opts.nodeName, bridgeNetfilter: netfilter };
    const unsubscribe = [this.opts.catalog.onChange(() => this.request()), this.opts.relay?.onChange(() => this.request())];
    this.unsubscribe = () => unsubscribe.forEach((u) => u?.());
    // Not before both lists are in: Services without their endpoints yet would be rejected meanwhile.
    void this.opts.catalog.synced().then(() => {
      this.synced = true;
      this.request(true);
    });
    const resync = () => {
      this.timer = setTimeout(() => {
        this.request(true);
        resync();
      }, this.opts.resyncMs ?? 60_000);
      this.timer.unref?.();
    };
    resync();
    return true;
  }

  /** Stops following the catalog and leaves the rules in place (pods keep reaching Services while the agent restarts). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    await this.running;
  }

  private request(full = false): void {
    if (this.stopped || !this.cfg || !this.synced) return;
    if (full) this.full = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.write();
          if (!this.written) this.log(`proxying Services with iptables: chains ${chainNames(this.opts.bridge).natServices} and the like`);
          this.written = true;
          if (this.lastError) this.log('Service rules written again');
          this.lastError = undefined;
          this.retryMs = RETRY_MS;
        } catch (err) {
          const message = (err as Error).message;
          if (message !== this.lastError) this.log(`writing Service rules failed: ${message}`);
          this.lastError = message;
          this.full = true;
          // Another writer's transaction in the way is over soon: try again before the next resync.
          clearTimeout(this.retry);
          this.retry = setTimeout(() => this.request(true), this.retryMs);
          this.retry.unref?.();
          this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
  }

  /** The relay listener of a TCP endpoint reached through the control plane (relay listeners are TCP only). */
  private relayTo(): RelayTo | undefined {
    const relay = this.opts.relay;
    if (!relay) return undefined;
    return (ip, port, protocol) => {
      if (protocol !== 'TCP') return undefined;
      const a = relay.relayAddress(ip, port);
      return a ? `${a.host}:${a.port}` : a;
    };
  }

  private entries(): ServiceEntry[] {
    const catalog = this.opts.catalog;
    return catalog.services().map((service) => ({ service, endpoints: catalog.endpoints(service.namespace, service.name) }));
  }

  private async write(): Promise<void> {
    const cfg = this.cfg!;
    // Endpoints new on this node come with a catalog change, so their ports get it before they are used.
    await hairpin(cfg.bridge);
    const rules = renderRules(cfg, this.entries(), this.relayTo());
    const plain = restoreText(rules);
    const full = this.full;
    this.full = false;
    if (!full && plain === this.lastText) return;
    if (full) await dropStrayHooks(cfg.bridge, hooks(cfg.bridge));
    // Chains of Services and endpoints that are gone (or an earlier run's) are deleted in the same write.
    const stale = { nat: ownedIn(cfg.bridge, await save('nat')).chains, filter: ownedIn(cfg.bridge, await save('filter')).chains };
    const r = await restore(restoreText(rules, stale));
    if (r.code !== 0) throw failed('iptables-restore', r);
    if (full) await addHooks(hooks(cfg.bridge));
    this.lastText = plain;
  }
}

// The process runtime: a container's command and args run as host processes, for machines with no
// container engine and for developers. Images are not pulled (the imageID is process://<image>).
//
// What a container's program sees
// - argv: spec.containers[].command + args (a command is required: there is no image entrypoint).
//   A relative command is looked up in the container's PATH, as execvp does; absolute paths are host
//   paths (they are not translated into the container's root).
// - A root folder of its own, <dataDir>/containers/<id>/root. Each volume mount appears at
//   <root><mountPath> as a symlink to the mount's hostPath (readOnly is not enforced). The working
//   directory is <root><workingDir> when spec.workingDir is set (created if missing), else <root>.
//   The environment variable SKIFF_ROOT=<root> tells programs where their mounts are: a program that
//   wants its /data mount opens $SKIFF_ROOT/data.
// - env: exactly the container's env, plus PATH (the agent's) when the container sets none, HOSTNAME
//   (the pod's hostname) unless the container sets it, and SKIFF_ROOT (always ours). With a mount at
//   /var/run/secrets/kubernetes.io/serviceaccount (the pod's ServiceAccount token), also
//   SKIFF_SERVICEACCOUNT_DIR=<root>/var/run/secrets/kubernetes.io/serviceaccount.
// - stdin is /dev/null, or with spec.containers[].stdin a FIFO, <dataDir>/containers/<id>/stdin, that
//   attach writes to (see attach()). stdout and stderr are both appended to <dataDir>/containers/<id>/log
//   (logPath()); the agent stamps, rotates and serves that file without sitting in the pipe (process-logs.ts).
//   spec.containers[].tty is not honoured: the program gets no terminal (exec -t does, see execStream()).
// - Its own session and process group (setsid), so it outlives the agent: close() and an agent crash
//   leave it running, and a new agent over the same dataDir re-adopts it.
// - Networking: with a PodNetwork (Linux, root), a pod that is not hostNetwork runs inside its own
//   network namespace (`ip netns exec skiff-<uid>`), with an IP from the node's podCIDR; otherwise
//   it shares the host's network and its IP is the node's (hostIP).
// - DNS: the pod's resolver settings (SandboxConfig.dns) are written to /etc/netns/<netns>/resolv.conf,
//   which `ip netns exec` bind-mounts over /etc/resolv.conf for every program it starts in the pod
//   (containers, exec, probes); removed with the sandbox. A host-network pod whose settings are not the
//   host's gets the same through a name for the host's own namespace (skiffhost-<uid>, `ip netns attach`).
// - Limits: when running as root with a writable cgroup hierarchy (v2 at /sys/fs/cgroup, or v1's
//   memory and cpu controllers), each container gets a cgroup with memory.max / memory.limit_in_bytes
//   (swap off) and a CPU quota; a container the kernel OOM-killed there is reported as OOMKilled. The
//   cgroup is removed (killing what the program left in it) once the exit is recorded.
//   Without cgroups, limits are not applied.
//
// How the exit status survives the agent
// - The program is started by a small /bin/sh wrapper (the process group leader, whose pid is the
//   container's pid): it joins the container's cgroups, runs the program in the foreground, and writes
//   the program's exit status (128+n for a signal) to <dataDir>/containers/<id>/status when it ends.
//   The wrapper traps TERM, INT, HUP, QUIT, USR1 and USR2 with a no-op, so that signals sent to the
//   group do not kill it before the program ends; the program itself gets them with their default
//   dispositions (traps are reset on exec) and, as the wrapper runs it in the foreground, SIGINT and
//   SIGQUIT are not ignored. The program's environment is passed through unchanged (the wrapper unsets
//   the PWD that sh would export, or keeps the container's), and its status file is held on fd 3, which
//   is closed for the program. When the env has a name sh cannot carry (e.g. `a.b`), the program is
//   started directly instead, and an exit nobody watched is reported as ContainerStatusUnknown.
// - A container record, <dataDir>/containers/<id>/record.json (id, pod uid, name, attempt, init, pid,
//   the process's start time from /proc/PID/stat field 22 to guard against pid reuse, startedAt, image,
//   env, cwd, netns, cgroups), is written before the process is considered started. listContainers reads
//   the records: a live process (same pid, same start time, not a zombie) is running; a finished one is
//   exited with the status its wrapper wrote (or, for this agent's own children, what wait() returned),
//   reason Completed / Error / OOMKilled; one that vanished with no status is exited with reason
//   ContainerStatusUnknown and exit code 137, as kubelet reports a container it could not find. The
//   first exit seen is written into the record, so it does not change afterwards.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsConstants, promises as fs, openSync, closeSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerInfo,
  type ContainerUsage,
  type ExecResult,
  type ExecSession,
  type LogOptions,
  type Runtime,
  type Sandbox,
  type SandboxConfig,
} from '../runtime.js';
import { formatResolvConf, HOST_RESOLV_CONF, readResolvConf, type DNSConfig } from '../dns/resolv-conf.js';
import { PodNetwork, netnsName, podKey } from './pod-network.js';
import { ContainerLog, LOG_POLL_MS } from './process-logs.js';
import { cgroupUsage, processTable, treeUsage } from './proc-usage.js';

const execFileP = promisify(execFile);

export interface ProcessRuntimeOptions {
  /** Where container records, logs, roots and sandbox records live. */
  dataDir: string;
  /** Pods get network namespaces of their own from it; without one they share the host's network. */
  podNetwork?: PodNetwork;
  /** The node's InternalIP: the IP of pods that share the host's network. Default: the first non-internal IPv4. */
  hostIP?: string;
  /** For version(); default: package.json's. */
  version?: string;
  /** Apply memory and CPU limits through cgroups when possible (default true). */
  cgroups?: boolean;
  /** The cgroup folder containers go in (default skiff): /sys/fs/cgroup/<name> on v2, <controller><agent's cgroup>/<name> on v1. */
  cgroupName?: string;
}

/** The persisted state of one container. */
export interface ContainerRecord {
  id: string; // hex, no scheme
  podUid: string;
  podNamespace: string;
  podName: string;
  name: string;
  attempt: number;
  init: boolean;
  image: string;
  imageID: string;
  command: string[];
  env: Record<string, string>;
  root: string;
  cwd: string;
  netns?: string;
  cgroups: string[];
  /** Started through the sh wrapper that records the exit status. */
  wrapped: boolean;
  createdAt: string;
  pid?: number;
  /** /proc/PID/stat field 22 (clock ticks since boot). */
  startTime?: number;
  startedAt?: string;
  /** stopContainer had to SIGKILL it. */
  killed?: boolean;
  /** Started with a stdin FIFO (spec stdin), closed after the first attach (stdinOnce). */
  stdin?: boolean;
  stdinOnce?: boolean;
  /** stdinOnce: the process holding the FIFO's write end open until the first attach ends. */
  stdinHolder?: { pid: number; startTime?: number };
  stdinClosed?: boolean;
  exit?: { exitCode: number; reason: string; message?: string; finishedAt: string };
}

interface SandboxRecord {
  uid: string;
  namespace: string;
  name: string;
  hostNetwork: boolean;
  netns?: string;
  ip: string;
}

interface Child {
  proc: ChildProcess;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  done: Promise<void>;
}

const SCHEME = 'process://';
/** Where Kubernetes mounts a pod's ServiceAccount token (service-account.ts). */
const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
const EXEC_OUTPUT_LIMIT = 10 * 1024;
// The wrapper (see the top of the file). Positional parameters only: a shell variable of ours could
// shadow one of the container's exported variables.
//   $1 status file   $2 pid file   cgroup.procs files...   --   PWD ("-" unset, "=value" set)   program args...
const WRAPPER = [
  'exec 3>"$1"; shift',
  'echo $$ >"$1"; shift',
  'while [ "$1" != -- ]; do { echo $$ >"$1"; } 2>/dev/null || echo "skiff: could not join cgroup $1" >&2; shift; done; shift',
  'if [ "$1" = - ]; then unset PWD; else export PWD="${1#=}"; fi; shift',
  'trap : TERM INT HUP QUIT USR1 USR2',
  '"$@" 3>&-',
  'set -- $?',
  'echo $1 >&3',
  'exit $1',
].join('\n');
// Names dash runs as builtins or keywords: they are resolved to a path so the program runs.
const SH_BUILTINS = new Set(
  '. : [ alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts hash jobs kill local printf pwd read readonly return set shift test times trap true type ulimit umask unalias unset wait if then else elif fi do done case esac while until for in { } !'.split(
    ' ',
  ),
);
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function bareId(id: string): string {
  const s = id.startsWith(SCHEME) ? id.slice(SCHEME.length) : id;
  if (!/^[0-9a-f]{32}$/.test(s)) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** State and start time of a process, from /proc/PID/stat. */
async function procStat(pid: number): Promise<{ state: string; startTime: number } | undefined> {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
    return { state: fields[0], startTime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

async function environHas(pid: number, entry: string): Promise<boolean> {
  try {
    const env = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
    return env.split('\0').includes(entry);
  } catch {
    return false;
  }
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks a command up as execvp would, with the container's PATH; relative entries are relative to cwd. */
async function resolveCommand(command: string, envPath: string, cwd: string): Promise<string | undefined> {
  if (command.includes('/')) {
    const p = path.resolve(cwd, command);
    return (await isExecutable(p)) ? p : undefined;
  }
  for (const dir of envPath.split(':')) {
    const p = path.resolve(cwd, dir || '.', command);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

function findInPath(name: string, fallback: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // next
    }
  }
  return fallback;
}

function signalNumber(signal: NodeJS.Signals): number {
  return os.constants.signals[signal] ?? 9;
}

function defaultHostIP(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

async function readVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await fs.readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function writeJSON(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
  await fs.rename(tmp, file);
}

async function readJSON<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

interface CgroupLayout {
  version: 1 | 2;
  /** Parent folders containers' cgroups are made in: one on v2, one per controller on v1. */
  memory?: string;
  cpu?: string;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;
  readonly podNetwork: boolean;
  readonly dataDir: string;
  readonly network?: PodNetwork;
  private readonly hostIP: string;
  private readonly versionOption?: string;
  private readonly useCgroups: boolean;
  private readonly cgroupName: string;
  private cgroupLayout?: Promise<CgroupLayout | undefined>;
  private readonly children = new Map<string, Child>();
  private readonly ipPath = findInPath('ip', 'ip');
  private readonly scriptPath = findInPath('script', 'script');
  private readonly sttyPath = findInPath('stty', 'stty');
  private readonly mkfifoPath = findInPath('mkfifo', 'mkfifo');
  private readonly logs_ = new Map<string, ContainerLog>();
  /** Running containers whose logs the agent stamps and rotates (see process-logs.ts). */
  private readonly watched = new Set<string>();
  private poller?: NodeJS.Timeout;

  constructor(options: ProcessRuntimeOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.network = options.podNetwork;
    this.podNetwork = !!options.podNetwork;
    this.hostIP = options.hostIP ?? defaultHostIP();
    this.versionOption = options.version;
    this.useCgroups = options.cgroups ?? true;
    this.cgroupName = options.cgroupName ?? 'skiff';
  }

  private get containersDir(): string {
    return path.join(this.dataDir, 'containers');
  }

  private containerDir(id: string): string {
    return path.join(this.containersDir, id);
  }

  private sandboxFile(uid: string): string {
    return path.join(this.dataDir, 'sandboxes', `${uid}.json`);
  }

  /** The file a container's stdout and stderr are appended to. */
  logPath(id: string): string {
    return path.join(this.containerDir(bareId(id)), 'log');
  }

  async podGateway(): Promise<string | undefined> {
    return this.network?.gateway;
  }

  /** The container's root folder (its mounts are at <root><mountPath>). */
  rootPath(id: string): string {
    return path.join(this.containerDir(bareId(id)), 'root');
  }

  async version(): Promise<string> {
    return `${SCHEME}${this.versionOption ?? (await readVersion())}`;
  }

  /** Nothing is pulled, whatever the policy: the program comes from the host. */
  async ensureImage(image: string, _policy?: ContainerConfig['imagePullPolicy'], _auths?: SandboxConfig['registryAuths']): Promise<string> {
    return `${SCHEME}${image}`;
  }

  // ---- sandboxes

  async ensureSandbox(pod: SandboxConfig): Promise<Sandbox> {
    let record: SandboxRecord;
    if (pod.hostNetwork || !this.network) {
      record = { uid: pod.uid, namespace: pod.namespace, name: pod.name, hostNetwork: true, ip: this.hostIP };
      if (this.network && pod.dns && !sameAsHostResolvConf(pod.dns)) record.netns = await this.hostDNSNamespace(pod.uid, pod.dns);
    } else {
      let ip: string;
      try {
        ip = await this.network.addPod(pod.uid, pod.podIP);
      } catch (e) {
        throw new RuntimeError('CreatePodSandboxError', (e as Error).message);
      }
      record = { uid: pod.uid, namespace: pod.namespace, name: pod.name, hostNetwork: false, netns: netnsName(pod.uid), ip };
      if (pod.dns) await writePodResolvConf(record.netns!, pod.dns);
    }
    await fs.mkdir(path.dirname(this.sandboxFile(pod.uid)), { recursive: true });
    await writeJSON(this.sandboxFile(pod.uid), record);
    return { ip: record.ip };
  }

  async removeSandbox(podUid: string): Promise<void> {
    for (const rec of await this.records()) {
      if (rec.podUid !== podUid) continue;
      await this.kill(rec);
      await this.removeContainer(rec.id);
    }
    const sandbox = await readJSON<SandboxRecord>(this.sandboxFile(podUid));
    if (this.network && (!sandbox || !sandbox.hostNetwork)) await this.network.removePod(podUid);
    // Only the name goes: the namespace it names is the host's.
    if (sandbox?.hostNetwork && sandbox.netns) await execFileP(this.ipPath, ['netns', 'delete', sandbox.netns]).catch(() => undefined);
    if (this.network) {
      await fs.rm(path.join(NETNS_ETC, sandbox?.netns ?? netnsName(podUid)), { recursive: true, force: true });
    }
    await fs.rm(this.sandboxFile(podUid), { force: true });
  }

  /**
   * A name for the host's own network namespace, so that `ip netns exec` gives a host-network pod its
   * resolv.conf as it does any pod (ClusterFirstWithHostNet, None, a dnsConfig). Made again after a reboot.
   */
  private async hostDNSNamespace(uid: string, dns: DNSConfig): Promise<string> {
    const name = hostDNSNetnsName(uid);
    try {
      if (!(await fs.stat(path.join('/run/netns', name)).catch(() => undefined))) {
        await execFileP(this.ipPath, ['netns', 'attach', name, String(process.pid)]);
      }
      await writePodResolvConf(name, dns);
    } catch (e) {
      throw new RuntimeError('CreatePodSandboxError', `giving the host-network pod ${uid} its resolv.conf: ${(e as Error).message}`);
    }
    return name;
  }

  // ---- cgroups

  private cgroups(): Promise<CgroupLayout | undefined> {
    this.cgroupLayout ??= this.detectCgroups().catch(() => undefined);
    return this.cgroupLayout;
  }

  private async detectCgroups(): Promise<CgroupLayout | undefined> {
    if (!this.useCgroups || process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
    const root = '/sys/fs/cgroup';
    const self = await fs.readFile('/proc/self/cgroup', 'utf8');
    if (await fs.stat(path.join(root, 'cgroup.controllers')).catch(() => undefined)) {
      // v2: a folder at the root, as kubelet's kubepods (a non-root cgroup holding processes could not
      // have children with controllers).
      const controllers = (await fs.readFile(path.join(root, 'cgroup.controllers'), 'utf8')).split(/\s+/);
      if (!controllers.includes('memory')) return undefined;
      const want = ['memory', ...(controllers.includes('cpu') ? ['cpu'] : [])];
      const parent = path.join(root, this.cgroupName);
      await fs.writeFile(path.join(root, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' ')).catch(() => undefined);
      await fs.mkdir(parent, { recursive: true });
      await fs.writeFile(path.join(parent, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      const enabled = (await fs.readFile(path.join(parent, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
      if (!enabled.includes('memory')) return undefined;
      return { version: 2, memory: parent, cpu: enabled.includes('cpu') ? parent : undefined };
    }
    // v1: one hierarchy per controller; containers' cgroups nest under the agent's own.
    const layout: CgroupLayout = { version: 1 };
    for (const line of self.split('\n')) {
      const [, list, own] = line.split(':');
      if (!list || own === undefined) continue;
      const names = list.split(',');
      for (const want of ['memory', 'cpu'] as const) {
        if (!names.includes(want)) continue;
        const dir = path.join(root, list, own, this.cgroupName);
        const probe = want === 'memory' ? 'memory.limit_in_bytes' : 'cpu.cfs_quota_us';
        try {
          await fs.mkdir(dir, { recursive: true });
          await fs.access(path.join(dir, probe), fsConstants.W_OK);
          layout[want] = dir;
        } catch {
          // not available
        }
      }
    }
    return layout.memory || layout.cpu ? layout : undefined;
  }

  /** Makes the container's cgroups with its limits; returns their folders. */
  private async makeCgroups(id: string, c: ContainerConfig): Promise<string[]> {
    const layout = await this.cgroups();
    if (!layout) return [];
    const dirs: string[] = [];
    const make = async (parent: string, fn: (dir: string) => Promise<void>) => {
      const dir = path.join(parent, id);
      if (!dirs.includes(dir)) {
        await fs.mkdir(dir, { recursive: true });
        dirs.push(dir);
      }
      await fn(dir);
    };
    const optional = (p: Promise<void>) => p.catch(() => undefined);
    try {
      if (layout.version === 2) {
        await make(layout.memory!, async (dir) => {
          if (c.memoryLimitBytes) {
            await fs.writeFile(path.join(dir, 'memory.max'), String(c.memoryLimitBytes));
            await optional(fs.writeFile(path.join(dir, 'memory.swap.max'), '0'));
          }
          if (c.cpuLimitMillis && layout.cpu) await fs.writeFile(path.join(dir, 'cpu.max'), `${Math.max(1000, c.cpuLimitMillis * 100)} 100000`);
        });
      } else {
        if (layout.memory)
          await make(layout.memory, async (dir) => {
            if (!c.memoryLimitBytes) return;
            await fs.writeFile(path.join(dir, 'memory.limit_in_bytes'), String(c.memoryLimitBytes));
            await optional(fs.writeFile(path.join(dir, 'memory.memsw.limit_in_bytes'), String(c.memoryLimitBytes)));
          });
        if (layout.cpu && c.cpuLimitMillis)
          await make(layout.cpu, async (dir) => {
            await fs.writeFile(path.join(dir, 'cpu.cfs_period_us'), '100000');
            await fs.writeFile(path.join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, c.cpuLimitMillis! * 100)));
          });
      }
    } catch {
      // Limits could not be applied: run without them rather than not at all.
      await this.removeCgroups(dirs);
      return [];
    }
    return dirs;
  }

  private async removeCgroups(dirs: string[]): Promise<void> {
    for (const dir of dirs) {
      // What is left in the cgroup is the container's too (a program's own children): kill it, and wait
      // for the kernel to let go of the cgroup (rmdir is EBUSY for a moment after the last exit).
      for (let i = 0; i < 50; i++) {
        try {
          await fs.rmdir(dir);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
          const procs = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
          for (const pid of procs.split(/\s+/).filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // gone
            }
          }
          await sleep(100);
        }
      }
      // The parent goes too once no container uses it (kept while others do: rmdir fails then).
      await fs.rmdir(path.dirname(dir)).catch(() => undefined);
    }
  }

  private async oomKilled(rec: ContainerRecord): Promise<boolean> {
    for (const dir of rec.cgroups) {
      for (const file of ['memory.events', 'memory.oom_control']) {
        const text = await fs.readFile(path.join(dir, file), 'utf8').catch(() => '');
        const m = /^oom_kill (\d+)$/m.exec(text);
        if (m && Number(m[1]) > 0) return true;
      }
    }
    return false;
  }

  // ---- containers

  async startContainer(pod: SandboxConfig, c: ContainerConfig): Promise<ContainerInfo> {
    if (!c.command?.length) {
      throw new RuntimeError(
        'CreateContainerConfigError',
        'the process runtime needs a command: set spec.containers[].command (images are not run, so there is no entrypoint to fall back on)',
      );
    }
    const id = randomUUID().replace(/-/g, '');
    const dir = this.containerDir(id);
    const root = path.join(dir, 'root');
    await fs.mkdir(root, { recursive: true });
    try {
      return await this.start(id, pod, c);
    } catch (e) {
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (e instanceof RuntimeError) throw e;
      throw new RuntimeError('RunContainerError', `starting ${c.name}: ${(e as Error).message}`);
    }
  }

  private async start(id: string, pod: SandboxConfig, c: ContainerConfig): Promise<ContainerInfo> {
    const dir = this.containerDir(id);
    const root = path.join(dir, 'root');
    // Mounts, shortest path first so nested ones land in (or through) their parents.
    for (const m of [...c.mounts].sort((a, b) => a.containerPath.length - b.containerPath.length)) {
      const rel = path.posix.normalize(`/${m.containerPath}`).replace(/^\/+/, '');
      if (!rel) throw new RuntimeError('CreateContainerConfigError', `mountPath ${m.containerPath} would replace the container's root`);
      const at = path.join(root, rel);
      await fs.mkdir(path.dirname(at), { recursive: true });
      await fs.rm(at, { force: true, recursive: false }).catch(() => undefined);
      await fs.symlink(m.hostPath, at);
    }
    const cwd = c.workingDir ? path.join(root, path.posix.normalize(`/${c.workingDir}`)) : root;
    await fs.mkdir(cwd, { recursive: true });

    let netns: string | undefined;
    if (this.network && !pod.hostNetwork) {
      // Normally made by ensureSandbox already; made again if it went (a reboot empties /run/netns).
      if (!(await this.network.hasPod(pod.uid)) || !(await readJSON<SandboxRecord>(this.sandboxFile(pod.uid)))) await this.ensureSandbox(pod);
      netns = netnsName(pod.uid);
    } else if (this.network && pod.hostNetwork && pod.dns) {
      // A host-network pod with a resolv.conf of its own (hostDNSNamespace): its name goes with a reboot.
      let sandbox = await readJSON<SandboxRecord>(this.sandboxFile(pod.uid));
      if (!sandbox || (sandbox.netns && !(await fs.stat(path.join('/run/netns', sandbox.netns)).catch(() => undefined)))) {
        await this.ensureSandbox(pod);
        sandbox = await readJSON<SandboxRecord>(this.sandboxFile(pod.uid));
      }
      netns = sandbox?.netns;
    }

    const env: Record<string, string> = {};
    if (!c.env.some((e) => e.name === 'PATH')) env.PATH = process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    env.HOSTNAME = pod.hostname;
    for (const e of c.env) env[e.name] = e.value;
    env.SKIFF_ROOT = root;
    // The ServiceAccount folder is at <root>/var/run/secrets/..., not at the path client libraries
    // read: this tells them where it is (e.g. KubeConfig.loadFromCluster(process.env.SKIFF_ROOT)).
    if (c.mounts.some((m) => path.posix.normalize(`/${m.containerPath}`).replace(/\/+$/, '') === SERVICE_ACCOUNT_PATH)) {
      env.SKIFF_SERVICEACCOUNT_DIR = path.join(root, SERVICE_ACCOUNT_PATH);
    }

    const argv = [...c.command!, ...(c.args ?? [])];
    const resolved = await resolveCommand(argv[0], env.PATH ?? '', cwd);
    if (!resolved) {
      throw new RuntimeError('RunContainerError', `exec: "${argv[0]}": executable file not found in $PATH (${env.PATH ?? ''})`);
    }
    // dash would run its builtin instead of the program: give it the path.
    if (!argv[0].includes('/') && SH_BUILTINS.has(argv[0])) argv[0] = resolved;

    const cgroups = await this.makeCgroups(id, c);
    const wrapped = Object.keys(env).every((name) => SHELL_NAME.test(name));
    const rec: ContainerRecord = {
      id,
      podUid: pod.uid,
      podNamespace: pod.namespace,
      podName: pod.name,
      name: c.name,
      attempt: c.attempt,
      init: c.init,
      image: c.image,
      imageID: await this.ensureImage(c.image),
      command: argv,
      env,
      root,
      cwd,
      netns,
      cgroups,
      wrapped,
      createdAt: new Date().toISOString(),
      ...(c.stdin ? { stdin: true, stdinOnce: !!c.stdinOnce } : {}),
    };
    await writeJSON(path.join(dir, 'record.json'), rec);

    const statusFile = path.join(dir, 'status');
    const pidFile = path.join(dir, 'pid');
    const procsFiles = cgroups.map((d) => path.join(d, 'cgroup.procs'));
    let program: string[] = wrapped
      ? ['/bin/sh', '-c', WRAPPER, 'skiff-process', statusFile, pidFile, ...procsFiles, '--', 'PWD' in env ? `=${env.PWD}` : '-', ...argv]
      : argv;
    if (netns) program = [this.ipPath, 'netns', 'exec', netns, ...program];

    const logFd = openSync(path.join(dir, 'log'), 'a', 0o600);
    const stdin = c.stdin ? await this.makeStdin(dir, !!c.stdinOnce) : undefined;
    let proc: ChildProcess;
    try {
      proc = spawn(program[0], program.slice(1), {
        cwd,
        env: env as NodeJS.ProcessEnv,
        detached: true,
        stdio: [stdin?.child ?? 'ignore', logFd, logFd],
      });
      await new Promise<void>((resolve, reject) => {
        proc.once('spawn', resolve);
        proc.once('error', reject);
      });
      if (stdin?.writer !== undefined) rec.stdinHolder = await this.spawnStdinHolder(proc.pid!, stdin.writer);
    } finally {
      closeSync(logFd);
      for (const fd of stdin?.fds ?? []) closeSync(fd);
    }
    proc.unref();
    const child: Child = { proc, exited: false, code: null, signal: null, done: Promise.resolve() };
    child.done = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        child.exited = true;
        child.code = code;
        child.signal = signal;
        resolve();
      });
    });
    proc.on('error', () => undefined);
    this.children.set(id, child);

    const pid = proc.pid!;
    if (!wrapped && procsFiles.length) {
      // No wrapper to join the cgroups before the program starts: move it now.
      for (const f of procsFiles) await fs.writeFile(f, String(pid)).catch(() => undefined);
    }
    rec.pid = pid;
    rec.startTime = (await procStat(pid))?.startTime;
    rec.startedAt = new Date().toISOString();
    await writeJSON(path.join(dir, 'record.json'), rec);
    this.watch(id);
    return this.info(rec, 'running');
  }

  // ---- stdin

  /**
   * The container's stdin FIFO. Without stdinOnce the program gets it read-write: opening does not wait
   * for a writer, and holding a write end itself, it never reads EOF however many attach sessions come
   * and go (nor when the agent restarts). With stdinOnce it gets a read-only end, and a holder process
   * keeps a write end open until the first attach ends; the program then reads EOF, as docker's
   * StdinOnce gives. The fds returned are the agent's, to close once the program and holder have theirs.
   */
  private async makeStdin(dir: string, once: boolean): Promise<{ child: number; writer?: number; fds: number[] }> {
    const fifo = path.join(dir, 'stdin');
    await execFileP(this.mkfifoPath, ['-m', '600', fifo]);
    const anchor = openSync(fifo, fsConstants.O_RDWR);
    if (!once) return { child: anchor, fds: [anchor] };
    // The anchor is a reader and a writer, so neither open waits.
    const reader = openSync(fifo, fsConstants.O_RDONLY);
    const writer = openSync(fifo, fsConstants.O_WRONLY);
    return { child: reader, writer, fds: [anchor, reader, writer] };
  }

  /** A shell that holds the FIFO's write end until it is killed or the container's process is gone. */
  private async spawnStdinHolder(pid: number, writer: number): Promise<ContainerRecord['stdinHolder']> {
    const holder = spawn('/bin/sh', ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 1; done', 'skiff-stdin', String(pid)], {
      detached: true,
      stdio: ['ignore', writer, 'ignore'],
    });
    await new Promise<void>((resolve, reject) => {
      holder.once('spawn', resolve);
      holder.once('error', reject);
    });
    holder.unref();
    return { pid: holder.pid!, startTime: (await procStat(holder.pid!))?.startTime };
  }

  /** stdinOnce: the program reads EOF once attach sessions have let go too. Recorded, so no attach writes to it again. */
  private async closeStdin(rec: ContainerRecord): Promise<void> {
    const holder = (await this.readRecord(rec.id))?.stdinHolder ?? rec.stdinHolder;
    if (holder) {
      const stat = await procStat(holder.pid);
      if (stat && (holder.startTime === undefined || stat.startTime === holder.startTime)) this.signalGroup(holder.pid, 'SIGKILL');
    }
    rec.stdinClosed = true;
    rec.stdinHolder = undefined;
    // Read again just before writing: the record may have gained its exit meanwhile.
    const latest = await this.readRecord(rec.id);
    if (latest && (!latest.stdinClosed || latest.stdinHolder)) {
      await writeJSON(path.join(this.containerDir(rec.id), 'record.json'), { ...latest, stdinClosed: true, stdinHolder: undefined }).catch(() => undefined);
    }
  }

  // ---- logs

  private containerLog(id: string): ContainerLog {
    let log = this.logs_.get(id);
    if (!log) {
      log = new ContainerLog(this.containerDir(id));
      this.logs_.set(id, log);
    }
    return log;
  }

  /** Stamps (and rotates) a running container's log every LOG_POLL_MS while this runtime is open. */
  private watch(id: string): void {
    this.watched.add(id);
    this.poller ??= setInterval(() => {
      for (const w of this.watched) void this.containerLog(w).update().catch(() => undefined);
    }, LOG_POLL_MS).unref();
  }

  private unwatch(id: string): void {
    if (!this.watched.delete(id)) return;
    void this.containerLog(id).update().catch(() => undefined); // the last lines get their times
    if (this.watched.size === 0 && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
  }

  private async running(id: string): Promise<boolean> {
    const rec = await this.readRecord(id);
    return !!rec && !rec.exit && (await this.alive(rec));
  }

  async logs(id: string, opts: LogOptions): Promise<Readable> {
    const bare = bareId(id);
    if (!(await this.readRecord(bare))) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
    return Readable.from(this.containerLog(bare).stream(opts, () => this.running(bare)), { objectMode: false });
  }

  private async readRecord(id: string): Promise<ContainerRecord | undefined> {
    return readJSON<ContainerRecord>(path.join(this.containerDir(id), 'record.json'));
  }

  private async records(): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = await fs.readdir(this.containersDir);
    } catch {
      return [];
    }
    const out: ContainerRecord[] = [];
    for (const id of ids) {
      const rec = await this.readRecord(id);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Whether the record's process is still there; fills in a pid lost to a crash right after spawning. */
  private async alive(rec: ContainerRecord): Promise<boolean> {
    const child = this.children.get(rec.id);
    if (child) return !child.exited;
    if (rec.pid === undefined) {
      // Started, but the agent died before writing the pid: the wrapper wrote it.
      const pid = Number((await fs.readFile(path.join(this.containerDir(rec.id), 'pid'), 'utf8').catch(() => '')).trim());
      if (!pid || !(await environHas(pid, `SKIFF_ROOT=${rec.root}`))) return false;
      const stat = await procStat(pid);
      if (!stat) return false;
      rec.pid = pid;
      rec.startTime = stat.startTime;
      rec.startedAt ??= rec.createdAt;
      await writeJSON(path.join(this.containerDir(rec.id), 'record.json'), rec);
    }
    const stat = await procStat(rec.pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
    if (rec.startTime !== undefined) return stat.startTime === rec.startTime;
    return environHas(rec.pid, `SKIFF_ROOT=${rec.root}`);
  }

  /** Works out (and records, once) how an exited container ended. */
  private async settleExit(rec: ContainerRecord): Promise<NonNullable<ContainerRecord['exit']>> {
    if (rec.exit) return rec.exit;
    const dir = this.containerDir(rec.id);
    let exitCode: number | undefined;
    let finishedAt: string | undefined;
    let reason: string | undefined;
    let message: string | undefined;
    const statusFile = path.join(dir, 'status');
    const status = (await fs.readFile(statusFile, 'utf8').catch(() => '')).trim();
    if (/^\d+$/.test(status)) {
      exitCode = Number(status);
      finishedAt = (await fs.stat(statusFile)).mtime.toISOString();
    }
    const child = this.children.get(rec.id);
    if (exitCode === undefined && child?.exited) {
      exitCode = child.code ?? 128 + signalNumber(child.signal ?? 'SIGKILL');
    }
    if (exitCode === undefined && rec.killed) exitCode = 137;
    if (exitCode === undefined) {
      exitCode = 137;
      reason = 'ContainerStatusUnknown';
      message = 'The container exited while no agent was watching it; its exit status is unknown';
    }
    if (!reason) reason = (await this.oomKilled(rec)) ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    rec.exit = { exitCode, reason, message, finishedAt: finishedAt ?? new Date().toISOString() };
    await writeJSON(path.join(dir, 'record.json'), rec).catch(() => undefined);
    // The outcome is recorded: the cgroups (and anything the program left running in them) can go.
    await this.removeCgroups(rec.cgroups);
    if (rec.stdinHolder) await this.closeStdin(rec);
    return rec.exit;
  }

  private info(rec: ContainerRecord, state: ContainerInfo['state'], exit?: ContainerRecord['exit']): ContainerInfo {
    return {
      id: `${SCHEME}${rec.id}`,
      podUid: rec.podUid,
      name: rec.name,
      attempt: rec.attempt,
      init: rec.init,
      state,
      startedAt: rec.startedAt,
      finishedAt: exit?.finishedAt,
      exitCode: exit?.exitCode,
      reason: exit?.reason,
      message: exit?.message,
      image: rec.image,
      imageID: rec.imageID,
    };
  }

  private async observe(rec: ContainerRecord): Promise<ContainerInfo> {
    if (rec.exit) {
      this.unwatch(rec.id);
      return this.info(rec, 'exited', rec.exit);
    }
    if (await this.alive(rec)) {
      this.watch(rec.id); // also adopts the containers of an agent that ran before this one
      return this.info(rec, 'running');
    }
    if (rec.pid === undefined) {
      const status = await fs.stat(path.join(this.containerDir(rec.id), 'status')).catch(() => undefined);
      if (!status) return this.info(rec, 'created'); // never started
    }
    this.unwatch(rec.id);
    return this.info(rec, 'exited', await this.settleExit(rec));
  }

  async listContainers(podUid?: string): Promise<ContainerInfo[]> {
    const out: ContainerInfo[] = [];
    for (const rec of await this.records()) {
      if (podUid !== undefined && rec.podUid !== podUid) continue;
      out.push(await this.observe(rec));
    }
    return out.sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
  }

  private signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
  }

  private async waitGone(rec: ContainerRecord, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    const child = this.children.get(rec.id);
    for (;;) {
      if (!(await this.alive(rec))) return true;
      if (Date.now() >= deadline) return false;
      if (child) await Promise.race([child.done, sleep(Math.min(100, deadline - Date.now()))]);
      else await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
    }
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    const rec = await this.readRecord(bareId(id));
    if (!rec) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
    if (rec.exit || !(await this.alive(rec)) || rec.pid === undefined) {
      if (!rec.exit && rec.pid !== undefined) await this.settleExit(rec);
      return;
    }
    this.signalGroup(rec.pid, 'SIGTERM');
    if (!(await this.waitGone(rec, Math.max(0, graceSeconds) * 1000))) await this.kill(rec);
    else this.signalGroup(rec.pid, 'SIGKILL'); // what the program left behind in its group
    await this.settleExit(rec);
  }

  /** SIGKILL to the group, then waits until the process is gone. */
  private async kill(rec: ContainerRecord): Promise<void> {
    if (rec.exit || rec.pid === undefined || !(await this.alive(rec))) return;
    rec.killed = true;
    await writeJSON(path.join(this.containerDir(rec.id), 'record.json'), rec).catch(() => undefined);
    this.signalGroup(rec.pid, 'SIGKILL');
    if (!(await this.waitGone(rec, 10_000))) throw new Error(`container ${rec.id} (pid ${rec.pid}) did not die after SIGKILL`);
    this.signalGroup(rec.pid, 'SIGKILL');
  }

  async removeContainer(id: string): Promise<void> {
    const bare = bareId(id);
    const rec = await this.readRecord(bare);
    if (rec) {
      await this.kill(rec); // a container still running is not left without a record
      await this.removeCgroups(rec.cgroups);
      if (rec.stdinHolder) await this.closeStdin(rec);
    }
    this.watched.delete(bare);
    this.logs_.delete(bare);
    this.children.delete(bare);
    await fs.rm(this.containerDir(bare), { recursive: true, force: true });
  }

  async exec(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult> {
    const rec = await this.readRecord(bareId(id));
    if (!rec) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
    if (rec.exit || !(await this.alive(rec))) throw new RuntimeError('ContainerNotRunning', `container ${rec.name} is not running`);
    if (!command.length) throw new RuntimeError('ExecError', 'exec needs a command');
    const program = rec.netns ? [this.ipPath, 'netns', 'exec', rec.netns, ...command] : command;
    return new Promise<ExecResult>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      const collect = (b: Buffer) => {
        if (size >= EXEC_OUTPUT_LIMIT) return;
        chunks.push(b.subarray(0, EXEC_OUTPUT_LIMIT - size));
        size += Math.min(b.length, EXEC_OUTPUT_LIMIT - size);
      };
      const proc = spawn(program[0], program.slice(1), { cwd: rec.cwd, env: rec.env as NodeJS.ProcessEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', collect);
      proc.stderr!.on('data', collect);
      const timer = setTimeout(
        () => {
          timedOut = true;
          if (proc.pid) this.signalGroup(proc.pid, 'SIGKILL');
        },
        Math.max(1, timeoutSeconds) * 1000,
      );
      proc.once('error', (e) => {
        clearTimeout(timer);
        resolve({ exitCode: 127, output: `exec: "${command[0]}": ${(e as Error).message}` });
      });
      proc.once('close', (code, signal) => {
        clearTimeout(timer);
        let output = Buffer.concat(chunks).toString('utf8');
        if (timedOut) output += `${output && !output.endsWith('\n') ? '\n' : ''}command timed out after ${timeoutSeconds}s`;
        resolve({ exitCode: code ?? 128 + signalNumber(signal ?? 'SIGKILL'), output });
      });
    });
  }

  /** The record of a running container, or the error to give for one that is not. */
  private async runningRecord(id: string): Promise<ContainerRecord> {
    const rec = await this.readRecord(bareId(id));
    if (!rec) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
    if (rec.exit || !(await this.alive(rec))) throw new RuntimeError('ContainerNotRunning', `container ${rec.name} is not running`);
    return rec;
  }

  /**
   * kubectl exec: the command runs as exec() runs it (the container's env and working directory, inside
   * the pod's network namespace), with pipes, in a process group of its own that close() kills, and in
   * the container's cgroups. With a terminal it runs under util-linux `script`, which holds the pty
   * (stderr is then merged into stdout). resize sets the size on the pty's slave with `stty -F`, and the
   * kernel sends SIGWINCH to the terminal's foreground job; without a terminal it is a no-op.
   */
  async execStream(id: string, command: string[], opts: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const rec = await this.runningRecord(id);
    if (!command.length) throw new RuntimeError('ExecError', 'exec needs a command');
    if (!(await resolveCommand(command[0], rec.env.PATH ?? '', rec.cwd))) {
      return endedSession(`exec: "${command[0]}": executable file not found in $PATH\n`, 127, opts);
    }
    const argv = opts.tty ? [this.scriptPath, '-qfec', command.map(shellQuote).join(' '), '/dev/null'] : command;
    const program = rec.netns ? [this.ipPath, 'netns', 'exec', rec.netns, ...argv] : argv;
    const proc = spawn(program[0], program.slice(1), {
      cwd: rec.cwd,
      env: rec.env as NodeJS.ProcessEnv,
      detached: true,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // Into the container's cgroups, as docker's exec: its limits apply, its use counts, and it ends with
    // the container (what is left in them is killed). Moved just after it started: a child forked in
    // its first moments may stay outside.
    if (proc.pid) for (const dir of rec.cgroups) void fs.writeFile(path.join(dir, 'cgroup.procs'), String(proc.pid)).catch(() => undefined);
    const stdout = new PassThrough();
    const stderr = opts.tty ? stdout : new PassThrough();
    proc.stdout!.pipe(stdout, { end: false });
    proc.stderr!.pipe(stderr, { end: false });
    let ended = false;
    const exit = new Promise<number>((resolve) => {
      const finish = (code: number, message?: string) => {
        if (ended) return;
        ended = true;
        if (message) stderr.write(message);
        stdout.end();
        stderr.end();
        resolve(code);
      };
      proc.once('error', (e) => finish(127, `exec: "${command[0]}": ${e.message}\n`));
      proc.once('close', (code, signal) => finish(code ?? 128 + signalNumber(signal ?? 'SIGKILL')));
    });
    proc.stdin?.on('error', () => undefined); // the command may exit without reading it all
    let size: { cols: number; rows: number } | undefined;
    let resizing = false;
    const applySize = async () => {
      if (resizing) return;
      resizing = true;
      try {
        let pts: string | undefined;
        for (let i = 0; !pts && !ended && i < 40; i++) {
          pts = await terminalOf(proc.pid!);
          if (!pts) await sleep(50);
        }
        while (pts && size && !ended) {
          const { cols, rows } = size;
          size = undefined;
          await execFileP(this.sttyPath, ['-F', pts, 'cols', String(cols), 'rows', String(rows)]).catch(() => undefined);
        }
      } finally {
        resizing = false;
      }
    };
    return {
      stdin: proc.stdin ?? undefined,
      stdout,
      stderr: opts.tty ? undefined : stderr,
      resize: (cols, rows) => {
        if (!opts.tty || ended || !proc.pid) return;
        size = { cols, rows };
        void applySize();
      },
      exit,
      close: () => {
        if (!ended && proc.pid) this.signalGroup(proc.pid, 'SIGKILL');
      },
    };
  }

  /**
   * kubectl attach: the container's output from now on, followed in its log (both streams come on
   * stdout, as the log file does not tell them apart; stderr ends at once), and with stdin the FIFO the
   * container was started with (refused when it was not). The program has no terminal: nothing to
   * resize. exit resolves with the container's exit code when it ends.
   */
  async attach(id: string, opts: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const rec = await this.runningRecord(id);
    let stdin: Socket | undefined;
    if (opts.stdin) {
      if (!rec.stdin) throw new RuntimeError('AttachError', `container ${rec.name} was not started with stdin (spec.containers[].stdin: true): cannot attach to it`);
      if (rec.stdinClosed) throw new RuntimeError('AttachError', `the stdin of container ${rec.name} was closed after its first attach (stdinOnce)`);
      let fd: number;
      try {
        // Non-blocking: a pipe that is full must not hold a libuv thread; the program holds a read end.
        fd = openSync(path.join(this.containerDir(rec.id), 'stdin'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      } catch (e) {
        throw new RuntimeError('AttachError', `container ${rec.name} no longer reads its stdin: ${(e as Error).message}`);
      }
      stdin = new Socket({ fd, readable: false, writable: true });
      stdin.on('error', () => undefined);
      if (rec.stdinOnce) stdin.once('close', () => void this.closeStdin(rec).catch(() => undefined));
    }
    let detached = false;
    const log = this.containerLog(rec.id);
    const from = await log.end(); // now, not when the stream is first read
    const stdout = Readable.from(
      log.stream({ follow: true, timestamps: false, from }, async () => !detached && (await this.running(rec.id))),
      { objectMode: false },
    );
    const exit = (async () => {
      while (!detached && (await this.running(rec.id))) await sleep(200);
      const latest = await this.readRecord(rec.id);
      if (detached || !latest) return new Promise<number>(() => undefined); // detached: nobody waits for it
      return (await this.observe(latest)).exitCode ?? 0;
    })();
    return {
      stdin,
      stdout,
      stderr: opts.tty ? undefined : Readable.from([]),
      resize: () => undefined,
      exit,
      close: () => {
        detached = true;
        stdout.destroy();
        stdin?.destroy();
      },
    };
  }

  /** Each running container's usage: from its own cgroups where it has them, else from its process tree in /proc. */
  async usage(): Promise<ContainerUsage[]> {
    let table: Awaited<ReturnType<typeof processTable>> | undefined;
    const out: ContainerUsage[] = [];
    for (const rec of await this.records()) {
      if (rec.exit || rec.pid === undefined || !(await this.alive(rec))) continue;
      // Only the container's own cgroups: a v1 controller it has none in would be the agent's (or the root's).
      const cg = rec.cgroups.length ? await cgroupUsage(rec.cgroups) : {};
      let { cpuNanoSeconds, memoryBytes } = cg;
      if (cpuNanoSeconds === undefined || memoryBytes === undefined) {
        table ??= await processTable();
        const tree = treeUsage(table, rec.pid);
        cpuNanoSeconds ??= tree?.cpuNanoSeconds;
        memoryBytes ??= tree?.memoryBytes;
      }
      if (cpuNanoSeconds === undefined) continue;
      out.push({ id: `${SCHEME}${rec.id}`, cpuNanoSeconds, memoryBytes: memoryBytes ?? 0 });
    }
    return out;
  }

  async close(): Promise<void> {
    // Containers keep running; their children's handles are already unref'd.
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    this.watched.clear();
    for (const child of this.children.values()) {
      child.proc.removeAllListeners('exit');
    }
    this.children.clear();
  }
}

/** Where `ip netns exec NAME` finds files to bind-mount over /etc's for the program it runs (iproute2's convention). */
const NETNS_ETC = '/etc/netns';

/** The name a host-network pod's view of the host's network namespace has (not skiff-: nothing of it may be killed or deleted). */
function hostDNSNetnsName(uid: string): string {
  return `skiffhost-${podKey(uid)}`;
}

/** The pod's resolv.conf, which `ip netns exec NAME` mounts over /etc/resolv.conf; rewritten in place when it changes. */
async function writePodResolvConf(netns: string, dns: DNSConfig): Promise<void> {
  const file = path.join(NETNS_ETC, netns, 'resolv.conf');
  const text = formatResolvConf(dns);
  if ((await fs.readFile(file, 'utf8').catch(() => undefined)) === text) return;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text, { mode: 0o644 });
}

function sameAsHostResolvConf(dns: DNSConfig): boolean {
  return formatResolvConf(dns) === formatResolvConf(readResolvConf(HOST_RESOLV_CONF));
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The pty a process's child reads from (the command `script` runs), if it has started. */
async function terminalOf(pid: number): Promise<string | undefined> {
  let kids = (await fs.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => undefined))?.trim().split(/\s+/).filter(Boolean).map(Number);
  if (!kids) kids = [...(await processTable()).values()].filter((p) => p.ppid === pid).map((p) => p.pid);
  for (const kid of kids) {
    const tty = await fs.readlink(`/proc/${kid}/fd/0`).catch(() => '');
    if (tty.startsWith('/dev/pts/')) return tty;
  }
  return undefined;
}

/** A command that could not start: its message, then its exit code. */
function endedSession(message: string, code: number, opts: { stdin: boolean; tty: boolean }): ExecSession {
  const stdout = new PassThrough();
  const stderr = opts.tty ? stdout : new PassThrough();
  stderr.end(message);
  if (!opts.tty) stdout.end();
  const stdin = opts.stdin ? new PassThrough() : undefined;
  stdin?.resume();
  return { stdin, stdout, stderr: opts.tty ? undefined : stderr, resize: () => undefined, exit: Promise.resolve(code), close: () => undefined };
}

/**
 * A ProcessRuntime for this machine: with pod networking when it is Linux, the agent is root, `ip netns`
 * works and the node has a podCIDR; sharing the host's network otherwise.
 */
export async function createProcessRuntime(options: {
  dataDir: string;
  podCIDR?: string;
  hostIP?: string;
  bridge?: string;
  masquerade?: boolean;
  version?: string;
}): Promise<ProcessRuntime> {
  let podNetwork: PodNetwork | undefined;
  if (options.podCIDR && !options.podCIDR.includes(':') && (await PodNetwork.supported())) {
    podNetwork = new PodNetwork({
      podCIDR: options.podCIDR,
      dataDir: path.join(options.dataDir, 'network'),
      bridge: options.bridge,
      masquerade: options.masquerade,
    });
    await podNetwork.setup();
  }
  return new ProcessRuntime({ dataDir: options.dataDir, podNetwork, hostIP: options.hostIP, version: options.version });
}

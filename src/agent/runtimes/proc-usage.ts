// Usage read straight from the kernel: cgroup files (v2 and v1), the /proc process table, and the
// host's /proc/stat and /proc/meminfo. Each read takes microseconds, where docker's stats API takes a
// second or two per container. Linux only; elsewhere every reader answers undefined.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface Usage {
  /** Cumulative CPU time, nanoseconds. */
  cpuNanoSeconds: number;
  /** Working set, bytes. */
  memoryBytes: number;
}

let sysconf: { ticks: number; page: number } | undefined;

/** USER_HZ and the page size, for /proc's clock ticks and pages (getconf once; the usual values if it fails). */
function sysconfValues(): { ticks: number; page: number } {
  if (!sysconf) {
    const get = (name: string, fallback: number) => {
      try {
        const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
        return v > 0 ? v : fallback;
      } catch {
        return fallback;
      }
    };
    sysconf = { ticks: get('CLK_TCK', 100), page: get('PAGESIZE', 4096) };
  }
  return sysconf;
}

async function readText(file: string): Promise<string | undefined> {
  return fs.readFile(file, 'utf8').catch(() => undefined);
}

async function readNumber(file: string): Promise<number | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

function statField(text: string | undefined, key: string): number | undefined {
  const m = text && new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

// ---- cgroups

interface CgroupMount {
  /** The hierarchy's folder that is mounted (not "/" inside a cgroup namespace's view of a parent). */
  root: string;
  mountpoint: string;
  v2: boolean;
  /** v1: the controllers of the hierarchy (cpu, cpuacct, memory, ...). */
  controllers: string[];
}

let mounts: Promise<CgroupMount[]> | undefined;

function cgroupMounts(): Promise<CgroupMount[]> {
  mounts ??= (async () => {
    const out: CgroupMount[] = [];
    for (const line of ((await readText('/proc/self/mountinfo')) ?? '').split('\n')) {
      // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
      const [left, right] = line.split(' - ');
      if (!left || !right) continue;
      const f = left.split(' ');
      const [fstype, , superOptions] = right.split(' ');
      if (fstype === 'cgroup2') out.push({ root: f[3], mountpoint: f[4], v2: true, controllers: [] });
      else if (fstype === 'cgroup') out.push({ root: f[3], mountpoint: f[4], v2: false, controllers: (superOptions ?? '').split(',') });
    }
    return out;
  })();
  return mounts;
}

function under(mount: CgroupMount, cgroupPath: string): string | undefined {
  const root = mount.root === '/' ? '' : mount.root;
  if (root && cgroupPath !== root && !cgroupPath.startsWith(`${root}/`)) return undefined;
  return path.join(mount.mountpoint, cgroupPath.slice(root.length));
}

/**
 * The cgroup folders a process is in that hold its CPU and memory accounting: on v1 the cpuacct and
 * memory hierarchies' (the controllers live there, even when a v2 hierarchy is mounted too), else the
 * v2 one. Undefined when the process is gone or nothing is mounted.
 */
export async function cgroupDirsOf(pid: number): Promise<string[] | undefined> {
  const text = await readText(`/proc/${pid}/cgroup`);
  if (!text) return undefined;
  const all = await cgroupMounts();
  const v1: string[] = [];
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, hid, list, p] = m;
    if (hid === '0' && list === '') {
      const mount = all.find((x) => x.v2);
      v2 = mount && under(mount, p);
      continue;
    }
    const names = list.split(',');
    if (!names.includes('cpuacct') && !names.includes('memory')) continue;
    const mount = all.find((x) => !x.v2 && names.some((n) => x.controllers.includes(n)));
    const dir = mount && under(mount, p);
    if (dir) v1.push(dir);
  }
  const dirs = [...v1, ...(v2 ? [v2] : [])];
  return dirs.length ? dirs : undefined;
}

/** CPU and working set from the first of the folders that has each (v2 or v1 files). */
export async function cgroupUsage(dirs: string[]): Promise<Partial<Usage>> {
  const out: Partial<Usage> = {};
  for (const dir of dirs) {
    if (out.cpuNanoSeconds === undefined) {
      const v1 = await readNumber(path.join(dir, 'cpuacct.usage'));
      if (v1 !== undefined) out.cpuNanoSeconds = v1;
      else {
        const usec = statField(await readText(path.join(dir, 'cpu.stat')), 'usage_usec');
        if (usec !== undefined) out.cpuNanoSeconds = usec * 1000;
      }
    }
    if (out.memoryBytes === undefined) {
      // cAdvisor's working set: usage less inactive file cache.
      const current = await readNumber(path.join(dir, 'memory.current'));
      if (current !== undefined) {
        const inactive = statField(await readText(path.join(dir, 'memory.stat')), 'inactive_file') ?? 0;
        out.memoryBytes = Math.max(0, current - inactive);
      } else {
        const usage = await readNumber(path.join(dir, 'memory.usage_in_bytes'));
        if (usage !== undefined) {
          const inactive = statField(await readText(path.join(dir, 'memory.stat')), 'total_inactive_file') ?? 0;
          out.memoryBytes = Math.max(0, usage - inactive);
        }
      }
    }
  }
  return out;
}

// ---- processes

export interface ProcEntry {
  pid: number;
  ppid: number;
  session: number;
  /** utime + stime + cutime + cstime: the process's CPU and that of the children it reaped. */
  ticks: number;
  rssBytes: number;
}

/** Every process of the machine (one read of /proc/PID/stat each). */
export async function processTable(): Promise<Map<number, ProcEntry>> {
  const { page } = sysconfValues();
  const table = new Map<number, ProcEntry>();
  const names = await fs.readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        const text = await readText(`/proc/${n}/stat`);
        if (!text) return;
        // Fields after "(comm) ": state ppid pgrp session ... utime(14) stime cutime cstime ... rss(24).
        const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
        const num = (i: number) => Number(f[i - 3]);
        table.set(Number(n), { pid: Number(n), ppid: num(4), session: num(6), ticks: num(14) + num(15) + num(16) + num(17), rssBytes: num(24) * page });
      }),
  );
  return table;
}

/**
 * Usage of a process and everything it started: its descendants and its session's members (a program
 * that setsid()s its children keeps them in the tree by parentage). CPU of the children they reaped is
 * counted through cutime and cstime; memory is the summed RSS (no cgroup to give a working set).
 */
export function treeUsage(table: Map<number, ProcEntry>, root: number): Usage | undefined {
  if (!table.has(root)) return undefined;
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const members = new Set<number>([root]);
  for (const p of table.values()) if (p.session === root) members.add(p.pid);
  const queue = [...members];
  while (queue.length) {
    for (const c of children.get(queue.pop()!) ?? []) {
      if (!members.has(c)) {
        members.add(c);
        queue.push(c);
      }
    }
  }
  let ticks = 0;
  let rss = 0;
  for (const pid of members) {
    const p = table.get(pid)!;
    ticks += p.ticks;
    rss += p.rssBytes;
  }
  return { cpuNanoSeconds: Math.round((ticks * 1e9) / sysconfValues().ticks), memoryBytes: rss };
}

// ---- the host

/** The machine's CPU time in use (not idle nor waiting on I/O) and its working set: MemTotal - MemAvailable. */
export async function hostUsage(): Promise<Usage | undefined> {
  const stat = await readText('/proc/stat');
  const meminfo = await readText('/proc/meminfo');
  if (!stat || !meminfo) return undefined;
  const cpu = /^cpu\s+(.*)$/m.exec(stat)?.[1].trim().split(/\s+/).map(Number);
  if (!cpu) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already counted in user).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(meminfo)?.[1] ?? NaN) * 1024;
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  return {
    cpuNanoSeconds: Math.round(((user + nice + system + irq + softirq + steal) * 1e9) / sysconfValues().ticks),
    memoryBytes: Number.isFinite(total) && Number.isFinite(available) ? Math.max(0, total - available) : 0,
  };
}

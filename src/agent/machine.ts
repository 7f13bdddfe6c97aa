// Measures the machine the agent runs on, for its Node's capacity, nodeInfo and addresses, and
// derives kubelet's pressure conditions from hard eviction thresholds: kubelet's defaults
// memory.available<100Mi and nodefs.available<10%, and pid.available<10%.
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  /** Bytes. */
  memoryTotal: number;
  memoryAvailable: number;
  /** The data folder's filesystem, bytes. */
  storageTotal: number;
  storageAvailable: number;
  pidMax: number;
  pidCurrent: number;
  gpus: number;
  /** kubernetes.io/os: linux, darwin, windows. */
  operatingSystem: string;
  /** kubernetes.io/arch in Go's names: amd64, arm64, arm, 386, ppc64le, s390x. */
  architecture: string;
  kernelVersion: string;
  osImage: string;
  hostname: string;
  internalIP: string;
  machineID: string;
  systemUUID: string;
  bootID: string;
}

export const MEMORY_EVICTION_THRESHOLD = 100 * 1024 * 1024; // memory.available<100Mi
export const NODEFS_EVICTION_FRACTION = 0.1; // nodefs.available<10%
export const PID_EVICTION_FRACTION = 0.1; // pid.available<10%

const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
const GO_OS: Record<string, string> = { win32: 'windows', linux: 'linux', darwin: 'darwin', freebsd: 'freebsd' };

export const goArch = (arch = os.arch()): string => GO_ARCH[arch] ?? arch;
export const goOs = (platform: string = os.platform()): string => GO_OS[platform] ?? platform;

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** MemAvailable from /proc/meminfo (bytes), or os.freemem() where there is none. */
export async function memoryAvailable(): Promise<number> {
  const meminfo = await readText('/proc/meminfo');
  const m = meminfo && /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : os.freemem();
}

/** PRETTY_NAME from /etc/os-release, as kubelet's osImage; else the OS's own name and release. */
export async function osImage(): Promise<string> {
  const text = (await readText('/etc/os-release')) ?? (await readText('/usr/lib/os-release'));
  const m = text && /^PRETTY_NAME=(.*)$/m.exec(text);
  if (m) return m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2');
  return `${os.type()} ${os.release()}`;
}

/** The first non-internal IPv4 address, else 127.0.0.1. */
export function internalIP(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** `nvidia-smi -L` lines that name a GPU; 0 when the command is absent or fails (within 5 s). */
export function countGpus(): Promise<number> {
  return new Promise((resolve) => {
    try {
      execFile('nvidia-smi', ['-L'], { timeout: 5_000, windowsHide: true }, (err, stdout) => {
        if (err) return resolve(0);
        resolve(String(stdout).split('\n').filter((l) => /^GPU \d+/.test(l.trim())).length);
      });
    } catch {
      resolve(0);
    }
  });
}

let gpuCache: { at: number; count: Promise<number> } | undefined;
/** The GPU count, asked of nvidia-smi at most once a minute. */
function gpus(): Promise<number> {
  const now = Date.now();
  if (!gpuCache || now - gpuCache.at > 60_000) gpuCache = { at: now, count: countGpus() };
  return gpuCache.count;
}

async function pids(): Promise<{ max: number; current: number }> {
  const max = Number((await readText('/proc/sys/kernel/pid_max'))?.trim()) || 0;
  // /proc/loadavg's 4th field is running/total scheduling entities, sysinfo's procs (kubelet's count).
  const loadavg = await readText('/proc/loadavg');
  const m = loadavg && /\s\d+\/(\d+)\s/.exec(loadavg);
  const current = m ? Number(m[1]) : 0;
  return { max: max || 4_194_304, current };
}

async function storage(dir: string): Promise<{ total: number; available: number }> {
  try {
    const s = await statfs(dir);
    return { total: s.blocks * s.bsize, available: s.bavail * s.bsize };
  } catch {
    return { total: 0, available: 0 };
  }
}

/** Everything about the machine a Node reports, its filesystem being the one holding `dataDir`. */
export async function measureMachine(dataDir: string, opts: { nodeIP?: string } = {}): Promise<MachineInfo> {
  const [memAvail, disk, pid, gpuCount, image, machineId, bootId, productUuid] = await Promise.all([
    memoryAvailable(),
    storage(dataDir),
    pids(),
    gpus(),
    osImage(),
    readText('/etc/machine-id'),
    readText('/proc/sys/kernel/random/boot_id'),
    readText('/sys/class/dmi/id/product_uuid'),
  ]);
  const machineID = machineId?.trim() ?? '';
  return {
    cpus: os.cpus().length || 1,
    memoryTotal: os.totalmem(),
    memoryAvailable: memAvail,
    storageTotal: disk.total,
    storageAvailable: disk.available,
    pidMax: pid.max,
    pidCurrent: pid.current,
    gpus: gpuCount,
    operatingSystem: goOs(),
    architecture: goArch(),
    kernelVersion: os.release(),
    osImage: image,
    hostname: os.hostname().toLowerCase(),
    internalIP: opts.nodeIP ?? internalIP(),
    machineID,
    systemUUID: productUuid?.trim() || machineID,
    bootID: bootId?.trim() ?? '',
  };
}

const inFlight = new Map<string, { at: number; info: Promise<MachineInfo> }>();
/** measureMachine shared by every caller within `maxAgeMs` (many simulated nodes, one machine). */
export function measureMachineCached(dataDir: string, maxAgeMs = 5_000, opts: { nodeIP?: string } = {}): Promise<MachineInfo> {
  const key = `${dataDir}\u0000${opts.nodeIP ?? ''}`;
  const now = Date.now();
  const hit = inFlight.get(key);
  if (hit && now - hit.at < maxAgeMs) return hit.info;
  const info = measureMachine(dataDir, opts);
  inFlight.set(key, { at: now, info });
  info.catch(() => inFlight.delete(key));
  return info;
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

/** Which of kubelet's pressure conditions hold, from its default hard eviction thresholds. */
export function pressures(m: Pick<MachineInfo, 'memoryAvailable' | 'storageTotal' | 'storageAvailable' | 'pidMax' | 'pidCurrent'>): {
  memory: boolean;
  disk: boolean;
  pid: boolean;
} {
  return {
    memory: m.memoryAvailable < MEMORY_EVICTION_THRESHOLD,
    disk: m.storageTotal > 0 && m.storageAvailable < m.storageTotal * NODEFS_EVICTION_FRACTION,
    pid: m.pidMax > 0 && m.pidMax - m.pidCurrent < m.pidMax * PID_EVICTION_FRACTION,
  };
}

/** MemoryPressure, DiskPressure and PIDPressure with kubelet's reasons and messages (no times). */
export function pressureConditions(p: { memory: boolean; disk: boolean; pid: boolean }): NodeCondition[] {
  return [
    p.memory
      ? { type: 'MemoryPressure', status: 'True', reason: 'KubeletHasInsufficientMemory', message: 'kubelet has insufficient memory available' }
      : { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    p.disk
      ? { type: 'DiskPressure', status: 'True', reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure' }
      : { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    p.pid
      ? { type: 'PIDPressure', status: 'True', reason: 'KubeletHasInsufficientPID', message: 'kubelet has insufficient PID available' }
      : { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
  ];
}

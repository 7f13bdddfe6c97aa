// What `kubectl top` reads from a node: CPU as a rate over a window and memory as the working set, for
// the node and its pods' containers. Like kubelet's housekeeping (cAdvisor), the runtime's cumulative
// counters are sampled every 10 s and the last two samples make the window.
import type { NodeStats } from '../tunnel/head.js';
import type { ContainerUsage, Runtime } from './runtime.js';
import { hostUsage, type Usage } from './runtimes/proc-usage.js';

export interface UsageSamplerOptions {
  /** Between samples; default 10 s, kubelet's housekeeping interval. */
  intervalMs?: number;
  /**
   * The node's own usage. Default: the runtime's nodeUsage() when it has one (the simulated runtime:
   * a simulated node is not the host), else the host's /proc/stat and /proc/meminfo.
   */
  nodeUsage?: () => Promise<Usage | undefined>;
  /** The least window a first answer waits for, when only one sample exists yet; default 1 s. */
  firstWindowMs?: number;
}

interface Sample {
  /** Monotonic clock, nanoseconds: the window's length. */
  mono: bigint;
  /** Wall clock, ms: the answer's timestamp and fresh containers' windows. */
  wall: number;
  node?: Usage;
  containers: Map<string, ContainerUsage>;
}

export interface PodKey {
  namespace: string;
  name: string;
  uid: string;
}

export class UsageSampler {
  private readonly intervalMs: number;
  private readonly firstWindowMs: number;
  private readonly nodeUsage: () => Promise<Usage | undefined>;
  /** The last two samples, oldest first. */
  private samples: Sample[] = [];
  private sampling?: Promise<Sample>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly runtime: Runtime,
    options: UsageSamplerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.firstWindowMs = options.firstWindowMs ?? 1000;
    const own = (runtime as Runtime & { nodeUsage?: () => Promise<Usage> }).nodeUsage;
    this.nodeUsage = options.nodeUsage ?? (own ? () => own.call(runtime) : hostUsage);
  }

  /** Takes a first sample now, then one every interval. */
  start(): void {
    if (this.timer) return;
    void this.sample().catch(() => undefined);
    this.timer = setInterval(() => void this.sample().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample at a time: a caller arriving while one is taken gets that one. */
  sample(): Promise<Sample> {
    this.sampling ??= (async () => {
      try {
        const [containers, node] = await Promise.all([this.runtime.usage(), this.nodeUsage().catch(() => undefined)]);
        const s: Sample = { mono: process.hrtime.bigint(), wall: Date.now(), node, containers: new Map(containers.map((c) => [c.id, c])) };
        this.samples = [...this.samples, s].slice(-2);
        return s;
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }

  /** Two samples to make a window from: the first answer takes a second one ~1 s after the first. */
  private async window(): Promise<[Sample, Sample]> {
    if (this.sampling) await this.sampling.catch(() => undefined);
    if (this.samples.length === 0) await this.sample();
    if (this.samples.length < 2) {
      const wait = this.samples[0].wall + this.firstWindowMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.samples.length < 2) await this.sample();
    }
    return [this.samples[0], this.samples[1]];
  }

  /** The node's and the given pods' usage over the last window (pods' running containers, by name). */
  async stats(pods: PodKey[]): Promise<NodeStats> {
    const [a, b] = await this.window();
    const seconds = Number(b.mono - a.mono) / 1e9;
    const rate = (from: number, to: number, over: number) => (over > 0 ? Math.max(0, Math.round((to - from) / over)) : 0);
    const infos = await this.runtime.listContainers();
    const byPod = new Map<string, typeof infos>();
    for (const info of infos) {
      const list = byPod.get(info.podUid);
      if (list) list.push(info);
      else byPod.set(info.podUid, [info]);
    }
    return {
      timestamp: new Date(b.wall).toISOString(),
      windowSeconds: seconds,
      node: {
        cpuNanoCores: a.node && b.node ? rate(a.node.cpuNanoSeconds, b.node.cpuNanoSeconds, seconds) : 0,
        memoryBytes: b.node?.memoryBytes ?? 0,
      },
      pods: pods.map((p) => ({
        namespace: p.namespace,
        name: p.name,
        uid: p.uid,
        containers: (byPod.get(p.uid) ?? []).flatMap((info) => {
          const now = b.containers.get(info.id);
          if (!now) return [];
          const before = a.containers.get(info.id);
          let cpuNanoCores: number;
          if (before) cpuNanoCores = rate(before.cpuNanoSeconds, now.cpuNanoSeconds, seconds);
          else {
            // Started within the window: its whole use over its life so far.
            const started = info.startedAt ? Date.parse(info.startedAt) : NaN;
            cpuNanoCores = Number.isNaN(started) ? 0 : rate(0, now.cpuNanoSeconds, Math.max(1, b.wall - started) / 1000);
          }
          return [{ name: info.name, cpuNanoCores, memoryBytes: now.memoryBytes }];
        }),
      })),
    };
  }
}

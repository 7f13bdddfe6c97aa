// Reports what the node's pods use to the control plane every 15 s (metrics-server's resolution), so
// the HorizontalPodAutoscaler controller and `kubectl top` can read it from the database: a reconcile
// pass cannot ask nodes through their tunnels. The report is the sampler's NodeStats as it stands.
import type { ApiClient } from './client.js';
import type { PodKey, UsageSampler } from './usage.js';

export interface UsageReporterOptions {
  client: ApiClient;
  nodeName: string;
  usage: UsageSampler;
  /** The pods bound to the node, whose usage is reported. */
  pods: () => PodKey[];
  /** Between reports; default 15 s. */
  intervalMs?: number;
  log?: (line: string) => void;
}

export class UsageReporter {
  private timer?: NodeJS.Timeout;
  private reporting = false;
  private failing = false;

  constructor(private readonly opts: UsageReporterOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.report(), this.opts.intervalMs ?? 15_000);
    this.timer.unref();
    void this.report();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One report; a failure is logged once until a report gets through again (the control plane may be away). */
  async report(): Promise<void> {
    if (this.reporting) return;
    this.reporting = true;
    try {
      const stats = await this.opts.usage.stats(this.opts.pods());
      await this.opts.client.update(`/skiff/v1/nodes/${encodeURIComponent(this.opts.nodeName)}/usage`, stats, { timeoutMs: 10_000 });
      if (this.failing) this.opts.log?.('usage reports get through again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.opts.log?.(`cannot report usage: ${(err as Error).message}`);
      this.failing = true;
    } finally {
      this.reporting = false;
    }
  }
}

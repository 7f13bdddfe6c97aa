// Played nodes syncing on a real-time interval, for tests against a server that runs its own passes.
import type { NodePlayer } from './node-player.js';

/**
 * Nodes that sync every interval, one round at a time; failures are kept for the test to report.
 * stop() and a later start() pause it, so that no node write kicks a pass meanwhile.
 */
export class NodeLoop {
  readonly errors: unknown[] = [];
  private timer?: ReturnType<typeof setInterval>;
  private running?: Promise<void>;

  constructor(
    private nodes: NodePlayer[],
    private intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = Promise.all(this.nodes.map((n) => n.sync()))
        .then(() => undefined)
        .catch((e) => void this.errors.push(e))
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

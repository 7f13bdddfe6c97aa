import type { Clock } from '../store/clock.js';
import type { Store } from '../store/store.js';
import { collectGarbage } from './garbage-collector.js';
import { finishNamespaces } from './namespaces.js';

// One reconcile pass: every controller in a fixed order, each deriving its work from the
// database alone, so a pass can die halfway and the next one carries on.

export interface PassResult {
  writes: number;
  roundTrips: number;
}

export interface ControlOptions {
  /** Changes kept in the log for watches to resume from; older ones are compacted away. */
  changeLogSize: number;
}

export const defaultControlOptions: ControlOptions = { changeLogSize: 100_000 };

export async function reconcile(store: Store, clock: Clock, opts: ControlOptions = defaultControlOptions): Promise<PassResult> {
  const before = store.roundTrips;
  let writes = 0;
  writes += await collectGarbage(store, clock);
  writes += await finishNamespaces(store, clock);
  await store.compact(opts.changeLogSize);
  return { writes, roundTrips: store.roundTrips - before };
}

/**
 * Runs passes on a timer and soon after writes (debounced), one at a time. For long-lived
 * processes (`skiff serve`); Workers run passes from cron and waitUntil instead.
 */
export class PassScheduler {
  private timer?: ReturnType<typeof setInterval>;
  private kickTimer?: ReturnType<typeof setTimeout>;
  private running?: Promise<void>;
  private again = false;

  constructor(
    private run: () => Promise<unknown>,
    private intervalMs: number,
    private debounceMs = 20,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(0), this.intervalMs);
  }

  /** Ask for a pass soon. */
  kick(delay = this.debounceMs): void {
    if (this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      void this.runOnce();
    }, delay);
  }

  private async runOnce(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run()
      .then(() => undefined)
      .catch((e) => console.error('reconcile pass failed:', e))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
    await this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.kickTimer);
    await this.running;
  }
}

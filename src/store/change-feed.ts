import { CompactedError, type ChangeEvent, type Store } from './store.js';

// One reader of the change log for every watch of a process or isolate: each wake-up (a local
// commit, or the poll interval for writers elsewhere) costs one query, however many watch.

/** One watch's interest in the change log. */
export interface Subscriber {
  kind: string;
  namespace?: string;
  /** The newest revision this subscriber has been given. */
  rev: number;
  /** Needs the previous state of modified objects (a watch with a selector). */
  previous?: boolean;
  deliver(events: ChangeEvent[], rev: number): void;
  fail(err: unknown): void;
}

export class ChangeFeed {
  private subscribers = new Set<Subscriber>();
  private wake?: () => void;
  private running = false;

  constructor(
    readonly store: Store,
    private pollIntervalMs: number,
  ) {
    store.onCommit(() => this.wake?.());
  }

  /**
   * Events of `kind` (in `namespace`, when given) after revision `rev`, in order, until the returned
   * function is called. `deliver` also gets the revision read up to, for bookmarks.
   */
  subscribe(s: Subscriber): () => void {
    this.subscribers.add(s);
    if (!this.running) void this.run();
    else this.wake?.();
    return () => this.subscribers.delete(s);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.subscribers.size > 0) {
        const subs = [...this.subscribers];
        const from = Math.min(...subs.map((s) => s.rev));
        const kinds = [...new Set(subs.map((s) => s.kind))];
        let page: { events: ChangeEvent[]; rev: number };
        try {
          page = await this.store.changesSince(kinds, from, undefined, 1000, subs.some((s) => s.previous));
        } catch (err) {
          // Past compaction: only the subscribers that are that far behind fail.
          if (!(err instanceof CompactedError)) throw err;
          for (const s of subs) {
            if (s.rev < err.compacted) {
              this.subscribers.delete(s);
              s.fail(err);
            }
          }
          continue;
        }
        for (const s of subs) {
          if (!this.subscribers.has(s) || s.rev >= page.rev) continue;
          const mine = page.events.filter((e) => e.rev > s.rev && e.kind === s.kind && (s.namespace === undefined || e.object.metadata?.namespace === s.namespace));
          s.rev = page.rev;
          s.deliver(mine, page.rev);
        }
        if (page.events.length > 0 && page.rev > from) continue; // maybe more
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollIntervalMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    } catch (err) {
      for (const s of this.subscribers) s.fail(err);
      this.subscribers.clear();
    } finally {
      this.running = false;
    }
  }
}

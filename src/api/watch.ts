import { apiVersionOf } from '../kinds/registry.js';
import type { KindDef, KObject } from '../kinds/types.js';
import type { Subscriber as WatchSubscriber } from '../store/change-feed.js';
import { CompactedError, type Store } from '../store/store.js';
import { selects, validateListOptions, type Selection } from './list.js';
import { queryBool, queryOptionalBool } from './query.js';
import { ApiError, badRequest, gone } from './status.js';

// Watch: newline-delimited events read from the change log after a resourceVersion. Events come
// from the process's one ChangeFeed (src/store/change-feed.ts), woken by its commits, or, where
// nothing can wake a watch (a Worker), from the watch's own bounded polls (PolledChanges).

/** Where a watch's events come from: a ChangeFeed, or PolledChanges (which may `end` the watch). */
export interface WatchSource {
  readonly store: Store;
  /** Events after `s.rev` until the returned function is called. */
  subscribe(s: WatchSubscriber, end: () => void): () => void;
}

/** How a watch that nothing wakes reads the change log. */
export interface WatchPolling {
  /** The most reads one watch makes; then its stream ends, as at its timeout, and the client resumes. */
  maxPolls: number;
  /** The wait after a poll that found changes, and after the first empty one. */
  intervalMs: number;
  /** Each further empty poll doubles the wait, up to this. */
  maxIntervalMs: number;
}

/**
 * A Worker's default: 40 polls keep a watch (with the 1-2 round trips that start it) inside the 50
 * subrequests of a Workers Free invocation. A busy watch lasts about 40 s; a quiet one (waits of 1,
 * 2, 4, then 5 s) about 190 s. The price: after a quiet spell, the first event waits up to 5 s.
 */
export const defaultWatchPolling: WatchPolling = { maxPolls: 40, intervalMs: 1_000, maxIntervalMs: 5_000 };

/** Changes read per poll; a full page is followed by the next poll at once. */
const POLL_PAGE = 1000;

/**
 * Each watch polls the change log by itself, at most `maxPolls` times, backing off while nothing
 * happens, then ends. For Workers: isolates share no memory, so no commit can wake a watch, and each
 * poll is a subrequest of the watch's invocation.
 */
export class PolledChanges implements WatchSource {
  constructor(
    readonly store: Store,
    private policy: WatchPolling,
  ) {}

  subscribe(s: WatchSubscriber, end: () => void): () => void {
    let stopped = false;
    let wake = () => {};
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    const poll = async () => {
      const { maxPolls, intervalMs, maxIntervalMs } = this.policy;
      let quietWait = intervalMs;
      for (let polls = 1; ; polls++) {
        const page = await this.store.changesSince(s.kind, s.rev, s.namespace, POLL_PAGE, s.previous);
        if (stopped) return;
        s.rev = page.rev;
        s.deliver(page.events, page.rev);
        if (polls >= maxPolls) return end();
        if (page.events.length === POLL_PAGE) continue;
        if (page.events.length > 0) {
          quietWait = intervalMs;
          await sleep(intervalMs);
        } else {
          await sleep(quietWait);
          quietWait = Math.min(quietWait * 2, maxIntervalMs);
        }
        if (stopped) return;
      }
    };
    poll().catch((e) => {
      if (!stopped) s.fail(e);
    });
    return () => {
      stopped = true;
      wake();
    };
  }
}

export interface WatchOptions {
  resourceVersion?: string;
  timeoutSeconds: number;
  bookmarks: boolean;
  /**
   * sendInitialEvents: true, the current state first and then (with bookmarks) a BOOKMARK marking
   * its end; false, no state first; undefined, the state first only without a resourceVersion.
   */
  initialEvents?: boolean;
  bookmarkIntervalMs: number;
  /** Turns an object into what the event carries (the object itself, or a one-row Table). */
  render: (obj: KObject) => unknown;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export function watchOptionsFrom(q: URLSearchParams, maxSeconds: number): Pick<WatchOptions, 'resourceVersion' | 'timeoutSeconds' | 'bookmarks' | 'initialEvents'> {
  validateListOptions(q, true);
  const t = q.get('timeoutSeconds');
  const timeoutSeconds = t === null ? maxSeconds : Number(t);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0) throw badRequest(`invalid timeoutSeconds: ${t}`);
  const rv = q.get('resourceVersion') ?? undefined;
  if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion: ${rv}`);
  return {
    resourceVersion: rv,
    timeoutSeconds: Math.min(timeoutSeconds || maxSeconds, maxSeconds),
    bookmarks: queryBool(q, 'allowWatchBookmarks'),
    initialEvents: queryOptionalBool(q, 'sendInitialEvents'),
  };
}

export function watchResponse(source: WatchSource, def: KindDef, sel: Selection, opts: WatchOptions, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  let stop: () => void = () => {};
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      let closed = false;
      let unsubscribe = () => {};
      let bookmarks: ReturnType<typeof setInterval> | undefined;
      const deadline = setTimeout(() => finish(), opts.timeoutSeconds * 1000);
      const finish = () => {
        if (closed) return;
        closed = true;
        clearTimeout(deadline);
        clearInterval(bookmarks);
        unsubscribe();
        try {
          controller.close();
        } catch {
          // already closed by the reader going away
        }
      };
      stop = finish;
      signal.addEventListener('abort', finish);
      const send = (type: EventType, object: unknown) => {
        if (!closed) controller.enqueue(encoder.encode(JSON.stringify({ type, object }) + '\n'));
      };
      const fail = (e: unknown) => {
        const err = e instanceof CompactedError
          ? gone(`too old resource version: ${opts.resourceVersion} (${e.compacted})`)
          : e instanceof ApiError ? e : new ApiError(500, 'InternalError', String((e as Error)?.message ?? e));
        send('ERROR', err.toStatus());
        finish();
      };

      const bookmark = (rev: number, annotations?: Record<string, string>) =>
        send('BOOKMARK', { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(rev), ...(annotations ? { annotations } : {}) } });
      try {
        let rev: number;
        const fromNow = !opts.resourceVersion || opts.resourceVersion === '0';
        if (opts.initialEvents ?? fromNow) {
          // The current state first, as synthetic ADDED events.
          const page = await source.store.list(def.kind, { namespace: sel.namespace });
          for (const obj of page.items) if (selects(sel, obj)) send('ADDED', opts.render(obj));
          rev = page.rev;
          // A watch-list client (client-go's WatchListClient) waits for this mark before it syncs.
          if (opts.initialEvents && opts.bookmarks) bookmark(rev, { 'k8s.io/initial-events-end': 'true' });
        } else if (fromNow) {
          rev = (await source.store.revision()).rev;
        } else {
          rev = Number(opts.resourceVersion);
        }
        if (closed) return;
        const filtered = sel.labels.length > 0 || sel.fields.length > 0;
        if (opts.bookmarks) bookmarks = setInterval(() => bookmark(rev), opts.bookmarkIntervalMs);
        unsubscribe = source.subscribe({
          kind: def.kind,
          namespace: sel.namespace,
          rev,
          previous: filtered,
          deliver: (events, head) => {
            for (const e of events) {
              const now = selects(sel, e.object);
              // As kube-apiserver: an object entering the selection is ADDED, one leaving it DELETED.
              const before = e.type === 'MODIFIED' && filtered ? (e.previous ? selects(sel, e.previous) : now) : now;
              if (now && before) send(e.type, opts.render(e.object));
              else if (now) send('ADDED', opts.render(e.object));
              else if (before) send('DELETED', opts.render(e.object));
            }
            rev = head;
          },
          fail,
        }, finish);
      } catch (e) {
        fail(e);
      }
    },
    cancel() {
      stop();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
  });
}

import { apiVersionOf } from '../kinds/registry.js';
import type { KindDef, KObject } from '../kinds/types.js';
import type { ChangeFeed } from '../store/change-feed.js';
import { CompactedError } from '../store/store.js';
import { selects, type Selection } from './list.js';
import { ApiError, badRequest, gone } from './status.js';

// Watch: newline-delimited events read from the change log after a resourceVersion.
// Events come from the process's one ChangeFeed (see src/store/change-feed.ts).

export interface WatchOptions {
  resourceVersion?: string;
  timeoutSeconds: number;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  /** Turns an object into what the event carries (the object itself, or a one-row Table). */
  render: (obj: KObject) => unknown;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export function watchOptionsFrom(q: URLSearchParams, maxSeconds: number): Pick<WatchOptions, 'resourceVersion' | 'timeoutSeconds' | 'bookmarks'> {
  const t = q.get('timeoutSeconds');
  const timeoutSeconds = t === null ? maxSeconds : Number(t);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0) throw badRequest(`invalid timeoutSeconds: ${t}`);
  const rv = q.get('resourceVersion') ?? undefined;
  if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion: ${rv}`);
  return {
    resourceVersion: rv,
    timeoutSeconds: Math.min(timeoutSeconds || maxSeconds, maxSeconds),
    bookmarks: q.get('allowWatchBookmarks') === 'true',
  };
}

export function watchResponse(feed: ChangeFeed, def: KindDef, sel: Selection, opts: WatchOptions, signal: AbortSignal): Response {
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

      try {
        let rev: number;
        if (!opts.resourceVersion || opts.resourceVersion === '0') {
          // No starting point: the current state first, as synthetic ADDED events.
          const page = await feed.store.list(def.kind, { namespace: sel.namespace });
          for (const obj of page.items) if (selects(sel, obj)) send('ADDED', opts.render(obj));
          rev = page.rev;
        } else {
          rev = Number(opts.resourceVersion);
        }
        if (closed) return;
        const filtered = sel.labels.length > 0 || sel.fields.length > 0;
        if (opts.bookmarks) {
          bookmarks = setInterval(() => {
            send('BOOKMARK', { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(rev) } });
          }, opts.bookmarkIntervalMs);
        }
        unsubscribe = feed.subscribe({
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
        });
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

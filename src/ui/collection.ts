import { ApiFailure, type Api } from './api.js';

export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
}
export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  spec?: any;
  status?: any;
  [field: string]: any;
}

/** First page small, so the screen fills at once; later pages large, so 10,000 objects take few requests. */
const FIRST_PAGE = 250;
const PAGE = 2000;

/**
 * One resource collection kept current the way client-go's informers do: list (in pages), then
 * watch from the list's resourceVersion; a watch that ends (they do, on Workers after a while) is
 * resumed from the last version seen, and one whose version has expired (410) lists again.
 * Listeners hear of changes at most once per frame, so a burst of 10,000 events renders once.
 */
export class Collection {
  readonly items = new Map<string, Obj>();
  /** Bumped on every change; views key their derived data on it. */
  version = 0;
  /** True once a whole list has arrived (progressive pages before that). */
  synced = false;
  error: ApiFailure | undefined;
  private rv = '';
  private listeners = new Set<() => void>();
  private abort: AbortController | undefined;
  private pending = false;
  private cachedList: Obj[] | undefined;

  constructor(private readonly api: Api, readonly path: string, private readonly query = '') {}

  /** Starts the list-watch with the first listener, stops it with the last. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  list(): Obj[] {
    return (this.cachedList ??= [...this.items.values()]);
  }

  get(namespace: string | undefined, name: string): Obj | undefined {
    return this.items.get(key(namespace, name));
  }

  private start(): void {
    const abort = new AbortController();
    this.abort = abort;
    void this.run(abort.signal);
  }

  private stop(): void {
    this.abort?.abort();
    this.abort = undefined;
  }

  private changed(): void {
    this.version++;
    this.cachedList = undefined;
    if (this.pending) return;
    this.pending = true;
    const flush = () => {
      this.pending = false;
      for (const l of [...this.listeners]) l();
    };
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') requestAnimationFrame(flush);
    else setTimeout(flush, 50);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let delay = 500;
    while (!signal.aborted) {
      try {
        // A restarted collection resumes its watch from where it stopped; only a 410 lists again.
        if (!this.rv) await this.relist(signal);
        if (this.error) {
          this.error = undefined;
          this.changed();
        }
        await this.watch(signal);
        delay = 500;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiFailure && err.code === 410) {
          this.rv = '';
          continue;
        }
        this.error = err instanceof ApiFailure ? err : new ApiFailure(0, 'ConnectionFailed', String((err as Error)?.message ?? err));
        this.changed();
        // Refused (401/403) waits longer: only a changed binding or a new token helps.
        await sleep(this.error.code === 401 || this.error.code === 403 ? 30_000 : delay, signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    let cont = '';
    let first = true;
    do {
      const q = new URLSearchParams(this.query);
      q.set('limit', String(first ? FIRST_PAGE : PAGE));
      if (cont) q.set('continue', cont);
      const page = await this.api.get<{ metadata: { resourceVersion: string; continue?: string }; items: Obj[] }>(`${this.path}?${q}`);
      if (signal.aborted) return;
      for (const item of page.items) {
        const k = key(item.metadata.namespace, item.metadata.name);
        seen.add(k);
        this.items.set(k, item);
      }
      cont = page.metadata.continue ?? '';
      this.rv = page.metadata.resourceVersion;
      first = false;
      if (cont) this.changed();
    } while (cont);
    for (const k of [...this.items.keys()]) if (!seen.has(k)) this.items.delete(k);
    this.synced = true;
    this.changed();
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const q = new URLSearchParams(this.query);
    q.set('watch', '1');
    q.set('allowWatchBookmarks', 'true');
    q.set('resourceVersion', this.rv);
    // As client-go's reflector: each watch asks to end within 5-10 minutes, so connections turn over.
    if (!q.has('timeoutSeconds')) q.set('timeoutSeconds', String(300 + Math.floor(Math.random() * 300)));
    await this.api.stream(`${this.path}?${q}`, (line) => {
      if (!line.trim()) return;
      const event = JSON.parse(line) as { type: string; object: any };
      if (event.type === 'ERROR') {
        const s = event.object ?? {};
        throw new ApiFailure(s.code ?? 500, s.reason ?? '', s.message ?? 'watch failed');
      }
      const obj = event.object as Obj;
      if (obj?.metadata?.resourceVersion) this.rv = obj.metadata.resourceVersion;
      if (event.type === 'BOOKMARK') return;
      const k = key(obj.metadata.namespace, obj.metadata.name);
      if (event.type === 'DELETED') this.items.delete(k);
      else this.items.set(k, obj);
      this.changed();
    }, signal);
  }
}

export function key(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

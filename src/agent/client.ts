// The agent's Kubernetes API client: JSON over node:https with a keep-alive Agent that many clients
// (one per simulated node, each with its own bearer token) may share. Failures come in two kinds the
// agent must tell apart: ApiError (the server answered, with a Kubernetes Status) and
// UnreachableError (no answer: refused, reset, timed out, TLS failure), on which the agent keeps its
// pods running and tries again later.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';

/** The server answered with an error (a Kubernetes Status, or something else with an HTTP status). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** The Status object the server sent, when it sent one. */
    readonly body?: any,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** No answer from the server: connection refused or reset, DNS failure, timeout, TLS failure. */
export class UnreachableError extends Error {
  constructor(
    message: string,
    /** The system error code (ECONNREFUSED, ETIMEDOUT, DEPTH_ZERO_SELF_SIGNED_CERT, ...) when known. */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.status === 410;

export type PatchType = 'strategic' | 'merge' | 'json' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  strategic: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface WatchEvent<T = any> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface KubeList<T = any> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A keep-alive agent trusting `ca` (PEM), or the system's CAs when none; share one between clients of one server. */
export function createAgent(ca?: string, opts: { maxSockets?: number; insecure?: boolean } = {}): HttpsAgent {
  return new HttpsAgent({
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxSockets: opts.maxSockets ?? Infinity,
    maxFreeSockets: 256,
    // A free socket the server may have closed meanwhile is dropped before the server's keep-alive ends.
    timeout: 60_000,
    ...(ca ? { ca } : {}),
    ...(opts.insecure ? { rejectUnauthorized: false } : {}),
  });
}

const sharedAgents = new Map<string, HttpsAgent>();
/**
 * One keep-alive agent per CA for the whole process (the system's CAs: key ''), so a thousand
 * simulated nodes' clients share their connections' pool. Idle sockets do not keep the process alive.
 */
export function sharedAgent(ca?: string): HttpsAgent {
  const key = ca ?? '';
  let agent = sharedAgents.get(key);
  if (!agent) sharedAgents.set(key, (agent = createAgent(ca)));
  return agent;
}

export interface ClientOptions {
  /** https://host:port (http:// is accepted too, for tests against an in-process API). */
  server: string;
  /** Bearer token. */
  token?: string;
  /** CA certificate(s) to trust (PEM); the system's CAs when absent. Ignored when `agent` is given. */
  ca?: string;
  /** A keep-alive agent (see createAgent); default: the process's shared one for `ca` (see sharedAgent). */
  agent?: HttpsAgent | HttpAgent;
  /** Per-request timeout (not for watches, which use their timeoutSeconds). Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WatchOptions {
  resourceVersion?: string;
  signal?: AbortSignal;
  /** Asked of the server; default random between 5 and 10 minutes, as client-go does. */
  timeoutSeconds?: number;
  /** Default true: bookmarks move the resume point on while nothing changes. */
  allowWatchBookmarks?: boolean;
}

const NETWORK_TIMEOUT = 'ETIMEDOUT';
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']);

/** Appends query parameters to a path that may already have some. */
export function withQuery(path: string, params: Record<string, string | number | boolean | undefined>): string {
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  if (!q) return path;
  return path + (path.includes('?') ? '&' : '?') + q;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function apiErrorFrom(status: number, text: string): ApiError {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: a proxy's HTML page, plain text
  }
  if (body && body.kind === 'Status') {
    return new ApiError(status, body.reason || REASONS[status] || 'Unknown', body.message || `HTTP ${status}`, body);
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiError(status, REASONS[status] ?? 'Unknown', snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status}`);
}

function unreachable(server: string, err: any): UnreachableError {
  if (err instanceof UnreachableError) return err;
  const code: string | undefined = err?.code;
  return new UnreachableError(`cannot reach ${server}: ${err?.message ?? String(err)}`, code, { cause: err });
}

function abortError(): Error {
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}

export class ApiClient {
  readonly server: string;
  readonly token?: string;
  readonly agent: HttpsAgent | HttpAgent;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly secure: boolean;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.secure = this.server.startsWith('https:');
    this.token = opts.token;
    this.agent = opts.agent ?? (this.secure ? sharedAgent(opts.ca) : new HttpAgent({ keepAlive: true }));
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'skiff-agent';
  }

  /** A client for the same server and agent with another token (a simulated node's own). */
  withToken(token: string): ApiClient {
    return new ApiClient({ server: this.server, token, agent: this.agent, timeoutMs: this.timeoutMs, userAgent: this.userAgent });
  }

  get<T = any>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  list<T = any>(path: string, opts?: RequestOptions): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, opts);
  }

  /** Every page of a list (limit/continue), with the first page's resourceVersion. */
  async listAll<T = any>(path: string, pageSize = 500, opts?: RequestOptions): Promise<KubeList<T>> {
    const first = await this.list<T>(withQuery(path, { limit: pageSize }), opts);
    const items = [...first.items];
    let cont = first.metadata?.continue;
    while (cont) {
      const page = await this.list<T>(withQuery(path, { limit: pageSize, continue: cont }), opts);
      items.push(...page.items);
      cont = page.metadata?.continue;
    }
    return { ...first, metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
  }

  create<T = any>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  update<T = any>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }

  patch<T = any>(path: string, body: unknown, patchType: PatchType = 'strategic', opts?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body, contentType: PATCH_CONTENT_TYPES[patchType] });
  }

  delete<T = any>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, { ...opts, body });
  }

  /** One request; the parsed JSON answer (the text when it is not JSON). */
  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.send(method, path, opts);
        const text = await readText(res.res, res.req, this.server);
        if (res.res.statusCode! >= 400) throw apiErrorFrom(res.res.statusCode!, text);
        if (!text) return undefined as T;
        try {
          return JSON.parse(text) as T;
        } catch {
          return text as T;
        }
      } catch (err: any) {
        // A keep-alive socket the server closed just as we reused it: the request never reached it.
        if (attempt === 0 && err instanceof UnreachableError && (err as { reused?: boolean }).reused && IDEMPOTENT.has(method)) continue;
        throw err;
      }
    }
  }

  private send(
    method: string,
    path: string,
    opts: RequestOptions & { watch?: boolean; timeoutMs?: number },
  ): Promise<{ req: ClientRequest; res: IncomingMessage }> {
    if (opts.signal?.aborted) return Promise.reject(abortError());
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const doRequest = this.secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      const req = doRequest(this.server + path, { method, headers, agent: this.agent as HttpsAgent }, (res) => {
        settled = true;
        resolve({ req, res });
      });
      const fail = (err: any) => {
        if (settled) return;
        settled = true;
        const e = unreachable(this.server, err) as UnreachableError & { reused?: boolean };
        if (err?.code === 'ECONNRESET' && req.reusedSocket) e.reused = true;
        reject(err?.name === 'AbortError' ? err : e);
      };
      req.on('error', fail);
      const timer = setTimeout(() => {
        const err = new UnreachableError(`${method} ${this.server}${path}: no answer within ${timeoutMs} ms`, NETWORK_TIMEOUT);
        fail(err);
        req.destroy(err);
      }, timeoutMs);
      timer.unref?.();
      // The timer covers the whole exchange: readText clears it when the body is read.
      (req as any).skiffTimer = timer;
      if (opts.signal) {
        const onAbort = () => {
          const err = abortError();
          fail(err);
          req.destroy(err);
        };
        opts.signal.addEventListener('abort', onAbort, { once: true });
        req.once('close', () => opts.signal!.removeEventListener('abort', onAbort));
      }
      req.end(payload);
    });
  }

  /**
   * Watches `path` (a list path) from `resourceVersion`: each event goes to onEvent (awaited, in
   * order; BOOKMARKs too). Resolves with the last resourceVersion seen when the server ends the
   * stream or the signal aborts; rejects with ApiError 410 (Expired) when the resourceVersion is too
   * old (the caller lists again), another ApiError for other ERROR events, UnreachableError when the
   * connection fails.
   */
  async watch<T = any>(path: string, opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void | Promise<void>): Promise<string | undefined> {
    const timeoutSeconds = opts.timeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    const url = withQuery(path, {
      watch: 1,
      resourceVersion: opts.resourceVersion,
      timeoutSeconds,
      allowWatchBookmarks: opts.allowWatchBookmarks ?? true,
    });
    let rv = opts.resourceVersion;
    let sent: { req: ClientRequest; res: IncomingMessage };
    try {
      // The deadline covers the whole stream: the server's timeout plus a margin, so a silently
      // dead connection (a NAT that forgot us) ends too.
      sent = await this.send('GET', url, { signal: opts.signal, timeoutMs: (timeoutSeconds + 30) * 1000 });
    } catch (err: any) {
      if (err?.name === 'AbortError') return rv;
      throw err;
    }
    const { req, res } = sent;
    const timer = (req as any).skiffTimer as NodeJS.Timeout;
    if (res.statusCode! >= 400) throw apiErrorFrom(res.statusCode!, await readText(res, req, this.server));
    res.setEncoding('utf8');
    let buffer = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          const event = JSON.parse(line) as WatchEvent<T>;
          if (event.type === 'ERROR') {
            const status = event.object as any;
            const code = Number(status?.code) || 500;
            throw new ApiError(code, status?.reason || REASONS[code] || 'Unknown', status?.message || `watch error ${code}`, status);
          }
          const eventRv = (event.object as any)?.metadata?.resourceVersion;
          if (eventRv) rv = eventRv;
          await onEvent(event);
        }
      }
    } catch (err: any) {
      if (err instanceof ApiError) throw err;
      if (opts.signal?.aborted || err?.name === 'AbortError') return rv;
      if (err instanceof SyntaxError) throw err;
      throw unreachable(this.server, err);
    } finally {
      clearTimeout(timer);
      if (!res.complete) req.destroy();
    }
    if (opts.signal?.aborted) return rv;
    // A stream cut off mid-way ('aborted') is a connection failure, not the server ending the watch.
    if (!res.complete) throw new UnreachableError(`watch ${path}: connection to ${this.server} lost`, 'ECONNRESET');
    return rv;
  }

  /**
   * List, then watch from the list's resourceVersion, until the signal aborts: resumes from the last
   * resourceVersion seen when a watch ends, lists again on 410 Gone, and retries with back-off
   * (1 s doubling to 30 s by default) while the server is unreachable or failing. Never rejects
   * except when a handler throws something other than an ApiError / UnreachableError.
   */
  async listWatch<T = any>(path: string, handlers: ListWatchHandlers<T>, opts: ListWatchOptions = {}): Promise<void> {
    const { signal } = opts;
    const initialMs = opts.backoffInitialMs ?? 1_000;
    const maxMs = opts.backoffMaxMs ?? 30_000;
    let delay = initialMs;
    let rv: string | undefined;
    let up: boolean | undefined;
    const reach = (now: boolean) => {
      if (up !== now) {
        up = now;
        handlers.onReachability?.(now);
      }
    };
    while (!signal?.aborted) {
      try {
        if (rv === undefined) {
          const list = await this.listAll<T>(path, opts.pageSize, { signal });
          reach(true);
          rv = list.metadata.resourceVersion ?? '0';
          await handlers.onSync?.(list.items, rv);
          delay = initialMs;
        }
        const started = Date.now();
        let events = 0;
        rv = await this.watch<T>(path, { resourceVersion: rv, signal, timeoutSeconds: opts.timeoutSeconds }, async (e) => {
          events++;
          reach(true);
          if (e.type !== 'BOOKMARK') await handlers.onEvent?.(e);
        });
        reach(true);
        delay = initialMs;
        // A stream that ended at once with nothing in it: pause a moment rather than spin.
        if (events === 0 && Date.now() - started < 1_000) await sleep(initialMs, signal);
      } catch (err: any) {
        if (signal?.aborted || err?.name === 'AbortError') break;
        if (isGone(err)) {
          rv = undefined; // too old: list again at once
          reach(true);
          continue;
        }
        if (!(err instanceof ApiError) && !(err instanceof UnreachableError)) throw err;
        if (err instanceof UnreachableError) reach(false);
        else reach(true);
        handlers.onError?.(err, delay);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, maxMs);
      }
    }
  }
}

export interface ListWatchHandlers<T> {
  /** The whole set, at the first list and after each re-list (410 Gone). */
  onSync?(items: T[], resourceVersion: string): void | Promise<void>;
  /** ADDED / MODIFIED / DELETED, in order. */
  onEvent?(event: WatchEvent<T>): void | Promise<void>;
  /** A failed list or watch; the next try is in `retryInMs`. */
  onError?(err: ApiError | UnreachableError, retryInMs: number): void;
  /** Called when the server becomes unreachable (false) or reachable again (true); first call on the first outcome. */
  onReachability?(up: boolean): void;
}

export interface ListWatchOptions {
  signal?: AbortSignal;
  /** timeoutSeconds asked of each watch (default random 5 to 10 minutes). */
  timeoutSeconds?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  pageSize?: number;
}

/** Waits `ms`, or less when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function readText(res: IncomingMessage, req: ClientRequest, server: string): Promise<string> {
  const timer = (req as any).skiffTimer as NodeJS.Timeout | undefined;
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (s: string) => (text += s));
    res.on('end', () => {
      clearTimeout(timer);
      resolve(text);
    });
    const fail = (err: any) => {
      clearTimeout(timer);
      reject(err?.name === 'AbortError' ? err : unreachable(server, err));
    };
    res.on('error', fail);
    res.on('aborted', () => fail(new UnreachableError(`connection to ${server} lost mid-answer`, 'ECONNRESET')));
    req.on('error', fail);
  });
}

// Bridges node:http(s) to a Web fetch handler (the Hono app): IncomingMessage -> Request,
// Response -> ServerResponse. On the hot path of every request, so the common case (a body that
// is ready at once, as any JSON reply is) goes out in one write with a Content-Length; bodies that
// are not ready yet (watches) get their headers flushed at once and are piped chunk by chunk.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

export type FetchHandler = (req: Request) => Promise<Response> | Response;

export interface NodeAdapter {
  listener(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every response still streaming (watch streams), as at shutdown. */
  endStreams(): void;
}

export interface AdapterOptions {
  /** Scheme of the Request URLs the handler sees. */
  protocol?: 'http' | 'https';
  onError?: (err: unknown) => void;
}

export function createNodeAdapter(handler: FetchHandler, opts: AdapterOptions = {}): NodeAdapter {
  const scheme = (opts.protocol ?? 'https') + '://';
  const onError = opts.onError ?? ((err: unknown) => console.error('skiff: request failed:', err));
  const streams = new Set<() => void>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abort = new AbortController();
    let stopStream: (() => void) | undefined;
    // The response's 'close' (not the request's) tells that the client went away.
    let request: Request | undefined;
    res.once('close', () => {
      // A request body the handler left unread would stall this keep-alive connection.
      if (request?.body && !req.readableEnded) {
        req.removeAllListeners('data');
        req.resume();
      }
      if (res.writableFinished) return;
      abort.abort();
      stopStream?.();
    });

    try {
      request = toRequest(req, scheme, abort.signal);
    } catch {
      sendStatus(res, 400, 'BadRequest', 'malformed request');
      return;
    }

    let response: Response;
    try {
      response = await handler(request);
    } catch (err) {
      onError(err);
      sendStatus(res, 500, 'InternalError', 'internal error');
      return;
    }
    if (res.destroyed) {
      void response.body?.cancel().catch(() => {});
      return;
    }

    const headers = toNodeHeaders(response.headers);
    const body = response.body;
    if (!body || req.method === 'HEAD') {
      void body?.cancel().catch(() => {});
      res.writeHead(response.status, headers);
      res.end();
      return;
    }

    const reader = body.getReader();
    const ready: Uint8Array[] = [];
    let size = 0;
    let next = reader.read();
    try {
      for (;;) {
        const r = await settledNow(next);
        if (r === PENDING) break;
        if (r.done) {
          // Whole body already there: one write, with its length.
          if (headers['content-length'] === undefined) headers['content-length'] = size;
          res.writeHead(response.status, headers);
          res.end(ready.length === 1 ? ready[0] : Buffer.concat(ready, size));
          return;
        }
        ready.push(r.value);
        size += r.value.byteLength;
        next = reader.read();
      }
    } catch (err) {
      onError(err);
      sendStatus(res, 500, 'InternalError', 'internal error');
      return;
    }

    // A stream: the client needs the headers before the first event.
    res.writeHead(response.status, headers);
    if (ready.length === 0) res.flushHeaders();
    for (const chunk of ready) res.write(chunk);
    stopStream = () => {
      abort.abort();
      reader.cancel().catch(() => {});
    };
    streams.add(stopStream);
    try {
      for (;;) {
        const r = await next;
        if (r.done || res.destroyed) break;
        if (!res.write(r.value)) await drained(res);
        next = reader.read();
      }
      if (!res.destroyed) res.end();
    } catch (err) {
      onError(err);
      res.destroy(); // truncates the chunked body, so the client sees the failure
    } finally {
      streams.delete(stopStream);
    }
  }

  return {
    listener(req, res) {
      handle(req, res).catch((err: unknown) => {
        onError(err);
        res.destroy();
      });
    },
    endStreams() {
      for (const stop of streams) stop();
    },
  };
}

function toRequest(req: IncomingMessage, scheme: string, signal: AbortSignal): Request {
  const method = req.method ?? 'GET';
  const raw = req.rawHeaders;
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (hasBody(req, method)) {
    init.body = bodyStream(req);
    init.duplex = 'half';
  }
  return new Request(scheme + (req.headers.host ?? 'localhost') + pathOf(req.url ?? '/'), init);
}

// A request target is normally origin-form (/path?query); absolute-form is allowed by HTTP/1.1.
function pathOf(target: string): string {
  if (target.startsWith('/')) return target;
  const url = new URL(target);
  return url.pathname + url.search;
}

// HTTP/1.1: a request has a body only when it says so with Content-Length or Transfer-Encoding.
function hasBody(req: IncomingMessage, method: string): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let discard = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on('data', (chunk: Buffer) => {
        if (discard) return;
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once('end', () => {
        if (!discard) controller.close();
      });
      req.once('error', (err) => {
        if (!discard) controller.error(err);
      });
    },
    pull() {
      req.resume();
    },
    cancel() {
      // Drain what the handler did not want, so the connection stays usable.
      discard = true;
      req.resume();
    },
  });
}

function toNodeHeaders(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of headers) {
    // The iterator yields each Set-Cookie apart; they must stay separate header lines.
    out[name] = name === 'set-cookie' ? headers.getSetCookie() : value;
  }
  return out;
}

const PENDING = Symbol('pending');

// Resolves with the promise's value if it settles within the current turn (a body that is ready
// settles in microtasks), or with PENDING before any I/O happens.
function settledNow<T>(p: Promise<T>): Promise<T | typeof PENDING> {
  return new Promise((resolve, reject) => {
    const timer = setImmediate(resolve, PENDING);
    p.then(
      (v) => {
        clearImmediate(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearImmediate(timer);
        reject(err);
      },
    );
  });
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

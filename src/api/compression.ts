import type { MiddlewareHandler } from 'hono';

/** Gzips a whole body; the home supplies it (Node.js: zlib off the event loop). */
export type Gzip = (body: Uint8Array) => Promise<Uint8Array>;

/** kube-apiserver compresses responses from 128 KiB (APIResponseCompression). */
const THRESHOLD = 128 * 1024;

/** A watch or a streamed subresource: never buffered, never compressed. */
function streams(path: string, q: URLSearchParams): boolean {
  const watch = q.get('watch');
  if (watch !== null && !/^(0|false)$/i.test(watch)) return true;
  return path.includes('/watch/') || /\/(proxy|log|exec|attach|portforward)(\/|$)/.test(path);
}

/**
 * kube-apiserver's APIResponseCompression: a large GET answer (a list of 10,000 pods is 35 MB of
 * JSON) is gzipped for a client that accepts it, as browsers and kubectl do. Responses are already
 * whole in memory when lists and documents are answered, so buffering them costs nothing more.
 * Not on Workers: Cloudflare compresses outside the isolate's CPU time.
 */
export function compressLarge(gzip: Gzip): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method !== 'GET' || !/\bgzip\b/i.test(c.req.header('accept-encoding') ?? '')) return;
    const res = c.res;
    if (!res.body || res.status === 101 || res.headers.has('content-encoding')) return;
    if (!/^application\//.test(res.headers.get('content-type') ?? '') || streams(c.req.path, new URL(c.req.url).searchParams)) return;
    const body = new Uint8Array(await res.arrayBuffer());
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    let out: Uint8Array = body;
    if (body.byteLength >= THRESHOLD) {
      out = await gzip(body);
      headers.set('content-encoding', 'gzip');
      headers.append('vary', 'Accept-Encoding');
    }
    // Cleared first: Hono would copy the old response's headers onto the new one.
    c.res = undefined as unknown as Response;
    c.res = new Response(out as BodyInit, { status: res.status, statusText: res.statusText, headers });
  };
}

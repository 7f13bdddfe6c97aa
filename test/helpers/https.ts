// Node's fetch cannot be told to trust one CA, so requests to a skiff server over HTTPS go through
// httpsFetch (see skiff-server.ts); code written against fetch, such as NodePlayer, gets it adapted.
import type { HttpResult, RequestInit as HttpInit } from './skiff-server.js';

/** A request function over HTTPS that trusts the server's CA and sends its token. */
export type HttpsRequest = (path: string, init?: HttpInit) => Promise<HttpResult>;

/** A fetch-style request function over an HTTPS one; httpsFetch frames the body, a DELETE's too. */
export function fetchOver(request: HttpsRequest): (path: string, init?: RequestInit) => Promise<Response> {
  return async (path, init = {}) => {
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    const r = await request(path, { method: init.method, body, headers: { ...(init.headers as Record<string, string> | undefined) } });
    return new Response(r.status === 204 ? null : r.text, { status: r.status, headers: { 'content-type': String(r.headers['content-type'] ?? '') } });
  };
}

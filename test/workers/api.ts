// Requests to the Worker under test, inside workerd: through its loopback entry point (as a client
// reaches it) or by calling its handlers with an execution context the test can wait on.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { inject } from 'vitest';
import worker, { type WorkerEnv } from '../../src/worker.js';

const ORIGIN = 'https://skiff.test';

export interface Call {
  method?: string;
  body?: unknown;
  contentType?: string;
  /** Bearer token; the admin token unless given, none when null. */
  token?: string | null;
}

export function requestFor(path: string, call: Call = {}): Request {
  const headers = new Headers({ accept: 'application/json' });
  const token = call.token === undefined ? env.SKIFF_ADMIN_TOKEN : call.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  if (call.body !== undefined) headers.set('content-type', call.contentType ?? 'application/json');
  return new Request(`${ORIGIN}${path}`, {
    method: call.method ?? (call.body === undefined ? 'GET' : 'POST'),
    headers,
    body: call.body === undefined ? undefined : JSON.stringify(call.body),
  });
}

/** A request through the Worker's own fetch entry point, as from a client. */
export function send(path: string, call: Call = {}): Promise<Response> {
  return exports.default.fetch(requestFor(path, call));
}

/** The Worker's fetch handler called directly; resolves once the passes it kicked (waitUntil) are done. */
export async function sendAndSettle(path: string, call: Call = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(requestFor(path, call), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** The JSON body of a response that must have `status`. */
export async function expectStatus(res: Response | Promise<Response>, status: number): Promise<any> {
  const r = await res;
  const text = await r.text();
  if (r.status !== status) throw new Error(`expected HTTP ${status}, got ${r.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A namespace of its own for one test file, so files share the database without seeing each other's objects. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  await expectStatus(sendAndSettle('/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } }), 201);
  return name;
}

/** The Worker's bindings with `vars` over them, and its database reached through the counting proxy. */
export interface CountedEnv {
  env: WorkerEnv;
  /** Database requests (subrequests) sent with this env so far. */
  requests(): Promise<number>;
}

/**
 * A fresh tag of the counting proxy per call: its URL is one no other request uses, so the Worker
 * sets up an isolate state (store, settings from `vars`) for it alone, and every request counted
 * under it is one this env's invocations sent.
 */
export function countedEnv(vars: Partial<WorkerEnv> = {}): CountedEnv {
  const base = inject('countingUrl');
  const tag = crypto.randomUUID().slice(0, 8);
  return {
    env: { ...env, ...vars, LIBSQL_URL: `${base}/${tag}/` },
    requests: async () => Number(await (await fetch(`${base}/count/${tag}`)).text()),
  };
}

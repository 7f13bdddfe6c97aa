// Requests to a kind at a version other than the one it is stored at (autoscaling/v1
// HorizontalPodAutoscalers, stored as autoscaling/v2): the body comes in converted to the stored
// version and the request goes on as one for the stored kind; whatever objects the answer carries go
// back converted (an object, a list's items, a Table's whole objects, each watch event). A patch is
// applied to the served version's view of the stored object, and written as an update conditional on
// what was read, as kube-apiserver patches in the request's version.
import { apiVersionOf } from '../kinds/registry.js';
import type { KindDef, KObject } from '../kinds/types.js';
import type { Access } from './auth/authorize.js';
import { decodeObject, mediaType, parseJson, parseYamlDoc, readBody } from './body.js';
import { checkKind, checkTypes, checkUnknownFields, timestamp } from './objects.js';
import { applyPatch, ApplyConflictError, PatchError, type PatchType } from './patch/index.js';
import type { ResourcePath } from './paths.js';
import { queryBool } from './query.js';
import type { ResourceHandler } from './resources.js';
import { ApiError, badRequest, conflict, notFound } from './status.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../store/clock.js';

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

type Json = Record<string, unknown>;

/** A request like `req` with a JSON body. */
function withJsonBody(req: Request, url: URL, method: string, body: unknown): Request {
  const headers = new Headers(req.headers);
  headers.set('content-type', 'application/json');
  headers.delete('content-length');
  return new Request(url, { method, headers, body: JSON.stringify(body), signal: req.signal });
}

/** The stored version's path for the served version's `url`. */
function storedUrl(url: URL, served: KindDef, stored: KindDef): URL {
  const out = new URL(url);
  out.pathname = url.pathname.replace(`/apis/${served.group}/${served.version}/`, `/apis/${stored.group}/${stored.version}/`);
  return out;
}

/** Converts the stored kind's objects found in an answer's body (objects, lists, Tables, watch events) to the served version. */
function outbound(body: unknown, served: KindDef): unknown {
  const conv = served.conversion!;
  const stored = conv.stored;
  if (!body || typeof body !== 'object') return body;
  const b = body as Json;
  if (b.kind === stored.kind && b.apiVersion === apiVersionOf(stored)) return conv.fromStored(b as KObject);
  if (b.kind === `${stored.kind}List`) return { ...b, apiVersion: apiVersionOf(served), items: ((b.items as KObject[]) ?? []).map((o) => conv.fromStored(o)) };
  if (b.kind === 'Table' && Array.isArray(b.rows)) {
    return { ...b, rows: b.rows.map((r: Json) => (r.object ? { ...r, object: outbound(r.object, served) } : r)) };
  }
  return body;
}

/** One watch event line, converted; bookmarks only change their apiVersion. */
function outboundEvent(line: string, served: KindDef): string {
  if (!line.trim()) return line;
  const e = JSON.parse(line) as { type: string; object: Json };
  if (e.type === 'BOOKMARK') return JSON.stringify({ ...e, object: { ...e.object, apiVersion: apiVersionOf(served) } });
  if (e.type === 'ERROR') return line;
  return JSON.stringify({ ...e, object: outbound(e.object, served) });
}

async function convertResponse(res: Response, served: KindDef): Promise<Response> {
  if (!res.ok || !(res.headers.get('content-type') ?? '').includes('json') || !res.body) return res;
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  if (res.headers.get('cache-control') === 'no-cache') {
    // A watch: newline-delimited events, converted line by line as they come.
    let pending = '';
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    const lines = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true });
        const parts = pending.split('\n');
        pending = parts.pop()!;
        for (const p of parts) controller.enqueue(encoder.encode(outboundEvent(p, served) + '\n'));
      },
      flush(controller) {
        if (pending) controller.enqueue(encoder.encode(outboundEvent(pending, served)));
      },
    });
    return new Response(res.body.pipeThrough(lines), { status: res.status, headers });
  }
  const body = await res.json();
  return Response.json(outbound(body, served), { status: res.status, headers });
}

/**
 * The body against the served version's schema, before conversion drops what that version does not
 * know: fieldValidation=Strict refuses unknown fields, and values of the wrong type are refused.
 */
function checkServedBody(served: KindDef, body: Json, q: URLSearchParams): void {
  const fv = q.get('fieldValidation');
  checkUnknownFields(served, body, { dryRun: false, fieldManager: '', fieldValidation: fv === 'Strict' ? 'Strict' : 'Warn' });
  checkTypes(served, body);
}

export interface ServedVersionDeps {
  store: Store;
  clock: Clock;
  resources: ResourceHandler;
}

/** Handles a request to `rp`, a kind served at a version other than stored (rp.def.conversion is set). */
export async function handleServedVersion(deps: ServedVersionDeps, req: Request, rp: ResourcePath, url: URL, access: Access): Promise<Response> {
  const served = rp.def;
  const conv = served.conversion!;
  const stored = conv.stored;
  const storedRp: ResourcePath = { ...rp, def: stored, version: stored.version };
  const target = storedUrl(url, served, stored);
  const pass = (r: Request) => deps.resources.handle(r, storedRp, target, access).then((res) => convertResponse(res, served));

  if ((req.method === 'POST' && !rp.name) || (req.method === 'PUT' && rp.name)) {
    const body = decodeObject(await readBody(req), mediaType(req));
    checkKind(served, body);
    checkServedBody(served, body, url.searchParams);
    return pass(withJsonBody(req, target, req.method, conv.toStored(body as KObject)));
  }
  if (req.method === 'PATCH' && rp.name) return patch(deps, req, rp, target, storedRp, access);
  const bytes = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
  return pass(new Request(target, { method: req.method, headers: req.headers, body: bytes as BodyInit | undefined, signal: req.signal }));
}

/** PATCH in the served version: the patch on the converted view, then an update (or, for apply, a create) of the stored kind. */
async function patch(deps: ServedVersionDeps, req: Request, rp: ResourcePath, target: URL, storedRp: ResourcePath, access: Access): Promise<Response> {
  const served = rp.def;
  const conv = served.conversion!;
  const stored = conv.stored;
  const type = PATCH_TYPES[mediaType(req)];
  if (!type) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_TYPES).join(', ')}`);
  }
  const bytes = await readBody(req);
  const doc = type === 'apply' ? parseYamlDoc(bytes) : parseJson(bytes);
  const q = target.searchParams;
  const manager = q.get('fieldManager') ?? (req.headers.get('user-agent') ?? 'unknown').split('/')[0];
  if (type === 'apply' && !q.get('fieldManager')) throw badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set');
  if (queryBool(q, 'force') && type !== 'apply') throw badRequest('force is only allowed for apply patches');
  const name = rp.name!;
  for (let attempt = 0; ; attempt++) {
    const old = await deps.store.get(stored.kind, rp.namespace ?? '', name);
    if (!old && (type !== 'apply' || rp.subresource)) throw notFound(stored.plural, stored.group, name);
    let patched: Json;
    try {
      patched = applyPatch(type, old ? conv.fromStored(old) : undefined, doc, {
        kind: served.kind, manager, force: queryBool(q, 'force'), now: timestamp(deps.clock), apiVersion: apiVersionOf(served),
      }) as Json;
    } catch (e) {
      if (e instanceof ApplyConflictError) throw new ApiError(409, 'Conflict', e.message, { name, group: stored.group, kind: stored.plural, causes: e.causes });
      if (e instanceof PatchError) throw new ApiError(e.code, e.code === 409 ? 'Conflict' : e.code === 400 ? 'BadRequest' : 'Invalid', e.message);
      throw e;
    }
    checkServedBody(served, patched, q);
    const meta = (patched.metadata ??= {}) as Json;
    if (!old) {
      if (meta.name !== undefined && meta.name !== name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
      meta.name = name;
      const created = new URL(target);
      created.pathname = created.pathname.replace(/\/[^/]+$/, '');
      const res = await deps.resources.handle(withJsonBody(req, created, 'POST', conv.toStored(patched as KObject)), { ...storedRp, name: undefined }, created, access);
      return convertResponse(res, served);
    }
    const pinned = meta.resourceVersion as string | undefined;
    if (pinned && pinned !== old.metadata?.resourceVersion) throw conflict(stored.plural, stored.group, name);
    // The update is conditional on the object read, so a write in between is a 409, retried here.
    meta.resourceVersion = old.metadata?.resourceVersion;
    const res = await deps.resources.handle(withJsonBody(req, target, 'PUT', conv.toStored(patched as KObject)), storedRp, target, access).catch((e: unknown) => {
      if (e instanceof ApiError && e.reason === 'Conflict' && !pinned && attempt < 5) return undefined;
      throw e;
    });
    if (res) return convertResponse(res, served);
  }
}

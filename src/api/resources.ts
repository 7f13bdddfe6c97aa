import { apiVersionOf } from '../kinds/registry.js';
import type { KindDef, KObject } from '../kinds/types.js';
import { FULL_ACCESS, type Access } from './auth/authorize.js';
import { decodeObject, mediaType, parseJson, parseYamlDoc, readBody } from './body.js';
import { listDocument, listObjects, selection } from './list.js';
import { ObjectWriter, timestamp, type DeleteOptions, type WriteContext, type WriteOptions } from './objects.js';
import { ChangeFeed } from '../store/change-feed.js';
import { applyPatch, ApplyConflictError, PatchError, type PatchType } from './patch/index.js';
import type { ResourcePath } from './paths.js';
import { nodeProxy, podStream } from './kubelet.js';
import { proxy } from './proxy.js';
import { queryBool } from './query.js';
import type { NodeTunnels } from './tunnels.js';
import { createToken, type TokenRequestDeps } from './auth/token-request.js';
import { ApiError, badRequest, conflict, notFound, successStatus } from './status.js';
import { toTable, wantsTable, type IncludeObject } from './table.js';
import { PolledChanges, watchOptionsFrom, watchResponse, type WatchPolling, type WatchSource } from './watch.js';
import { clone } from '../kinds/clone.js';
import { Eviction } from './eviction.js';

// The REST verbs on one resource path: get, list, watch, create, update, patch, delete,
// deletecollection, and the status, scale, binding and eviction subresources.

export interface ResourceOptions extends WriteContext {
  maxWatchSeconds: number;
  bookmarkIntervalMs: number;
  pollIntervalMs: number;
  /** Each watch polls by itself, within this policy, instead of sharing one change feed. */
  watchPolling?: WatchPolling;
  /** The nodes' tunnels (logs, exec, port-forward, proxies); absent: nodes cannot be reached. */
  tunnels?: NodeTunnels;
  /** Issues ServiceAccount tokens (serviceaccounts/token); absent: 404. */
  serviceAccounts?: TokenRequestDeps['serviceAccounts'];
}

const NODE_STREAMS = new Set(['log', 'exec', 'attach', 'portforward']);

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

const json = (body: unknown, status = 200) => Response.json(body, { status });

function writeOptions(req: Request, q: URLSearchParams): WriteOptions {
  const dryRun = q.getAll('dryRun');
  if (dryRun.some((d) => d !== 'All')) throw badRequest(`Invalid dryRun value: ${dryRun.join(',')}; only "All" is supported`);
  const fv = q.get('fieldValidation');
  if (fv && !['Strict', 'Warn', 'Ignore'].includes(fv)) throw badRequest(`fieldValidation must be one of Ignore, Warn or Strict, got ${fv}`);
  const agent = req.headers.get('user-agent') ?? 'unknown';
  return {
    dryRun: dryRun.length > 0,
    fieldManager: q.get('fieldManager') ?? agent.split('/')[0],
    fieldValidation: (fv as WriteOptions['fieldValidation'] | null) ?? 'Warn',
  };
}

function retryableConflict(e: unknown): boolean {
  return e instanceof ApiError && e.reason === 'Conflict';
}

export class ResourceHandler {
  private writer: ObjectWriter;

  private watchSource: WatchSource;

  constructor(private opts: ResourceOptions) {
    this.writer = new ObjectWriter(opts);
    this.watchSource = opts.watchPolling ? new PolledChanges(opts.store, opts.watchPolling) : new ChangeFeed(opts.store, opts.pollIntervalMs);
  }

  /** `access` holds the authorizer's checks on the objects read and written (a node's own pods, ...). */
  async handle(req: Request, rp: ResourcePath, url: URL, access: Access = FULL_ACCESS): Promise<Response> {
    const q = url.searchParams;
    const { def, name, subresource } = rp;
    const method = req.method;
    if (subresource === 'proxy') return def.kind === 'Node' ? nodeProxy(this.opts, req, rp, url) : proxy(this.opts, req, rp, url);
    if (subresource && NODE_STREAMS.has(subresource)) return podStream(this.opts, req, rp, url);
    if (subresource === 'scale') return this.scale(req, rp, q);
    if (subresource === 'binding' && method === 'POST') return this.bind(req, rp, q);
    if (subresource === 'eviction' && method === 'POST') return this.evict(req, rp, q);
    if (subresource === 'token' && def.kind === 'ServiceAccount') {
      if (method !== 'POST') throw methodNotAllowed(rp);
      if (!this.opts.serviceAccounts) throw notFound(def.plural, def.group, name!);
      const body = decodeObject(await readBody(req), mediaType(req));
      await access.creating(body); // the Node authorizer and NodeRestriction see boundObjectRef
      return createToken({ serviceAccounts: this.opts.serviceAccounts }, rp.namespace!, name!, body);
    }
    if (subresource && !['GET', 'PUT', 'PATCH'].includes(method)) throw methodNotAllowed(rp);

    if (method === 'GET') {
      if (name) {
        const obj = await this.writer.read(def, rp.namespace, name);
        access.stored(obj);
        return this.render(req, q, def, obj);
      }
      if (rp.watch || queryBool(q, 'watch')) return this.watch(req, rp, q);
      return this.list(req, rp, q);
    }
    if (method === 'POST' && !name) {
      const body = decodeObject(await readBody(req), mediaType(req));
      await access.creating(body);
      return json(await this.writer.create(def, rp.namespace, body, writeOptions(req, q)), 201);
    }
    if (method === 'PUT' && name) {
      const body = decodeObject(await readBody(req), mediaType(req));
      const opts = writeOptions(req, q);
      const old = await this.writer.read(def, rp.namespace, name);
      access.stored(old);
      const obj = this.writer.prepareUpdate(def, old, body, subresource, opts);
      await access.updating(old, obj);
      return json(await this.writer.commitUpdate(def, old, obj, opts));
    }
    if (method === 'PATCH' && name) return this.patch(req, rp, q, name, access);
    if (method === 'DELETE' && name) return this.deleteOne(req, rp, q, name, access);
    if (method === 'DELETE') return this.deleteCollection(req, rp, q);
    throw methodNotAllowed(rp);
  }

  private render(req: Request, q: URLSearchParams, def: KindDef, obj: KObject): Response {
    if (!wantsTable(req.headers.get('accept'))) return json(obj);
    return json(toTable(def, [obj], this.opts.clock.now(), { include: includeObject(q), resourceVersion: String(obj.metadata?.resourceVersion) }));
  }

  private async list(req: Request, rp: ResourcePath, q: URLSearchParams): Promise<Response> {
    const res = await listObjects(this.opts.store, rp.def, selection(rp.def, rp.namespace, q), q);
    if (wantsTable(req.headers.get('accept'))) {
      return json(toTable(rp.def, res.items, this.opts.clock.now(), { include: includeObject(q), resourceVersion: res.resourceVersion, continue: res.continue }));
    }
    return json(listDocument(rp.def, res));
  }

  private watch(req: Request, rp: ResourcePath, q: URLSearchParams): Response {
    const { def } = rp;
    const sel = selection(def, rp.namespace, q);
    if (rp.name) sel.fields.push({ field: 'metadata.name', op: '=', value: rp.name, get: (o) => o.metadata?.name });
    const table = wantsTable(req.headers.get('accept'));
    const include = includeObject(q);
    const render = table
      ? (obj: KObject) => toTable(def, [obj], this.opts.clock.now(), { include, resourceVersion: String(obj.metadata?.resourceVersion) })
      : (obj: KObject) => obj;
    return watchResponse(this.watchSource, def, sel, {
      ...watchOptionsFrom(q, this.opts.maxWatchSeconds),
      bookmarkIntervalMs: this.opts.bookmarkIntervalMs,
      render,
    }, req.signal);
  }

  /** PATCH: read, patch, write conditionally; retried on a conflict unless the patch pinned a resourceVersion. */
  private async patch(req: Request, rp: ResourcePath, q: URLSearchParams, name: string, access: Access): Promise<Response> {
    const { def } = rp;
    const type = PATCH_TYPES[mediaType(req)];
    if (!type) {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_TYPES).join(', ')}`);
    }
    const bytes = await readBody(req);
    const patch = type === 'apply' ? parseYamlDoc(bytes) : parseJson(bytes);
    // An apply records managedFields itself; the write must not record it again as an Update.
    const opts = { ...writeOptions(req, q), applied: type === 'apply' };
    const force = queryBool(q, 'force');
    if (type === 'apply' && !q.get('fieldManager')) throw badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set');
    if (force && type !== 'apply') throw badRequest('force is only allowed for apply patches');
    for (let attempt = 0; ; attempt++) {
      const old = await this.opts.store.get(def.kind, rp.namespace ?? '', name);
      if (!old && (type !== 'apply' || rp.subresource)) throw notFound(def.plural, def.group, name);
      if (old) access.stored(old);
      try {
        const patched = applyPatch(type, old, patch, {
          kind: def.kind,
          manager: opts.fieldManager,
          force,
          now: timestamp(this.opts.clock),
          apiVersion: apiVersionOf(def),
        }) as Record<string, unknown>;
        if (!old) {
          const meta = (patched.metadata ??= {}) as Record<string, unknown>;
          if (meta.name !== undefined && meta.name !== name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
          meta.name = name;
          await access.creating(patched);
          return json(await this.writer.create(def, rp.namespace, patched, opts), 201);
        }
        const pinned = (patched.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
        if (pinned && pinned !== old.metadata?.resourceVersion) throw conflict(def.plural, def.group, name);
        // A pinned resourceVersion equals old's here, so the write stays conditional on what was read.
        const obj = this.writer.prepareUpdate(def, old, patched, rp.subresource, opts);
        await access.updating(old, obj);
        return json(await this.writer.commitUpdate(def, old, obj, opts));
      } catch (e) {
        // ApplyConflictError is a PatchError too: test it first, or its causes are lost.
        if (e instanceof ApplyConflictError) {
          throw new ApiError(409, 'Conflict', e.message, { name, group: def.group, kind: def.plural, causes: e.causes });
        }
        if (e instanceof PatchError) throw new ApiError(e.code, e.code === 409 ? 'Conflict' : e.code === 400 ? 'BadRequest' : 'Invalid', e.message);
        if (retryableConflict(e) && attempt < 5) continue;
        throw e;
      }
    }
  }

  private async deleteOptions(req: Request, q: URLSearchParams): Promise<DeleteOptions> {
    const bytes = await readBody(req);
    let body: Record<string, unknown> = {};
    if (bytes.byteLength > 0) body = decodeObject(bytes, mediaType(req));
    const options = body as DeleteOptions;
    if (q.get('gracePeriodSeconds') !== null) options.gracePeriodSeconds = Number(q.get('gracePeriodSeconds'));
    if (q.get('propagationPolicy')) options.propagationPolicy = q.get('propagationPolicy')!;
    if (q.get('orphanDependents') !== null) options.orphanDependents = queryBool(q, 'orphanDependents');
    if (options.gracePeriodSeconds !== undefined && (!Number.isInteger(options.gracePeriodSeconds) || options.gracePeriodSeconds < 0)) {
      throw badRequest(`invalid gracePeriodSeconds: ${String(options.gracePeriodSeconds)}`);
    }
    return options;
  }

  private async deleteOne(req: Request, rp: ResourcePath, q: URLSearchParams, name: string, access: Access): Promise<Response> {
    const options = await this.deleteOptions(req, q);
    const opts = writeOptions(req, q);
    if (options.dryRun?.length) opts.dryRun = true;
    for (let attempt = 0; ; attempt++) {
      const old = await this.writer.read(rp.def, rp.namespace, name);
      access.stored(old);
      try {
        const { object, gone } = await this.writer.delete(rp.def, old, options, opts);
        // As kube-apiserver: an object still being deleted comes back; one that is gone, as a Status (pods as themselves).
        if (gone && rp.def.kind !== 'Pod') return json(successStatus({ name, group: rp.def.group, kind: rp.def.plural, uid: old.metadata?.uid }));
        return json(object);
      } catch (e) {
        if (retryableConflict(e) && attempt < 5 && !options.preconditions) continue;
        throw e;
      }
    }
  }

  private async deleteCollection(req: Request, rp: ResourcePath, q: URLSearchParams): Promise<Response> {
    const options = await this.deleteOptions(req, q);
    const opts = writeOptions(req, q);
    const res = await listObjects(this.opts.store, rp.def, selection(rp.def, rp.namespace, q), new URLSearchParams());
    // One write for the whole collection; an object changed meanwhile is left for a later call.
    const plans = res.items.map((obj) => this.writer.planDelete(rp.def, obj, options));
    const done = await this.writer.commitDeletes(rp.def, plans, opts);
    const deleted = plans.filter((_, i) => done[i]).map((p) => p.object);
    return json(listDocument(rp.def, { items: deleted, resourceVersion: res.resourceVersion }));
  }

  /** The autoscaling/v1 Scale of a Deployment or ReplicaSet. */
  private async scale(req: Request, rp: ResourcePath, q: URLSearchParams): Promise<Response> {
    const { def } = rp;
    const name = rp.name!;
    const toScale = (obj: KObject) => {
      const spec = obj.spec as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
      const status = (obj.status ?? {}) as { replicas?: number };
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: { name, namespace: obj.metadata?.namespace, uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion, creationTimestamp: obj.metadata?.creationTimestamp },
        spec: { replicas: spec.replicas ?? 0 },
        status: {
          replicas: status.replicas ?? 0,
          selector: Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
        },
      };
    };
    if (req.method === 'GET') return json(toScale(await this.writer.read(def, rp.namespace, name)));
    if (req.method !== 'PUT' && req.method !== 'PATCH') throw methodNotAllowed(rp);
    const opts = writeOptions(req, q);
    const bytes = await readBody(req);
    for (let attempt = 0; ; attempt++) {
      const old = await this.writer.read(def, rp.namespace, name);
      let scale: Record<string, unknown>;
      if (req.method === 'PUT') {
        scale = decodeObject(bytes, mediaType(req));
      } else {
        const type = PATCH_TYPES[mediaType(req)];
        if (!type || type === 'apply') throw new ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format');
        try {
          scale = applyPatch(type, toScale(old), parseJson(bytes), { kind: 'Scale', manager: opts.fieldManager, now: timestamp(this.opts.clock), apiVersion: 'autoscaling/v1' }) as Record<string, unknown>;
        } catch (e) {
          if (e instanceof PatchError) throw new ApiError(e.code, e.code === 400 ? 'BadRequest' : 'Invalid', e.message);
          throw e;
        }
      }
      // Go clients omit a zero replicas (omitempty): `kubectl scale --replicas=0` PUTs "spec": {}.
      const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas ?? 0;
      if (!Number.isInteger(replicas) || (replicas as number) < 0) {
        throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, {
          name, group: 'autoscaling', kind: 'Scale', causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'must be greater than or equal to 0' }],
        });
      }
      const pinned = (scale.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
      if (pinned && pinned !== old.metadata?.resourceVersion) throw conflict('deployments', def.group, name);
      const next = clone(old);
      (next.spec as { replicas: number }).replicas = replicas as number;
      try {
        const obj = this.writer.prepareUpdate(def, old, next, undefined, opts);
        return json(toScale(await this.writer.commitUpdate(def, old, obj, opts)));
      } catch (e) {
        if (retryableConflict(e) && attempt < 5 && !pinned) continue;
        throw e;
      }
    }
  }

  /** pods/binding: what a scheduler posts to assign a pod to a node. */
  private async bind(req: Request, rp: ResourcePath, q: URLSearchParams): Promise<Response> {
    const body = decodeObject(await readBody(req), mediaType(req));
    const target = body.target as { name?: string } | undefined;
    if (!target?.name) {
      throw new ApiError(422, 'Invalid', `Binding "${rp.name}" is invalid: target.name: Required value`, { name: rp.name, kind: 'Binding', causes: [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }] });
    }
    const old = await this.writer.read(rp.def, rp.namespace, rp.name!);
    const spec = old.spec as { nodeName?: string };
    if (spec.nodeName) throw conflict('pods', '', rp.name!, `pod ${rp.name} is already assigned to node "${spec.nodeName}"`);
    if (old.metadata?.deletionTimestamp) throw conflict('pods', '', rp.name!, `pod ${rp.name} is being deleted, cannot be assigned to a host`);
    const next = clone(old);
    (next.spec as { nodeName?: string }).nodeName = target.name;
    const status = (next.status ??= {}) as { conditions?: Record<string, unknown>[] };
    status.conditions = [
      ...(status.conditions ?? []).filter((c) => c.type !== 'PodScheduled'),
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp(this.opts.clock) },
    ];
    const opts = writeOptions(req, q);
    await this.writer.commitUpdate(rp.def, old, next, opts);
    return json(successStatus(), 201);
  }

  /** pods/eviction: a policy/v1 Eviction deletes the pod where its disruption budget allows (eviction.ts). */
  private async evict(req: Request, rp: ResourcePath, q: URLSearchParams): Promise<Response> {
    const body = decodeObject(await readBody(req), mediaType(req));
    return new Eviction(this.opts, this.writer).evict(rp, body, writeOptions(req, q));
  }
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function methodNotAllowed(rp: ResourcePath): ApiError {
  return new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, { kind: rp.def.plural, group: rp.group, name: rp.name });
}

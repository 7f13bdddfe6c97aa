import { apiVersionOf } from '../kinds/registry.js';
import type { KindDef, KObject } from '../kinds/types.js';
import { gracePeriodSeconds, markDeleted } from '../kinds/deletion.js';
import { deepEqual, validateName } from '../kinds/validation.js';
import type { Clock } from '../store/clock.js';
import type { Guard, Store, WriteOp } from '../store/store.js';
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound, qualified } from './status.js';
import { mistypedFields, unknownFields } from './openapi/index.js';
import { updateManagedFields } from './patch/index.js';
import { clone } from '../kinds/clone.js';

// The write path shared by create, update, patch and delete: system fields, defaults,
// validation, spec/status separation, generation, and the conditional write itself.

export interface WriteContext {
  store: Store;
  clock: Clock;
  /** Called after a committed write, so a reconcile pass can follow soon. */
  onWrite?: (kind: string) => void;
  /** Admission that allocates (cluster IPs, node ports): fills the object in and returns the guard its write needs. */
  admit?: (def: KindDef, obj: KObject, old?: KObject) => Promise<Guard | undefined>;
}

export interface WriteOptions {
  dryRun: boolean;
  fieldManager: string;
  /** Strict rejects fields the schema does not know (kubectl apply asks for it); Warn and Ignore accept them. */
  fieldValidation: 'Strict' | 'Warn' | 'Ignore';
  /** Set for server-side apply, whose managedFields are already recorded. */
  applied?: boolean;
}

/** Fields of the body the kind's schema does not declare, rejected under fieldValidation=Strict. */
export function checkUnknownFields(def: KindDef, body: Record<string, unknown>, opts: WriteOptions): void {
  if (opts.fieldValidation !== 'Strict') return;
  const unknown = unknownFields(apiVersionOf(def), def.kind, body);
  if (unknown.length) {
    throw badRequest(`strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
  }
}

/** Values of the wrong JSON type, refused as kube-apiserver's decoder refuses them (before any kind code reads them). */
export function checkTypes(def: KindDef, body: Record<string, unknown>): void {
  const wrong = mistypedFields(apiVersionOf(def), def.kind, body);
  if (wrong.length) {
    const list = wrong.map((w) => `${w.path}: expected ${w.expected}, got ${w.got}`).join(', ');
    throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${list}`);
  }
}

/** Kinds whose status a create does not take from the client (their controllers and agents own it). */
const STATUS_CLEARED_ON_CREATE = new Set(['Pod', 'Deployment', 'ReplicaSet', 'Service', 'PodDisruptionBudget', 'CronJob', 'DaemonSet', 'HorizontalPodAutoscaler']);

export function timestamp(clock: Clock): string {
  return clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function generatedName(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return prefix + Array.from(bytes, (b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

/** Everything but metadata and status: what a change to bumps metadata.generation. */
function specOf(obj: KObject): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = obj;
  return rest;
}

export function checkKind(def: KindDef, obj: Record<string, unknown>): void {
  const apiVersion = apiVersionOf(def);
  if (obj.kind === undefined && obj.apiVersion === undefined) {
    obj.kind = def.kind;
    obj.apiVersion = apiVersion;
    return;
  }
  if (obj.kind !== def.kind || obj.apiVersion !== apiVersion) {
    // JSON for what is not a string: String() throws on objects such as {"toString": 1}.
    const shown = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
    throw badRequest(`the API version in the data (${shown(obj.apiVersion)}) and kind (${shown(obj.kind)}) do not match the expected ${apiVersion} ${def.kind}`);
  }
}

function checkMetadata(obj: Record<string, unknown>): KObject {
  if (obj.metadata !== undefined && (typeof obj.metadata !== 'object' || obj.metadata === null || Array.isArray(obj.metadata))) {
    throw badRequest('metadata must be an object');
  }
  return obj as KObject;
}

function validateObject(def: KindDef, obj: KObject, old?: KObject): void {
  const name = obj.metadata?.name ?? '';
  const causes = [
    ...validateName(def.nameRule ?? 'subdomain', name).map((message) => ({ reason: 'FieldValueInvalid' as const, field: 'metadata.name', message: `Invalid value: "${name}": ${message}` })),
    ...(def.validate?.(obj, old) ?? []),
  ];
  if (causes.length) throw invalid(def.kind, def.group, name, causes);
}

export class ObjectWriter {
  constructor(private ctx: WriteContext) {}

  private now(): string {
    return timestamp(this.ctx.clock);
  }

  /** Validate and store a new object; returns it as stored. */
  async create(def: KindDef, namespace: string | undefined, body: Record<string, unknown>, opts: WriteOptions): Promise<KObject> {
    checkKind(def, body);
    checkUnknownFields(def, body, opts);
    checkTypes(def, body);
    const obj = clone(checkMetadata(body));
    const meta = (obj.metadata ??= {});
    if (def.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace;
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = generatedName(String(meta.generateName));
    if (!meta.name) {
      throw invalid(def.kind, def.group, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    }
    if (meta.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    meta.uid = crypto.randomUUID();
    meta.creationTimestamp = this.now();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (def.hasSpec) meta.generation = 1;
    else delete meta.generation;
    if (STATUS_CLEARED_ON_CREATE.has(def.kind)) obj.status = {};
    def.defaults?.(obj);
    validateObject(def, obj);
    if (!opts.applied) updateManagedFields(undefined, obj, { kind: def.kind, manager: opts.fieldManager, apiVersion: apiVersionOf(def), now: this.now() });
    const guard = await this.ctx.admit?.(def, obj);
    if (opts.dryRun) return obj;

    const [res] = await this.ctx.store.commit([{ op: 'create', object: obj, requireNamespace: def.namespaced, guard }]);
    if (!res.ok) {
      if (def.namespaced) await this.requireLiveNamespace(def, String(namespace), String(meta.name));
      if (guard && !(await this.ctx.store.get(def.kind, namespace ?? '', String(meta.name)))) {
        throw conflict(def.plural, def.group, String(meta.name), 'an allocated value was taken meanwhile; please try again');
      }
      throw alreadyExists(def.plural, def.group, String(meta.name));
    }
    this.ctx.onWrite?.(def.kind);
    return res.object!;
  }

  private async requireLiveNamespace(def: KindDef, namespace: string, name: string): Promise<void> {
    const ns = await this.ctx.store.get('Namespace', '', namespace);
    if (!ns) throw notFound('namespaces', '', namespace);
    if (ns.metadata?.deletionTimestamp) {
      // As kube-apiserver's NewForbidden: the refused object is named, as kubectl prints it.
      throw new ApiError(403, 'Forbidden', `${qualified(def.plural, def.group)} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
        name,
        group: def.group,
        kind: def.plural,
      });
    }
  }

  async read(def: KindDef, namespace: string | undefined, name: string): Promise<KObject> {
    const obj = await this.ctx.store.get(def.kind, namespace ?? '', name);
    if (!obj) throw notFound(def.plural, def.group, name);
    return obj;
  }

  /**
   * Replace `old` with `next` as the main resource (subresource undefined) or the status
   * subresource. Fields the caller may not change there are taken from `old`.
   */
  prepareUpdate(def: KindDef, old: KObject, next: Record<string, unknown>, subresource: string | undefined, opts: WriteOptions): KObject {
    checkKind(def, next);
    checkUnknownFields(def, next, opts);
    checkTypes(def, next);
    const obj = clone(checkMetadata(next));
    const meta = (obj.metadata ??= {});
    const oldMeta = old.metadata!;
    if (meta.name !== undefined && meta.name !== oldMeta.name) {
      throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${oldMeta.name})`);
    }
    if (def.namespaced && meta.namespace && meta.namespace !== oldMeta.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (meta.uid && meta.uid !== oldMeta.uid) {
      throw invalid(def.kind, def.group, String(oldMeta.name), [{ reason: 'FieldValueInvalid', field: 'metadata.uid', message: `Invalid value: "${String(meta.uid)}": field is immutable` }]);
    }
    if (meta.resourceVersion && meta.resourceVersion !== oldMeta.resourceVersion) {
      throw conflict(def.plural, def.group, String(oldMeta.name));
    }
    if (subresource === 'status') {
      // A status write changes status alone.
      obj.metadata = { ...oldMeta };
      for (const [k, v] of Object.entries(old)) if (k !== 'status' && k !== 'metadata') obj[k] = clone(v);
    } else {
      const hasStatusResource = (def.subresources ?? []).includes('status');
      if (hasStatusResource) {
        if (old.status === undefined) delete obj.status;
        else obj.status = clone(old.status);
      }
      obj.metadata = {
        ...meta,
        name: oldMeta.name,
        namespace: oldMeta.namespace,
        uid: oldMeta.uid,
        creationTimestamp: oldMeta.creationTimestamp,
        deletionTimestamp: oldMeta.deletionTimestamp,
        deletionGracePeriodSeconds: oldMeta.deletionGracePeriodSeconds,
        generation: oldMeta.generation,
        resourceVersion: oldMeta.resourceVersion,
      };
      for (const k of ['namespace', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
        if (obj.metadata[k] === undefined) delete obj.metadata[k];
      }
    }
    def.defaults?.(obj);
    def.prepareUpdate?.(obj, old);
    if (def.hasSpec && !deepEqual(specOf(obj), specOf(old))) obj.metadata!.generation = (oldMeta.generation ?? 0) + 1;
    validateObject(def, obj, old);
    if (!opts.applied) updateManagedFields(old, obj, { kind: def.kind, subresource, manager: opts.fieldManager, apiVersion: apiVersionOf(def), now: this.now() });
    return obj;
  }

  /**
   * Store `obj` over `old` (conditional on old's resourceVersion). An object being deleted
   * whose last finalizer went away is deleted instead.
   */
  async commitUpdate(def: KindDef, old: KObject, obj: KObject, opts: WriteOptions): Promise<KObject> {
    // Compared as values: clients send keys in their own order.
    if (deepEqual({ ...obj, metadata: { ...obj.metadata, managedFields: undefined } }, { ...old, metadata: { ...old.metadata, managedFields: undefined } })) {
      return old; // nothing changed: no write, same resourceVersion, as kube-apiserver does
    }
    const guard = await this.ctx.admit?.(def, obj, old);
    if (opts.dryRun) return obj;
    const rv = Number(old.metadata!.resourceVersion);
    // As kube-apiserver's shouldDeleteDuringUpdate: only a zero grace period lets the update delete; a pod
    // still in its grace period stays until its node deletes it, a namespace until its controller does.
    const finished = obj.metadata?.deletionTimestamp && !(obj.metadata.finalizers ?? []).length && old.metadata?.deletionGracePeriodSeconds === 0;
    const op: WriteOp = finished
      ? { op: 'delete', kind: def.kind, namespace: old.metadata!.namespace ?? '', name: String(old.metadata!.name), rv }
      : { op: 'update', object: obj, rv, guard };
    const [res] = await this.ctx.store.commit([op]);
    if (!res.ok) throw conflict(def.plural, def.group, String(old.metadata!.name));
    this.ctx.onWrite?.(def.kind);
    return res.object ?? { ...obj, metadata: { ...obj.metadata, resourceVersion: String(res.rv) } };
  }

  /**
   * Delete as kube-apiserver does: objects with finalizers (or a propagation that needs
   * one) and pods still running on a node are marked with deletionTimestamp; others go at once.
   * Returns the object as last seen and whether it is gone.
   */
  /**
   * How deleting `old` goes, as kube-apiserver does it: objects with finalizers (or a propagation
   * that needs one) and pods still running on a node are marked with deletionTimestamp; others go
   * at once. `op` is the write (none when the object is already being deleted that way).
   */
  planDelete(def: KindDef, old: KObject, options: DeleteOptions): { op?: WriteOp; object: KObject; gone: boolean } {
    const meta = old.metadata!;
    const name = String(meta.name);
    const pre = options.preconditions ?? {};
    if (pre.uid && pre.uid !== meta.uid) {
      throw conflict(def.plural, def.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid}`);
    }
    if (pre.resourceVersion && pre.resourceVersion !== meta.resourceVersion) {
      throw conflict(def.plural, def.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`);
    }
    const policy = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : 'Background');
    if (!['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw invalid('DeleteOptions', '', '', [{ reason: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"` }]);
    }
    if (options.gracePeriodSeconds !== undefined && (!Number.isInteger(options.gracePeriodSeconds) || options.gracePeriodSeconds < 0)) {
      throw badRequest(`invalid gracePeriodSeconds: ${options.gracePeriodSeconds}`);
    }
    const rv = Number(meta.resourceVersion);
    const update = (object: KObject) => ({ op: { op: 'update' as const, object, rv }, object, gone: false });
    // Namespaces always go through the namespace controller, which empties them first.
    if (def.kind === 'Namespace') {
      if (meta.deletionTimestamp) return { object: old, gone: false };
      const obj = clone(old);
      obj.metadata!.deletionTimestamp = this.now();
      obj.status = { ...(obj.status as object), phase: 'Terminating' };
      return update(obj);
    }
    const wanted = policy === 'Foreground' ? ['foregroundDeletion'] : policy === 'Orphan' ? ['orphan'] : [];
    const added = wanted.filter((f) => !(meta.finalizers ?? []).includes(f));
    const grace = gracePeriodSeconds(def.kind, old, options.gracePeriodSeconds);
    if ((meta.finalizers ?? []).length > 0 || added.length > 0 || grace > 0) {
      if (meta.deletionTimestamp && added.length === 0 && grace >= (meta.deletionGracePeriodSeconds ?? 0)) {
        return { object: old, gone: false }; // already being deleted
      }
      return update(markDeleted(old, this.ctx.clock.now(), grace, added));
    }
    return { op: { op: 'delete', kind: def.kind, namespace: meta.namespace ?? '', name, rv }, object: old, gone: true };
  }

  /** Carry out deletions planned by planDelete in one round trip; a failed condition is a 409. */
  async commitDeletes(def: KindDef, plans: { op?: WriteOp; object: KObject }[], opts: WriteOptions): Promise<boolean[]> {
    const ops = plans.filter((p) => p.op);
    if (opts.dryRun || ops.length === 0) return plans.map(() => true);
    const results = await this.ctx.store.commit(ops.map((p) => p.op!));
    if (results.some((r) => r.ok)) this.ctx.onWrite?.(def.kind);
    const ok = new Map(ops.map((p, i) => [p, results[i].ok]));
    return plans.map((p) => ok.get(p) ?? true);
  }

  async delete(def: KindDef, old: KObject, options: DeleteOptions, opts: WriteOptions): Promise<{ object: KObject; gone: boolean }> {
    const plan = this.planDelete(def, old, options);
    const [ok] = await this.commitDeletes(def, [plan], opts);
    if (!ok) throw conflict(def.plural, def.group, String(old.metadata!.name));
    return { object: plan.gone ? old : plan.object, gone: plan.gone };
  }
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

// Server-side apply and field ownership (metadata.managedFields), a simplified
// port of sigs.k8s.io/structured-merge-diff as kube-apiserver uses it. A field
// set is a set of paths; a path is a list of FieldsV1 elements: "f:<field>",
// "k:<merge keys as JSON>" for an item of a keyed list, "v:<JSON>" for an item
// of a set. The ownable nodes of an object are its scalars, atomic lists and
// structs, keyed-list items and set items; maps are granular and own nothing
// themselves. Keyed lists and sets follow merge-keys.ts; other lists are atomic.
import { strategiesOf, type FieldStrategy, type StrategyTable } from './merge-keys.js';
import { PatchError, clone, deepEqual, isObject, own, put, type JsonObject } from './merge-patch.js';

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

export interface ConflictCause {
  reason: 'FieldManagerConflict';
  field: string;
  message: string;
}

/** 409: the apply would change fields another manager owns (kube-apiserver's message and causes). */
export class ApplyConflictError extends PatchError {
  constructor(readonly causes: ConflictCause[]) {
    super(conflictMessage(causes), 409);
    this.name = 'ApplyConflictError';
  }
}

export interface ApplyOptions {
  kind: string;
  manager: string;
  apiVersion: string;
  now: string;
  force?: boolean;
  subresource?: string;
}

export type UpdateOptions = Omit<ApplyOptions, 'force'>;

/** Fields the API server sets itself: nobody owns them (Kubernetes' stripMeta). */
// Fields the system sets, which no manager owns (nor anything beneath them).
const SYSTEM_TOP = new Set(['apiVersion', 'kind']);
const SYSTEM_METADATA = new Set(['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'generation', 'managedFields', 'resourceVersion']);
const isSystemField = (schema: string, depth: number, field: string) =>
  depth === 0 ? SYSTEM_TOP.has(field) : depth === 1 && schema === 'metadata' && SYSTEM_METADATA.has(field);

const invalid = (message: string) => new PatchError(message, 422);

// ---- paths -----------------------------------------------------------------

function childSchema(schema: string, element: string): string {
  if (!element.startsWith('f:')) return `${schema}[]`;
  return schema ? `${schema}.${element.slice(2)}` : element.slice(2);
}

/** ".spec.template.spec.containers[name=\"nginx\"].image", as fieldpath.Path.String(). */
function pathString(key: string): string {
  return (JSON.parse(key) as string[])
    .map((el) => {
      const rest = el.slice(2);
      if (el.startsWith('f:')) return `.${rest}`;
      if (el.startsWith('v:')) return `[=${rest}]`;
      const fields = Object.entries(JSON.parse(rest) as JsonObject).map(([n, v]) => `${n}=${JSON.stringify(v)}`);
      return `[${fields.join(',')}]`;
    })
    .join('');
}

// ---- the ownable nodes of an object -------------------------------------------

class Schema {
  constructor(private readonly table: StrategyTable) {}

  at(path: string): FieldStrategy | undefined {
    return Object.hasOwn(this.table, path) ? this.table[path] : undefined;
  }

  /** The "k:" element of a keyed-list item, or undefined when it lacks a key. */
  itemKey(item: unknown, s: FieldStrategy): string | undefined {
    if (!isObject(item) || !s.key) return undefined;
    const fields: [string, unknown][] = [[s.key, own(item, s.key)]];
    for (const [f, dflt] of Object.entries(s.moreKeys ?? {})) fields.push([f, own(item, f) ?? dflt]);
    if (fields.some(([, v]) => !['string', 'number', 'boolean'].includes(typeof v))) return undefined;
    fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `k:${JSON.stringify(Object.fromEntries(fields))}`;
  }

  /**
   * The ownable nodes of an object by path key: their value, and whether they are
   * leaves (compared by value) or list items (compared by presence). `strict`
   * (an applied configuration) rejects list items that cannot be identified.
   */
  nodes(obj: JsonObject, strict = false): Map<string, { value: unknown; leaf: boolean }> {
    const out = new Map<string, { value: unknown; leaf: boolean }>();
    // A path's key is its JSON text, "[el,el,...]"; a child's is its parent's inner text extended,
    // so no path is copied or stringified whole on the way down.
    const visit = (v: unknown, inner: string, schema: string, depth: number): void => {
      if (v === null || v === undefined) return;
      const s = depth ? this.at(schema) : undefined;
      const child = (el: string) => (inner ? `${inner},${JSON.stringify(el)}` : JSON.stringify(el));
      if (isObject(v) && !s?.atomic) {
        for (const [k, x] of Object.entries(v)) {
          if (isSystemField(schema, depth, k)) continue;
          visit(x, child(`f:${k}`), childSchema(schema, `f:${k}`), depth + 1);
        }
      } else if (Array.isArray(v) && s?.key) {
        for (const item of v) {
          const el = this.itemKey(item, s);
          if (!el) {
            if (strict) throw invalid(`${pathString(`[${inner}]`)}: list item is missing its key field "${s.key}"`);
            continue;
          }
          const path = child(el);
          if (strict && out.has(`[${path}]`)) throw invalid(`${pathString(`[${path}]`)}: duplicate list item`);
          out.set(`[${path}]`, { value: item, leaf: false });
          visit(item, path, `${schema}[]`, depth + 1);
        }
      } else if (Array.isArray(v) && s?.set) {
        for (const item of v) {
          if (typeof item === 'object' && item !== null) {
            if (strict) throw invalid(`${pathString(`[${inner}]`)}: a set holds primitives only`);
            continue;
          }
          out.set(`[${child(`v:${JSON.stringify(item)}`)}]`, { value: item, leaf: true });
        }
      } else if (depth) out.set(`[${inner}]`, { value: v, leaf: true });
    };
    visit(obj, '', '', 0);
    return out;
  }

  /** Merges an applied configuration into `live` (changed in place): configured values win. */
  merge(live: unknown, cfg: unknown, schema: string): unknown {
    const s = this.at(schema);
    if (isObject(cfg)) {
      if (!isObject(live) || s?.atomic) return withoutNulls(cfg);
      for (const [k, v] of Object.entries(cfg)) {
        if (v !== null) put(live, k, this.merge(own(live, k), v, childSchema(schema, `f:${k}`)));
      }
      return live;
    }
    if (!Array.isArray(cfg) || !Array.isArray(live) || !(s?.key || s?.set)) return withoutNulls(cfg);
    for (const item of cfg) {
      if (s.set) {
        if (!live.some((x) => deepEqual(x, item))) live.push(item);
        continue;
      }
      const el = this.itemKey(item, s);
      const i = live.findIndex((x) => this.itemKey(x, s) === el);
      if (i >= 0) live[i] = this.merge(live[i], item, `${schema}[]`);
      else live.push(withoutNulls(item));
    }
    return live;
  }

  /** Removes the node at `path` from `obj`, and any map or list that removal leaves empty. */
  remove(obj: JsonObject, path: string[]): void {
    const trail: [container: JsonObject | unknown[], field: string, node: unknown][] = [];
    let cur: unknown = obj;
    let schema = '';
    for (const el of path) {
      if (!isObject(cur) && !Array.isArray(cur)) return;
      const next = this.child(cur, el, schema);
      if (next === undefined) return;
      trail.push([cur, el.slice(2), next]);
      cur = next;
      schema = childSchema(schema, el);
    }
    for (let i = trail.length - 1; i >= 0; i--) {
      const [container, field, node] = trail[i];
      if (Array.isArray(container)) container.splice(container.indexOf(node), 1);
      else delete container[field];
      if ((Array.isArray(container) ? container.length : Object.keys(container).length) > 0) break;
    }
  }

  private child(container: JsonObject | unknown[], el: string, schema: string): unknown {
    if (!Array.isArray(container)) return el.startsWith('f:') ? own(container, el.slice(2)) : undefined;
    const s = this.at(schema);
    if (el.startsWith('k:') && s) return container.find((x) => this.itemKey(x, s) === el);
    if (el.startsWith('v:')) return container.find((x) => `v:${JSON.stringify(x)}` === el);
    return undefined;
  }
}

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) put(out, k, withoutNulls(x));
  return out;
}

// ---- managedFields ---------------------------------------------------------------

interface Manager {
  entry: Omit<ManagedFieldsEntry, 'fieldsV1'>;
  fields: Set<string>;
}

const managerId = (manager: string, operation: string, subresource?: string) =>
  JSON.stringify([manager, operation, subresource ?? '']);

function entryFor(opts: UpdateOptions, operation: 'Apply' | 'Update', time: string): Manager['entry'] {
  const { manager, apiVersion, subresource } = opts;
  return { manager, operation, apiVersion, time, fieldsType: 'FieldsV1', ...(subresource ? { subresource } : {}) };
}

function toFieldsV1(fields: Set<string>): JsonObject {
  const root: JsonObject = {};
  const nodeAt = (path: string[]) =>
    path.reduce<JsonObject>((node, el) => {
      if (!isObject(own(node, el))) put(node, el, {});
      return node[el] as JsonObject;
    }, root);
  const paths = [...fields].map((k) => JSON.parse(k) as string[]);
  for (const p of paths) nodeAt(p);
  for (const p of paths) {
    const node = nodeAt(p);
    if (Object.keys(node).length > 0) put(node, '.', {});
  }
  return root;
}

function fromFieldsV1(tree: unknown, path: string[] = [], out = new Set<string>()): Set<string> {
  if (!isObject(tree)) return out;
  const keys = Object.keys(tree);
  if (keys.length === 0 && path.length) out.add(JSON.stringify(path));
  for (const k of keys) {
    if (k === '.') {
      if (path.length) out.add(JSON.stringify(path));
    } else if (isElement(k)) fromFieldsV1(tree[k], [...path, k], out);
  }
  return out;
}

/** A well-formed FieldsV1 element (managedFields may come from clients). */
function isElement(el: string): boolean {
  if (el.startsWith('f:')) return true;
  if (!el.startsWith('k:') && !el.startsWith('v:')) return false;
  try {
    const v: unknown = JSON.parse(el.slice(2));
    return el.startsWith('v:') || isObject(v);
  } catch {
    return false;
  }
}

function readManagers(managedFields: unknown): Map<string, Manager> {
  const out = new Map<string, Manager>();
  if (!Array.isArray(managedFields)) return out;
  for (const e of managedFields) {
    if (!isObject(e) || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update')) continue;
    const subresource = typeof e.subresource === 'string' && e.subresource ? e.subresource : undefined;
    out.set(managerId(e.manager, e.operation, subresource), {
      entry: {
        manager: e.manager,
        operation: e.operation,
        apiVersion: typeof e.apiVersion === 'string' ? e.apiVersion : '',
        ...(typeof e.time === 'string' ? { time: e.time } : {}),
        fieldsType: 'FieldsV1',
        ...(subresource ? { subresource } : {}),
      },
      fields: fromFieldsV1(e.fieldsV1),
    });
  }
  return out;
}

function writeManagers(obj: JsonObject, managers: Map<string, Manager>): void {
  const meta = metadataOf(obj);
  const entries = [...managers.values()]
    .filter((m) => m.fields.size > 0)
    .map(({ entry, fields }) => {
      const { subresource, ...rest } = entry;
      return { ...rest, fieldsV1: toFieldsV1(fields), ...(subresource ? { subresource } : {}) };
    });
  if (entries.length) put(meta, 'managedFields', entries);
  else delete meta.managedFields;
}

function metadataOf(obj: JsonObject): JsonObject {
  const meta = own(obj, 'metadata');
  if (meta === undefined || meta === null) put(obj, 'metadata', {});
  else if (!isObject(meta)) throw invalid('metadata must be an object');
  return obj.metadata as JsonObject;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((k) => b.has(k));

function printManager(e: Manager['entry']): string {
  const name = JSON.stringify(e.manager) + (e.subresource ? ` with subresource ${JSON.stringify(e.subresource)}` : '');
  return e.operation === 'Update' ? `${name} using ${e.apiVersion}` : name;
}

function conflictMessage(causes: ConflictCause[]): string {
  if (causes.length === 1) return `Apply failed with 1 conflict: ${causes[0].message}: ${causes[0].field}`;
  const byManager = new Map<string, string[]>();
  for (const c of causes) byManager.set(c.message, [...(byManager.get(c.message) ?? []), c.field]);
  const lines = [...byManager.keys()]
    .sort()
    .flatMap((m) => [`${m.replace(/^conflict with/, 'conflicts with')}:`, ...byManager.get(m)!.map((f) => `- ${f}`)]);
  return `Apply failed with ${causes.length} conflicts: ${lines.join('\n')}`;
}

/**
 * Moves ownership after a write by manager `me` that turned `before` into `after`:
 * fields it changed leave every other manager (unless that is a conflict and
 * `force` is false: then the conflicts are returned and nothing moves), fields
 * it removed leave everyone. Returns the changed paths.
 */
function settle(
  managers: Map<string, Manager>,
  me: string,
  before: Map<string, { value: unknown; leaf: boolean }>,
  after: Map<string, { value: unknown; leaf: boolean }>,
  force: boolean,
): { changed: string[]; removed: string[]; conflicts: ConflictCause[] } {
  const changed = [...after].filter(([k, n]) => {
    const old = before.get(k);
    return !old || (n.leaf && !deepEqual(old.value, n.value));
  });
  const changedKeys = changed.map(([k]) => k);
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const conflicts: ConflictCause[] = [];
  for (const [id, m] of managers) {
    if (id === me) continue;
    for (const k of changedKeys.filter((k) => m.fields.has(k)).sort()) {
      conflicts.push({ reason: 'FieldManagerConflict', field: pathString(k), message: `conflict with ${printManager(m.entry)}` });
    }
  }
  if (conflicts.length && !force) return { changed: changedKeys, removed, conflicts };
  for (const [id, m] of managers) {
    if (id === me) continue;
    for (const k of [...changedKeys, ...removed]) m.fields.delete(k);
    if (m.fields.size === 0) managers.delete(id);
  }
  return { changed: changedKeys, removed, conflicts: [] };
}

// ---- the two operations -----------------------------------------------------------

/**
 * Server-side apply of `config` (a whole manifest) by `opts.manager`; creates when
 * `current` is undefined. Returns the new object with its managedFields.
 */
export function serverSideApply(current: JsonObject | undefined, config: unknown, opts: ApplyOptions): JsonObject {
  if (!isObject(config)) throw new PatchError('an apply patch must be a JSON or YAML object', 400);
  for (const field of ['kind', 'apiVersion'] as const) {
    const v = own(config, field);
    const expected = field === 'kind' ? opts.kind : opts.apiVersion;
    // Required, as kube-apiserver refuses an apply patch without them ("Incorrect version specified in apply patch").
    if (v !== expected)
      throw new PatchError(`the ${field} in the apply patch (${JSON.stringify(v)}) does not match the expected ${field} (${expected})`, 400);
  }
  const cfgMeta = own(config, 'metadata');
  if (cfgMeta !== undefined && cfgMeta !== null && !isObject(cfgMeta)) throw invalid('metadata must be an object');
  if (isObject(cfgMeta) && own(cfgMeta, 'managedFields') != null)
    throw new PatchError('metadata.managedFields must be nil in an apply patch', 400);

  const schema = new Schema(strategiesOf(opts.kind));
  const applied = schema.nodes(config, true);
  const before = current ? schema.nodes(current) : new Map<string, { value: unknown; leaf: boolean }>();
  const liveFields = current && isObject(current.metadata) ? own(current.metadata, 'managedFields') : undefined;
  const managers = readManagers(liveFields);
  // An object written before field tracking: its fields belong to "before-first-apply" (as in Kubernetes).
  if (current && !Array.isArray(liveFields) && before.size) {
    managers.set(managerId('before-first-apply', 'Update'), {
      entry: entryFor({ ...opts, manager: 'before-first-apply', subresource: undefined }, 'Update', opts.now),
      fields: new Set(before.keys()),
    });
  }
  const me = managerId(opts.manager, 'Apply', opts.subresource);
  const previous = managers.get(me);
  const merged = schema.merge(clone(current ?? {}), config, '') as JsonObject;
  const fields = new Set(applied.keys());
  managers.set(me, { entry: entryFor(opts, 'Apply', opts.now), fields });
  // Fields this manager applied before and no longer does go, unless someone still owns them or below them.
  const ownedOrAbove = new Set<string>();
  for (const m of managers.values()) {
    for (const key of m.fields) {
      const path = JSON.parse(key) as string[];
      path.forEach((_, i) => ownedOrAbove.add(JSON.stringify(path.slice(0, i + 1))));
    }
  }
  // Ancestors first: removing an item removes its fields; a key field alone is never removed.
  for (const key of [...(previous?.fields ?? [])].sort((a, b) => a.length - b.length)) {
    if (ownedOrAbove.has(key)) continue;
    const path = JSON.parse(key) as string[];
    const [item, field] = path.length > 1 ? path.slice(-2) : ['', ''];
    if (item.startsWith('k:') && Object.hasOwn(JSON.parse(item.slice(2)), field.slice(2))) continue;
    schema.remove(merged, path);
  }
  const { changed, removed, conflicts } = settle(managers, me, before, schema.nodes(merged), opts.force ?? false);
  if (conflicts.length) throw new ApplyConflictError(conflicts);
  // A no-op apply keeps its time, so that the object stays byte-for-byte the same.
  if (previous?.entry.time && !changed.length && !removed.length && sameSet(previous.fields, fields)) {
    managers.set(me, { entry: entryFor(opts, 'Apply', previous.entry.time), fields });
  }
  writeManagers(merged, managers);
  return merged;
}

/**
 * Records a non-apply write (create, update, patch) by `opts.manager` in
 * `next.metadata.managedFields`, changing `next` in place: the manager's
 * Update entry gains the fields it changed, which leave every other manager.
 * Call it on the object as it will be stored (after defaulting).
 */
export function updateManagedFields(oldObject: object | undefined, nextObject: object, opts: UpdateOptions): void {
  const old = oldObject as JsonObject | undefined;
  const next = nextObject as JsonObject;
  const schema = new Schema(strategiesOf(opts.kind));
  const given = own(metadataOf(next), 'managedFields');
  const managers = readManagers(
    Array.isArray(given) ? given : old && isObject(old.metadata) ? own(old.metadata, 'managedFields') : undefined,
  );
  const me = managerId(opts.manager, 'Update', opts.subresource);
  const { changed, removed } = settle(managers, me, old ? schema.nodes(old) : new Map(), schema.nodes(next), true);
  if (changed.length || removed.length) {
    const mine = [...(managers.get(me)?.fields ?? [])].filter((k) => !removed.includes(k));
    managers.set(me, { entry: entryFor(opts, 'Update', opts.now), fields: new Set([...mine, ...changed]) });
  }
  writeManagers(next, managers);
}

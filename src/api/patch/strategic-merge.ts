// Strategic merge patch, as k8s.io/apimachinery/pkg/util/strategicpatch applies
// it on the server: lists with a merge key merge per item, lists of primitives
// with patchStrategy merge are sets, other lists are replaced; null deletes a
// key; maps marked replace (patchStrategy replace) are replaced whole; directives
// $patch (replace|delete, in maps and list items),
// $retainKeys, $setElementOrder/<list> and $deleteFromPrimitiveList/<list>.
import { strategiesOf, type FieldStrategy, type StrategyTable } from './merge-keys.js';
import { PatchError, clone, deepEqual, isObject, own, put, type JsonObject } from './merge-patch.js';

const PATCH = '$patch';
const RETAIN_KEYS = '$retainKeys';
const ORDER = '$setElementOrder/';
const DELETE_FROM = '$deleteFromPrimitiveList/';

const bad = (message: string) => new PatchError(message, 400);
const child = (path: string, key: string) => (path ? `${path}.${key}` : key);

export function applyStrategicMergePatch(current: JsonObject, patch: unknown, kind: string): JsonObject {
  if (!isObject(patch)) throw bad('a strategic merge patch must be a JSON object');
  return new Merger(strategiesOf(kind)).map(clone(current), patch, '');
}

class Merger {
  constructor(private readonly table: StrategyTable) {}

  private strategy(path: string): FieldStrategy | undefined {
    return Object.hasOwn(this.table, path) ? this.table[path] : undefined;
  }

  /** Merges `patch` into `orig` (a private copy, changed in place) and returns the result. */
  map(orig: JsonObject, patch: JsonObject, path: string): JsonObject {
    if (Object.hasOwn(patch, PATCH)) {
      const { [PATCH]: directive, ...rest } = patch;
      if (directive === 'delete') return {};
      if (directive === 'replace') return this.map({}, rest, path);
      throw bad(`unknown $patch directive ${JSON.stringify(directive)} at ${path || 'the top level'}`);
    }
    if (Object.hasOwn(patch, RETAIN_KEYS)) retainKeys(orig, patch);
    const orders = new Map<string, unknown[]>();
    for (const [k, v] of Object.entries(patch)) {
      if (!k.startsWith(ORDER)) continue;
      if (!Array.isArray(v)) throw bad(`${k} must be a list`);
      orders.set(k.slice(ORDER.length), v);
    }
    for (const [k, v] of Object.entries(patch)) {
      if (k === RETAIN_KEYS || k.startsWith(ORDER)) continue;
      if (k.startsWith(DELETE_FROM)) {
        this.deleteFromList(orig, k.slice(DELETE_FROM.length), v);
        continue;
      }
      if (v === null) {
        delete orig[k];
        continue;
      }
      const cur = own(orig, k);
      const p = child(path, k);
      // patchStrategy replace: Kubernetes takes the patch value as it is (mergeMapHandler); decoding then
      // drops its nulls, so the value replaces the live one with nothing to merge into.
      if (isObject(v)) put(orig, k, this.map(isObject(cur) && !this.strategy(p)?.replace ? cur : {}, v, p));
      else if (Array.isArray(v)) put(orig, k, this.list(Array.isArray(cur) ? cur : [], v, p, orders.get(k)));
      else put(orig, k, v);
    }
    // $setElementOrder for a list the patch does not otherwise touch reorders the live list.
    for (const [field, order] of orders) {
      const cur = own(orig, field);
      if (Object.hasOwn(patch, field) || !Array.isArray(cur)) continue;
      const s = this.strategy(child(path, field));
      if (s?.key || s?.set) put(orig, field, orderItems(cur, order, cur, identity(s, field)));
    }
    return orig;
  }

  private deleteFromList(orig: JsonObject, field: string, values: unknown): void {
    if (!Array.isArray(values)) throw bad(`${DELETE_FROM}${field} must be a list`);
    const cur = own(orig, field);
    if (Array.isArray(cur)) put(orig, field, cur.filter((x) => !values.some((v) => deepEqual(v, x))));
  }

  /** A patch value with nothing to merge into: its directives applied, its nulls dropped. */
  private fresh(v: unknown, path: string): unknown {
    if (isObject(v)) return this.map({}, v, path);
    if (Array.isArray(v)) return this.list([], v, path);
    return v;
  }

  list(orig: unknown[], patch: unknown[], path: string, order?: unknown[]): unknown[] {
    const s = this.strategy(path);
    if (s?.key) return this.keyedList(orig, patch, s.key, path, order);
    if (s?.set) {
      if (patch.some((x) => typeof x === 'object' && x !== null)) throw bad(`${path} is a list of primitives`);
      const merged = [...orig, ...patch].filter((x, i, all) => all.findIndex((y) => deepEqual(x, y)) === i);
      return orderItems(merged, order ?? patch, orig, identity(s, path));
    }
    // Replaced whole; items carrying a $patch directive are dropped, as Kubernetes does.
    return patch.filter((x) => !(isObject(x) && Object.hasOwn(x, PATCH))).map((x) => this.fresh(x, `${path}[]`));
  }

  private keyedList(orig: unknown[], patch: unknown[], key: string, path: string, order?: unknown[]): unknown[] {
    const sameKey = (value: unknown) => (x: unknown) => isObject(x) && Object.hasOwn(x, key) && deepEqual(x[key], value);
    let list = orig;
    let replace = false;
    const items: JsonObject[] = [];
    for (const item of patch) {
      if (!isObject(item)) throw bad(`${path}: list items must be objects with the merge key "${key}"`);
      if (Object.hasOwn(item, PATCH)) {
        const directive = item[PATCH];
        if (directive === 'replace') replace = true;
        else if (directive !== 'delete') throw bad(`unknown $patch directive ${JSON.stringify(directive)} in ${path}`);
        else if (!Object.hasOwn(item, key)) throw bad(`${path}: a $patch delete item needs the merge key "${key}"`);
        else list = list.filter((x) => !sameKey(item[key])(x));
        continue;
      }
      if (!Object.hasOwn(item, key)) throw bad(`${path}: list item does not contain the merge key "${key}"`);
      items.push(item);
    }
    const itemPath = `${path}[]`;
    if (replace) return items.map((item) => this.map({}, item, itemPath));
    const before = list.slice();
    for (const item of items) {
      const i = list.findIndex(sameKey(item[key]));
      if (i >= 0) list[i] = this.map(list[i] as JsonObject, item, itemPath);
      else list.push(this.map({}, item, itemPath));
    }
    return orderItems(list, order ?? items, before, identity({ key }, path));
  }
}

function retainKeys(orig: JsonObject, patch: JsonObject): void {
  const keep = patch[RETAIN_KEYS];
  if (!Array.isArray(keep)) throw bad(`${RETAIN_KEYS} must be a list`);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k === RETAIN_KEYS || k.startsWith(ORDER) || k.startsWith(DELETE_FROM)) continue;
    if (!keep.includes(k)) throw bad(`field "${k}" is in the patch but not in ${RETAIN_KEYS}`);
  }
  for (const k of Object.keys(orig)) if (!keep.includes(k)) delete orig[k];
}

/** What identifies an item of a merging list: its merge key, or the primitive itself. */
function identity(s: FieldStrategy, path: string): (x: unknown) => unknown {
  const key = s.key;
  if (!key) return (x) => x;
  return (x) => {
    if (!isObject(x) || !Object.hasOwn(x, key)) throw bad(`${path}: list item does not contain the merge key "${key}"`);
    return x[key];
  };
}

/**
 * Kubernetes' order for a merged list (normalizeElementOrder): the items named in
 * `order` ($setElementOrder, else the patch) in that order, with the other items
 * kept where they were in `before`, relative to the ordered ones.
 */
function orderItems(merged: unknown[], order: unknown[], before: unknown[], id: (x: unknown) => unknown): unknown[] {
  const orderIds = order.map(id);
  const rank = (x: unknown) => orderIds.findIndex((o) => deepEqual(o, id(x)));
  const place = (x: unknown) => before.findIndex((b) => deepEqual(id(b), id(x)));
  const named = merged.filter((x) => rank(x) >= 0).sort((a, b) => rank(a) - rank(b));
  const others = merged.filter((x) => rank(x) < 0);
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < others.length || j < named.length) {
    if (j >= named.length) out.push(others[i++]);
    else if (i >= others.length) out.push(named[j++]);
    else {
      const li = place(others[i]);
      const ri = place(named[j]);
      out.push(li >= 0 && ri >= 0 && li < ri ? others[i++] : named[j++]);
    }
  }
  return out;
}

// JSON Merge Patch (RFC 7386), and the JSON helpers and error type every patch
// engine here shares. Engines work on a private deep copy of the current object
// and copy every value they take from a patch, so neither input is ever changed
// and the result shares nothing with them (callers default it in place).
import { clone } from '../../kinds/clone.js';

export type JsonObject = Record<string, unknown>;

/** A patch the server cannot apply. 400: malformed patch; 409: apply conflict; 422: does not fit the object. */
export class PatchError extends Error {
  constructor(
    message: string,
    readonly code: 400 | 409 | 422 = 422,
  ) {
    super(message);
    this.name = 'PatchError';
  }
}

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An own property only: keys such as "__proto__" or "toString" are plain data here. */
export const own = (o: JsonObject, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/** Sets an own data property (assignment to "__proto__" would change the prototype instead). */
export function put(o: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
  else o[key] = value;
}

export { clone } from '../../kinds/clone.js';

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

function merge(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else put(out, k, merge(own(out, k), v));
  }
  return out;
}

export function applyMergePatch(current: JsonObject, patch: unknown): JsonObject {
  if (!isObject(patch)) throw new PatchError('a merge patch must be a JSON object', 400);
  return merge(clone(current), patch) as JsonObject;
}

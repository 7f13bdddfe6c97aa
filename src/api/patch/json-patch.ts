// JSON Patch (RFC 6902) with JSON Pointers (RFC 6901). A malformed patch document
// is 400; an operation that does not fit the object (missing path, failed test)
// is 422, as kube-apiserver answers.
import { PatchError, clone, deepEqual, isObject, own, put, type JsonObject } from './merge-patch.js';

const bad = (message: string) => new PatchError(message, 400);
const unfit = (message: string) => new PatchError(message, 422);

function parsePointer(op: JsonObject, field: 'path' | 'from'): string[] {
  const p = own(op, field);
  if (typeof p !== 'string') throw bad(`JSON patch operation ${JSON.stringify(op.op)} needs a string "${field}"`);
  if (p === '') return [];
  if (!p.startsWith('/')) throw bad(`invalid JSON pointer ${JSON.stringify(p)}: must start with "/"`);
  return p
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~([^01]|$)/.test(token)) throw bad(`invalid JSON pointer ${JSON.stringify(p)}: bad "~" escape`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** The array index a token names; `end` allows one past the last item ("-" or length) for add. */
function arrayIndex(token: string, length: number, end: boolean): number {
  if (end && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw unfit(`invalid array index ${JSON.stringify(token)}`);
  const i = Number(token);
  if (i > length || (!end && i === length)) throw unfit(`array index ${i} out of bounds`);
  return i;
}

/** The document lives in `doc.root` so that the root itself can be replaced. */
interface Doc {
  root: unknown;
}

function get(doc: Doc, path: string[]): unknown {
  let cur = doc.root;
  for (const token of path) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(token, cur.length, false)];
    else if (isObject(cur) && Object.hasOwn(cur, token)) cur = cur[token];
    else throw unfit(`path /${path.join('/')} does not exist`);
  }
  return cur;
}

function parent(doc: Doc, path: string[]): [JsonObject | unknown[], string] {
  const container = get(doc, path.slice(0, -1));
  if (!Array.isArray(container) && !isObject(container)) throw unfit(`parent of /${path.join('/')} is not an object or array`);
  return [container, path[path.length - 1]];
}

function add(doc: Doc, path: string[], value: unknown): void {
  if (path.length === 0) return void (doc.root = value);
  const [c, token] = parent(doc, path);
  if (Array.isArray(c)) c.splice(arrayIndex(token, c.length, true), 0, value);
  else put(c, token, value);
}

function remove(doc: Doc, path: string[]): unknown {
  if (path.length === 0) throw unfit('cannot remove the whole object');
  const [c, token] = parent(doc, path);
  if (Array.isArray(c)) return c.splice(arrayIndex(token, c.length, false), 1)[0];
  if (!Object.hasOwn(c, token)) throw unfit(`path /${path.join('/')} does not exist`);
  const value = c[token];
  delete c[token];
  return value;
}

function replace(doc: Doc, path: string[], value: unknown): void {
  if (path.length === 0) return void (doc.root = value);
  const [c, token] = parent(doc, path);
  if (Array.isArray(c)) c[arrayIndex(token, c.length, false)] = value;
  else if (Object.hasOwn(c, token)) put(c, token, value);
  else throw unfit(`path /${path.join('/')} does not exist`);
}

function valueOf(op: JsonObject): unknown {
  if (!Object.hasOwn(op, 'value')) throw bad(`JSON patch operation ${JSON.stringify(op.op)} needs a "value"`);
  return clone(op.value);
}

function applyOperation(doc: Doc, op: unknown): void {
  if (!isObject(op)) throw bad('each JSON patch operation must be an object');
  const path = parsePointer(op, 'path');
  switch (own(op, 'op')) {
    case 'add':
      return add(doc, path, valueOf(op));
    case 'remove':
      return void remove(doc, path);
    case 'replace':
      return replace(doc, path, valueOf(op));
    case 'move': {
      const from = parsePointer(op, 'from');
      if (path.length > from.length && from.every((t, i) => path[i] === t))
        throw unfit('cannot move a value into one of its own children');
      return add(doc, path, remove(doc, from));
    }
    case 'copy':
      return add(doc, path, clone(get(doc, parsePointer(op, 'from'))));
    case 'test': {
      const expected = valueOf(op);
      if (!deepEqual(get(doc, path), expected)) throw unfit(`testing value /${path.join('/')} failed`);
      return;
    }
    default:
      throw bad(`unknown JSON patch operation ${JSON.stringify(own(op, 'op'))}`);
  }
}

export function applyJsonPatch(current: JsonObject, patch: unknown): JsonObject {
  if (!Array.isArray(patch)) throw bad('a JSON patch must be a JSON array of operations');
  const doc: Doc = { root: clone(current) };
  for (const op of patch) applyOperation(doc, op);
  if (!isObject(doc.root)) throw unfit('the patched object is not a JSON object');
  return doc.root;
}

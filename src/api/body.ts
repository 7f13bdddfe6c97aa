import { parse as parseYaml } from 'yaml';
import { decodeProtobuf, ProtobufError } from './protobuf.js';
import { ApiError, badRequest } from './status.js';

/** kube-apiserver's limit on request bodies. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

const tooLarge = () => new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY_BYTES}`);

export async function readBody(req: Request): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  // With a length declared (kubectl always sends one; the HTTP server holds the body to it), read it
  // whole: @hono/node-server then reads the socket directly instead of through a Web stream.
  if (req.headers.has('content-length')) return new Uint8Array(await req.arrayBuffer());
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export function mediaType(req: Request): string {
  return (req.headers.get('content-type') ?? 'application/json').split(';')[0].trim().toLowerCase();
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Deepest nesting a body may have: well within SQLite's JSON limit (1000) and the stack of the code that copies and walks it. */
export const MAX_DEPTH = 500;

/** `value`, when it nests no deeper than MAX_DEPTH (checked without recursion). */
function shallowEnough<T>(value: T): T {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_DEPTH) throw badRequest(`the body nests deeper than ${MAX_DEPTH} levels`);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return value;
}

export function parseJson(bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text(bytes));
  } catch (e) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
  return shallowEnough(value);
}

export function parseYamlDoc(bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    value = parseYaml(text(bytes), { maxAliasCount: 100 });
  } catch (e) {
    throw badRequest(`error converting YAML to JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  return shallowEnough(value);
}

/** A whole object from a POST or PUT body, in any media type kube-apiserver accepts. */
export function decodeObject(bytes: Uint8Array, type: string): Record<string, unknown> {
  let value: unknown;
  switch (type) {
    case 'application/json':
      value = parseJson(bytes);
      break;
    case 'application/yaml':
      value = parseYamlDoc(bytes);
      break;
    case 'application/vnd.kubernetes.protobuf':
      try {
        value = decodeProtobuf(bytes).object;
      } catch (e) {
        if (e instanceof ProtobufError) throw badRequest(`unable to decode protobuf body: ${e.message}`);
        throw e;
      }
      break;
    default:
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('the body of the request must be a JSON object');
  }
  return value as Record<string, unknown>;
}

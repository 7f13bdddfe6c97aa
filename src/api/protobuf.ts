// Decodes Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf)
// into the JSON objects kubectl would have sent, for the kinds in ./protobuf-schema.
//
// The Go encoder writes every non-pointer field even when empty, so zero scalars
// ("" / 0 / false) of non-pointer fields are dropped, while Go pointer fields keep
// whatever is on the wire. A message field on the wire is kept even when empty,
// as Go's JSON writes `{}` for a struct (`resources: {}`, `strategy: {}`,
// `emptyDir: {}`); only an empty Time, which JSON writes as null, is dropped.
import { type FieldSpec, KINDS, isScalar, isSpecial, messageFields } from './protobuf-schema.js';

/** Malformed or unsupported protobuf input. */
export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

export interface DecodedObject {
  apiVersion: string;
  kind: string;
  /** The object as JSON, apiVersion and kind included. */
  object: Record<string, unknown>;
}

type JsonObject = Record<string, unknown>;

const MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A bounded view of the input; every read checks its bounds. */
class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
    private readonly end: number,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return value;
    }
    throw new ProtobufError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** A field's number and wire type. */
  tag(): { field: number; wire: number } {
    const at = this.pos;
    const tag = this.varint();
    const field = Number(tag >> 3n);
    if (field < 1 || field > 0x1fffffff) throw new ProtobufError(`bad field number ${tag >> 3n} at byte ${at}`);
    return { field, wire: Number(tag & 7n) };
  }

  /** The contents of a length-delimited field, as a reader of their own. */
  sub(): Reader {
    const at = this.pos;
    const length = this.varint();
    if (length > BigInt(this.end - this.pos)) {
      throw new ProtobufError(`length ${length} at byte ${at} runs past the end of its message`);
    }
    const start = this.pos;
    this.pos += Number(length);
    return new Reader(this.buf, start, this.pos);
  }

  rest(): Uint8Array {
    const bytes = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return bytes;
  }

  private advance(n: number): void {
    if (this.end - this.pos < n) throw new ProtobufError(`truncated fixed-width field at byte ${this.pos}`);
    this.pos += n;
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.sub();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new ProtobufError(`unsupported wire type ${wire} before byte ${this.pos}`);
    }
  }
}

const WIRE_NAMES: Record<number, string> = { 0: 'varint', 1: 'fixed64', 2: 'length-delimited', 5: 'fixed32' };

function expectWire(wire: number, want: number, where: string): void {
  if (wire !== want) {
    throw new ProtobufError(`${where}: wire type ${WIRE_NAMES[wire] ?? wire}, expected ${WIRE_NAMES[want]}`);
  }
}

function text(r: Reader, where: string): string {
  try {
    return utf8.decode(r.rest());
  } catch {
    throw new ProtobufError(`${where}: invalid UTF-8`);
  }
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Own property even for keys such as "__proto__", as JSON.parse would make. */
function setKey(obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const isVarintType = (type: string) => type === 'int32' || type === 'int64' || type === 'bool';

function varintValue(v: bigint, type: string): number | boolean {
  if (type === 'bool') return v !== 0n;
  return Number(BigInt.asIntN(type === 'int32' ? 32 : 64, v));
}

function scalar(r: Reader, wire: number, type: string, where: string): unknown {
  if (isVarintType(type)) {
    expectWire(wire, WIRE_VARINT, where);
    return varintValue(r.varint(), type);
  }
  expectWire(wire, WIRE_LEN, where);
  const content = r.sub();
  return type === 'bytes' ? base64(content.rest()) : text(content, where);
}

// Go writes metav1.Time as an empty message when zero and JSON as null; a
// Timestamp at Go's zero time (0001-01-01) is zero too. Time keeps seconds only.
const MIN_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
const MAX_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z

function time(r: Reader, where: string): string | undefined {
  let seconds: bigint | undefined;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) {
      expectWire(wire, WIRE_VARINT, `${where}.seconds`);
      seconds = BigInt.asIntN(64, r.varint());
    } else r.skip(wire);
  }
  if (seconds === undefined || seconds === MIN_SECONDS) return undefined;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) throw new ProtobufError(`${where}: time out of range`);
  const iso = new Date(Number(seconds) * 1000).toISOString();
  // Years 1-9999 print as YYYY; drop the milliseconds Go's RFC 3339 lacks.
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

function quantity(r: Reader, where: string): string {
  let value = '';
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) value = scalar(r, wire, 'string', `${where}.string`) as string;
    else r.skip(wire);
  }
  return value;
}

function intOrString(r: Reader, where: string): number | string {
  let type = 0n;
  let intVal = 0;
  let strVal = '';
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) {
      expectWire(wire, WIRE_VARINT, `${where}.type`);
      type = BigInt.asIntN(64, r.varint());
    } else if (field === 2) intVal = scalar(r, wire, 'int32', `${where}.intVal`) as number;
    else if (field === 3) strVal = scalar(r, wire, 'string', `${where}.strVal`) as string;
    else r.skip(wire);
  }
  if (type === 0n) return intVal;
  if (type === 1n) return strVal;
  throw new ProtobufError(`${where}: IntOrString type ${type} is neither 0 (int) nor 1 (string)`);
}

/** managedFields[].fieldsV1 and runtime.RawExtension (ControllerRevision.data): raw JSON bytes in field 1. */
function rawJson(r: Reader, where: string): unknown {
  let raw = '';
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) raw = scalar(r, wire, 'string', `${where}.Raw`) as string;
    else r.skip(wire);
  }
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ProtobufError(`${where}: Raw is not JSON`);
  }
}

function special(r: Reader, type: string, where: string): unknown {
  switch (type) {
    case 'Time':
      return time(r, where);
    case 'Quantity':
      return quantity(r, where);
    case 'IntOrString':
      return intOrString(r, where);
    default:
      return rawJson(r, where);
  }
}

/** One value of a field's type: a scalar, a special type, or a message decoded into `into`. */
function value(r: Reader, wire: number, type: string, where: string, into?: JsonObject): unknown {
  if (isScalar(type)) return scalar(r, wire, type, where);
  expectWire(wire, WIRE_LEN, where);
  const content = r.sub();
  if (isSpecial(type)) return special(content, type, where);
  return decodeMessage(content, type, into ?? {});
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

// Map values in these APIs are strings, bytes, Quantities or Times (a PDB's disruptedPods): absent means "".
function mapEntry(r: Reader, spec: FieldSpec, where: string): [string, unknown] {
  let key = '';
  let val: unknown = '';
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) key = scalar(r, wire, 'string', `${where} key`) as string;
    else if (field === 2) val = value(r, wire, spec.type, `${where} value`);
    else r.skip(wire);
  }
  return [key, val];
}

function decodeField(r: Reader, wire: number, spec: FieldSpec, obj: JsonObject, where: string): void {
  const { name, type } = spec;
  if (spec.map) {
    expectWire(wire, WIRE_LEN, where);
    const map = (obj[name] ??= {}) as JsonObject;
    const [key, val] = mapEntry(r.sub(), spec, where);
    setKey(map, key, val);
    return;
  }
  if (spec.repeated) {
    const list = (obj[name] ??= []) as unknown[];
    if (wire === WIRE_LEN && isVarintType(type)) {
      const packed = r.sub();
      while (!packed.done()) list.push(varintValue(packed.varint(), type));
    } else {
      list.push(value(r, wire, type, `${where}[${list.length}]`));
    }
    return;
  }
  if (spec.inline) {
    value(r, wire, type, where, obj);
    return;
  }
  const existing = obj[name];
  const v = value(r, wire, type, where, typeof existing === 'object' ? (existing as JsonObject) : undefined);
  if (v === undefined || (!spec.keepZero && isZero(v))) delete obj[name];
  else obj[name] = v;
}

/** Decodes the fields of `message` into `obj` (merging, as protobuf does when a message repeats). */
function decodeMessage(r: Reader, message: string, obj: JsonObject): JsonObject {
  const fields = messageFields(message);
  if (!fields) throw new ProtobufError(`no schema for message ${message}`);
  while (!r.done()) {
    const { field, wire } = r.tag();
    const spec = fields.get(field);
    if (spec) decodeField(r, wire, spec, obj, `${message}.${spec.name}`);
    else r.skip(wire);
  }
  return obj;
}

/** runtime.Unknown: 1 TypeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType. */
function readEnvelope(r: Reader): { apiVersion: string; kind: string; raw: Reader } {
  let apiVersion = '';
  let kind = '';
  let raw = new Reader(new Uint8Array(0), 0, 0);
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'Unknown.typeMeta');
      const meta = r.sub();
      while (!meta.done()) {
        const t = meta.tag();
        if (t.field === 1) apiVersion = scalar(meta, t.wire, 'string', 'TypeMeta.apiVersion') as string;
        else if (t.field === 2) kind = scalar(meta, t.wire, 'string', 'TypeMeta.kind') as string;
        else meta.skip(t.wire);
      }
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, 'Unknown.raw');
      raw = r.sub();
    } else if (field === 3) {
      const encoding = scalar(r, wire, 'string', 'Unknown.contentEncoding');
      if (encoding !== '') throw new ProtobufError(`unsupported contentEncoding "${encoding}"`);
    } else r.skip(wire);
  }
  return { apiVersion, kind, raw };
}

/** Decodes a whole request body: the "k8s\0" magic, then a runtime.Unknown envelope. */
export function decodeProtobuf(bytes: Uint8Array): DecodedObject {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ProtobufError('missing the protobuf magic "k8s\\0"');
  }
  const { apiVersion, kind, raw } = readEnvelope(new Reader(bytes, MAGIC.length, bytes.length));
  if (!kind) throw new ProtobufError('the envelope names no kind');
  const message = Object.hasOwn(KINDS, `${apiVersion}/${kind}`) ? KINDS[`${apiVersion}/${kind}`] : undefined;
  if (!message) throw new ProtobufError(`no protobuf schema for ${apiVersion} ${kind}`);
  const object: JsonObject = { apiVersion, kind };
  decodeMessage(raw, message, object);
  return { apiVersion, kind, object };
}

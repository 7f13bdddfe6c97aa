// The gnostic openapi_v2.Document encoding of /openapi/v2 (what kubectl 1.27 and 1.28 read), checked
// against bytes worked out by hand from OpenAPIv2.proto, and by decoding the whole document back with
// a decoder of this file's own, written from the .proto alone.
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { encodeOpenAPIV2 } from '../../src/api/openapi/gnostic.js';
import { openapiV2 } from '../../src/api/openapi/index.js';
import { openapiV2Protobuf, openapiV2Response, OPENAPI_V2_PROTOBUF } from '../../src/api/openapi/v2.js';

// ---- a small protobuf reader ----

type Wire = { field: number; wire: number; int?: bigint; bytes?: Uint8Array; fixed64?: Uint8Array };

function readVarint(b: Uint8Array, at: { i: number }): bigint {
  let v = 0n;
  for (let shift = 0n; ; shift += 7n) {
    const byte = b[at.i++];
    if (byte === undefined) throw new Error('truncated varint');
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return v;
  }
}

function readFields(b: Uint8Array): Wire[] {
  const out: Wire[] = [];
  const at = { i: 0 };
  while (at.i < b.length) {
    const tag = readVarint(b, at);
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) out.push({ field, wire, int: readVarint(b, at) });
    else if (wire === 2) {
      const len = Number(readVarint(b, at));
      if (at.i + len > b.length) throw new Error(`field ${field} runs past its message`);
      out.push({ field, wire, bytes: b.subarray(at.i, at.i + len) });
      at.i += len;
    } else if (wire === 1) {
      out.push({ field, wire, fixed64: b.subarray(at.i, at.i + 8) });
      at.i += 8;
    } else throw new Error(`unexpected wire type ${wire} for field ${field}`);
  }
  return out;
}

// ---- OpenAPIv2.proto, as much of it as the document uses, read back into Swagger JSON ----

type Kind = 's' | 'b' | 'd' | 'i' | 'rs' | 'any' | 'anys' | { m: string; rep?: boolean };
type MsgSpec = { fields: Record<number, [string, Kind]>; ext?: number; /** Named* map entries: decode to an object */ map?: boolean };

const NAMED = (value: Kind): MsgSpec => ({ fields: { 1: ['name', 's'], 2: ['value', value] } });
const SPECS: Record<string, MsgSpec> = {
  Document: {
    fields: {
      1: ['swagger', 's'], 2: ['info', { m: 'Info' }], 3: ['host', 's'], 4: ['basePath', 's'], 5: ['schemes', 'rs'], 6: ['consumes', 'rs'], 7: ['produces', 'rs'],
      8: ['paths', { m: 'Paths' }], 9: ['definitions', { m: 'Definitions' }], 12: ['security', { m: 'SecurityRequirement', rep: true }],
      13: ['securityDefinitions', { m: 'SecurityDefinitions' }],
    },
    ext: 16,
  },
  Info: { fields: { 1: ['title', 's'], 2: ['version', 's'], 3: ['description', 's'] }, ext: 7 },
  Paths: { fields: { 2: ['', { m: 'NamedPathItem', rep: true }] }, ext: 1, map: true },
  NamedPathItem: NAMED({ m: 'PathItem' }),
  PathItem: {
    fields: {
      1: ['$ref', 's'], 2: ['get', { m: 'Operation' }], 3: ['put', { m: 'Operation' }], 4: ['post', { m: 'Operation' }], 5: ['delete', { m: 'Operation' }],
      6: ['options', { m: 'Operation' }], 7: ['head', { m: 'Operation' }], 8: ['patch', { m: 'Operation' }], 9: ['parameters', { m: 'ParametersItem', rep: true }],
    },
    ext: 10,
  },
  Operation: {
    fields: {
      1: ['tags', 'rs'], 2: ['summary', 's'], 3: ['description', 's'], 5: ['operationId', 's'], 6: ['produces', 'rs'], 7: ['consumes', 'rs'],
      8: ['parameters', { m: 'ParametersItem', rep: true }], 9: ['responses', { m: 'Responses' }], 10: ['schemes', 'rs'], 11: ['deprecated', 'b'],
    },
    ext: 13,
  },
  ParametersItem: { fields: { 1: ['', { m: 'Parameter' }], 2: ['', { m: 'JsonReference' }] } },
  Parameter: { fields: { 1: ['', { m: 'BodyParameter' }], 2: ['', { m: 'NonBodyParameter' }] } },
  NonBodyParameter: { fields: { 1: ['', { m: 'PathParameterSubSchema' }], 3: ['', { m: 'QueryParameterSubSchema' }], 4: ['', { m: 'PathParameterSubSchema' }] } },
  JsonReference: { fields: { 1: ['$ref', 's'], 2: ['description', 's'] } },
  BodyParameter: { fields: { 1: ['description', 's'], 2: ['name', 's'], 3: ['in', 's'], 4: ['required', 'b'], 5: ['schema', { m: 'Schema' }] }, ext: 6 },
  QueryParameterSubSchema: {
    fields: { 1: ['required', 'b'], 2: ['in', 's'], 3: ['description', 's'], 4: ['name', 's'], 5: ['allowEmptyValue', 'b'], 6: ['type', 's'], 7: ['format', 's'], 10: ['default', 'any'], 20: ['uniqueItems', 'b'], 21: ['enum', 'anys'] },
    ext: 23,
  },
  PathParameterSubSchema: {
    fields: { 1: ['required', 'b'], 2: ['in', 's'], 3: ['description', 's'], 4: ['name', 's'], 5: ['type', 's'], 6: ['format', 's'], 9: ['default', 'any'], 19: ['uniqueItems', 'b'], 20: ['enum', 'anys'] },
    ext: 22,
  },
  Responses: { fields: { 1: ['', { m: 'NamedResponseValue', rep: true }] }, ext: 2, map: true },
  NamedResponseValue: NAMED({ m: 'ResponseValue' }),
  ResponseValue: { fields: { 1: ['', { m: 'Response' }], 2: ['', { m: 'JsonReference' }] } },
  Response: { fields: { 1: ['description', 's'], 2: ['schema', { m: 'SchemaItem' }] }, ext: 5 },
  SchemaItem: { fields: { 1: ['', { m: 'Schema' }] } },
  Schema: {
    fields: {
      1: ['$ref', 's'], 2: ['format', 's'], 3: ['title', 's'], 4: ['description', 's'], 5: ['default', 'any'], 7: ['maximum', 'd'], 9: ['minimum', 'd'],
      11: ['maxLength', 'i'], 12: ['minLength', 'i'], 13: ['pattern', 's'], 14: ['maxItems', 'i'], 15: ['minItems', 'i'], 16: ['uniqueItems', 'b'],
      19: ['required', 'rs'], 20: ['enum', 'anys'], 21: ['additionalProperties', { m: 'AdditionalPropertiesItem' }], 22: ['type', { m: 'TypeItem' }],
      23: ['items', { m: 'ItemsItem' }], 24: ['allOf', { m: 'Schema', rep: true }], 25: ['properties', { m: 'Properties' }], 27: ['readOnly', 'b'], 30: ['example', 'any'],
    },
    ext: 31,
  },
  AdditionalPropertiesItem: { fields: { 1: ['', { m: 'Schema' }], 2: ['', 'b'] } },
  TypeItem: { fields: { 1: ['', 'rs'] } },
  ItemsItem: { fields: { 1: ['', { m: 'Schema', rep: true }] } },
  Properties: { fields: { 1: ['', { m: 'NamedSchema', rep: true }] }, map: true },
  Definitions: { fields: { 1: ['', { m: 'NamedSchema', rep: true }] }, map: true },
  NamedSchema: NAMED({ m: 'Schema' }),
  SecurityRequirement: { fields: { 1: ['', { m: 'NamedStringArray', rep: true }] }, map: true },
  NamedStringArray: NAMED({ m: 'StringArray' }),
  StringArray: { fields: { 1: ['', 'rs'] } },
  SecurityDefinitions: { fields: { 1: ['', { m: 'NamedSecurityDefinitionsItem', rep: true }] }, map: true },
  NamedSecurityDefinitionsItem: NAMED({ m: 'SecurityDefinitionsItem' }),
  SecurityDefinitionsItem: { fields: { 2: ['', { m: 'ApiKeySecurity' }] } },
  ApiKeySecurity: { fields: { 1: ['type', 's'], 2: ['name', 's'], 3: ['in', 's'], 4: ['description', 's'] }, ext: 5 },
  NamedAny: NAMED({ m: 'Any' }),
  Any: { fields: { 2: ['yaml', 's'] } },
};

const text = new TextDecoder('utf-8', { fatal: true });
const WIRE_OF: Record<string, number> = { s: 2, rs: 2, any: 2, anys: 2, b: 0, i: 0, d: 1 };

/** Field values of one message in the .proto's terms; unwrapped (oneofs, TypeItem, Named*) by `toJson`. */
function decode(name: string, bytes: Uint8Array): Record<string, unknown[]> {
  const spec = SPECS[name];
  if (!spec) throw new Error(`no spec for ${name}`);
  const out: Record<string, unknown[]> = {};
  for (const f of readFields(bytes)) {
    const push = (key: string, v: unknown) => (out[key] ??= []).push(v);
    if (f.field === spec.ext) {
      const named = decode('NamedAny', f.bytes!);
      const yaml = (decode('Any', (named.value as Uint8Array[])[0]).yaml as string[])[0];
      push(`ext:${String(named.name[0])}`, parseYaml(yaml));
      continue;
    }
    const def = spec.fields[f.field];
    if (!def) throw new Error(`${name} has no field ${f.field}`);
    const [key, kind] = def;
    const slot = key || `#${f.field}`;
    const wantWire = typeof kind === 'string' ? WIRE_OF[kind] : 2;
    if (f.wire !== wantWire) throw new Error(`${name}.${f.field}: wire type ${f.wire}, the .proto says ${wantWire}`);
    if (kind === 's' || kind === 'rs') push(slot, text.decode(f.bytes!));
    else if (kind === 'b') push(slot, f.int !== 0n);
    else if (kind === 'i') push(slot, Number(f.int));
    else if (kind === 'd') push(slot, new DataView(f.fixed64!.buffer, f.fixed64!.byteOffset, 8).getFloat64(0, true));
    else if (kind === 'any' || kind === 'anys') push(slot, parseYaml((decode('Any', f.bytes!).yaml as string[])[0]));
    else push(slot, f.bytes!);
  }
  return out;
}

/** The message back as the Swagger JSON it came from. */
function toJson(name: string, bytes: Uint8Array): unknown {
  const spec = SPECS[name];
  const fields = decode(name, bytes);
  const one = (k: string) => fields[k]?.[0];
  switch (name) {
    case 'ParametersItem':
    case 'Parameter':
    case 'NonBodyParameter':
    case 'ResponseValue':
    case 'SchemaItem':
    case 'AdditionalPropertiesItem':
    case 'SecurityDefinitionsItem': {
      const [slot] = Object.keys(fields);
      if (Object.keys(fields).length !== 1 || fields[slot].length !== 1) throw new Error(`${name}: a oneof must hold exactly one value`);
      const [, kind] = spec.fields[Number(slot.slice(1))];
      return typeof kind === 'string' ? fields[slot][0] : toJson(kind.m, fields[slot][0] as Uint8Array);
    }
    case 'TypeItem':
    case 'StringArray':
      return name === 'TypeItem' && fields['#1']?.length === 1 ? fields['#1'][0] : fields['#1'] ?? [];
    case 'ItemsItem': {
      const items = (fields['#1'] ?? []).map((b) => toJson('Schema', b as Uint8Array));
      return items.length === 1 ? items[0] : items;
    }
  }
  const json: Record<string, unknown> = {};
  for (const [slot, values] of Object.entries(fields)) {
    if (slot.startsWith('ext:')) {
      json[slot.slice(4)] = values[0];
      continue;
    }
    const [, kind] = spec.fields[slot.startsWith('#') ? Number(slot.slice(1)) : Number(Object.entries(spec.fields).find(([, [k]]) => k === slot)![0])];
    if (spec.map) {
      for (const entry of values) {
        const named = decode((kind as { m: string }).m, entry as Uint8Array);
        const [, valueKind] = SPECS[(kind as { m: string }).m].fields[2];
        json[String(named.name[0])] = toJson((valueKind as { m: string }).m, named.value[0] as Uint8Array);
      }
      continue;
    }
    if (typeof kind === 'string') json[slot] = kind === 'rs' || kind === 'anys' ? values : values[0];
    else json[slot] = kind.rep ? values.map((v) => toJson(kind.m, v as Uint8Array)) : toJson(kind.m, one(slot) as Uint8Array);
  }
  return json;
}

/** What proto3 cannot carry: scalars at their default ("" / false / 0), outside oneofs and extension values. */
function withoutDefaults(x: unknown, key = ''): unknown {
  if (key.startsWith('x-') || key === 'default' || key === 'enum' || key === 'example') return x;
  if (Array.isArray(x)) return x.map((v) => withoutDefaults(v));
  if (!x || typeof x !== 'object') return x;
  return Object.fromEntries(Object.entries(x)
    .filter(([k, v]) => k === 'additionalProperties' || (v !== '' && v !== false && v !== 0))
    .map(([k, v]) => [k, withoutDefaults(v, k)]));
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
const ascii = (s: string) => hex(new TextEncoder().encode(s));
/** A length-delimited field, in hex: its tag, one length byte (the contents here are short), the contents. */
const ld = (tag: string, contents: string) => {
  const length = contents.split(' ').filter(Boolean).length;
  if (length > 127) throw new Error('ld() writes one-byte lengths only');
  return `${tag} ${length.toString(16).padStart(2, '0')} ${contents}`;
};

describe('gnostic OpenAPI v2 encoding', () => {
  it('matches bytes worked out from OpenAPIv2.proto for a small document', () => {
    const doc = {
      swagger: '2.0',
      info: { title: 'T', version: 'v' },
      definitions: {
        a: { type: 'object', properties: { n: { type: 'integer', format: 'int32' } }, additionalProperties: false, 'x-k': 'v' },
      },
    };
    // Worked out from the .proto: a length-delimited field is its tag (field << 3 | 2, as a varint),
    // the length, the contents. Tags past 15 take two bytes: 21 -> aa 01, 22 -> b2 01, 25 -> ca 01, 31 -> fa 01.
    const int32 = [ld('12', ascii('int32')), ld('b2 01', ld('0a', ascii('integer')))].join(' '); // Schema.format (2), Schema.type (22) { value (1) }
    const schema = [
      ld('aa 01', '10 00'), // additional_properties (21) { boolean (2): false }
      ld('b2 01', ld('0a', ascii('object'))), // type (22) { value (1) }
      ld('ca 01', ld('0a', `${ld('0a', ascii('n'))} ${ld('12', int32)}`)), // properties (25) { NamedSchema (1) { name (1), value (2) } }
      ld('fa 01', `${ld('0a', ascii('x-k'))} ${ld('12', ld('12', ascii('"v"')))}`), // vendor_extension (31) NamedAny { name, value: Any { yaml (2) } }
    ].join(' ');
    const expected = [
      ld('0a', ascii('2.0')), // Document.swagger (1)
      ld('12', `${ld('0a', ascii('T'))} ${ld('12', ascii('v'))}`), // Document.info (2) { title (1), version (2) }
      ld('4a', ld('0a', `${ld('0a', ascii('a'))} ${ld('12', schema)}`)), // Document.definitions (9) { NamedSchema (1) }
    ].join(' ');
    expect(hex(encodeOpenAPIV2(doc))).toBe(expected);
  });

  it('writes parameters, responses and security in their oneofs', () => {
    const doc = {
      paths: {
        '/p': {
          get: {
            parameters: [{ in: 'query', name: 'watch', type: 'boolean', uniqueItems: true }, { in: 'body', name: 'body', required: true, schema: { $ref: '#/definitions/a' } }],
            responses: { 200: { description: 'OK', schema: { type: 'string' } } },
            'x-kubernetes-action': 'get',
          },
          parameters: [{ $ref: '#/parameters/x' }],
        },
      },
      securityDefinitions: { B: { type: 'apiKey', name: 'authorization', in: 'header' } },
      security: [{ B: [] }],
    };
    const bytes = encodeOpenAPIV2(doc);
    expect(withoutDefaults(toJson('Document', bytes))).toEqual(doc);
    // Document.paths (8) -> Paths.path (2) -> NamedPathItem -> PathItem.get (2) -> Operation.parameters (8)
    // -> ParametersItem.parameter (1) -> Parameter.non_body_parameter (2) -> NonBodyParameter.query_parameter_sub_schema (3).
    const path = readFields(readFields(bytes).find((f) => f.field === 8)!.bytes!)[0];
    const item = readFields(readFields(path.bytes!).find((f) => f.field === 2)!.bytes!);
    const op = readFields(item.find((f) => f.field === 2)!.bytes!);
    const first = readFields(op.find((f) => f.field === 8)!.bytes!);
    expect(first.map((f) => f.field)).toEqual([1]);
    const nonBody = readFields(readFields(first[0].bytes!)[0].bytes!);
    expect(readFields(readFields(first[0].bytes!)[0].bytes!).map((f) => f.field)).toEqual([3]);
    expect(decode('QueryParameterSubSchema', nonBody[0].bytes!)).toEqual({ in: ['query'], name: ['watch'], type: ['boolean'], uniqueItems: [true] });
    // A $ref parameter is ParametersItem.json_reference (2).
    expect(readFields(item.find((f) => f.field === 9)!.bytes!).map((f) => f.field)).toEqual([2]);
  });

  it('carries the whole /openapi/v2 document, with nothing left out', () => {
    const doc = openapiV2();
    const issues: string[] = [];
    const bytes = encodeOpenAPIV2(doc, (path, problem) => issues.push(`${path}: ${problem}`));
    expect(issues).toEqual([]);
    expect(withoutDefaults(toJson('Document', bytes))).toEqual(withoutDefaults(doc));
  });

  it('keeps what kubectl reads: group-version-kinds, merge keys and strategies, fieldValidation on PATCH', () => {
    const back = toJson('Document', openapiV2Protobuf()) as any;
    const deployment = back.definitions['io.k8s.api.apps.v1.Deployment'];
    expect(deployment['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', kind: 'Deployment', version: 'v1' }]);
    const containers = back.definitions['io.k8s.api.core.v1.PodSpec'].properties.containers;
    expect(containers['x-kubernetes-patch-merge-key']).toBe('name');
    expect(containers['x-kubernetes-patch-strategy']).toBe('merge');
    const patch = back.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', kind: 'Deployment', version: 'v1' });
    expect(patch.parameters.map((p: { name: string }) => p.name)).toContain('fieldValidation');
  });

  it('is encoded once per process', () => {
    expect(openapiV2Protobuf()).toBe(openapiV2Protobuf());
  });
});

describe('GET /openapi/v2 negotiation', () => {
  it('answers kubectl\'s Accept with the protobuf, under kube-apiserver\'s Content-Type', async () => {
    for (const accept of ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf']) {
      const res = openapiV2Response(accept);
      expect(res.headers.get('content-type')).toBe(OPENAPI_V2_PROTOBUF);
      expect(res.headers.get('vary')).toBe('Accept');
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(openapiV2Protobuf());
    }
  });

  it('answers JSON to application/json, */* and no Accept; 406 to what it cannot serve', async () => {
    for (const accept of ['application/json', '*/*', undefined, 'application/json, */*', 'text/plain, */*;q=0.5']) {
      const res = openapiV2Response(accept);
      expect(res.headers.get('content-type'), String(accept)).toBe('application/json');
      expect((await res.json()).swagger).toBe('2.0');
    }
    // q-values decide before order.
    expect(openapiV2Response('application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf').headers.get('content-type')).toBe(OPENAPI_V2_PROTOBUF);
    expect(() => openapiV2Response('text/plain')).toThrow(expect.objectContaining({ code: 406 }));
  });
});

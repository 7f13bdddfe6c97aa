// A Swagger 2.0 document (as JSON) in the protobuf encoding of gnostic's openapi_v2.Document
// (github.com/google/gnostic-models, openapiv2/OpenAPIv2.proto): what kube-apiserver serves on
// /openapi/v2 to `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, and the only
// form in which kubectl 1.27 and 1.28 read OpenAPI v2 (apply, explain, create -f validation).
//
// Field numbers are the .proto's. Maps (properties, definitions, paths, responses, ...) are repeated
// Named* messages in document order; vendor extensions (x-...) are NamedAny whose Any carries the value
// as YAML text (JSON is YAML), which is where kubectl reads x-kubernetes-group-version-kind, the patch
// merge keys and strategies. Scalars at their proto3 default are left out, as Go's encoder does.

/** Raised for a value the schema has no place for, when the caller asks to hear of those. */
export type Issue = (path: string, problem: string) => void;

const utf8 = new TextEncoder();

/** A growing protobuf message. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private varint(n: number | bigint): void {
    // A negative int64 is its 64-bit two's complement: ten bytes.
    let v = typeof n === 'bigint' ? BigInt.asUintN(64, n) : n < 0 ? BigInt.asUintN(64, BigInt(n)) : n;
    this.room(10);
    if (typeof v === 'number') {
      while (v >= 0x80) {
        this.buf[this.len++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.len++] = v;
      return;
    }
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }

  bool(field: number, v: boolean): void {
    this.tag(field, 0);
    this.varint(v ? 1 : 0);
  }

  int64(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(Math.trunc(v));
  }

  double(field: number, v: number): void {
    this.tag(field, 1);
    this.room(8);
    new DataView(this.buf.buffer, this.len, 8).setFloat64(0, v, true);
    this.len += 8;
  }

  message(field: number, w: Writer): void {
    this.bytes(field, w.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

interface Ctx {
  issue?: Issue;
}

/** Writes `value` as field `field` of `w`. */
type Put = (w: Writer, field: number, value: unknown, path: string, ctx: Ctx) => void;

/** A message: JSON key -> [field number, how]; `ext` is the field of its vendor extensions. */
interface Spec {
  fields: Record<string, [number, Put]>;
  ext?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typed<T>(check: (v: unknown) => v is T, expected: string, put: (w: Writer, field: number, v: T) => void): Put {
  return (w, field, v, path, ctx) => {
    if (check(v)) put(w, field, v);
    else ctx.issue?.(path, `expected ${expected}, got ${JSON.stringify(v)}`);
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const str = typed(isString, 'a string', (w, f, v) => v !== '' && w.string(f, v));
const bool = typed(isBool, 'a boolean', (w, f, v) => v && w.bool(f, true));
const double = typed(isNumber, 'a number', (w, f, v) => v !== 0 && w.double(f, v));
const int64 = typed(isNumber, 'a number', (w, f, v) => v !== 0 && w.int64(f, v));

/** Each item through `put`; a lone value (Swagger's `type: string` for `type: [string]`) as one item. */
const repeated = (put: Put): Put => (w, field, v, path, ctx) => {
  (Array.isArray(v) ? v : [v]).forEach((item, i) => put(w, field, item, `${path}[${i}]`, ctx));
};

const strings = repeated(typed(isString, 'a string', (w, f, v) => w.string(f, v)));

/** Any { google.protobuf.Any value = 1; string yaml = 2; }: the value as YAML (its JSON text). */
const anyValue: Put = (w, field, v) => {
  const any = new Writer();
  any.string(2, JSON.stringify(v));
  w.message(field, any);
};

function encode(spec: Spec, obj: unknown, path: string, ctx: Ctx): Writer {
  const w = new Writer();
  if (!isObject(obj)) {
    ctx.issue?.(path, `expected an object, got ${JSON.stringify(obj)}`);
    return w;
  }
  const puts: [number, () => void][] = [];
  for (const [key, value] of Object.entries(obj)) {
    const at = `${path}.${key}`;
    const field = spec.fields[key];
    if (field) puts.push([field[0], () => field[1](w, field[0], value, at, ctx)]);
    else if (key.startsWith('x-') && spec.ext) puts.push([spec.ext, () => namedAny(w, spec.ext!, key, value)]);
    else ctx.issue?.(at, 'has no place in gnostic\'s OpenAPI v2 message');
  }
  // Field order, as Go writes it; extensions keep the document's order among themselves.
  puts.sort((a, b) => a[0] - b[0]);
  for (const [, put] of puts) put();
  return w;
}

/** A message field; its Spec is built on first use (the specs refer to each other). */
const message = (spec: () => Spec): Put => {
  let built: Spec | undefined;
  return (w, field, v, path, ctx) => w.message(field, encode((built ??= spec()), v, path, ctx));
};

/** NamedAny { string name = 1; Any value = 2; } */
function namedAny(w: Writer, field: number, name: string, value: unknown): void {
  const named = new Writer();
  named.string(1, name);
  anyValue(named, 2, value, '', {});
  w.message(field, named);
}

/** A JSON map as repeated Named* { string name = 1; T value = 2; }. */
const named = (put: Put): Put => (w, field, v, path, ctx) => {
  if (!isObject(v)) return ctx.issue?.(path, `expected a map, got ${JSON.stringify(v)}`);
  for (const [name, value] of Object.entries(v)) {
    const entry = new Writer();
    entry.string(1, name);
    put(entry, 2, value, `${path}.${name}`, ctx);
    w.message(field, entry);
  }
};

/** A message whose only field is the repeated Named* entries of a JSON map (Definitions, Properties, ...). */
const mapMessage = (put: Put): Put => (w, field, v, path, ctx) => {
  const inner = new Writer();
  named(put)(inner, 1, v, path, ctx);
  w.message(field, inner);
};

/** A oneof wrapper: the field of the variant `choose` picks, with that variant's encoding. */
const oneof = (choose: (v: unknown) => [number, Put]): Put => (w, field, v, path, ctx) => {
  const [variant, put] = choose(v);
  const inner = new Writer();
  put(inner, variant, v, path, ctx);
  w.message(field, inner);
};

// ---- the messages ----

const externalDocs = (): Spec => ({ fields: { description: [1, str], url: [2, str] }, ext: 3 });
const xml = (): Spec => ({ fields: { name: [1, str], namespace: [2, str], prefix: [3, str], attribute: [4, bool], wrapped: [5, bool] }, ext: 6 });

const schemaPut: Put = message(schema);

function schema(): Spec {
  return {
    fields: {
      $ref: [1, str],
      format: [2, str],
      title: [3, str],
      description: [4, str],
      default: [5, anyValue],
      multipleOf: [6, double],
      maximum: [7, double],
      exclusiveMaximum: [8, bool],
      minimum: [9, double],
      exclusiveMinimum: [10, bool],
      maxLength: [11, int64],
      minLength: [12, int64],
      pattern: [13, str],
      maxItems: [14, int64],
      minItems: [15, int64],
      uniqueItems: [16, bool],
      maxProperties: [17, int64],
      minProperties: [18, int64],
      required: [19, strings],
      enum: [20, repeated(anyValue)],
      // AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }: a false is written too.
      additionalProperties: [21, oneof((v) => (typeof v === 'boolean' ? [2, typed(isBool, 'a boolean', (w, f, b) => w.bool(f, b))] : [1, schemaPut]))],
      // TypeItem { repeated string value = 1; }
      type: [22, (w, f, v, p, c) => { const t = new Writer(); strings(t, 1, v, p, c); w.message(f, t); }],
      // ItemsItem { repeated Schema schema = 1; }
      items: [23, (w, f, v, p, c) => { const t = new Writer(); repeated(schemaPut)(t, 1, v, p, c); w.message(f, t); }],
      allOf: [24, repeated(schemaPut)],
      properties: [25, mapMessage(schemaPut)],
      discriminator: [26, str],
      readOnly: [27, bool],
      xml: [28, message(xml)],
      externalDocs: [29, message(externalDocs)],
      example: [30, anyValue],
    },
    ext: 31,
  };
}

/** The validation keywords Swagger's non-body parameters, items and headers share, numbered from `first`. */
function validations(first: number): Record<string, [number, Put]> {
  const puts: [string, Put][] = [
    ['type', str], ['format', str], ['items', message(primitivesItems)], ['collectionFormat', str], ['default', anyValue],
    ['maximum', double], ['exclusiveMaximum', bool], ['minimum', double], ['exclusiveMinimum', bool], ['maxLength', int64],
    ['minLength', int64], ['pattern', str], ['maxItems', int64], ['minItems', int64], ['uniqueItems', bool],
    ['enum', repeated(anyValue)], ['multipleOf', double],
  ];
  return Object.fromEntries(puts.map(([key, put], i) => [key, [first + i, put]]));
}

const primitivesItems = (): Spec => ({ fields: validations(1), ext: 18 });
const header = (): Spec => ({ fields: { ...validations(1), description: [18, str] }, ext: 19 });

const paramHead = { required: [1, bool], in: [2, str], description: [3, str], name: [4, str] } satisfies Record<string, [number, Put]>;
/** HeaderParameterSubSchema and PathParameterSubSchema. */
const headerOrPathParam = (): Spec => ({ fields: { ...paramHead, ...validations(5) }, ext: 22 });
/** QueryParameterSubSchema and FormDataParameterSubSchema. */
const queryOrFormParam = (): Spec => ({ fields: { ...paramHead, allowEmptyValue: [5, bool], ...validations(6) }, ext: 23 });
const bodyParam = (): Spec => ({ fields: { description: [1, str], name: [2, str], in: [3, str], required: [4, bool], schema: [5, schemaPut] }, ext: 6 });
const jsonReference = (): Spec => ({ fields: { $ref: [1, str], description: [2, str] } });

/** NonBodyParameter { oneof { Header... = 1; FormData... = 2; Query... = 3; Path... = 4; } }, by `in`. */
const NON_BODY: Record<string, Put> = {
  header: oneof(() => [1, message(headerOrPathParam)]),
  formData: oneof(() => [2, message(queryOrFormParam)]),
  query: oneof(() => [3, message(queryOrFormParam)]),
  path: oneof(() => [4, message(headerOrPathParam)]),
};
const bodyParamPut = message(bodyParam);

/** Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; } } */
const parameter: Put = (w, field, v, path, ctx) => {
  const where = isObject(v) ? String(v.in) : '';
  if (where !== 'body' && !NON_BODY[where]) return ctx.issue?.(path, `a parameter in "${where}"`);
  oneof(() => (where === 'body' ? [1, bodyParamPut] : [2, NON_BODY[where]]))(w, field, v, path, ctx);
};

const jsonReferencePut = message(jsonReference);
/** ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2; } } */
const parametersItem: Put = oneof((v) => (isObject(v) && '$ref' in v ? [2, jsonReferencePut] : [1, parameter]));

/** SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2; } } */
const fileSchema = (): Spec => ({
  fields: {
    format: [1, str], title: [2, str], description: [3, str], default: [4, anyValue], required: [5, strings], type: [6, str],
    readOnly: [7, bool], externalDocs: [8, message(externalDocs)], example: [9, anyValue],
  },
  ext: 10,
});
const fileSchemaPut = message(fileSchema);
const schemaItem: Put = oneof((v) => (isObject(v) && v.type === 'file' ? [2, fileSchemaPut] : [1, schemaPut]));

const response = (): Spec => ({
  fields: { description: [1, str], schema: [2, schemaItem], headers: [3, mapMessage(message(header))], examples: [4, mapMessage(anyValue)] },
  ext: 5,
});

/** ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2; } } */
const responsePut = message(response);
const responseValue: Put = oneof((v) => (isObject(v) && '$ref' in v ? [2, jsonReferencePut] : [1, responsePut]));

/** Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny vendor_extension = 2; } */
const responses: Put = (w, field, v, path, ctx) => {
  const inner = new Writer();
  if (isObject(v)) {
    for (const [code, value] of Object.entries(v)) {
      if (code.startsWith('x-')) {
        namedAny(inner, 2, code, value);
        continue;
      }
      const entry = new Writer();
      entry.string(1, code);
      responseValue(entry, 2, value, `${path}.${code}`, ctx);
      inner.message(1, entry);
    }
  } else ctx.issue?.(path, 'expected a map of responses');
  w.message(field, inner);
};

/** SecurityRequirement { repeated NamedStringArray additional_properties = 1; }, StringArray { repeated string value = 1; } */
const securityRequirement: Put = mapMessage((w, f, v, p, c) => {
  const list = new Writer();
  strings(list, 1, v, p, c);
  w.message(f, list);
});

const operation = (): Spec => ({
  fields: {
    tags: [1, strings], summary: [2, str], description: [3, str], externalDocs: [4, message(externalDocs)], operationId: [5, str],
    produces: [6, strings], consumes: [7, strings], parameters: [8, repeated(parametersItem)], responses: [9, responses],
    schemes: [10, strings], deprecated: [11, bool], security: [12, repeated(securityRequirement)],
  },
  ext: 13,
});

const pathItem = (): Spec => ({
  fields: {
    $ref: [1, str], get: [2, message(operation)], put: [3, message(operation)], post: [4, message(operation)],
    delete: [5, message(operation)], options: [6, message(operation)], head: [7, message(operation)],
    patch: [8, message(operation)], parameters: [9, repeated(parametersItem)],
  },
  ext: 10,
});

/** Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2; } */
const paths: Put = (w, field, v, path, ctx) => {
  const inner = new Writer();
  if (isObject(v)) {
    for (const [name, value] of Object.entries(v)) {
      if (name.startsWith('x-')) {
        namedAny(inner, 1, name, value);
        continue;
      }
      const entry = new Writer();
      entry.string(1, name);
      message(pathItem)(entry, 2, value, `${path}.${name}`, ctx);
      inner.message(2, entry);
    }
  } else ctx.issue?.(path, 'expected a map of paths');
  w.message(field, inner);
};

const scopes = mapMessage(str);
const oauth2 = (flow: string): Spec => {
  const fields: Record<string, [number, Put]> = { type: [1, str], flow: [2, str], scopes: [3, scopes] };
  const rest = flow === 'accessCode' ? ['authorizationUrl', 'tokenUrl'] : flow === 'implicit' ? ['authorizationUrl'] : ['tokenUrl'];
  [...rest, 'description'].forEach((key, i) => (fields[key] = [4 + i, str]));
  return { fields, ext: 4 + rest.length + 1 };
};
const OAUTH2_FLOWS: Record<string, number> = { implicit: 3, password: 4, application: 5, accessCode: 6 };

const basicSecurity = message(() => ({ fields: { type: [1, str], description: [2, str] }, ext: 3 }));
const apiKeySecurity = message(() => ({ fields: { type: [1, str], name: [2, str], in: [3, str], description: [4, str] }, ext: 5 }));
const oauth2Security: Record<string, [number, Put]> = Object.fromEntries(
  Object.entries(OAUTH2_FLOWS).map(([flow, variant]) => [flow, [variant, message(() => oauth2(flow))]]),
);

/** SecurityDefinitionsItem: a oneof by `type` (and, for oauth2, `flow`). */
const securityDefinitionsItem: Put = oneof((v) => {
  const o = isObject(v) ? v : {};
  if (o.type === 'basic') return [1, basicSecurity];
  if (o.type === 'oauth2') return oauth2Security[String(o.flow)] ?? oauth2Security.implicit;
  return [2, apiKeySecurity];
});

const contact = (): Spec => ({ fields: { name: [1, str], url: [2, str], email: [3, str] }, ext: 4 });
const license = (): Spec => ({ fields: { name: [1, str], url: [2, str] }, ext: 3 });
const info = (): Spec => ({
  fields: { title: [1, str], version: [2, str], description: [3, str], termsOfService: [4, str], contact: [5, message(contact)], license: [6, message(license)] },
  ext: 7,
});
const tag = (): Spec => ({ fields: { name: [1, str], description: [2, str], externalDocs: [3, message(externalDocs)] }, ext: 4 });

const document = (): Spec => ({
  fields: {
    swagger: [1, str],
    info: [2, message(info)],
    host: [3, str],
    basePath: [4, str],
    schemes: [5, strings],
    consumes: [6, strings],
    produces: [7, strings],
    paths: [8, paths],
    definitions: [9, mapMessage(schemaPut)],
    parameters: [10, mapMessage(parameter)],
    responses: [11, mapMessage(message(response))],
    security: [12, repeated(securityRequirement)],
    securityDefinitions: [13, mapMessage(securityDefinitionsItem)],
    tags: [14, repeated(message(tag))],
    externalDocs: [15, message(externalDocs)],
  },
  ext: 16,
});

/**
 * The openapi_v2.Document encoding of a Swagger 2.0 document. What the message has no field for is
 * left out (gnostic itself would refuse the document); `issue` hears of each such value.
 */
export function encodeOpenAPIV2(doc: unknown, issue?: Issue): Uint8Array<ArrayBuffer> {
  return encode(document(), doc, '', { issue }).finish();
}

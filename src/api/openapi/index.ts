// The OpenAPI documents skiff serves: the v3 index (GET /openapi/v3), one v3
// document per group/version (GET /openapi/v3/apis/apps/v1, ...) and the
// Swagger 2.0 document (GET /openapi/v2, served by ./v2.ts as JSON or protobuf). kubectl 1.32 reads v3:
// `explain` walks components.schemas, and `apply`/`create -f` check that each
// kind's PATCH operation takes `fieldValidation`, then leave the checking to
// the server (`unknownFields` below gives the server what it needs for that).

import { allSchemas, schemaName, REF_PREFIX, type Schema } from './schemas';

type Subresource = 'status' | 'scale' | 'eviction' | 'binding';

interface Resource {
  group: string; // '' for core
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  subresources: Subresource[];
}

const RESOURCES: Resource[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, subresources: ['status', 'binding', 'eviction'] },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, subresources: [] },
  { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, subresources: [] },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, subresources: [] },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, subresources: [] },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, subresources: [] },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, subresources: ['status', 'scale'] },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true, subresources: ['status', 'scale'] },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true, subresources: ['status'] },
  { group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', namespaced: true, subresources: [] },
  { group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', namespaced: true, subresources: ['status'] },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', namespaced: true, subresources: ['status'] },
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true, subresources: ['status'] },
  { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true, subresources: ['status'] },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, subresources: [] },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, subresources: [] },
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', namespaced: true, subresources: ['status'] },
  { group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', plural: 'ingressclasses', namespaced: false, subresources: [] },
  { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true, subresources: [] },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, subresources: ['status'] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true, subresources: [] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false, subresources: [] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true, subresources: [] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false, subresources: [] },
];

/** The short name of a group ('' -> core, 'discovery.k8s.io' -> discovery), as operation ids and tags use it. */
const pkgOf = (group: string) => group.split('.')[0] || 'core';
/** The schema package alias of a group/version: the group's short name, with the version past v1 ('autoscalingv2'). */
const schemaPkgOf = (r: { group: string; version: string }) => pkgOf(r.group) + (r.version === 'v1' ? '' : r.version);
/** 'api/v1' or 'apis/apps/v1': the key of a group/version in the v3 index. */
const docPathOf = (r: { group: string; version: string }) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`);
const capital = (s: string) => s[0].toUpperCase() + s.slice(1);

// ---- parameters and operations ----

type Param = Schema;
const param = (name: string, where: 'query' | 'path', type: string, description: string): Param => ({
  description,
  in: where,
  name,
  ...(where === 'path' ? { required: true } : {}),
  schema: { type, uniqueItems: true },
});
const P = {
  name: (kind: string) => param('name', 'path', 'string', `name of the ${kind}`),
  namespace: param('namespace', 'path', 'string', 'object name and auth scope, such as for teams and projects'),
  pretty: param('pretty', 'query', 'string', "If 'true', then the output is pretty printed."),
  dryRun: param('dryRun', 'query', 'string', "When present, modifications are not persisted. 'All' runs every dry-run stage."),
  fieldManager: param('fieldManager', 'query', 'string', 'Name of the actor making the change, for field ownership.'),
  fieldValidation: param('fieldValidation', 'query', 'string',
    'Ignore, Warn or Strict: what the server does with unknown or duplicate fields in the request body.'),
  force: param('force', 'query', 'boolean', 'Force an apply request, taking over fields owned by other managers.'),
  gracePeriodSeconds: param('gracePeriodSeconds', 'query', 'integer', 'Seconds before the object is deleted; 0 deletes immediately.'),
  orphanDependents: param('orphanDependents', 'query', 'boolean', 'Deprecated: use propagationPolicy.'),
  propagationPolicy: param('propagationPolicy', 'query', 'string', 'Orphan, Background or Foreground garbage collection of dependents.'),
};
const LIST_PARAMS: Param[] = [
  param('allowWatchBookmarks', 'query', 'boolean', 'Ask for BOOKMARK watch events.'),
  param('continue', 'query', 'string', 'Token from a previous limited list, to get the next chunk.'),
  param('fieldSelector', 'query', 'string', 'Restrict the returned objects by their fields.'),
  param('labelSelector', 'query', 'string', 'Restrict the returned objects by their labels.'),
  param('limit', 'query', 'integer', 'Maximum number of objects to return.'),
  param('resourceVersion', 'query', 'string', 'Constrains the resource versions the request may be served from.'),
  param('resourceVersionMatch', 'query', 'string', 'How resourceVersion applies to a list: NotOlderThan or Exact.'),
  param('sendInitialEvents', 'query', 'boolean', 'Start a watch with synthetic events for the current state.'),
  param('timeoutSeconds', 'query', 'integer', 'Timeout of the list or watch call.'),
  param('watch', 'query', 'boolean', 'Watch for changes to the described resources.'),
];
const WRITE_PARAMS = [P.dryRun, P.fieldManager, P.fieldValidation];
const PATCH_PARAMS = [...WRITE_PARAMS, P.force];
const DELETE_PARAMS = [P.gracePeriodSeconds, P.orphanDependents, P.propagationPolicy, P.dryRun];
const PATCH_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

const schemaRef = (short: string) => ({ $ref: REF_PREFIX + schemaName(short) });
const body = (short: string, types = ['application/json']) => ({
  content: Object.fromEntries(types.map((t) => [t, { schema: schemaRef(short) }])),
  required: true,
});
const replies = (short: string, codes: Record<string, string>, watch = false) => ({
  ...Object.fromEntries(Object.entries(codes).map(([code, description]) => [code, {
    content: Object.fromEntries((watch ? ['application/json', 'application/json;stream=watch'] : ['application/json'])
      .map((t) => [t, { schema: schemaRef(short) }])),
    description,
  }])),
  401: { description: 'Unauthorized' },
});

interface Target {
  gvk: { group: string; version: string; kind: string }; // of the request/response body
  schema: string; // short schema name of the body
  id: string; // operationId suffix, e.g. AppsV1NamespacedDeploymentScale
  tag: string;
}

function operation(action: string, verb: string, description: string, t: Target, parameters: Param[], extra: Schema): Schema {
  return {
    description,
    operationId: verb + t.id,
    ...(parameters.length ? { parameters } : {}),
    ...extra,
    tags: [t.tag],
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': t.gvk,
  };
}

/** The paths kube-apiserver serves for one resource, with their operations. */
function resourcePaths(r: Resource): Record<string, Schema> {
  const gvName = capital(pkgOf(r.group)) + capital(r.version);
  const prefix = '/' + docPathOf(r);
  const scope = r.namespaced ? '/namespaces/{namespace}' : '';
  const ns = r.namespaced ? 'Namespaced' : '';
  const self = `${schemaPkgOf(r)}.${r.kind}`;
  const target = (suffix = '', schema = self, gvk = { group: r.group, version: r.version, kind: r.kind }): Target =>
    ({ gvk, schema, id: `${gvName}${ns}${r.kind}${suffix}`, tag: `${pkgOf(r.group)}_${r.version}` });
  const main = target();
  const list: Target = { ...main, schema: `${self}List` };
  const pathParams = (...ps: Param[]) => [...ps, ...(r.namespaced ? [P.namespace] : []), P.pretty];
  const k = r.kind;

  const paths: Record<string, Schema> = {
    [`${prefix}${scope}/${r.plural}`]: {
      delete: operation('deletecollection', 'deleteCollection', `delete collection of ${k}`, { ...main, id: `${gvName}Collection${ns}${k}` },
        [...DELETE_PARAMS, ...LIST_PARAMS], { requestBody: { ...body('meta.DeleteOptions'), required: false }, responses: replies('meta.Status', { 200: 'OK' }) }),
      get: operation('list', 'list', `list or watch objects of kind ${k}`, list, LIST_PARAMS, { responses: replies(list.schema, { 200: 'OK' }, true) }),
      post: operation('post', 'create', `create a ${k}`, main, WRITE_PARAMS,
        { requestBody: body(self), responses: replies(self, { 200: 'OK', 201: 'Created', 202: 'Accepted' }) }),
      parameters: pathParams(),
    },
    [`${prefix}${scope}/${r.plural}/{name}`]: {
      delete: operation('delete', 'delete', `delete a ${k}`, main, DELETE_PARAMS,
        { requestBody: { ...body('meta.DeleteOptions'), required: false }, responses: replies(self, { 200: 'OK', 202: 'Accepted' }) }),
      get: operation('get', 'read', `read the specified ${k}`, main, [], { responses: replies(self, { 200: 'OK' }) }),
      patch: operation('patch', 'patch', `partially update the specified ${k}`, main, PATCH_PARAMS,
        { requestBody: body('meta.Patch', PATCH_TYPES), responses: replies(self, { 200: 'OK', 201: 'Created' }) }),
      put: operation('put', 'replace', `replace the specified ${k}`, main, WRITE_PARAMS,
        { requestBody: body(self), responses: replies(self, { 200: 'OK', 201: 'Created' }) }),
      parameters: pathParams(P.name(k)),
    },
    [`${prefix}/watch${scope}/${r.plural}`]: {
      get: operation('watchlist', 'watch', `watch changes to a list of ${k}; deprecated: use the 'watch' parameter of list`,
        { ...main, id: `${main.id}List` }, LIST_PARAMS, { responses: replies('meta.WatchEvent', { 200: 'OK' }, true) }),
      parameters: pathParams(),
    },
    [`${prefix}/watch${scope}/${r.plural}/{name}`]: {
      get: operation('watch', 'watch', `watch changes to a ${k}; deprecated: use the 'watch' parameter of list`,
        main, LIST_PARAMS, { responses: replies('meta.WatchEvent', { 200: 'OK' }, true) }),
      parameters: pathParams(P.name(k)),
    },
  };
  if (r.namespaced) {
    const all = (t: Target, suffix: string): Target => ({ ...t, id: `${gvName}${k}${suffix}ForAllNamespaces` });
    paths[`${prefix}/${r.plural}`] = {
      get: operation('list', 'list', `list or watch objects of kind ${k}`, all(list, ''), LIST_PARAMS,
        { responses: replies(list.schema, { 200: 'OK' }, true) }),
      parameters: [P.pretty],
    };
    paths[`${prefix}/watch/${r.plural}`] = {
      get: operation('watchlist', 'watch', `watch changes to a list of ${k}; deprecated: use the 'watch' parameter of list`,
        all(main, 'List'), LIST_PARAMS, { responses: replies('meta.WatchEvent', { 200: 'OK' }, true) }),
      parameters: [P.pretty],
    };
  }
  for (const sub of r.subresources) {
    const path = `${prefix}${scope}/${r.plural}/{name}/${sub}`;
    const params = pathParams(P.name(k));
    if (sub === 'eviction' || sub === 'binding') {
      const t = sub === 'eviction'
        ? target('Eviction', 'policy.Eviction', { group: 'policy', version: 'v1', kind: 'Eviction' })
        : target('Binding', 'core.Binding', { group: '', version: 'v1', kind: 'Binding' });
      paths[path] = {
        post: operation('post', 'create', `create ${sub} of a ${k}`, t, WRITE_PARAMS,
          { requestBody: body(t.schema), responses: replies(t.schema, { 200: 'OK', 201: 'Created', 202: 'Accepted' }) }),
        parameters: params,
      };
      continue;
    }
    const t = sub === 'scale'
      ? target('Scale', 'autoscaling.Scale', { group: 'autoscaling', version: 'v1', kind: 'Scale' })
      : target('Status');
    paths[path] = {
      get: operation('get', 'read', `read ${sub} of the specified ${k}`, t, [], { responses: replies(t.schema, { 200: 'OK' }) }),
      patch: operation('patch', 'patch', `partially update ${sub} of the specified ${k}`, t, PATCH_PARAMS,
        { requestBody: body('meta.Patch', PATCH_TYPES), responses: replies(t.schema, { 200: 'OK', 201: 'Created' }) }),
      put: operation('put', 'replace', `replace ${sub} of the specified ${k}`, t, WRITE_PARAMS,
        { requestBody: body(t.schema), responses: replies(t.schema, { 200: 'OK', 201: 'Created' }) }),
      parameters: params,
    };
  }
  return paths;
}

// ---- documents ----

/** Adds the schema names `x` refers to directly (not through other schemas) to `out`. */
function collectRefs(x: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(x)) for (const v of x) collectRefs(v, out);
  else if (x && typeof x === 'object') {
    for (const [key, v] of Object.entries(x)) {
      if (key === '$ref' && typeof v === 'string') out.add(v.slice(REF_PREFIX.length));
      else collectRefs(v, out);
    }
  }
  return out;
}

/** Names of the schemas `root` refers to, directly or through other schemas. */
function referencedSchemas(root: unknown, schemas: Record<string, Schema>): string[] {
  const seen = new Set<string>();
  const pending = [...collectRefs(root, new Set())];
  while (pending.length) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    if (!schemas[name]) throw new Error(`OpenAPI schema ${name} is referenced but not defined`);
    seen.add(name);
    pending.push(...collectRefs(schemas[name], new Set()));
  }
  return [...seen].sort();
}

const INFO = { title: 'Kubernetes', version: 'unversioned' };
const BEARER = { BearerToken: { description: 'Bearer Token authentication', in: 'header', name: 'authorization', type: 'apiKey' } };

function buildV3Document(docPath: string, schemas: Record<string, Schema>): Schema {
  const paths: Record<string, Schema> = {};
  for (const r of RESOURCES) if (docPathOf(r) === docPath) Object.assign(paths, resourcePaths(r));
  const sortedPaths = Object.fromEntries(Object.keys(paths).sort().map((p) => [p, paths[p]]));
  const used = referencedSchemas(sortedPaths, schemas);
  return {
    components: { schemas: Object.fromEntries(used.map((n) => [n, schemas[n]])), securitySchemes: BEARER },
    info: INFO,
    openapi: '3.0.0',
    paths: sortedPaths,
    security: [{ BearerToken: [] }],
  };
}

/** FNV-1a over the UTF-16 code units, two 32-bit lanes: a stable, cheap, synchronous content hash. */
function hashOf(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x0100019d);
  }
  return ((a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0')).toUpperCase();
}

interface Built {
  schemas: Record<string, Schema>;
  documents: Map<string, Schema>;
  hashes: Map<string, string>;
  byGvk: Map<string, Schema>;
}

let built: Built | undefined;

/** Builds everything once per isolate: the documents never change while it runs. */
function build(): Built {
  if (built) return built;
  const schemas = allSchemas();
  const documents = new Map<string, Schema>();
  const hashes = new Map<string, string>();
  for (const docPath of [...new Set(RESOURCES.map(docPathOf))]) {
    const doc = buildV3Document(docPath, schemas);
    documents.set(docPath, doc);
    hashes.set(docPath, hashOf(JSON.stringify(doc)));
  }
  const byGvk = new Map<string, Schema>();
  for (const s of Object.values(schemas)) {
    for (const g of (s['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined) ?? []) {
      byGvk.set(`${g.group}/${g.version}/${g.kind}`, s);
    }
  }
  built = { schemas, documents, hashes, byGvk };
  return built;
}

/** GET /openapi/v3: where each group/version's document lives, with a content hash kubectl caches by. */
export function openapiV3Index(): { paths: Record<string, { serverRelativeURL: string }> } {
  const { hashes } = build();
  return {
    paths: Object.fromEntries([...hashes].map(([docPath, hash]) => [docPath, { serverRelativeURL: `/openapi/v3/${docPath}?hash=${hash}` }])),
  };
}

/** GET /openapi/v3/<groupVersionPath> ('api/v1', 'apis/apps/v1', ...); undefined for an unknown group/version. */
export function openapiV3Document(groupVersionPath: string): object | undefined {
  return build().documents.get(groupVersionPath.replace(/^\/+|\/+$/g, ''));
}

// ---- Swagger 2.0 ----

/** A v3 schema in Swagger 2.0 terms: refs into #/definitions/, and no oneOf (Quantity, IntOrString are strings). */
function schemaToV2(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(schemaToV2);
  if (!x || typeof x !== 'object') return x;
  const out: Schema = {};
  for (const [key, value] of Object.entries(x)) {
    if (key === '$ref') out.$ref = (value as string).replace(REF_PREFIX, '#/definitions/');
    else if (key === 'oneOf') out.type = 'string';
    else out[key] = schemaToV2(value);
  }
  return out;
}

function operationToV2(op: Schema): Schema {
  const { requestBody, responses, parameters, ...rest } = op as {
    requestBody?: { content: Record<string, { schema: Schema }>; required: boolean };
    responses: Record<string, { description: string; content?: Record<string, { schema: Schema }> }>;
    parameters?: Param[];
  } & Schema;
  const params = (parameters ?? []).map(paramToV2);
  if (requestBody) {
    const [first] = Object.values(requestBody.content);
    params.unshift({ in: 'body', name: 'body', required: requestBody.required, schema: schemaToV2(first.schema) });
  }
  return {
    ...rest,
    consumes: requestBody ? Object.keys(requestBody.content) : ['*/*'],
    ...(params.length ? { parameters: params } : {}),
    produces: ['application/json'],
    responses: Object.fromEntries(Object.entries(responses).map(([code, r]) => {
      const content = r.content && Object.values(r.content)[0];
      return [code, { description: r.description, ...(content ? { schema: schemaToV2(content.schema) } : {}) }];
    })),
    schemes: ['https'],
  };
}

function paramToV2(p: Param): Schema {
  const { schema, ...rest } = p as { schema: Schema } & Schema;
  return { ...rest, ...schema };
}

/** GET /openapi/v2: every path and definition in Swagger 2.0 (./v2.ts serves it as JSON, or as protobuf for kubectl). */
export function openapiV2(): object {
  const { schemas, documents } = build();
  const paths: Record<string, Schema> = {};
  for (const doc of documents.values()) {
    for (const [path, item] of Object.entries(doc.paths as Record<string, Schema>)) {
      paths[path] = Object.fromEntries(Object.entries(item).map(([method, op]) =>
        [method, method === 'parameters' ? (op as Param[]).map(paramToV2) : operationToV2(op as Schema)]));
    }
  }
  const names = Object.keys(schemas).sort();
  return {
    definitions: Object.fromEntries(names.map((n) => [n, schemaToV2(schemas[n])])),
    info: INFO,
    paths: Object.fromEntries(Object.keys(paths).sort().map((p) => [p, paths[p]])),
    security: [{ BearerToken: [] }],
    securityDefinitions: BEARER,
    swagger: '2.0',
  };
}

// ---- strict field validation ----

/**
 * Fields of `obj` that the schema of its kind does not declare, as paths in
 * the form kube-apiserver reports them for fieldValidation=Strict:
 * `spec.template.spec.containers[0].bogus`. Empty when every field is known or
 * when the kind has no schema here.
 */
export function unknownFields(apiVersion: string, kind: string, obj: unknown): string[] {
  const { schemas, byGvk } = build();
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const root = byGvk.get(`${group}/${version}/${kind}`);
  const found: string[] = [];
  const walk = (schema: Schema, value: unknown, path: string): void => {
    while (typeof schema.$ref === 'string') schema = schemas[schema.$ref.slice(REF_PREFIX.length)];
    if (value === null || typeof value !== 'object' || schema['x-kubernetes-preserve-unknown-fields']) return;
    if (Array.isArray(value)) {
      if (schema.items) value.forEach((item, i) => walk(schema.items as Schema, item, `${path}[${i}]`));
      return;
    }
    const props = schema.properties as Record<string, Schema> | undefined;
    const additional = schema.additionalProperties as Schema | undefined;
    for (const [key, v] of Object.entries(value)) {
      const child = path ? `${path}.${key}` : key;
      const s = props?.[key] ?? additional;
      if (s) walk(s, v, child);
      else if (props) found.push(child);
    }
  };
  if (root) walk(root, obj, '');
  return found;
}

// ---- typed decoding ----

/** A value whose JSON type is not the one its schema declares, as a Go decoder would refuse it. */
export interface Mistyped {
  path: string;
  expected: string;
  got: string;
}

const jsonTypeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v);

function fitsType(type: unknown, format: unknown, v: unknown): boolean {
  switch (type) {
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'number': return typeof v === 'number';
    case 'integer': return Number.isInteger(v) && (format !== 'int32' || Math.abs(v as number) <= 2 ** 31) && Math.abs(v as number) <= 2 ** 63;
    case 'array': return Array.isArray(v);
    case 'object': return jsonTypeOf(v) === 'object';
    default: return true;
  }
}

/**
 * Values of `obj` whose type differs from what the schema of its kind declares
 * (kube-apiserver refuses those when it decodes the body into its Go types). A
 * null is taken as unset where a field may be; an item of a list or map must
 * not be null. Undeclared and free-form fields are not looked at.
 */
export function mistypedFields(apiVersion: string, kind: string, obj: unknown): Mistyped[] {
  const { schemas, byGvk } = build();
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const root = byGvk.get(`${group}/${version}/${kind}`);
  const found: Mistyped[] = [];
  const walk = (schema: Schema, value: unknown, path: string, nullable: boolean): void => {
    while (typeof schema.$ref === 'string') schema = schemas[schema.$ref.slice(REF_PREFIX.length)];
    if (schema['x-kubernetes-preserve-unknown-fields'] || (value === null && nullable)) return;
    const options = (schema.oneOf as Schema[] | undefined) ?? [schema];
    if (!options.some((o) => o.type === undefined || fitsType(o.type, o.format, value))) {
      found.push({ path, expected: options.map((o) => String(o.type)).join(' or '), got: jsonTypeOf(value) });
      return;
    }
    if (Array.isArray(value)) {
      if (schema.items) value.forEach((item, i) => walk(schema.items as Schema, item, `${path}[${i}]`, false));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const props = schema.properties as Record<string, Schema> | undefined;
    const additional = schema.additionalProperties as Schema | undefined;
    for (const [key, v] of Object.entries(value)) {
      const child = path ? `${path}.${key}` : key;
      if (props && Object.hasOwn(props, key)) walk(props[key], v, child, true);
      else if (additional) walk(additional, v, child, false);
    }
  };
  if (root) walk(root, obj, '', false);
  return found;
}

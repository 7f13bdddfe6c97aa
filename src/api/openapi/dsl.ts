// The tiny DSL the OpenAPI schemas are written in (./schemas.ts, ./workload-schemas.ts): short
// package aliases for Kubernetes' schema names, and builders for fields, objects, kinds and lists.

export type Schema = { [key: string]: unknown };

/** Short package aliases used in ref names ('core.Pod' -> 'io.k8s.api.core.v1.Pod'). */
export const PACKAGES: Record<string, string> = {
  core: 'io.k8s.api.core.v1',
  apps: 'io.k8s.api.apps.v1',
  coordination: 'io.k8s.api.coordination.v1',
  discovery: 'io.k8s.api.discovery.v1',
  networking: 'io.k8s.api.networking.v1',
  policy: 'io.k8s.api.policy.v1',
  rbac: 'io.k8s.api.rbac.v1',
  autoscaling: 'io.k8s.api.autoscaling.v1',
  autoscalingv2: 'io.k8s.api.autoscaling.v2',
  batch: 'io.k8s.api.batch.v1',
  meta: 'io.k8s.apimachinery.pkg.apis.meta.v1',
  resource: 'io.k8s.apimachinery.pkg.api.resource',
  intstr: 'io.k8s.apimachinery.pkg.util.intstr',
  runtime: 'io.k8s.apimachinery.pkg.runtime',
};

/** The Kubernetes schema name for a short name such as 'apps.Deployment'. */
export function schemaName(short: string): string {
  const dot = short.indexOf('.');
  const pkg = PACKAGES[short.slice(0, dot)];
  if (!pkg) throw new Error(`unknown schema package in ${short}`);
  return pkg + short.slice(dot);
}

export const REF_PREFIX = '#/components/schemas/';

// ---- the DSL ----

export const described = (s: Schema, description?: string): Schema => (description ? { ...s, description } : s);
export const str = (d?: string) => described({ type: 'string' }, d);
export const int = (d?: string) => described({ type: 'integer', format: 'int32' }, d);
export const int64 = (d?: string) => described({ type: 'integer', format: 'int64' }, d);
export const bool = (d?: string) => described({ type: 'boolean' }, d);
export const bytes = (d?: string) => described({ type: 'string', format: 'byte' }, d);
export const ref = (short: string, d?: string) => described({ $ref: REF_PREFIX + schemaName(short) }, d);
export const arr = (items: Schema, d?: string) => described({ type: 'array', items }, d);
export const strs = (d?: string) => arr(str(), d);
export const map = (values: Schema, d?: string) => described({ type: 'object', additionalProperties: values }, d);
export const strMap = (d?: string) => map(str(), d);
export const quantities = (d?: string) => map(ref('resource.Quantity'), d);
export const time = (d?: string) => ref('meta.Time', d);
export const intOrStr = (d?: string) => ref('intstr.IntOrString', d);
/** A part Kubernetes defines but skiff keeps free-form: accepted as is, never rejected. */
export const free = (d?: string) => described({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, d);

export function obj(description: string, properties: Record<string, Schema>, required?: string[]): Schema {
  const s: Schema = { description, type: 'object', properties };
  if (required) s.required = required;
  return s;
}

/** A list merged by key in strategic merge patch and server-side apply. */
export function keyed(items: Schema, keys: string[], d: string, strategy = 'merge'): Schema {
  return {
    ...arr(items, d),
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': keys,
    'x-kubernetes-patch-merge-key': keys[0],
    'x-kubernetes-patch-strategy': strategy,
  };
}

/** A list owned whole by server-side apply (+listType=atomic). */
export const atomicList = (s: Schema): Schema => ({ ...s, 'x-kubernetes-list-type': 'atomic' });

/** A list of primitives merged as a set (+listType=set). */
export const setList = (s: Schema): Schema => ({ ...s, 'x-kubernetes-list-type': 'set' });

/** A list strategic merge patch merges by `key` while server-side apply owns it whole (patchStrategy merge, +listType=atomic). */
export function mergedAtomic(items: Schema, key: string, d: string): Schema {
  return { ...atomicList(arr(items, d)), 'x-kubernetes-patch-merge-key': key, 'x-kubernetes-patch-strategy': 'merge' };
}

const GVK = 'x-kubernetes-group-version-kind';
export const API_VERSION = str('APIVersion defines the versioned schema of this representation of an object.');
export const KIND = str('Kind is a string value representing the REST resource this object represents. In CamelCase.');

/** x-kubernetes-group-version-kind of `name` in group/version `gv` ('v1', 'apps/v1'). */
export function gvk(gv: string, name: string): Schema {
  const [group, version] = gv.includes('/') ? gv.split('/') : ['', gv];
  return { [GVK]: [{ group, kind: name, version }] };
}

/** A top-level kind: apiVersion, kind and metadata, plus its own fields. */
export function kind(gv: string, name: string, description: string, props: Record<string, Schema>, required?: string[]): Schema {
  return {
    ...obj(description, { apiVersion: API_VERSION, kind: KIND, metadata: ref('meta.ObjectMeta', "Standard object's metadata."), ...props }, required),
    ...gvk(gv, name),
  };
}

/** The List kind of `item` (a short schema name). */
export function list(gv: string, item: string): Schema {
  const name = item.slice(item.indexOf('.') + 1);
  return {
    ...obj(`${name}List is a list of ${name} objects.`, {
      apiVersion: API_VERSION,
      items: arr(ref(item), `List of ${name} objects.`),
      kind: KIND,
      metadata: ref('meta.ListMeta', 'Standard list metadata.'),
    }, ['items']),
    ...gvk(gv, `${name}List`),
  };
}

export const spec = (short: string, what: string) => ref(short, `Specification of the desired behavior of the ${what}.`);
export const status = (short: string, what: string) => ref(short, `Most recently observed status of the ${what}. Read-only.`);

// networking.k8s.io/v1 IngressClass: defaults (SetDefaults_IngressClass), validation
// (ValidateIngressClass, controller immutable) and printIngressClass. skiff is an ingress
// controller itself: the class it serves is created at startup (see Store.init).
import type { Cause, KindDef, KObject } from './types.js';
import { age } from './format.js';
import {
  each, forbidden, invalid, isDNS1123Label, isDNS1123Subdomain, notSupported, required, tooLong, validateImmutable,
  validateMetadata,
} from './validation.js';

/** The class skiff creates and serves, and the controller value that names skiff. */
export const SKIFF_INGRESS_CLASS = 'skiff';
export const SKIFF_INGRESS_CONTROLLER = 'skiff.dev/ingress';
/** networking.k8s.io's annotation marking the class Ingresses without one get. */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

const MAX_CONTROLLER_LENGTH = 250;
const SCOPES = ['Cluster', 'Namespace'];
const HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const HTTP_PATH = new RegExp(`^${HTTP_PATH_FMT}$`);

function defaultIngressClass(ic: any): void {
  ic.spec ??= {};
  if (ic.spec.parameters && ic.spec.parameters.scope == null) ic.spec.parameters.scope = 'Cluster';
}

/** IsDomainPrefixedPath: "example.com/some-path". */
function validateDomainPrefixedPath(field: string, value: string): Cause[] {
  if (!value) return [required(field)];
  const slash = value.indexOf('/');
  if (slash <= 0 || slash === value.length - 1) return [invalid(field, value, 'must be a domain-prefixed path (such as "acme.io/foo")')];
  const host = value.slice(0, slash);
  const path = value.slice(slash + 1);
  const causes = each(field, host, isDNS1123Subdomain(host));
  if (!HTTP_PATH.test(path)) causes.push(invalid(field, path, `Invalid path (regex used for validation is '${HTTP_PATH_FMT}')`));
  return causes;
}

/** IsValidPathSegmentName: what may name an object in a URL path. */
export function pathSegmentErrors(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  return ['/', '%'].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

/** validateIngressTypedLocalObjectReference: a TypedLocalObjectReference (Ingress resource backends, class parameters). */
export function validateTypedReference(ref: any, at: string): Cause[] {
  const causes: Cause[] = [];
  if (ref?.apiGroup != null) causes.push(...each(`${at}.apiGroup`, ref.apiGroup, isDNS1123Subdomain(String(ref.apiGroup))));
  for (const key of ['kind', 'name'] as const) {
    const value = ref?.[key];
    if (!value) causes.push(required(`${at}.${key}`, `${key} is required`));
    else causes.push(...each(`${at}.${key}`, value, pathSegmentErrors(String(value))));
  }
  return causes;
}

function validateParameters(params: any): Cause[] {
  if (!params) return [];
  const at = 'spec.parameters';
  const causes = validateTypedReference(params, at);
  const scope = params.scope ?? '';
  if (!SCOPES.includes(scope)) causes.push(notSupported(`${at}.scope`, scope, SCOPES));
  else if (scope === 'Namespace') {
    if (params.namespace == null) causes.push(required(`${at}.namespace`, "`parameters.scope` is set to 'Namespace'"));
    else causes.push(...each(`${at}.namespace`, params.namespace, isDNS1123Label(String(params.namespace))));
  } else if (params.namespace != null) {
    causes.push(forbidden(`${at}.namespace`, "`parameters.scope` is set to 'Cluster'"));
  }
  return causes;
}

function validateIngressClass(ic: any, old?: any): Cause[] {
  const spec = ic.spec ?? {};
  const causes: Cause[] = [];
  if (old) causes.push(...validateImmutable(spec.controller ?? '', old.spec?.controller ?? '', 'spec.controller'));
  causes.push(...validateMetadata(ic));
  const controller = String(spec.controller ?? '');
  if (controller.length > MAX_CONTROLLER_LENGTH) causes.push(tooLong('spec.controller', MAX_CONTROLLER_LENGTH));
  causes.push(...validateDomainPrefixedPath('spec.controller', controller));
  causes.push(...validateParameters(spec.parameters));
  return causes;
}

/** printIngressClass's PARAMETERS: Kind[.apiGroup]/name. */
function parametersCell(params: any): string {
  if (!params) return '<none>';
  return `${params.kind ?? ''}${params.apiGroup != null ? `.${params.apiGroup}` : ''}/${params.name ?? ''}`;
}

/** The IngressClass skiff serves, marked as the default class, as Store.init creates it when absent. */
export function skiffIngressClass(now: string): KObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: {
      name: SKIFF_INGRESS_CLASS,
      uid: crypto.randomUUID(),
      creationTimestamp: now,
      generation: 1,
      annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' },
    },
    spec: { controller: SKIFF_INGRESS_CONTROLLER },
  };
}

export const ingressClass: KindDef = {
  kind: 'IngressClass',
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'ingressclasses',
  singular: 'ingressclass',
  namespaced: false,
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultIngressClass,
  validate: validateIngressClass,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Controller', type: 'string', description: 'Controller that is responsible for handling this class', priority: 0 },
    { name: 'Parameters', type: 'string', description: 'A reference to a resource with additional parameters', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (ic, now) => [
    ic?.metadata?.name ?? '',
    ic?.spec?.controller ?? '',
    parametersCell(ic?.spec?.parameters),
    age(ic?.metadata?.creationTimestamp, now),
  ],
};

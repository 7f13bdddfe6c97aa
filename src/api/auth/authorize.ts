// Authorization of resource requests: what kube-apiserver's RequestInfo, authorizers and admission
// decide, over skiff's parsed path. The admin (system:masters) may do anything; node identities are
// held to the Node authorizer's rules (node-authorizer.ts); no other identities exist yet.
import type { KObject } from '../../kinds/types.js';
import type { Store } from '../../store/store.js';
import type { ResourcePath } from '../paths.js';
import { queryBool } from '../query.js';
import { parseFieldSelector, type FieldRequirement } from '../selectors.js';
import { ApiError, qualified } from '../status.js';
import { isMaster, nodeNameOf, type Identity } from './identity.js';
import { authorizeNode } from './node-authorizer.js';
import { checkBindingEscalation, checkRoleEscalation, RBAC_KINDS, type RbacAuthorizer } from './rbac.js';

/** A request as an authorizer sees it (Kubernetes' authorizer.Attributes). */
export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  /** From the path, or for a list or watch from a metadata.name field selector (as RequestInfo does). */
  name?: string;
  fields: FieldRequirement[];
}

export function requestAttributes(method: string, rp: ResourcePath, q: URLSearchParams): RequestAttributes {
  const watch = rp.watch || queryBool(q, 'watch');
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: rp.name ? 'delete' : 'deletecollection' };
  const verb = method === 'GET' || method === 'HEAD' ? (watch ? 'watch' : rp.name ? 'get' : 'list') : (verbs[method] ?? method.toLowerCase());
  const fields = verb === 'list' || verb === 'watch' ? parseFieldSelector(q.get('fieldSelector') ?? undefined, rp.def) : [];
  const byName = fields.find((f) => f.field === 'metadata.name' && f.op === '=')?.value;
  return {
    verb,
    group: rp.group,
    resource: rp.def.plural,
    subresource: rp.subresource,
    namespace: rp.namespace,
    name: rp.name ?? byName,
    fields,
  };
}

/** An authorizer's refusal, in kube-apiserver's words: `pods "p" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "ns": reason`. */
export function forbidden(identity: Identity, a: RequestAttributes, reason?: string): ApiError {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${identity.user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}${reason ? `: ${reason}` : ''}`;
  return refusal(a, a.name, why);
}

/** An admission plugin's refusal (NodeRestriction): `nodes "n2" is forbidden: message`. */
export function admissionForbidden(a: RequestAttributes, name: string | undefined, message: string): ApiError {
  return refusal(a, name, message);
}

function refusal(a: RequestAttributes, name: string | undefined, message: string): ApiError {
  const what = qualified(a.resource, a.group);
  return new ApiError(403, 'Forbidden', name ? `${what} "${name}" is forbidden: ${message}` : `${what} is forbidden: ${message}`, {
    ...(name ? { name } : {}),
    group: a.group,
    kind: a.resource,
  });
}

/**
 * Checks a request's handler applies to the objects it touches, for rules that depend on them (a
 * pod bound to this node?). Each throws a 403 ApiError to refuse. They see the object the handler
 * read for its conditional write, so the decision holds for the write itself.
 */
export interface Access {
  /** The stored object read, changed or deleted. */
  stored(obj: KObject): void;
  /** An object about to be created (the request body, or what an apply patch creates). */
  creating(obj: KObject): void | Promise<void>;
  /** An update, as it will be written, of `old` (already checked by stored). */
  updating(old: KObject, obj: KObject): void | Promise<void>;
}

export const FULL_ACCESS: Access = { stored() {}, creating() {}, updating() {} };

/** Whether `identity` may make this resource request: the checks its handler must apply, or a 403 thrown. */
export async function authorize(identity: Identity, method: string, rp: ResourcePath, q: URLSearchParams, store: Store, rbac?: RbacAuthorizer): Promise<Access> {
  if (isMaster(identity)) return FULL_ACCESS;
  const a = requestAttributes(method, rp, q);
  const node = nodeNameOf(identity);
  // As kube-apiserver's --authorization-mode=Node,RBAC: nodes are the Node authorizer's, everyone else RBAC's.
  if (node) return authorizeNode(node, identity, a, store);
  if (!rbac) throw forbidden(identity, a);
  const decision = await rbac.authorize(identity, { verb: a.verb, namespace: a.namespace, apiGroup: a.group, resource: a.resource, subresource: a.subresource, name: a.name, resourceRequest: true });
  if (!decision.allowed) throw forbidden(identity, a, decision.reason || undefined);
  if (!RBAC_KINDS.has(rp.def.kind)) return FULL_ACCESS;
  // RBAC's own admission: no granting what one does not hold (but with escalate or bind).
  const check = rp.def.kind.endsWith('Binding') ? checkBindingEscalation : checkRoleEscalation;
  return { stored() {}, creating: (obj) => check(rbac, identity, obj), updating: (old, obj) => check(rbac, identity, obj, old) };
}

/** Whether `identity` may make a request outside the resources (discovery, /version, /metrics, ...). */
export async function authorizeNonResource(identity: Identity, method: string, path: string, rbac?: RbacAuthorizer): Promise<void> {
  if (isMaster(identity)) return;
  const verb = method === 'HEAD' ? 'get' : method.toLowerCase();
  // Nodes read discovery and OpenAPI, as kube-apiserver's system:node role lets them (not /metrics: system:monitoring's).
  if (nodeNameOf(identity) && verb === 'get' && path !== '/metrics') return;
  if (rbac && (await rbac.authorize(identity, { verb, path, apiGroup: '', resource: '', resourceRequest: false })).allowed) return;
  throw new ApiError(403, 'Forbidden', `forbidden: User "${identity.user}" cannot ${verb} path "${path}"`);
}

/** What an access review asks: a resource request's attributes, or a path and verb. */
export type Question = { resource: RequestAttributes } | { path: string; verb: string };

/**
 * The authorizers' answer to a question about `identity`, as a request would get it (the Node
 * authorizer, RBAC, system:masters), for SubjectAccessReviews and impersonation.
 */
export async function decide(identity: Identity, q: Question, store: Store, rbac?: RbacAuthorizer): Promise<{ allowed: boolean; reason: string }> {
  if (isMaster(identity)) return { allowed: true, reason: '' };
  const node = nodeNameOf(identity);
  if ('path' in q) {
    if (node && q.verb === 'get' && q.path !== '/metrics') return { allowed: true, reason: '' };
    return rbac ? rbac.authorize(identity, { verb: q.verb, path: q.path, apiGroup: '', resource: '', resourceRequest: false }) : { allowed: false, reason: '' };
  }
  const a = q.resource;
  if (node) {
    try {
      await authorizeNode(node, identity, a, store);
      return { allowed: true, reason: '' };
    } catch (e) {
      if (e instanceof ApiError && e.code === 403) return { allowed: false, reason: e.message };
      throw e;
    }
  }
  if (!rbac) return { allowed: false, reason: '' };
  return rbac.authorize(identity, { verb: a.verb, namespace: a.namespace, apiGroup: a.group, resource: a.resource, subresource: a.subresource, name: a.name, resourceRequest: true });
}


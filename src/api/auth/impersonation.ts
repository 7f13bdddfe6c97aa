// Impersonation (kubectl --as, --as-group, --as-uid): the Impersonate-* headers turn an
// authenticated identity into another, each part checked first with the verb `impersonate`, as
// kube-apiserver's WithImpersonation filter does (staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go).
import { ApiError, qualified } from '../status.js';
import type { Identity } from './identity.js';
import { AUTHENTICATED, serviceAccountGroups, serviceAccountUser, splitServiceAccountUser } from './service-accounts.js';

export const IMPERSONATE_USER = 'impersonate-user';
export const IMPERSONATE_GROUP = 'impersonate-group';
export const IMPERSONATE_UID = 'impersonate-uid';
export const IMPERSONATE_EXTRA_PREFIX = 'impersonate-extra-';

const AUTHENTICATION_GROUP = 'authentication.k8s.io';
const ANONYMOUS = 'system:anonymous';
const UNAUTHENTICATED = 'system:unauthenticated';

/** What one impersonation asks the authorizer (authorizer.Attributes with the verb `impersonate`). */
export interface ImpersonationAttributes {
  verb: 'impersonate';
  apiGroup: string;
  /** users, groups, serviceaccounts, uids, or userextras/KEY (the resource and the extra's key as subresource, as RBAC matches them). */
  resource: string;
  name: string;
  /** For serviceaccounts. */
  namespace?: string;
}

export type ImpersonationDecision = boolean | { allowed: boolean; reason?: string };

/** Whether `identity` may impersonate what `attrs` names (RBAC, provided by the wiring). */
export type ImpersonationAuthorizer = (identity: Identity, attrs: ImpersonationAttributes) => ImpersonationDecision | Promise<ImpersonationDecision>;

/** One thing asked for: a user, service account, group, uid or extra value. */
export interface ImpersonationRequest {
  attrs: ImpersonationAttributes;
  kind: 'User' | 'ServiceAccount' | 'Group' | 'UID' | 'UserExtra';
  /** For UserExtra: the key (lower case, unescaped). */
  key?: string;
}

/**
 * Header values as Go's http.Header holds them: fetch's Headers joins repeated headers with ", ",
 * so they are split again there (a value containing ", " itself cannot be told apart).
 */
function values(headers: Headers, name: string): string[] {
  const joined = headers.get(name);
  if (joined === null) return [];
  return joined.split(', ').filter((v) => v !== '');
}

function unescapeKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key; // as url.PathUnescape's failure keeps the key as it came
  }
}

/** The impersonations the headers ask for, in kube-apiserver's order (user, groups, extras, uid); [] for none. */
export function impersonationRequests(headers: Headers): ImpersonationRequest[] {
  const out: ImpersonationRequest[] = [];
  const user = headers.get(IMPERSONATE_USER) ?? '';
  if (user) {
    const sa = splitServiceAccountUser(user);
    out.push(
      sa
        ? { kind: 'ServiceAccount', attrs: { verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', name: sa.name, namespace: sa.namespace } }
        : { kind: 'User', attrs: { verb: 'impersonate', apiGroup: '', resource: 'users', name: user } },
    );
  }
  for (const group of values(headers, IMPERSONATE_GROUP)) {
    out.push({ kind: 'Group', attrs: { verb: 'impersonate', apiGroup: '', resource: 'groups', name: group } });
  }
  const extras: ImpersonationRequest[] = [];
  headers.forEach((value, name) => {
    if (!name.toLowerCase().startsWith(IMPERSONATE_EXTRA_PREFIX)) return;
    const key = unescapeKey(name.slice(IMPERSONATE_EXTRA_PREFIX.length).toLowerCase());
    for (const v of value.split(', ').filter((x) => x !== '')) {
      extras.push({ kind: 'UserExtra', key, attrs: { verb: 'impersonate', apiGroup: AUTHENTICATION_GROUP, resource: `userextras/${key}`, name: v } });
    }
  });
  out.push(...extras);
  const uid = headers.get(IMPERSONATE_UID) ?? '';
  if (uid) out.push({ kind: 'UID', attrs: { verb: 'impersonate', apiGroup: AUTHENTICATION_GROUP, resource: 'uids', name: uid } });
  if (out.length > 0 && !user) {
    const asked = out.map((r) => `${r.kind} ${r.key ? `${r.key}=` : ''}${r.attrs.name}`).join(', ');
    throw new ApiError(500, 'InternalError', `Internal error occurred: requested [${asked}] without impersonating a user`);
  }
  return out;
}

/** kube-apiserver's 403 for a refused impersonation: `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`. */
export function impersonationForbidden(identity: Identity, a: ImpersonationAttributes, reason?: string): ApiError {
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${identity.user}" cannot impersonate resource "${a.resource}" in API group "${a.apiGroup}" ${scope}${reason ? `: ${reason}` : ''}`;
  const resource = a.resource.split('/')[0]!;
  return new ApiError(403, 'Forbidden', `${qualified(resource, a.apiGroup)} "${a.name}" is forbidden: ${why}`, { name: a.name, group: a.apiGroup, kind: resource });
}

/**
 * The identity a request acts as: `identity` itself without Impersonate-* headers; else the one they
 * name, once `authorize` has allowed each part (a 403 ApiError on the first refused).
 */
export async function impersonate(identity: Identity, headers: Headers, authorize: ImpersonationAuthorizer): Promise<Identity> {
  const requests = impersonationRequests(headers);
  if (requests.length === 0) return identity;
  // Groups given are the authority; a ServiceAccount's own come only when none are.
  const groupsSpecified = requests.some((r) => r.kind === 'Group');
  let user = '';
  let uid: string | undefined;
  let groups: string[] = [];
  const extra: Record<string, string[]> = {};
  for (const r of requests) {
    const decision = await authorize(identity, r.attrs);
    const allowed = typeof decision === 'boolean' ? decision : decision.allowed;
    if (!allowed) throw impersonationForbidden(identity, r.attrs, typeof decision === 'boolean' ? undefined : decision.reason);
    switch (r.kind) {
      case 'ServiceAccount':
        user = serviceAccountUser(r.attrs.namespace!, r.attrs.name);
        if (!groupsSpecified) groups = serviceAccountGroups(r.attrs.namespace!);
        break;
      case 'User':
        user = r.attrs.name;
        break;
      case 'Group':
        groups.push(r.attrs.name);
        break;
      case 'UserExtra':
        (extra[r.key!] ??= []).push(r.attrs.name);
        break;
      case 'UID':
        uid = r.attrs.name;
        break;
    }
  }
  // system:authenticated joins unless the groups say authenticated or not already; the anonymous user gets system:unauthenticated.
  if (user !== ANONYMOUS) {
    if (!groups.includes(AUTHENTICATED) && !groups.includes(UNAUTHENTICATED)) groups.push(AUTHENTICATED);
  } else if (!groups.includes(UNAUTHENTICATED)) {
    groups.push(UNAUTHENTICATED);
  }
  return { user, groups, ...(uid ? { uid } : {}), ...(Object.keys(extra).length ? { extra } : {}) };
}

// Impersonate-* headers: what each asks the authorizer, the identity they build, and kube-apiserver's
// refusals.
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../src/api/auth/identity.js';
import { impersonate, impersonationRequests, type ImpersonationAttributes } from '../../src/api/auth/impersonation.js';
import { ApiError } from '../../src/api/status.js';

const alice: Identity = { user: 'alice', groups: ['dev', 'system:authenticated'] };

function headers(entries: [string, string][]): Headers {
  const h = new Headers();
  for (const [k, v] of entries) h.append(k, v);
  return h;
}

/** Allows everything, recording what was asked. */
function recorder() {
  const asked: ImpersonationAttributes[] = [];
  return { asked, authorize: (_: Identity, a: ImpersonationAttributes) => (asked.push(a), true) };
}

describe('impersonation', () => {
  it('leaves the identity alone without Impersonate-* headers', async () => {
    const { asked, authorize } = recorder();
    expect(await impersonate(alice, headers([['authorization', 'Bearer x']]), authorize)).toBe(alice);
    expect(asked).toEqual([]);
  });

  it('asks for the user, each group, each extra value and the uid, and builds the identity', async () => {
    const { asked, authorize } = recorder();
    const h = headers([
      ['Impersonate-User', 'bob'],
      ['Impersonate-Group', 'admins'],
      ['Impersonate-Group', 'auditors'],
      ['Impersonate-Extra-Scopes', 'view'],
      ['Impersonate-Extra-Scopes', 'development'],
      ['Impersonate-Extra-acme.com%2Fproject', 'skiff'],
      ['Impersonate-Uid', '06f6ce97'],
    ]);
    expect(await impersonate(alice, h, authorize)).toEqual({
      user: 'bob',
      uid: '06f6ce97',
      groups: ['admins', 'auditors', 'system:authenticated'],
      extra: { scopes: ['view', 'development'], 'acme.com/project': ['skiff'] },
    });
    expect(asked).toEqual([
      { verb: 'impersonate', apiGroup: '', resource: 'users', name: 'bob' },
      { verb: 'impersonate', apiGroup: '', resource: 'groups', name: 'admins' },
      { verb: 'impersonate', apiGroup: '', resource: 'groups', name: 'auditors' },
      { verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'userextras/acme.com/project', name: 'skiff' },
      { verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'userextras/scopes', name: 'view' },
      { verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'userextras/scopes', name: 'development' },
      { verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'uids', name: '06f6ce97' },
    ]);
  });

  it('gives an impersonated ServiceAccount its groups, unless groups are given', async () => {
    const { asked, authorize } = recorder();
    const sa = await impersonate(alice, headers([['Impersonate-User', 'system:serviceaccount:team-a:builder']]), authorize);
    expect(sa).toEqual({ user: 'system:serviceaccount:team-a:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'] });
    expect(asked).toEqual([{ verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', name: 'builder', namespace: 'team-a' }]);
    const grouped = await impersonate(alice, headers([['Impersonate-User', 'system:serviceaccount:team-a:builder'], ['Impersonate-Group', 'x']]), authorize);
    expect(grouped.groups).toEqual(['x', 'system:authenticated']);
    // Not a valid ServiceAccount name: an ordinary user.
    expect(impersonationRequests(headers([['Impersonate-User', 'system:serviceaccount:Bad_NS:x']]))[0]!.attrs.resource).toBe('users');
  });

  it('adds system:authenticated only where the groups say nothing of it, and system:unauthenticated for the anonymous user', async () => {
    const { authorize } = recorder();
    expect((await impersonate(alice, headers([['Impersonate-User', 'bob'], ['Impersonate-Group', 'system:unauthenticated']]), authorize)).groups).toEqual(['system:unauthenticated']);
    expect((await impersonate(alice, headers([['Impersonate-User', 'bob'], ['Impersonate-Group', 'system:authenticated']]), authorize)).groups).toEqual(['system:authenticated']);
    expect((await impersonate(alice, headers([['Impersonate-User', 'system:anonymous']]), authorize)).groups).toEqual(['system:unauthenticated']);
  });

  it('refuses with kube-apiserver\'s 403 on the first part not allowed, with the reason given', async () => {
    const refuse = (what: string, reason?: string) => (_: Identity, a: ImpersonationAttributes) => (a.resource === what ? { allowed: false, reason } : true);
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ApiError);

    const user = await err(impersonate(alice, headers([['Impersonate-User', 'bob']]), refuse('users')));
    expect(user).toBeInstanceOf(ApiError);
    expect(user!.code).toBe(403);
    expect(user!.message).toBe('users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope');
    expect(user!.details).toEqual({ name: 'bob', group: '', kind: 'users' });

    const sa = await err(impersonate(alice, headers([['Impersonate-User', 'system:serviceaccount:ns1:robot']]), refuse('serviceaccounts', 'no RBAC policy matched')));
    expect(sa!.message).toBe('serviceaccounts "robot" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ns1": no RBAC policy matched');

    const group = await err(impersonate(alice, headers([['Impersonate-User', 'bob'], ['Impersonate-Group', 'system:masters']]), refuse('groups')));
    expect(group!.message).toBe('groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope');

    const extra = await err(impersonate(alice, headers([['Impersonate-User', 'bob'], ['Impersonate-Extra-Scopes', 'admin']]), refuse('userextras/scopes')));
    expect(extra!.message).toBe('userextras.authentication.k8s.io "admin" is forbidden: User "alice" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope');

    const uid = await err(impersonate(alice, headers([['Impersonate-User', 'bob'], ['Impersonate-Uid', 'u-1']]), () => false));
    expect(uid!.message).toMatch(/^users "bob" is forbidden/); // the user is asked first
  });

  it('refuses groups, extras or a uid without a user', () => {
    for (const h of [[['Impersonate-Group', 'g']], [['Impersonate-Extra-Scopes', 'v']], [['Impersonate-Uid', 'u']]] as [string, string][][]) {
      let e: unknown;
      try {
        impersonationRequests(headers(h));
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).message).toMatch(/without impersonating a user$/);
    }
  });
});

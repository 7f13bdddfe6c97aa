// The RBAC evaluator case by case, against the tables of Kubernetes' own tests (rbac_test.go's
// TestAuthorizer and TestRuleMatches, rule_test.go's TestAppliesTo, policy_comparator_test.go's
// Covers cases), its messages, the RbacAuthorizer over a store (one round trip, the cache, writes
// dropping it), the escalation checks of role and binding writes, the default policy and its
// reconciliation at start, and the ClusterRole aggregation controller.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appliesTo, authorizeWith, checkBindingEscalation, checkRoleEscalation, covers, escalationError, goQuote, policyOf,
  RbacAuthorizer, ruleAllows, rulesFor, type Attrs, type PolicyRule, type RequestAttrs, type Subject, type UserInfo,
} from '../../src/api/auth/rbac.js';
import { ApiError } from '../../src/api/status.js';
import { clusterRoleAggregation } from '../../src/control/clusterrole-aggregation.js';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { clusterRole } from '../../src/kinds/clusterrole.js';
import { bootstrapPolicy, reconcileClusterRole, reconcileClusterRoleBinding } from '../../src/kinds/rbac-bootstrap.js';
import { role } from '../../src/kinds/role.js';
import { roleBinding } from '../../src/kinds/rolebinding.js';
import { clusterRoleBinding } from '../../src/kinds/clusterrolebinding.js';
import type { KObject } from '../../src/kinds/types.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const RBAC = 'rbac.authorization.k8s.io';

// ---- builders, in the shape of the Go tests' newRule / newRoleBinding ----

const split = (s: string) => s.split(',');
/** newRule: comma-separated lists; '' is a list of one empty string, as strings.Split makes it. */
const newRule = (verbs: string, groups: string, resources: string, urls: string): PolicyRule =>
  ({ verbs: split(verbs), apiGroups: split(groups), resources: split(resources), nonResourceURLs: split(urls) });
const resourceRule = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule =>
  ({ verbs, apiGroups, resources, ...(resourceNames ? { resourceNames } : {}) });

/** "User:alice", "Group:admins", "ServiceAccount:ns/name" or "ServiceAccount:name". */
function subject(s: string): Subject {
  const [kind, rest] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1)];
  if (kind === 'ServiceAccount') {
    const [ns, name] = rest.includes('/') ? rest.split('/') : ['', rest];
    return { kind, apiGroup: '', name, ...(ns ? { namespace: ns } : {}) };
  }
  return { kind, apiGroup: RBAC, name: rest };
}

const clusterRoleObj = (name: string, ...rules: PolicyRule[]): KObject => ({ kind: 'ClusterRole', metadata: { name }, rules });
const roleObj = (namespace: string, name: string, ...rules: PolicyRule[]): KObject => ({ kind: 'Role', metadata: { namespace, name }, rules });
const crb = (name: string, roleName: string, ...subjects: string[]): KObject =>
  ({ kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: roleName }, subjects: subjects.map(subject) });
const rb = (namespace: string, name: string, kind: 'Role' | 'ClusterRole', roleName: string, ...subjects: string[]): KObject =>
  ({ kind: 'RoleBinding', metadata: { namespace, name }, roleRef: { apiGroup: RBAC, kind, name: roleName }, subjects: subjects.map(subject) });

const user = (name: string, ...groups: string[]): UserInfo => ({ user: name, groups });
const res = (verb: string, apiGroup: string, resource: string, more: Partial<Attrs> = {}): Attrs =>
  ({ verb, apiGroup, resource, resourceRequest: true, ...more });
const url = (verb: string, path: string): Attrs => ({ verb, apiGroup: '', resource: '', path, resourceRequest: false });
const ask = (u: UserInfo, a: Attrs): RequestAttrs => ({ ...a, user: u });

describe('ruleAllows (TestRuleMatches)', () => {
  const table: [string, PolicyRule, [Attrs, boolean][]][] = [
    ['star verb, exact match other', resourceRule(['*'], ['group1'], ['resource1']), [
      [res('verb1', 'group1', 'resource1'), true], [res('verb1', 'group2', 'resource1'), false],
      [res('verb1', 'group1', 'resource2'), false], [res('verb2', 'group1', 'resource1'), true],
    ]],
    ['star group, exact match other', resourceRule(['verb1'], ['*'], ['resource1']), [
      [res('verb1', 'group1', 'resource1'), true], [res('verb1', 'group2', 'resource1'), true],
      [res('verb1', 'group1', 'resource2'), false], [res('verb2', 'group1', 'resource1'), false],
    ]],
    ['star resource, exact match other', resourceRule(['verb1'], ['group1'], ['*']), [
      [res('verb1', 'group1', 'resource1'), true], [res('verb1', 'group1', 'resource2'), true],
      [res('verb1', 'group2', 'resource1'), false], [res('verb2', 'group1', 'resource1'), false],
    ]],
    ['tuple expansion', resourceRule(['verb1', 'verb2'], ['group1', 'group2'], ['resource1', 'resource2']), [
      [res('verb1', 'group1', 'resource1'), true], [res('verb1', 'group2', 'resource2'), true],
      [res('verb2', 'group2', 'resource1'), true], [res('verb2', 'group1', 'resource2'), true],
    ]],
    ['subresource expansion', resourceRule(['*'], ['*'], ['resource1/subresource1']), [
      [res('verb1', 'group1', 'resource1', { subresource: 'subresource1' }), true],
      [res('verb1', 'group2', 'resource1', { subresource: 'subresource2' }), false],
      [res('verb1', 'group1', 'resource2', { subresource: 'subresource1' }), false],
      [res('verb1', 'group1', 'resource1'), false],
    ]],
    ['star nonresource, exact match other', { verbs: ['verb1'], nonResourceURLs: ['*'] }, [
      [url('verb1', '/foo'), true], [url('verb1', '/foo/bar/one'), true], [url('verb2', '/foo'), false],
    ]],
    ['star nonresource subpath', { verbs: ['verb1'], nonResourceURLs: ['/foo/*'] }, [
      [url('verb1', '/foo'), false], [url('verb1', '/foo/bar'), true], [url('verb1', '/foo/baz/one'), true],
      [url('verb1', '/notfoo'), false], [url('verb1', '/notfoo/bar'), false],
    ]],
    ['star verb, exact nonresource', { verbs: ['*'], nonResourceURLs: ['/foo', '/foo/bar/one'] }, [
      [url('verb1', '/foo'), true], [url('verb1', '/foo/bar'), false], [url('verb2', '/foo/bar/one'), true], [url('verb2', '/foo/baz/one'), false],
    ]],
  ];
  for (const [name, rule, cases] of table) {
    it(name, () => {
      for (const [attrs, expected] of cases) expect(ruleAllows(rule, attrs), JSON.stringify(attrs)).toBe(expected);
    });
  }

  it('reads "*" as every resource and subresource, "*/sub" as that subresource of any resource', () => {
    expect(ruleAllows(resourceRule(['get'], [''], ['*']), res('get', '', 'pods', { subresource: 'log' }))).toBe(true);
    const scale = resourceRule(['get'], ['apps'], ['*/scale']);
    expect(ruleAllows(scale, res('get', 'apps', 'deployments', { subresource: 'scale' }))).toBe(true);
    expect(ruleAllows(scale, res('get', 'apps', 'replicasets', { subresource: 'scale' }))).toBe(true);
    expect(ruleAllows(scale, res('get', 'apps', 'deployments'))).toBe(false);
    expect(ruleAllows(scale, res('get', 'apps', 'deployments', { subresource: 'status' }))).toBe(false);
    // The resource alone grants none of its subresources.
    expect(ruleAllows(resourceRule(['get'], [''], ['pods']), res('get', '', 'pods', { subresource: 'log' }))).toBe(false);
  });

  it('restricts to resourceNames only requests that name an object: create, list and watch without one never match', () => {
    const named = resourceRule(['get', 'list', 'watch', 'create', 'update'], [''], ['configmaps'], ['settings']);
    expect(ruleAllows(named, res('get', '', 'configmaps', { name: 'settings' }))).toBe(true);
    expect(ruleAllows(named, res('update', '', 'configmaps', { name: 'settings' }))).toBe(true);
    expect(ruleAllows(named, res('get', '', 'configmaps', { name: 'other' }))).toBe(false);
    expect(ruleAllows(named, res('create', '', 'configmaps'))).toBe(false);
    expect(ruleAllows(named, res('list', '', 'configmaps'))).toBe(false);
    expect(ruleAllows(named, res('watch', '', 'configmaps'))).toBe(false);
    // A list or watch selecting metadata.name=settings carries the name, as RequestInfo makes it.
    expect(ruleAllows(named, res('list', '', 'configmaps', { name: 'settings' }))).toBe(true);
  });

  it('matches non-resource URLs with a trailing "*" as a plain prefix, not a path segment', () => {
    expect(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/api*'] }, url('get', '/apis/apps'))).toBe(true);
    expect(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/healthz/**'] }, url('get', '/healthz/etcd'))).toBe(true);
    expect(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/healthz'] }, url('get', '/healthz/etcd'))).toBe(false);
    // A resource rule grants no URL, a URL rule no resource.
    expect(ruleAllows(resourceRule(['*'], ['*'], ['*']), url('get', '/healthz'))).toBe(false);
    expect(ruleAllows({ verbs: ['*'], nonResourceURLs: ['*'] }, res('get', '', 'pods'))).toBe(false);
  });

  it('compares verbs, groups and resources exactly (case matters)', () => {
    expect(ruleAllows(resourceRule(['get'], [''], ['pods']), res('GET', '', 'pods'))).toBe(false);
    expect(ruleAllows(resourceRule(['get'], [''], ['pods']), res('get', '', 'Pods'))).toBe(false);
  });
});

describe('appliesTo (TestAppliesTo)', () => {
  const anyApplies = (subjects: string[], u: UserInfo, ns = '') => subjects.map(subject).some((s) => appliesTo(s, u, ns));
  it('matches users by name and groups by membership', () => {
    expect(anyApplies(['User:foobar'], user('foobar'))).toBe(true);
    expect(anyApplies(['User:barfoo', 'User:foobar'], user('foobar'))).toBe(true);
    expect(anyApplies(['User:barfoo', 'User:foobar'], user('zimzam'))).toBe(false);
    expect(anyApplies(['User:barfoo', 'Group:foobar'], user('zimzam', 'foobar'))).toBe(true);
    expect(anyApplies(['User:barfoo', 'Group:foobar'], user('zimzam', 'foobar'), 'namespace1')).toBe(true);
    // No wildcard subjects.
    expect(anyApplies(['User:*'], user('foobar'), 'default')).toBe(false);
    expect(anyApplies(['Group:system:authenticated', 'Group:system:unauthenticated'], user('foobar', 'system:authenticated'))).toBe(true);
    expect(anyApplies(['Group:system:authenticated', 'Group:system:unauthenticated'], user('system:anonymous', 'system:unauthenticated'))).toBe(true);
  });

  it('matches a ServiceAccount by its username, in its namespace or else the binding\'s', () => {
    const sa = user('system:serviceaccount:kube-system:default', 'system:serviceaccounts');
    expect(anyApplies(['User:barfoo', 'Group:foobar', 'ServiceAccount:kube-system/default'], sa, 'default')).toBe(true);
    expect(anyApplies(['ServiceAccount:default'], sa, 'kube-system')).toBe(true);
    expect(anyApplies(['ServiceAccount:default'], sa, 'default')).toBe(false);
    // In a ClusterRoleBinding there is no namespace to default to.
    expect(anyApplies(['ServiceAccount:default'], sa, '')).toBe(false);
    expect(anyApplies(['ServiceAccount:kube-system/other'], sa, 'kube-system')).toBe(false);
    // A user merely named like a ServiceAccount of another namespace is not it.
    expect(anyApplies(['ServiceAccount:kube/system:default'], sa, '')).toBe(false);
  });
});

describe('authorizeWith (TestAuthorizer)', () => {
  it('grants a ClusterRole bound in one namespace there only', () => {
    const policy = policyOf([clusterRoleObj('admin', newRule('*', '*', '*', '*')), rb('ns1', 'admin', 'ClusterRole', 'admin', 'User:admin', 'Group:admins')]);
    const pass: [UserInfo, Attrs][] = [
      [user('admin'), res('get', '', 'Pods', { namespace: 'ns1' })],
      [user('admin'), res('watch', '', 'Pods', { namespace: 'ns1' })],
      [user('admin', 'group1'), res('watch', '', 'Foobar', { namespace: 'ns1' })],
      [user('joe', 'admins'), res('watch', '', 'Foobar', { namespace: 'ns1' })],
      [user('joe', 'group1', 'admins'), res('watch', '', 'Foobar', { namespace: 'ns1' })],
    ];
    const fail: [UserInfo, Attrs][] = [
      [user('admin'), res('GET', '', 'Pods', { namespace: 'ns2' })],
      [user('admin'), res('GET', '', 'Nodes')],
      [user('admin', 'admins'), res('GET', '', 'Pods', { namespace: 'ns2' })],
      [user('admin', 'admins'), res('GET', '', 'Nodes')],
    ];
    for (const [u, a] of pass) expect(authorizeWith(policy, ask(u, a)).allowed, JSON.stringify([u, a])).toBe(true);
    for (const [u, a] of fail) expect(authorizeWith(policy, ask(u, a)).allowed, JSON.stringify([u, a])).toBe(false);
  });

  it('grants non-resource URLs by ClusterRoleBinding', () => {
    const policy = policyOf([
      clusterRoleObj('non-resource-url-getter', newRule('get', '', '', '/apis')),
      clusterRoleObj('non-resource-url', newRule('*', '', '', '/apis')),
      clusterRoleObj('non-resource-url-prefix', newRule('get', '', '', '/apis/*')),
      crb('a', 'non-resource-url-getter', 'User:foo', 'Group:bar'),
      crb('b', 'non-resource-url', 'User:admin', 'Group:admin'),
      crb('c', 'non-resource-url-prefix', 'User:prefixed', 'Group:prefixed'),
    ]);
    const allowed = (u: UserInfo, verb: string, path: string) => authorizeWith(policy, ask(u, url(verb, path))).allowed;
    expect(allowed(user('foo'), 'get', '/apis')).toBe(true);
    expect(allowed(user('', 'bar'), 'get', '/apis')).toBe(true);
    expect(allowed(user('admin'), 'watch', '/apis')).toBe(true);
    expect(allowed(user('', 'admin'), 'watch', '/apis')).toBe(true);
    expect(allowed(user('prefixed'), 'get', '/apis/v1')).toBe(true);
    expect(allowed(user('', 'prefixed'), 'get', '/apis/v1/foobar')).toBe(true);
    expect(allowed(user('foo'), 'watch', '/apis')).toBe(false);
    expect(allowed(user('', 'bar'), 'watch', '/apis')).toBe(false);
    expect(allowed(user('foo'), 'get', '/api/v1')).toBe(false);
    expect(allowed(user('admin'), 'get', '/api/v1')).toBe(false);
    expect(allowed(user('prefixed'), 'get', '/api/v1')).toBe(false);
  });

  it('resolves subresources: pods does not grant pods/status, nor pods/status pods', () => {
    const pods = policyOf([clusterRoleObj('admin', newRule('*', '*', 'pods', '*')), rb('ns1', 'admin', 'ClusterRole', 'admin', 'User:admin')]);
    expect(authorizeWith(pods, ask(user('admin'), res('get', '', 'pods', { namespace: 'ns1' }))).allowed).toBe(true);
    expect(authorizeWith(pods, ask(user('admin'), res('get', '', 'pods', { namespace: 'ns1', subresource: 'status' }))).allowed).toBe(false);
    const status = policyOf([clusterRoleObj('admin', newRule('*', '*', 'pods/status', '*')), rb('ns1', 'admin', 'ClusterRole', 'admin', 'User:admin')]);
    expect(authorizeWith(status, ask(user('admin'), res('get', '', 'pods', { namespace: 'ns1', subresource: 'status' }))).allowed).toBe(true);
    expect(authorizeWith(status, ask(user('admin'), res('get', '', 'pods', { namespace: 'ns1' }))).allowed).toBe(false);
  });

  it('grants a Role only through a RoleBinding in its own namespace', () => {
    const policy = policyOf([
      roleObj('ns1', 'reader', resourceRule(['get'], [''], ['pods'])),
      rb('ns1', 'read', 'Role', 'reader', 'User:alice'),
      // The same role name bound in ns2, where no such Role exists.
      rb('ns2', 'read', 'Role', 'reader', 'User:alice'),
    ]);
    expect(authorizeWith(policy, ask(user('alice'), res('get', '', 'pods', { namespace: 'ns1' }))).allowed).toBe(true);
    const denied = authorizeWith(policy, ask(user('alice'), res('get', '', 'pods', { namespace: 'ns2' })));
    expect(denied).toEqual({ allowed: false, reason: 'RBAC: role.rbac.authorization.k8s.io "reader" not found' });
    // Cluster-wide, RoleBindings do not count.
    expect(authorizeWith(policy, ask(user('alice'), res('get', '', 'pods'))).allowed).toBe(false);
  });

  it('says which binding allowed, in kube-apiserver\'s words', () => {
    const policy = policyOf([
      clusterRoleObj('edit', resourceRule(['get', 'create'], [''], ['pods'])),
      crb('edit-alice', 'edit', 'User:alice'),
      rb('dev', 'edit-robot', 'ClusterRole', 'edit', 'ServiceAccount:robot'),
      rb('dev', 'edit-team', 'ClusterRole', 'edit', 'Group:team'),
    ]);
    expect(authorizeWith(policy, ask(user('alice'), res('create', '', 'pods', { namespace: 'dev' })))).toEqual({
      allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "edit-alice" of ClusterRole "edit" to User "alice"',
    });
    expect(authorizeWith(policy, ask(user('system:serviceaccount:dev:robot'), res('get', '', 'pods', { namespace: 'dev' })))).toEqual({
      allowed: true, reason: 'RBAC: allowed by RoleBinding "edit-robot/dev" of ClusterRole "edit" to ServiceAccount "robot/dev"',
    });
    expect(authorizeWith(policy, ask(user('bob', 'team'), res('get', '', 'pods', { namespace: 'dev' }))).reason)
      .toBe('RBAC: allowed by RoleBinding "edit-team/dev" of ClusterRole "edit" to Group "team"');
  });

  it('denies with no reason, or with the roles it could not find (each once)', () => {
    expect(authorizeWith(policyOf([]), ask(user('alice'), res('get', '', 'pods', { namespace: 'x' })))).toEqual({ allowed: false, reason: '' });
    const missing = policyOf([crb('a', 'x', 'User:alice'), crb('b', 'x', 'Group:g'), crb('c', 'y', 'User:alice')]);
    expect(authorizeWith(missing, ask(user('alice'), res('get', '', 'pods'))).reason).toBe('RBAC: [clusterrole.rbac.authorization.k8s.io "x" not found, clusterrole.rbac.authorization.k8s.io "y" not found]');
    expect(authorizeWith(missing, ask(user('bob', 'g'), res('get', '', 'pods'))).reason).toBe('RBAC: clusterrole.rbac.authorization.k8s.io "x" not found');
    // Rules found still allow: a missing role costs only what it would have granted.
    const partly = policyOf([crb('a', 'x', 'User:alice'), clusterRoleObj('reader', resourceRule(['get'], [''], ['pods'])), crb('b', 'reader', 'User:alice')]);
    expect(authorizeWith(partly, ask(user('alice'), res('get', '', 'pods'))).allowed).toBe(true);
  });
});

describe('rulesFor (TestDefaultRuleResolver)', () => {
  const ruleReadPods = resourceRule(['get', 'watch', 'list'], ['v1'], ['pods']);
  const ruleReadServices = resourceRule(['get', 'watch', 'list'], ['v1'], ['services']);
  const ruleWriteNodes = resourceRule(['update', 'create'], ['v1'], ['nodes']);
  const ruleAdmin = resourceRule(['*'], ['*'], ['*']);
  const policy = policyOf([
    roleObj('namespace1', 'readthings', ruleReadPods, ruleReadServices),
    clusterRoleObj('cluster-admin', ruleAdmin),
    clusterRoleObj('write-nodes', ruleWriteNodes),
    rb('namespace1', 'b', 'Role', 'readthings', 'User:foobar', 'Group:group1'),
    crb('c', 'cluster-admin', 'Group:admin'),
  ]);
  it('gives the rules of the user\'s ClusterRoleBindings, and of its RoleBindings in the namespace asked', () => {
    expect(rulesFor(policy, user('foobar'), 'namespace1').rules).toEqual([ruleReadPods, ruleReadServices]);
    expect(rulesFor(policy, user('foobar'), 'namespace2').rules).toEqual([]);
    expect(rulesFor(policy, user('baz', 'admin'), 'namespace1').rules).toEqual([ruleAdmin]);
    expect(rulesFor(policy, user('baz', 'group1'), 'namespace1').rules).toEqual([ruleReadPods, ruleReadServices]);
    expect(rulesFor(policy, user('foobar', 'admin'), '').rules).toEqual([ruleAdmin]);
    expect(rulesFor(policy, user(''), '').rules).toEqual([]);
  });
});

describe('covers (policy_comparator_test.go)', () => {
  const rule = (groups: string[], verbs: string[], resources: string[], names?: string[]) => resourceRule(verbs, groups, resources, names);
  const table: [string, PolicyRule[], PolicyRule[], PolicyRule[]][] = [
    ['exact match', [rule(['v1'], ['get'], ['builds'])], [rule(['v1'], ['get'], ['builds'])], []],
    ['subresource wildcard', [rule(['v1'], ['get'], ['*/scale'])], [rule(['v1'], ['get'], ['foo/scale'])], []],
    ['multiple rules covering a single rule', [
      rule(['v1'], ['delete'], ['deployments']), rule(['v1'], ['delete'], ['builds']), rule(['v1'], ['update'], ['builds', 'deployments']),
    ], [rule(['v1'], ['delete', 'update'], ['builds', 'deployments'])], []],
    ['multiple API groups covering a single rule', [
      rule(['group1'], ['delete'], ['deployments']), rule(['group1'], ['delete'], ['builds']), rule(['group1'], ['update'], ['builds', 'deployments']),
      rule(['group2'], ['delete'], ['deployments']), rule(['group2'], ['delete'], ['builds']), rule(['group2'], ['update'], ['builds', 'deployments']),
    ], [rule(['group1', 'group2'], ['delete', 'update'], ['builds', 'deployments'])], []],
    ['single rule covering several', [rule(['group1', 'group2'], ['delete', 'update'], ['builds', 'deployments'])], [
      rule(['group1'], ['delete'], ['deployments']), rule(['group2'], ['update'], ['builds', 'deployments']),
    ], []],
    ['missing one verb/resource pair', [rule(['v1'], ['delete', 'update'], ['builds', 'deployments']), rule(['v1'], ['delete'], ['pods'])],
      [rule(['v1'], ['delete', 'update'], ['builds', 'deployments', 'pods'])], [rule(['v1'], ['update'], ['pods'])]],
    ['API group star covering several', [rule(['*'], ['get'], ['roles'])], [rule(['group1', 'group2'], ['get'], ['roles'])], []],
    ['enumeration not covering API group star', [rule(['dummy-group'], ['get'], ['roles'])], [rule(['*'], ['get'], ['roles'])], [rule(['*'], ['get'], ['roles'])]],
    ['API group star covering star', [rule(['*'], ['get'], ['roles'])], [rule(['*'], ['get'], ['roles'])], []],
    ['verb star covering several', [rule(['v1'], ['*'], ['roles'])], [rule(['v1'], ['watch', 'list'], ['roles'])], []],
    ['enumeration not covering verb star', [rule(['v1'], ['get', 'list', 'watch', 'create', 'update', 'delete', 'exec'], ['roles'])],
      [rule(['v1'], ['*'], ['roles'])], [rule(['v1'], ['*'], ['roles'])]],
    ['resource star covering several', [rule(['v1'], ['get'], ['*'])], [rule(['v1'], ['get'], ['resourcegroup:deployments'])], []],
    ['enumeration not covering resource star', [rule(['v1'], ['get'], ['roles', 'resourcegroup:deployments'])], [rule(['v1'], ['get'], ['*'])], [rule(['v1'], ['get'], ['*'])]],
    ['no resource names covering some', [rule(['v1'], ['get'], ['pods'], [])], [rule(['v1'], ['get'], ['pods'], ['foo', 'bar'])], []],
    ['resource names not covering all names', [rule(['v1'], ['get'], ['pods'], ['foo', 'bar'])], [rule(['v1'], ['get'], ['pods'], [])], [rule(['v1'], ['get'], ['pods'])]],
    ['non-resource URLs', [{ nonResourceURLs: ['/apis'], verbs: ['*'] }], [{ nonResourceURLs: ['/apis'], verbs: ['*'] }], []],
    ['non-resource URL star', [{ nonResourceURLs: ['*'], verbs: ['*'] }], [{ nonResourceURLs: ['/apis', '/apis/v1', '/'], verbs: ['*'] }], []],
    ['prefix star does not cover the prefix itself', [{ nonResourceURLs: ['/apis/*'], verbs: ['*'] }],
      [{ nonResourceURLs: ['/apis', '/apis/v1'], verbs: ['get'] }], [{ nonResourceURLs: ['/apis'], verbs: ['get'] }]],
    ['prefix star covers below', [{ nonResourceURLs: ['/apis/*'], verbs: ['*'] }], [{ nonResourceURLs: ['/apis/v1/foo', '/apis/v1'], verbs: ['get'] }], []],
    ['a URL missing beside resources', [rule(['v1'], ['get'], ['builds'])],
      [{ ...rule(['v1'], ['get'], ['builds']), nonResourceURLs: ['/apis'] }], [{ nonResourceURLs: ['/apis'], verbs: ['get'] }]],
  ];
  for (const [name, owned, requested, uncovered] of table) {
    it(name, () => expect(covers(owned, requested)).toEqual(uncovered));
  }
});

describe('escalation messages', () => {
  const alice = user('alice', 'g', 'system:authenticated');
  it('names what is not held, compacted by resource and sorted, as ConfirmNoEscalation does', () => {
    const policy = policyOf([]);
    expect(escalationError(policy, alice, 'ns', [resourceRule(['get'], [''], ['pods'])])).toBe(
      'user "alice" (groups=["g" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
    );
    expect(escalationError(policy, alice, 'ns', [resourceRule(['list', 'get'], ['', 'apps'], ['pods', 'deployments']), { verbs: ['get'], nonResourceURLs: ['/x'] }]))
      .toBe([
        'user "alice" (groups=["g" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:',
        '{APIGroups:[""], Resources:["deployments"], Verbs:["list" "get"]}',
        '{APIGroups:[""], Resources:["pods"], Verbs:["list" "get"]}',
        '{APIGroups:["apps"], Resources:["deployments"], Verbs:["list" "get"]}',
        '{APIGroups:["apps"], Resources:["pods"], Verbs:["list" "get"]}',
        '{NonResourceURLs:["/x"], Verbs:["get"]}',
      ].join('\n'));
    expect(escalationError(policy, alice, 'ns', [resourceRule(['get'], [''], ['pods'], ['a'])])).toMatch(/\n\{APIGroups:\[""\], Resources:\["pods"\], ResourceNames:\["a"\], Verbs:\["get"\]\}$/);
  });

  it('adds the resolution errors met, and is quiet when everything is held', () => {
    const policy = policyOf([crb('b', 'gone', 'User:alice'), clusterRoleObj('pods', resourceRule(['*'], [''], ['pods'])), crb('c', 'pods', 'User:alice')]);
    expect(escalationError(policy, alice, '', [resourceRule(['get'], [''], ['pods'])])).toBeUndefined();
    expect(escalationError(policy, alice, '', [resourceRule(['get'], [''], ['secrets'])])).toMatch(/Verbs:\["get"\]\}; resolution errors: \[clusterrole\.rbac\.authorization\.k8s\.io "gone" not found\]$/);
  });

  it('quotes as Go does', () => {
    expect(goQuote('a"b\\c\n\x01é')).toBe('"a\\"b\\\\c\\n\\x01é"');
  });
});

describe('the kinds', () => {
  it('validate rules as ValidatePolicyRule does', () => {
    expect(role.validate!({ metadata: { name: 'r' }, rules: [{ verbs: [] }, { verbs: ['get'], nonResourceURLs: ['/x'] }, { verbs: ['get'], apiGroups: [''] }] })).toEqual([
      { reason: 'FieldValueRequired', field: 'rules[0].verbs', message: 'Required value: verbs must contain at least one value' },
      { reason: 'FieldValueRequired', field: 'rules[0].apiGroups', message: 'Required value: resource rules must supply at least one api group' },
      { reason: 'FieldValueRequired', field: 'rules[0].resources', message: 'Required value: resource rules must supply at least one resource' },
      { reason: 'FieldValueInvalid', field: 'rules[1].nonResourceURLs', message: 'Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs' },
      { reason: 'FieldValueRequired', field: 'rules[2].resources', message: 'Required value: resource rules must supply at least one resource' },
    ]);
    expect(clusterRole.validate!({ metadata: { name: 'r' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/x'] }, { verbs: ['get'], nonResourceURLs: ['/x'], resources: ['pods'] }] })).toEqual([
      { reason: 'FieldValueInvalid', field: 'rules[1].nonResourceURLs', message: 'Invalid value: []string{"/x"}: rules cannot apply to both regular resources and non-resource URLs' },
    ]);
    expect(clusterRole.validate!({ metadata: { name: 'r' }, aggregationRule: {} })).toEqual([
      { reason: 'FieldValueRequired', field: 'aggregationRule.clusterRoleSelectors', message: 'Required value: at least one clusterRoleSelector required if aggregationRule is non-nil' },
    ]);
  });

  it('default and validate bindings, roleRef fixed once made', () => {
    const b: any = { metadata: { name: 'b', namespace: 'ns' }, roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'alice' }, { kind: 'ServiceAccount', name: 'sa' }] };
    roleBinding.defaults!(b);
    expect(b.roleRef.apiGroup).toBe(RBAC);
    expect(b.subjects).toEqual([{ kind: 'User', name: 'alice', apiGroup: RBAC }, { kind: 'ServiceAccount', name: 'sa' }]);
    expect(roleBinding.validate!(b)).toEqual([]);
    // A ClusterRoleBinding's ServiceAccount must say its namespace; it may name no Role.
    const c: any = { metadata: { name: 'c' }, roleRef: { apiGroup: RBAC, kind: 'Role', name: 'x' }, subjects: [{ kind: 'ServiceAccount', name: 'sa', apiGroup: '' }, { kind: 'Robot', name: 'r' }, { kind: 'Group', name: '', apiGroup: 'x' }] };
    expect(clusterRoleBinding.validate!(c)).toEqual([
      { reason: 'FieldValueNotSupported', field: 'roleRef.kind', message: 'Unsupported value: "Role": supported values: "ClusterRole"' },
      { reason: 'FieldValueRequired', field: 'subjects[0].namespace', message: 'Required value' },
      { reason: 'FieldValueNotSupported', field: 'subjects[1].kind', message: 'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"' },
      { reason: 'FieldValueRequired', field: 'subjects[2].name', message: 'Required value' },
      { reason: 'FieldValueNotSupported', field: 'subjects[2].apiGroup', message: 'Unsupported value: "x": supported values: "rbac.authorization.k8s.io"' },
    ]);
    const changed = { ...b, roleRef: { ...b.roleRef, name: 'edit' } };
    expect(roleBinding.validate!(changed, b)).toEqual([
      { reason: 'FieldValueInvalid', field: 'roleRef', message: 'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef' },
    ]);
  });

  it('print tables as kubectl shows them', () => {
    const now = new Date('2024-01-01T01:00:00Z');
    expect(role.columns.map((c) => c.name)).toEqual(['Name', 'Created At']);
    expect(role.row({ metadata: { name: 'r', creationTimestamp: '2024-01-01T00:00:00Z' } }, now)).toEqual(['r', '2024-01-01T00:00:00Z']);
    expect(clusterRoleBinding.columns.map((c) => [c.name, c.priority])).toEqual([['Name', 0], ['Role', 0], ['Age', 0], ['Users', 1], ['Groups', 1], ['ServiceAccounts', 1]]);
    expect(roleBinding.row({
      metadata: { name: 'b', creationTimestamp: '2024-01-01T00:00:00Z' },
      roleRef: { kind: 'ClusterRole', name: 'view' },
      subjects: [subject('User:a'), subject('User:b'), subject('Group:g'), subject('ServiceAccount:ns/sa')],
    }, now)).toEqual(['b', 'ClusterRole/view', '60m', 'a, b', 'g', 'ns/sa']);
  });
});

describe('over a store', () => {
  let t: TempStore;
  beforeEach(async () => {
    t = await openTempStore('skiff-rbac-');
  });
  afterEach(() => t.remove());

  const create = async (...objects: KObject[]) => {
    const results = await t.store.commit(objects.map((o) => ({ op: 'create' as const, object: { apiVersion: `${RBAC}/v1`, ...o, metadata: { ...o.metadata, uid: crypto.randomUUID() } } })));
    expect(results.every((r) => r.ok)).toBe(true);
  };

  it('reads the policy (a stamp, then the objects), keeps it for ttlMs, and drops it when told of a write', async () => {
    const rbac = new RbacAuthorizer(t.store, { ttlMs: 1000 });
    const alice = user('alice', 'system:authenticated');
    const before = t.store.roundTrips;
    const [d1, d2] = await Promise.all([
      rbac.authorize(alice, res('get', '', 'pods', { namespace: 'dev' })),
      rbac.authorize(alice, res('list', '', 'pods', { namespace: 'dev' })),
    ]);
    expect([d1.allowed, d2.allowed]).toEqual([false, false]);
    expect(t.store.roundTrips - before).toBe(2);

    await create(roleObj('dev', 'reader', resourceRule(['get', 'list'], [''], ['pods'])), rb('dev', 'read', 'Role', 'reader', 'User:alice'));
    // Still the policy read before: the write was not told.
    expect((await rbac.authorize(alice, res('get', '', 'pods', { namespace: 'dev' }))).allowed).toBe(false);
    rbac.written('Event');
    expect((await rbac.authorize(alice, res('get', '', 'pods', { namespace: 'dev' }))).allowed).toBe(false);
    rbac.written('RoleBinding');
    const trips = t.store.roundTrips;
    expect(await rbac.authorize(alice, res('get', '', 'pods', { namespace: 'dev' }))).toEqual({
      allowed: true, reason: 'RBAC: allowed by RoleBinding "read/dev" of Role "reader" to User "alice"',
    });
    expect(t.store.roundTrips - trips).toBe(2);

    // Past ttlMs the policy is read again.
    await create(crb('alice-basic', 'system:basic-user', 'User:alice'));
    const held = t.store.roundTrips;
    expect((await rbac.authorize(alice, { verb: 'create', apiGroup: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', resourceRequest: true })).reason)
      .toBe('RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"');
    expect(t.store.roundTrips - held).toBe(0);
    t.clock.advance(1001);
    expect((await rbac.authorize(alice, { verb: 'create', apiGroup: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', resourceRequest: true })).reason)
      .toBe('RBAC: allowed by ClusterRoleBinding "alice-basic" of ClusterRole "system:basic-user" to User "alice"');
    expect(t.store.roundTrips - held).toBe(2);
    // Past ttlMs again, nothing changed: the stamp alone, and the policy held stays.
    t.clock.advance(1001);
    const quiet = t.store.roundTrips;
    expect((await rbac.authorize(alice, res('get', '', 'pods', { namespace: 'dev' }))).allowed).toBe(true);
    expect(t.store.roundTrips - quiet).toBe(1);
  });

  it('in the background mode, answers past ttlMs from the policy held while it is checked', async () => {
    const rbac = new RbacAuthorizer(t.store, { ttlMs: 1000, background: true });
    const alice = user('alice', 'system:authenticated');
    const ask = () => rbac.authorize(alice, res('get', '', 'pods', { namespace: 'bg' }));
    expect((await ask()).allowed).toBe(false);
    await create(roleObj('bg', 'reader', resourceRule(['get'], [''], ['pods'])), rb('bg', 'read', 'Role', 'reader', 'User:alice'));
    t.clock.advance(1001);
    // The first question past the lease gets the policy held, and starts the check ...
    expect((await ask()).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    // ... whose result answers the next.
    expect((await ask()).allowed).toBe(true);
    // A write told through written() is never answered from the old policy.
    await create(rb('bg', 'read2', 'Role', 'reader', 'User:bob'));
    rbac.written('RoleBinding');
    expect((await rbac.authorize(user('bob'), res('get', '', 'pods', { namespace: 'bg' }))).allowed).toBe(true);
  });

  it('lists the rules a user holds for SelfSubjectRulesReview', async () => {
    const rbac = new RbacAuthorizer(t.store);
    await create(rb('dev', 'view-alice', 'ClusterRole', 'view', 'User:alice'), rb('dev', 'broken', 'Role', 'nothing', 'User:alice'));
    const review = await rbac.rulesFor(user('alice', 'system:authenticated'), 'dev');
    expect(review.incomplete).toBe(false);
    expect(review.evaluationError).toBe('role.rbac.authorization.k8s.io "nothing" not found');
    expect(review.resourceRules).toContainEqual({ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['events', 'namespaces/status', 'pods/log', 'pods/status'] });
    expect(review.resourceRules).toContainEqual({ verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] });
    expect(review.nonResourceRules).toContainEqual({ verbs: ['get'], nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'] });
    // view grants no secrets.
    const rules = review.resourceRules;
    expect(rules.some((r) => r.resources?.includes('secrets'))).toBe(false);
  });

  describe('escalation checks', () => {
    const alice = user('alice', 'g', 'system:authenticated');
    const forbidden = async (p: Promise<unknown>) => {
      const e = await p.then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(ApiError);
      return e as ApiError;
    };

    it('lets a user create a Role only with rules they hold there, or with escalate', async () => {
      const rbac = new RbacAuthorizer(t.store);
      await create(rb('dev', 'edit-alice', 'ClusterRole', 'edit', 'User:alice'));
      const ok = { kind: 'Role', metadata: { namespace: 'dev', name: 'r' }, rules: [resourceRule(['get', 'create'], [''], ['pods'])] };
      await expect(checkRoleEscalation(rbac, alice, ok)).resolves.toBeUndefined();
      // Held in dev, not in prod.
      const err = await forbidden(checkRoleEscalation(rbac, alice, { ...ok, metadata: { namespace: 'prod', name: 'r' } }));
      expect(err.code).toBe(403);
      expect(err.toStatus()).toMatchObject({
        reason: 'Forbidden',
        details: { name: 'r', group: RBAC, kind: 'roles' },
        message: 'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["g" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get" "create"]}',
      });
      // edit holds no rbac rules: a Role granting roles is refused, unless alice may escalate.
      const granting = { kind: 'Role', metadata: { namespace: 'dev', name: 'g' }, rules: [resourceRule(['get'], [RBAC], ['roles'])] };
      await forbidden(checkRoleEscalation(rbac, alice, granting));
      await create(clusterRoleObj('escalator', resourceRule(['escalate'], [RBAC], ['roles'])), rb('dev', 'esc', 'ClusterRole', 'escalator', 'User:alice'));
      rbac.written('RoleBinding');
      await expect(checkRoleEscalation(rbac, alice, granting)).resolves.toBeUndefined();
      // system:masters may grant anything.
      await expect(checkRoleEscalation(rbac, user('root', 'system:masters'), { ...granting, rules: [resourceRule(['*'], ['*'], ['*'])] })).resolves.toBeUndefined();
    });

    it('needs cluster-admin\'s rules for an aggregationRule, and lets updates of GC fields alone through', async () => {
      const rbac = new RbacAuthorizer(t.store);
      await create(clusterRoleObj('pods', resourceRule(['*'], [''], ['pods'])), crb('alice-pods', 'pods', 'User:alice'));
      const agg = { kind: 'ClusterRole', metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] }, rules: [] };
      const err = await forbidden(checkRoleEscalation(rbac, alice, agg));
      expect(err.message).toBe('clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule');
      // An update is checked as a create, unless it changes no more than what the garbage collector needs.
      const big = { kind: 'ClusterRole', metadata: { name: 'big', resourceVersion: '5' }, rules: [resourceRule(['*'], ['*'], ['*'])] };
      await forbidden(checkRoleEscalation(rbac, alice, big, { ...big, rules: [] }));
      await expect(checkRoleEscalation(rbac, alice, { ...big, metadata: { ...big.metadata, finalizers: ['x'], ownerReferences: [] } }, big)).resolves.toBeUndefined();
      await forbidden(checkRoleEscalation(rbac, alice, { ...big, metadata: { ...big.metadata, labels: { a: 'b' } } }, big));
    });

    it('lets a user bind a role only if they hold its rules in that scope, or may bind it', async () => {
      const rbac = new RbacAuthorizer(t.store);
      await create(
        clusterRoleObj('pod-reader', resourceRule(['get'], [''], ['pods'])),
        clusterRoleObj('secret-reader', resourceRule(['get'], [''], ['secrets'])),
        rb('dev', 'alice-reads', 'ClusterRole', 'pod-reader', 'User:alice'),
      );
      const binding = (ns: string, roleName: string): KObject => rb(ns, 'b', 'ClusterRole', roleName, 'User:bob');
      await expect(checkBindingEscalation(rbac, alice, binding('dev', 'pod-reader'))).resolves.toBeUndefined();
      const err = await forbidden(checkBindingEscalation(rbac, alice, binding('prod', 'pod-reader')));
      expect(err.message).toBe('rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "alice" (groups=["g" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}');
      await forbidden(checkBindingEscalation(rbac, alice, crb('b', 'pod-reader', 'User:bob')));
      await forbidden(checkBindingEscalation(rbac, alice, binding('dev', 'secret-reader')));
      // The bind verb on that one ClusterRole, in dev.
      await create(clusterRoleObj('binder', resourceRule(['bind'], [RBAC], ['clusterroles'], ['secret-reader'])), rb('dev', 'binder', 'ClusterRole', 'binder', 'User:alice'));
      rbac.written('RoleBinding');
      await expect(checkBindingEscalation(rbac, alice, binding('dev', 'secret-reader'))).resolves.toBeUndefined();
      await forbidden(checkBindingEscalation(rbac, alice, binding('prod', 'secret-reader')));
      // A role that does not exist: 404, as kube-apiserver's registry answers.
      const missing = await forbidden(checkBindingEscalation(rbac, alice, binding('dev', 'nope')));
      expect(missing.toStatus()).toMatchObject({ code: 404, reason: 'NotFound', message: 'clusterroles.rbac.authorization.k8s.io "nope" not found' });
    });
  });

  describe('the default policy', () => {
    it('is created at start: cluster-admin for system:masters, discovery, basic-user and public-info for everyone, aggregated admin/edit/view', async () => {
      const roles = (await t.store.list('ClusterRole')).items;
      const byName = new Map(roles.map((r) => [r.metadata!.name!, r as any]));
      for (const name of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer']) {
        const r = byName.get(name);
        expect(r, name).toBeDefined();
        expect(r.metadata.labels['kubernetes.io/bootstrapping']).toBe('rbac-defaults');
        expect(r.metadata.annotations['rbac.authorization.kubernetes.io/autoupdate']).toBe('true');
      }
      const policy = policyOf([...roles, ...(await t.store.list('ClusterRoleBinding')).items]);
      const can = (u: UserInfo, a: Attrs) => authorizeWith(policy, ask(u, a)).allowed;
      const anyone = user('someone', 'system:authenticated');
      const anonymous = user('system:anonymous', 'system:unauthenticated');
      expect(can(user('root', 'system:masters'), res('delete', '', 'nodes', { name: 'n1' }))).toBe(true);
      expect(can(anyone, url('get', '/apis/apps/v1'))).toBe(true);
      expect(can(anyone, res('create', 'authentication.k8s.io', 'selfsubjectreviews'))).toBe(true);
      expect(can(anonymous, url('get', '/healthz'))).toBe(true);
      expect(can(anonymous, url('get', '/apis'))).toBe(false);
      expect(can(anyone, res('get', '', 'pods', { namespace: 'default' }))).toBe(false);
      // The aggregated roles hold their rules from the start: admin ⊇ edit ⊇ view.
      const rules = (name: string) => byName.get(name).rules as PolicyRule[];
      expect(covers(rules('admin'), rules('edit'))).toEqual([]);
      expect(covers(rules('edit'), rules('view'))).toEqual([]);
      expect(covers(rules('view'), [resourceRule(['get'], ['metrics.k8s.io'], ['pods', 'nodes'])])).toEqual([]);
      expect(covers(rules('view'), [resourceRule(['get'], [''], ['secrets'])])).not.toEqual([]);
      expect(covers(rules('edit'), [resourceRule(['get', 'create'], [''], ['secrets', 'pods/exec']), resourceRule(['create'], [''], ['serviceaccounts/token'])])).toEqual([]);
      expect(covers(rules('edit'), [resourceRule(['create'], [RBAC], ['rolebindings'])])).not.toEqual([]);
      expect(covers(rules('admin'), [resourceRule(['create'], [RBAC], ['rolebindings', 'roles'])])).toEqual([]);
    });

    it('is reconciled at the next start, in one round trip when nothing changed', async () => {
      const before = t.store.roundTrips;
      await t.store.init();
      expect(t.store.roundTrips - before).toBe(1);
      const edit = (await t.store.get('ClusterRole', '', 'system:aggregate-to-edit'))!;
      const basic = (await t.store.get('ClusterRole', '', 'system:basic-user'))!;
      const binding = (await t.store.get('ClusterRoleBinding', '', 'system:discovery'))!;
      // An older version's defaults, and an operator's opt-out and additions.
      const results = await t.store.commit([
        { op: 'update', object: { ...edit, rules: [resourceRule(['get'], ['example.com'], ['widgets'])], metadata: { ...edit.metadata, labels: { team: 'x' } } }, rv: Number(edit.metadata!.resourceVersion) },
        { op: 'update', object: { ...basic, rules: [], metadata: { ...basic.metadata, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'false' } } }, rv: Number(basic.metadata!.resourceVersion) },
        { op: 'update', object: { ...binding, subjects: [subject('User:extra')] }, rv: Number(binding.metadata!.resourceVersion) },
      ]);
      expect(results.every((r) => r.ok)).toBe(true);
      const again = t.store.roundTrips;
      await t.store.init();
      // The read-back showed what to update: a second round trip, then only.
      expect(t.store.roundTrips - again).toBe(2);
      const edit2 = (await t.store.get('ClusterRole', '', 'system:aggregate-to-edit')) as any;
      expect(edit2.rules[0]).toEqual(resourceRule(['get'], ['example.com'], ['widgets']));
      expect(covers(edit2.rules, (edit as any).rules)).toEqual([]);
      expect(edit2.metadata.labels).toEqual({ team: 'x', 'kubernetes.io/bootstrapping': 'rbac-defaults', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' });
      expect(((await t.store.get('ClusterRole', '', 'system:basic-user')) as any).rules).toEqual([]);
      expect(((await t.store.get('ClusterRoleBinding', '', 'system:discovery')) as any).subjects).toEqual([subject('User:extra'), subject('Group:system:authenticated')]);
    });

    it('reconciles as computeReconciledRole does: union of rules, selectors added, protected roles left alone', () => {
      const [admin] = bootstrapPolicy('2024-01-01T00:00:00Z').filter((o) => o.metadata?.name === 'admin');
      const expected = { ...admin, rules: [] };
      expect(reconcileClusterRole({ ...admin, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { mine: 'true' } }] } }, expected)).toMatchObject({
        aggregationRule: { clusterRoleSelectors: [{ matchLabels: { mine: 'true' } }, { matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }] },
      });
      expect(reconcileClusterRole(admin, expected)).toBeUndefined();
      // A default that must not aggregate loses an aggregationRule added to it.
      const plain = { kind: 'ClusterRole', metadata: { name: 'system:discovery', labels: {}, annotations: {} }, rules: [] };
      expect(reconcileClusterRole({ ...plain, aggregationRule: { clusterRoleSelectors: [{}] } }, plain)).not.toHaveProperty('aggregationRule');
      const bound = crb('cluster-admin', 'cluster-admin', 'Group:system:masters');
      const moved = reconcileClusterRoleBinding({ ...bound, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' } }, bound, 'now');
      expect(moved).toMatchObject({ roleRef: { name: 'cluster-admin' }, subjects: [subject('Group:system:masters')] });
      expect(moved!.metadata!.uid).toBeDefined();
    });
  });

  describe('the aggregation controller', () => {
    const pass = async () => {
      const ctx = new PassContext(t.store, t.clock, defaultControlOptions);
      const before = t.store.roundTrips;
      await clusterRoleAggregation(ctx);
      return { roundTrips: t.store.roundTrips - before, writes: ctx.writes };
    };

    it('has nothing to do after start, for one round trip', async () => {
      expect(await pass()).toEqual({ roundTrips: 1, writes: 0 });
    });

    it('gathers the rules of matching roles into admin, edit and view at once, and only writes what changed', async () => {
      const widgets = resourceRule(['get', 'list', 'watch'], ['example.com'], ['widgets']);
      await create({ kind: 'ClusterRole', metadata: { name: 'widget-viewer', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [widgets] });
      expect(await pass()).toEqual({ roundTrips: 2, writes: 3 });
      for (const name of ['view', 'edit', 'admin']) {
        expect(((await t.store.get('ClusterRole', '', name)) as any).rules, name).toContainEqual(widgets);
      }
      expect(await pass()).toEqual({ roundTrips: 1, writes: 0 });
      // A role of its own, aggregating by a matchExpressions selector.
      await create({ kind: 'ClusterRole', metadata: { name: 'mine' }, aggregationRule: { clusterRoleSelectors: [{ matchExpressions: [{ key: 'rbac.authorization.k8s.io/aggregate-to-view', operator: 'Exists' }] }] }, rules: [] });
      expect(await pass()).toEqual({ roundTrips: 2, writes: 1 });
      const mine = (await t.store.get('ClusterRole', '', 'mine')) as any;
      // The same roles as view's selector picks, in the same order: the same rules.
      expect(mine.rules).toEqual(((await t.store.get('ClusterRole', '', 'view')) as any).rules);
      expect(mine.rules).toContainEqual(widgets);
      expect(mine.rules).toContainEqual(resourceRule(['get', 'list', 'watch'], ['metrics.k8s.io'], ['nodes', 'pods']));
    });
  });
});

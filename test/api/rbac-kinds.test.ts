// The four rbac.authorization.k8s.io/v1 kinds served like the others, through HTTP and kubectl:
// discovery, validation (422 in kube-apiserver's words, roleRef fixed), names with colons, tables,
// server-side apply, the default policy present at start, and ClusterRole aggregation by the pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiServer } from '../helpers/api-server.js';
import { jsonRequest } from '../helpers/json-request.js';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { row } from '../helpers/kubectl-output.js';
import { hasKubectl } from '../helpers/skiff-server.js';

const RBAC = 'rbac.authorization.k8s.io';
const BASE = `/apis/${RBAC}/v1`;
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };

describe('RBAC kinds through HTTP', () => {
  let api: ApiServer;
  const send = async (path: string, init: RequestInit | undefined, code: number): Promise<any> => {
    const res = await api.request(path, init);
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(code);
    return body;
  };

  beforeAll(async () => {
    api = await startApi({ passes: false });
  });
  afterAll(() => api.stop());

  it('is discovered as rbac.authorization.k8s.io/v1 with its four resources', async () => {
    const list = await send(BASE, undefined, 200);
    expect(list.resources.map((r: any) => [r.name, r.namespaced, r.kind])).toEqual([
      ['roles', true, 'Role'], ['clusterroles', false, 'ClusterRole'], ['rolebindings', true, 'RoleBinding'], ['clusterrolebindings', false, 'ClusterRoleBinding'],
    ]);
    const groups = await send('/apis', undefined, 200);
    expect(groups.groups.map((g: any) => g.name)).toContain(RBAC);
  });

  it('has the default policy from the start', async () => {
    const roles = await send(`${BASE}/clusterroles`, undefined, 200);
    const names = roles.items.map((r: any) => r.metadata.name);
    for (const n of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer']) expect(names).toContain(n);
    const admin = await send(`${BASE}/clusterroles/cluster-admin`, undefined, 200);
    expect(admin.rules).toEqual([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }]);
    expect(admin.metadata.labels).toEqual({ 'kubernetes.io/bootstrapping': 'rbac-defaults' });
    expect(admin.metadata.annotations).toEqual({ 'rbac.authorization.kubernetes.io/autoupdate': 'true' });
    const binding = await send(`${BASE}/clusterrolebindings/cluster-admin`, undefined, 200);
    expect(binding.roleRef).toEqual({ apiGroup: RBAC, kind: 'ClusterRole', name: 'cluster-admin' });
    expect(binding.subjects).toEqual([{ kind: 'Group', apiGroup: RBAC, name: 'system:masters' }]);
    const publicInfo = await send(`${BASE}/clusterrolebindings/system:public-info-viewer`, undefined, 200);
    expect(publicInfo.subjects.map((s: any) => s.name)).toEqual(['system:authenticated', 'system:unauthenticated']);
  });

  it('creates and reads roles and bindings, names with colons included, and defaults apiGroups', async () => {
    const role = await send(`${BASE}/namespaces/default/roles`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'Role', metadata: { name: 'system:pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }],
    }), 201);
    expect(role.metadata.namespace).toBe('default');
    await send(`${BASE}/namespaces/default/roles/system:pod-reader`, undefined, 200);
    const rb = await send(`${BASE}/namespaces/default/rolebindings`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: { name: 'read-pods' },
      roleRef: { kind: 'Role', name: 'system:pod-reader' },
      subjects: [{ kind: 'User', name: 'alice' }, { kind: 'ServiceAccount', name: 'robot' }, { kind: 'Group', name: 'devs' }],
    }), 201);
    expect(rb.roleRef).toEqual({ kind: 'Role', name: 'system:pod-reader', apiGroup: RBAC });
    // A ServiceAccount's apiGroup is "", which the Go types omit.
    expect(rb.subjects).toEqual([{ kind: 'User', name: 'alice', apiGroup: RBAC }, { kind: 'ServiceAccount', name: 'robot' }, { kind: 'Group', name: 'devs', apiGroup: RBAC }]);
    await send(`${BASE}/clusterroles`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'log-reader' }, rules: [{ nonResourceURLs: ['/logs', '/logs/*'], verbs: ['get'] }],
    }), 201);
    // An object named with a slash cannot be addressed: refused.
    const slash = await send(`${BASE}/clusterroles`, jsonRequest('POST', { apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'a/b' } }), 422);
    expect(slash.message).toBe('ClusterRole.rbac.authorization.k8s.io "a/b" is invalid: metadata.name: Invalid value: "a/b": may not contain \'/\'');
  });

  it('refuses invalid objects with 422 and kube-apiserver\'s causes', async () => {
    const role = await send(`${BASE}/namespaces/default/roles`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'Role', metadata: { name: 'bad' },
      rules: [{ verbs: [], apiGroups: [''], resources: ['pods'] }, { verbs: ['get'], nonResourceURLs: ['/healthz'] }, { verbs: ['get'] }],
    }), 422);
    expect(role).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, details: { name: 'bad', group: RBAC, kind: 'Role' } });
    expect(role.message).toBe('Role.rbac.authorization.k8s.io "bad" is invalid: [rules[0].verbs: Required value: verbs must contain at least one value, '
      + 'rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs, '
      + 'rules[2].apiGroups: Required value: resource rules must supply at least one api group, '
      + 'rules[2].resources: Required value: resource rules must supply at least one resource]');
    const binding = await send(`${BASE}/clusterrolebindings`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'ClusterRoleBinding', metadata: { name: 'bad' },
      roleRef: { apiGroup: 'example.com', kind: 'Role', name: 'x' },
      subjects: [{ kind: 'ServiceAccount', name: 'robot' }, { kind: 'Team', name: 'a' }],
    }), 422);
    expect(binding.details.causes).toEqual([
      { reason: 'FieldValueNotSupported', field: 'roleRef.apiGroup', message: 'Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"' },
      { reason: 'FieldValueNotSupported', field: 'roleRef.kind', message: 'Unsupported value: "Role": supported values: "ClusterRole"' },
      { reason: 'FieldValueRequired', field: 'subjects[0].namespace', message: 'Required value' },
      { reason: 'FieldValueNotSupported', field: 'subjects[1].kind', message: 'Unsupported value: "Team": supported values: "ServiceAccount", "User", "Group"' },
    ]);
    const agg = await send(`${BASE}/clusterroles`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [] },
    }), 422);
    expect(agg.message).toBe('ClusterRole.rbac.authorization.k8s.io "agg" is invalid: aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil');
    // Unknown fields are refused under fieldValidation=Strict, as the schema knows the kinds.
    const strict = await send(`${BASE}/clusterroles?fieldValidation=Strict`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'strict' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resource: 'x' }],
    }), 400);
    expect(strict.message).toBe('strict decoding error: unknown field "rules[0].resource"');
  });

  it('keeps a binding\'s roleRef: changing it is 422 "cannot change roleRef"; subjects may change', async () => {
    const path = `${BASE}/clusterrolebindings/viewers`;
    const created = await send(`${BASE}/clusterrolebindings`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'ClusterRoleBinding', metadata: { name: 'viewers' },
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', name: 'viewers' }],
    }), 201);
    const changed = await send(path, jsonRequest('PUT', { ...created, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'edit' } }), 422);
    expect(changed.message).toBe('ClusterRoleBinding.rbac.authorization.k8s.io "viewers" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef');
    const patched = await send(path, jsonRequest('PATCH', { roleRef: { name: 'admin' } }, 'application/merge-patch+json'), 422);
    expect(patched.details.causes[0].field).toBe('roleRef');
    const subjects = await send(path, jsonRequest('PATCH', { subjects: [{ kind: 'User', name: 'carol' }] }, 'application/merge-patch+json'), 200);
    expect(subjects.subjects).toEqual([{ kind: 'User', name: 'carol', apiGroup: RBAC }]);
  });

  it('applies server-side, the subjects and rules owned whole (atomic lists)', async () => {
    const apply = (subjects: unknown[], manager: string) => send(`${BASE}/namespaces/default/rolebindings/applied?fieldManager=${manager}&force=true`, jsonRequest('PATCH', {
      apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: { name: 'applied' }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' }, subjects,
    }, 'application/apply-patch+yaml'), 201);
    const first = await apply([{ kind: 'User', name: 'a', apiGroup: RBAC }], 'one');
    expect(first.subjects).toEqual([{ kind: 'User', name: 'a', apiGroup: RBAC }]);
    const res = await api.request(`${BASE}/namespaces/default/rolebindings/applied?fieldManager=two&force=true`, jsonRequest('PATCH', {
      apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: { name: 'applied' }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', name: 'g', apiGroup: RBAC }],
    }, 'application/apply-patch+yaml'));
    expect(res.status).toBe(200);
    expect((await res.json()).subjects).toEqual([{ kind: 'Group', name: 'g', apiGroup: RBAC }]);
  });

  it('prints tables as kubectl shows them', async () => {
    const roles = await send(`${BASE}/clusterroles`, { headers: TABLE }, 200);
    expect(roles.columnDefinitions.map((c: any) => [c.name, c.type])).toEqual([['Name', 'string'], ['Created At', 'date']]);
    const admin = roles.rows.find((r: any) => r.cells[0] === 'cluster-admin');
    expect(admin.cells[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const bindings = await send(`${BASE}/namespaces/default/rolebindings`, { headers: TABLE }, 200);
    expect(bindings.columnDefinitions.map((c: any) => [c.name, c.priority])).toEqual([['Name', 0], ['Role', 0], ['Age', 0], ['Users', 1], ['Groups', 1], ['ServiceAccounts', 1]]);
    const read = bindings.rows.find((r: any) => r.cells[0] === 'read-pods');
    expect(read.cells.slice(0, 2)).toEqual(['read-pods', 'Role/system:pod-reader']);
    // SubjectsStrings prints a subject's own namespace: none here (it defaults to the binding's only when evaluated).
    expect(read.cells.slice(3)).toEqual(['alice', 'devs', '/robot']);
  });

  it('aggregates labelled ClusterRoles into view, edit and admin in one pass', async () => {
    const widgets = { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] };
    await send(`${BASE}/clusterroles`, jsonRequest('POST', {
      apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'widget-viewer', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [widgets],
    }), 201);
    expect((await send(`${BASE}/clusterroles/view`, undefined, 200)).rules).not.toContainEqual(widgets);
    const pass = await api.reconcile();
    expect(pass.writes).toBeGreaterThanOrEqual(3);
    for (const name of ['view', 'edit', 'admin']) expect((await send(`${BASE}/clusterroles/${name}`, undefined, 200)).rules, name).toContainEqual(widgets);
    // Taking the label off takes the rules away again.
    await send(`${BASE}/clusterroles/widget-viewer`, jsonRequest('PATCH', { metadata: { labels: null } }, 'application/merge-patch+json'), 200);
    await api.reconcile();
    for (const name of ['view', 'edit', 'admin']) expect((await send(`${BASE}/clusterroles/${name}`, undefined, 200)).rules, name).not.toContainEqual(widgets);
    // Nothing more to do: the pass writes nothing.
    expect((await api.reconcile()).writes).toBe(0);
  });
});

describe.skipIf(!hasKubectl)('RBAC kinds through kubectl', () => {
  const s = kubectlSession();
  const columns = (line: string) => line.trim().split(/\s{2,}/);

  it('creates roles and bindings with kubectl create', async () => {
    expect(await s.k('create', 'role', 'pod-reader', '--verb=get', '--verb=list', '--verb=watch', '--resource=pods,pods/log')).toBe('role.rbac.authorization.k8s.io/pod-reader created\n');
    expect(await s.k('create', 'role', 'cm-one', '--verb=get', '--resource=configmaps', '--resource-name=settings')).toBe('role.rbac.authorization.k8s.io/cm-one created\n');
    expect(await s.k('create', 'clusterrole', 'deploy-scaler', '--verb=get,update', '--resource=deployments.apps/scale')).toBe('clusterrole.rbac.authorization.k8s.io/deploy-scaler created\n');
    expect(await s.k('create', 'clusterrole', 'logs', '--verb=get', '--non-resource-url=/logs/*')).toBe('clusterrole.rbac.authorization.k8s.io/logs created\n');
    expect(await s.k('create', 'clusterrole', 'monitoring', '--aggregation-rule=rbac.example.com/aggregate-to-monitoring=true')).toBe('clusterrole.rbac.authorization.k8s.io/monitoring created\n');
    expect(await s.k('create', 'rolebinding', 'read-pods', '--role=pod-reader', '--user=alice', '--group=devs', '--serviceaccount=default:robot')).toBe('rolebinding.rbac.authorization.k8s.io/read-pods created\n');
    expect(await s.k('create', 'clusterrolebinding', 'bob-edit', '--clusterrole=edit', '--user=bob')).toBe('clusterrolebinding.rbac.authorization.k8s.io/bob-edit created\n');

    const role = JSON.parse(await s.k('get', 'role', 'pod-reader', '-o', 'json'));
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] }]);
    expect(JSON.parse(await s.k('get', 'role', 'cm-one', '-o', 'json')).rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'], verbs: ['get'] }]);
    expect(JSON.parse(await s.k('get', 'clusterrole', 'deploy-scaler', '-o', 'json')).rules).toEqual([{ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'update'] }]);
    expect(JSON.parse(await s.k('get', 'clusterrole', 'logs', '-o', 'json')).rules).toEqual([{ nonResourceURLs: ['/logs/*'], verbs: ['get'] }]);
    expect(JSON.parse(await s.k('get', 'clusterrole', 'monitoring', '-o', 'json')).aggregationRule).toEqual({ clusterRoleSelectors: [{ matchLabels: { 'rbac.example.com/aggregate-to-monitoring': 'true' } }] });
    const rb = JSON.parse(await s.k('get', 'rolebinding', 'read-pods', '-o', 'json'));
    expect(rb.roleRef).toEqual({ apiGroup: RBAC, kind: 'Role', name: 'pod-reader' });
    expect(rb.subjects).toEqual([
      { apiGroup: RBAC, kind: 'User', name: 'alice' },
      { apiGroup: RBAC, kind: 'Group', name: 'devs' },
      { kind: 'ServiceAccount', name: 'robot', namespace: 'default' },
    ]);
  });

  it('prints roles and bindings as kubectl does', async () => {
    const roles = (await s.k('get', 'clusterroles')).trimEnd().split('\n');
    expect(columns(roles[0])).toEqual(['NAME', 'CREATED AT']);
    for (const name of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer']) {
      expect(roles.join('\n')).toMatch(row(name, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/));
    }
    expect(columns((await s.k('get', 'roles')).split('\n')[0])).toEqual(['NAME', 'CREATED AT']);
    const bindings = await s.k('get', 'rolebindings');
    expect(columns(bindings.split('\n')[0])).toEqual(['NAME', 'ROLE', 'AGE']);
    expect(bindings).toMatch(row('read-pods', 'Role/pod-reader', /\d+s/));
    const wide = await s.k('get', 'rolebindings', '-o', 'wide');
    expect(columns(wide.split('\n')[0])).toEqual(['NAME', 'ROLE', 'AGE', 'USERS', 'GROUPS', 'SERVICEACCOUNTS']);
    expect(wide).toMatch(row('read-pods', 'Role/pod-reader', /\d+s/, 'alice', 'devs', 'default/robot'));
    const cluster = await s.k('get', 'clusterrolebindings', '-o', 'wide');
    expect(cluster).toMatch(row('bob-edit', 'ClusterRole/edit', /\d+s/, 'bob'));
    expect(cluster).toMatch(row('cluster-admin', 'ClusterRole/cluster-admin', /\S+/, 'system:masters'));
  });

  it('describes the aggregated edit role with its rules', async () => {
    const out = await s.k('describe', 'clusterrole', 'edit');
    expect(out).toMatch(/^Name:\s+edit$/m);
    expect(out).toMatch(/Labels:\s+kubernetes\.io\/bootstrapping=rbac-defaults/);
    expect(out).toMatch(/rbac\.authorization\.k8s\.io\/aggregate-to-admin=true/);
    expect(out).toMatch(/Annotations:\s+rbac\.authorization\.kubernetes\.io\/autoupdate: true/);
    expect(out).toMatch(/PolicyRule:\n\s+Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs/);
    expect(out).toMatch(/^\s+pods\/exec\s+\[\]\s+\[\]\s+\[get list watch create delete deletecollection patch update\]$/m);
    expect(out).toMatch(/^\s+deployments\.apps\/scale\s+\[\]\s+\[\]\s+\[create delete deletecollection patch update get list watch\]$/m);
    expect(out).toMatch(/^\s+leases\.coordination\.k8s\.io\s+\[\]\s+\[\]\s+\[create delete deletecollection get list patch update watch\]$/m);
    expect(out).toMatch(/^\s+pods\.metrics\.k8s\.io\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    const binding = await s.k('describe', 'rolebinding', 'read-pods');
    expect(binding).toMatch(/Role:\n\s+Kind:\s+Role\n\s+Name:\s+pod-reader/);
    expect(binding).toMatch(/^\s+User\s+alice\s*$/m);
    expect(binding).toMatch(/^\s+ServiceAccount\s+robot\s+default$/m);
  });

  it('answers validation errors as kube-apiserver does', async () => {
    const r = await s.run(['patch', 'rolebinding', 'read-pods', '--type=merge', '-p', '{"roleRef":{"name":"cm-one"}}']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('The RoleBinding "read-pods" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"cm-one"}: cannot change roleRef');
    const bad = await s.run(['apply', '-f', '-'], JSON.stringify({ apiVersion: `${RBAC}/v1`, kind: 'Role', metadata: { name: 'url-role', namespace: 'default' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/x'] }] }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('The Role "url-role" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs');
  });
});

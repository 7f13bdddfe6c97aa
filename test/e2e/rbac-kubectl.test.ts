// Who may do what, through real kubectl: a user made by `skiff user add`, bound to `edit` in one
// namespace, works there and is refused elsewhere with kube-apiserver's words; `auth can-i` (and
// --list, --as) agrees with the roles; `auth whoami` names the user; a user who may bind roles
// cannot grant what they do not hold. kubectl 1.27, 1.30 and 1.33 each run the auth steps.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasKubectl, kubectl, runSkiff, startSkiff, tempDir, type CommandResult, type SkiffServer } from '../helpers/skiff-server.js';

const VERSIONS = ['1.27', '1.30', '1.33'];
const binary = (v: string) => `/usr/lib/google-cloud-sdk/bin/kubectl.${v}`;
const present = VERSIONS.filter((v) => existsSync(binary(v)));
if (present.length < VERSIONS.length) console.warn(`rbac-kubectl.test.ts: kubectl ${VERSIONS.filter((v) => !present.includes(v)).join(', ')} absent, skipping those versions`);

describe.skipIf(!hasKubectl)('RBAC through kubectl (needs /usr/bin/kubectl)', { timeout: 120_000 }, () => {
  let server: SkiffServer;
  let aliceConfig: string;
  const admin = (args: string[]) => server.kubectl(args);
  const alice = (args: string[], version?: string): Promise<CommandResult> => {
    if (!version) return kubectl(args, { kubeconfig: aliceConfig, cacheDir: tempDir('skiff-alice-cache-') });
    const r = spawnSync(binary(version), ['--cache-dir', tempDir('skiff-alice-cache-'), ...args], { env: { ...process.env, KUBECONFIG: aliceConfig }, encoding: 'utf8', timeout: 30_000 });
    return Promise.resolve({ stdout: r.stdout, stderr: r.stderr, code: r.status });
  };

  beforeAll(async () => {
    server = await startSkiff();
    const added = await runSkiff(['user', 'add', 'alice', '--group', 'devs', '--data', server.data]);
    expect(added.code, added.stderr).toBe(0);
    aliceConfig = join(tempDir('skiff-alice-'), 'kubeconfig');
    writeFileSync(aliceConfig, added.stdout);
    for (const ns of ['team-a', 'team-b']) expect((await admin(['create', 'namespace', ns])).code).toBe(0);
    const bound = await admin(['create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice', '-n', 'team-a']);
    expect(bound.code, bound.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('lets the user do what edit allows in team-a, and refuses elsewhere in kube-apiserver\'s words', async () => {
    const created = await alice(['-n', 'team-a', 'create', 'deployment', 'web', '--image=nginx']);
    expect(created.code, created.stderr).toBe(0);
    expect((await alice(['-n', 'team-a', 'get', 'deployments'])).stdout).toMatch(/^web\s/m);
    const elsewhere = await alice(['-n', 'team-b', 'get', 'pods']);
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr.trim()).toBe('Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-b"');
    const nodes = await alice(['get', 'nodes']);
    expect(nodes.stderr.trim()).toBe('Error from server (Forbidden): nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope');
    const secret = await alice(['-n', 'team-a', 'create', 'secret', 'generic', 's', '--from-literal=a=b']);
    expect(secret.code, secret.stderr).toBe(0);
    const roles = await alice(['-n', 'team-a', 'create', 'role', 'r', '--verb=get', '--resource=pods']);
    expect(roles.stderr.trim()).toBe('Error from server (Forbidden): roles.rbac.authorization.k8s.io is forbidden: User "alice" cannot create resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "team-a"');
  });

  it('kubectl auth whoami, can-i and can-i --list answer as the roles say', async () => {
    const who = await alice(['auth', 'whoami']);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toMatch(/Username\s+alice/);
    expect(who.stdout).toMatch(/Groups\s+\[devs system:authenticated\]/);
    expect((await alice(['auth', 'can-i', 'create', 'deployments', '-n', 'team-a'])).stdout.trim()).toBe('yes');
    const no = await alice(['auth', 'can-i', 'create', 'deployments', '-n', 'team-b']);
    expect(no.stdout.trim()).toBe('no');
    expect(no.code).toBe(1);
    expect((await alice(['auth', 'can-i', 'get', 'secrets', '-n', 'team-a'])).stdout.trim()).toBe('yes');
    expect((await alice(['auth', 'can-i', 'create', 'rolebindings', '-n', 'team-a'])).stdout.trim()).toBe('no');
    const list = await alice(['auth', 'can-i', '--list', '-n', 'team-a']);
    expect(list.code, list.stderr).toBe(0);
    const verbs = (resource: string) => /\[([^\]]*)\]\s*$/.exec(list.stdout.split('\n').find((l) => l.startsWith(`${resource} `)) ?? '')?.[1].split(' ').sort();
    expect(verbs('deployments.apps'), list.stdout).toEqual(['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
    expect(verbs('pods/log')).toEqual(['get', 'list', 'watch']);
    expect(verbs('selfsubjectaccessreviews.authorization.k8s.io')).toEqual(['create']);
    expect(list.stdout).not.toMatch(/^rolebindings\.rbac/m);
    const other = await alice(['auth', 'can-i', '--list', '-n', 'team-b']);
    expect(other.stdout).not.toMatch(/^deployments\.apps/m);
    // The admin asks as alice (impersonation): the same answers.
    expect((await admin(['auth', 'can-i', 'list', 'pods', '-n', 'team-b', '--as', 'alice'])).stdout.trim()).toBe('no');
    expect((await admin(['auth', 'can-i', 'list', 'pods', '-n', 'team-a', '--as', 'alice'])).stdout.trim()).toBe('yes');
    // ... and alice may not act as anyone else.
    const as = await alice(['get', 'pods', '-n', 'team-a', '--as', 'bob']);
    expect(as.code).not.toBe(0);
    expect(as.stderr).toContain('Forbidden');
    const token = (parseYaml(readFileSync(aliceConfig, 'utf8')) as { users: { user: { token: string } }[] }).users[0].user.token;
    const refused = await server.request('/api/v1/namespaces/team-a/pods', { token, headers: { 'impersonate-user': 'bob' } });
    expect(refused.status).toBe(403);
    expect(refused.json().message).toBe('users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope');
  });

  it('a user who may bind roles cannot grant what they do not hold', async () => {
    expect((await admin(['create', 'rolebinding', 'alice-admin', '--clusterrole=admin', '--user=alice', '-n', 'team-a'])).code).toBe(0);
    const grant = await alice(['-n', 'team-a', 'create', 'rolebinding', 'alice-root', '--clusterrole=cluster-admin', '--user=alice']);
    expect(grant.code).not.toBe(0);
    expect(grant.stderr).toContain('rolebindings.rbac.authorization.k8s.io "alice-root" is forbidden: user "alice" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:');
    const cluster = await alice(['create', 'clusterrolebinding', 'alice-root', '--clusterrole=cluster-admin', '--user=alice']);
    expect(cluster.stderr).toContain('User "alice" cannot create resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope');
    // What admin holds in team-a may be granted there: view.
    const view = await alice(['-n', 'team-a', 'create', 'rolebinding', 'bob-view', '--clusterrole=view', '--user=bob']);
    expect(view.code, view.stderr).toBe(0);
    expect((await alice(['auth', 'can-i', 'delete', 'nodes'])).stdout.trim()).toBe('no');
  });

  it('kubectl auth reconcile creates and then leaves alone a role and its binding', async () => {
    const file = join(tempDir('skiff-reconcile-'), 'rbac.yaml');
    writeFileSync(file, [
      'apiVersion: rbac.authorization.k8s.io/v1', 'kind: Role', 'metadata: {name: reader, namespace: team-b}',
      'rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]', '---',
      'apiVersion: rbac.authorization.k8s.io/v1', 'kind: RoleBinding', 'metadata: {name: alice-reader, namespace: team-b}',
      'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}',
      'subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]', '',
    ].join('\n'));
    const first = await admin(['auth', 'reconcile', '-f', file]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/role\.rbac\.authorization\.k8s\.io\/reader reconciled/);
    expect((await alice(['auth', 'can-i', 'list', 'pods', '-n', 'team-b'])).stdout.trim()).toBe('yes');
    const again = await admin(['auth', 'reconcile', '-f', file]);
    expect(again.code, again.stderr).toBe(0);
  });

  it.each(present)('kubectl %s: get, apply, auth can-i and whoami as the user', async (version) => {
    const manifest = join(tempDir('skiff-rbac-apply-'), 'cm.yaml');
    writeFileSync(manifest, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-${version.replace('.', '-')}\n  namespace: team-a\ndata:\n  a: "1"\n`);
    const applied = await alice(['apply', '-f', manifest], version);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await alice(['-n', 'team-a', 'get', 'configmaps'], version)).stdout).toContain(`from-${version.replace('.', '-')}`);
    expect((await alice(['auth', 'can-i', 'create', 'pods', '-n', 'team-a'], version)).stdout.trim()).toBe('yes');
    expect((await alice(['auth', 'can-i', 'create', 'pods', '-n', 'team-b'], version)).stdout.trim()).toBe('no');
    const denied = await alice(['-n', 'team-b', 'get', 'configmaps'], version);
    expect(denied.stderr).toContain('configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "team-b"');
    if (version !== '1.27') {
      // auth whoami is beta from 1.27 behind a gate, served (SelfSubjectReview v1) from 1.28.
      const who = await alice(['auth', 'whoami'], version);
      expect(who.stdout).toMatch(/Username\s+alice/);
    }
  });
});

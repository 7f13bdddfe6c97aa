// The four patch types through client-node v2, which picks the patch Content-Type from the
// request options (setHeaderOptions) and defaults to JSON patch.
import {
  PatchStrategy, setHeaderOptions, type AppsV1Api, type CoreV1Api, type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';
import { failure } from '../helpers/status.js';

const as = (strategy: PatchStrategy) => setHeaderOptions('Content-Type', strategy);
const NS = 'patching';

function twoContainerDeployment(name: string): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
            { name: 'sidecar', image: 'busybox:1' },
          ],
        },
      },
    },
  };
}

describe('patch types', () => {
  let api: ApiServer, core: CoreV1Api, apps: AppsV1Api;

  beforeAll(async () => {
    ({ api, core, apps } = await startClientApi([NS]));
  });
  afterAll(() => api.stop());

  describe('merge patch (RFC 7386)', () => {
    it('sets, replaces and removes (null) keys', async () => {
      const before = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'm1', labels: { a: '1' } }, data: { keep: 'k', drop: 'd' } } });
      const patched = await core.patchNamespacedConfigMap(
        { namespace: NS, name: 'm1', body: { metadata: { labels: { b: '2' } }, data: { drop: null, added: 'x' } } },
        as(PatchStrategy.MergePatch),
      );
      expect(patched.data).toEqual({ keep: 'k', added: 'x' });
      expect(patched.metadata?.labels).toEqual({ a: '1', b: '2' });
      expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
      expect((await core.readNamespacedConfigMap({ namespace: NS, name: 'm1' })).data).toEqual({ keep: 'k', added: 'x' });
    });

    it('replaces lists whole', async () => {
      await apps.createNamespacedDeployment({ namespace: NS, body: twoContainerDeployment('merge-list') });
      const patched = await apps.patchNamespacedDeployment(
        { namespace: NS, name: 'merge-list', body: { spec: { template: { spec: { containers: [{ name: 'only', image: 'redis:7' }] } } } } },
        as(PatchStrategy.MergePatch),
      );
      expect(patched.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['only']);
    });

    it('a stale resourceVersion in the patch is a conflict', async () => {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'm-rv' }, data: { a: '1' } } });
      const res = await failure(core.patchNamespacedConfigMap(
        { namespace: NS, name: 'm-rv', body: { metadata: { resourceVersion: '1' }, data: { a: '2' } } },
        as(PatchStrategy.MergePatch),
      ));
      expect(res.code).toBe(409);
      expect(res.status.reason).toBe('Conflict');
    });

    it('a missing object is 404', async () => {
      const res = await failure(core.patchNamespacedConfigMap({ namespace: NS, name: 'nope', body: { data: { a: '1' } } }, as(PatchStrategy.MergePatch)));
      expect(res.code).toBe(404);
      expect(res.status.details?.name).toBe('nope');
    });
  });

  describe('JSON patch (RFC 6902)', () => {
    it('applies add, replace, remove, copy and move in order (the default patch type of client-node)', async () => {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'j1' }, data: { a: '1', b: '2' } } });
      const patched = await core.patchNamespacedConfigMap({
        namespace: NS,
        name: 'j1',
        body: [
          { op: 'test', path: '/data/a', value: '1' },
          { op: 'replace', path: '/data/a', value: 'one' },
          { op: 'add', path: '/data/c', value: '3' },
          { op: 'remove', path: '/data/b' },
          { op: 'copy', from: '/data/c', path: '/data/d' },
          { op: 'move', from: '/data/d', path: '/data/e' },
          { op: 'add', path: '/metadata/annotations', value: { 'example.com/k': 'w' } },
        ],
      });
      expect(patched.data).toEqual({ a: 'one', c: '3', e: '3' });
      expect(patched.metadata?.annotations).toEqual({ 'example.com/k': 'w' });
    });

    it('unescapes ~1 in paths', async () => {
      const patched = await core.patchNamespacedConfigMap(
        { namespace: NS, name: 'j1', body: [{ op: 'replace', path: '/metadata/annotations/example.com~1k', value: 'v2' }] },
        as(PatchStrategy.JsonPatch),
      );
      expect(patched.metadata?.annotations).toEqual({ 'example.com/k': 'v2' });
    });

    it('a failing test op is 422 and changes nothing', async () => {
      const before = await core.readNamespacedConfigMap({ namespace: NS, name: 'j1' });
      const res = await failure(core.patchNamespacedConfigMap({
        namespace: NS,
        name: 'j1',
        body: [
          { op: 'replace', path: '/data/a', value: 'changed' },
          { op: 'test', path: '/data/a', value: 'something else' },
        ],
      }));
      expect(res.code).toBe(422);
      expect(res.status.reason).toBe('Invalid');
      const after = await core.readNamespacedConfigMap({ namespace: NS, name: 'j1' });
      expect(after.data).toEqual(before.data);
      expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    });

    it('a path that does not exist is rejected', async () => {
      const res = await failure(core.patchNamespacedConfigMap({
        namespace: NS, name: 'j1', body: [{ op: 'remove', path: '/data/missing' }],
      }));
      expect(res.code).toBe(422);
    });

    it('a body that is not a list of operations is 400 or 422', async () => {
      const res = await failure(core.patchNamespacedConfigMap({ namespace: NS, name: 'j1', body: { data: { a: 'x' } } }));
      expect([400, 422]).toContain(res.code);
    });
  });

  describe('strategic merge patch', () => {
    it('changes one container image by merge key, keeping the others, in $setElementOrder order', async () => {
      await apps.createNamespacedDeployment({ namespace: NS, body: twoContainerDeployment('smp') });
      const patched = await apps.patchNamespacedDeployment(
        {
          namespace: NS,
          name: 'smp',
          body: {
            spec: {
              template: {
                spec: {
                  '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }],
                  containers: [{ name: 'web', image: 'nginx:2' }],
                },
              },
            },
          },
        },
        as(PatchStrategy.StrategicMergePatch),
      );
      const containers = patched.spec?.template.spec?.containers ?? [];
      expect(containers.map((c) => `${c.name}=${c.image}`)).toEqual(['sidecar=busybox:1', 'web=nginx:2']);
      // the web container's other fields survive the merge
      expect(containers[1].env?.map((e) => e.name)).toEqual(['A', 'B']);
      expect(patched.metadata?.generation).toBe(2);
    });

    it('merges env by name and deletes list items with $patch: delete', async () => {
      const patched = await apps.patchNamespacedDeployment(
        {
          namespace: NS,
          name: 'smp',
          body: {
            spec: {
              template: {
                spec: {
                  containers: [
                    { name: 'sidecar', $patch: 'delete' },
                    { name: 'web', env: [{ name: 'A', $patch: 'delete' }, { name: 'C', value: '3' }] },
                  ],
                },
              },
            },
          },
        },
        as(PatchStrategy.StrategicMergePatch),
      );
      const containers = patched.spec?.template.spec?.containers ?? [];
      expect(containers.map((c) => c.name)).toEqual(['web']);
      // As apimachinery's mergeSortedSlice: a new item not placed by $setElementOrder goes before server-only ones.
      expect(containers[0].env?.map((e) => `${e.name}=${e.value}`)).toEqual(['C=3', 'B=2']);
    });

    it('cordons and uncordons a node as kubectl does', async () => {
      await core.createNode({ body: { metadata: { name: 'smp-node' } } });
      const cordoned = await core.patchNode({ name: 'smp-node', body: { spec: { unschedulable: true } } }, as(PatchStrategy.StrategicMergePatch));
      expect(cordoned.spec?.unschedulable).toBe(true);
      const uncordoned = await core.patchNode({ name: 'smp-node', body: { spec: { unschedulable: null } } }, as(PatchStrategy.StrategicMergePatch));
      expect(uncordoned.spec?.unschedulable).toBeUndefined();
    });
    it('replaces a budget\'s selector whole (patchStrategy replace) and reads back only the new one', async () => {
      const path = `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`;
      const created = await api.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { name: 'smp-pdb' },
          spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
        }),
      });
      expect(created.status).toBe(201);
      const expressions = [{ key: 'tier', operator: 'In', values: ['front', 'edge'] }];
      const patched = await api.request(`${path}/smp-pdb`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/strategic-merge-patch+json' },
        body: JSON.stringify({ spec: { selector: { matchExpressions: expressions } } }),
      });
      expect(patched.status).toBe(200);
      expect((await patched.json()).spec.selector).toEqual({ matchExpressions: expressions });
      const read = await (await api.request(`${path}/smp-pdb`)).json();
      expect(read.spec).toMatchObject({ minAvailable: 1, selector: { matchExpressions: expressions } });
      expect(read.spec.selector.matchLabels).toBeUndefined();
      // A JSON merge patch still merges into the selector.
      const merged = await api.request(`${path}/smp-pdb`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify({ spec: { selector: { matchLabels: { app: 'web' } } } }),
      });
      expect((await merged.json()).spec.selector).toEqual({ matchLabels: { app: 'web' }, matchExpressions: expressions });
    });
  });

  describe('server-side apply', () => {
    const apply = (manager: string, data: Record<string, string>, force?: boolean) =>
      core.patchNamespacedConfigMapWithHttpInfo(
        {
          namespace: NS,
          name: 'ssa',
          fieldManager: manager,
          force,
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data },
        },
        as(PatchStrategy.ServerSideApply),
      );

    it('creates a missing object with 201 and records the manager', async () => {
      const res = await apply('alice', { a: '1', b: '2' });
      expect(res.httpStatusCode).toBe(201);
      expect(res.data.data).toEqual({ a: '1', b: '2' });
      const entry = res.data.metadata?.managedFields?.find((m) => m.manager === 'alice');
      expect(entry?.operation).toBe('Apply');
      expect(entry?.fieldsType).toBe('FieldsV1');
      expect(entry?.fieldsV1).toMatchObject({ 'f:data': { 'f:a': {}, 'f:b': {} } });
    });

    it('re-applies: changes fields and drops the ones the manager no longer applies', async () => {
      const res = await apply('alice', { a: '10' });
      expect(res.httpStatusCode).toBe(200);
      expect(res.data.data).toEqual({ a: '10' });
      const entry = res.data.metadata?.managedFields?.find((m) => m.manager === 'alice');
      expect(Object.keys((entry?.fieldsV1 as { 'f:data': object })['f:data'])).toEqual(['f:a']);
    });

    it('a second manager changing an owned field is a 409 with FieldManagerConflict causes', async () => {
      const res = await failure(apply('bob', { a: 'bob' }));
      expect(res.code).toBe(409);
      expect(res.status.reason).toBe('Conflict');
      expect(res.status.details?.causes).toEqual([
        expect.objectContaining({ reason: 'FieldManagerConflict', field: '.data.a', message: expect.stringContaining('alice') }),
      ]);
      expect((await core.readNamespacedConfigMap({ namespace: NS, name: 'ssa' })).data).toEqual({ a: '10' });
    });

    it('a second manager may add fields nobody owns, and share a field set to the same value', async () => {
      const res = await apply('bob', { a: '10', z: 'bob' });
      expect(res.data.data).toEqual({ a: '10', z: 'bob' });
      const managers = res.data.metadata?.managedFields?.map((m) => m.manager).sort();
      expect(managers).toEqual(['alice', 'bob']);
    });

    it('force=true takes the field over', async () => {
      const res = await apply('bob', { a: 'forced', z: 'bob' }, true);
      expect(res.data.data).toEqual({ a: 'forced', z: 'bob' });
      const alice = res.data.metadata?.managedFields?.find((m) => m.manager === 'alice');
      expect(JSON.stringify(alice?.fieldsV1 ?? {})).not.toContain('f:a');
      const bob = res.data.metadata?.managedFields?.find((m) => m.manager === 'bob');
      expect(bob?.fieldsV1).toMatchObject({ 'f:data': { 'f:a': {}, 'f:z': {} } });
    });

    it('records Update managers for other writes', async () => {
      const res = await core.patchNamespacedConfigMap(
        { namespace: NS, name: 'ssa', fieldManager: 'carol', body: { data: { c: '1' } } },
        as(PatchStrategy.MergePatch),
      );
      const carol = res.metadata?.managedFields?.find((m) => m.manager === 'carol');
      expect(carol?.operation).toBe('Update');
      expect(carol?.fieldsV1).toMatchObject({ 'f:data': { 'f:c': {} } });
    });

    it('requires a fieldManager', async () => {
      const res = await failure(core.patchNamespacedConfigMap(
        { namespace: NS, name: 'ssa', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' } } },
        as(PatchStrategy.ServerSideApply),
      ));
      expect(res.code).toBe(400);
    });

    it('applies a Deployment, then changes its image', async () => {
      const manifest = twoContainerDeployment('ssa-deploy');
      const body = { apiVersion: 'apps/v1', kind: 'Deployment', ...manifest };
      const first = await apps.patchNamespacedDeploymentWithHttpInfo(
        { namespace: NS, name: 'ssa-deploy', fieldManager: 'kubectl', body },
        as(PatchStrategy.ServerSideApply),
      );
      expect(first.httpStatusCode).toBe(201);
      expect(first.data.metadata?.generation).toBe(1);
      body.spec!.template.spec!.containers[0].image = 'nginx:3';
      const second = await apps.patchNamespacedDeployment(
        { namespace: NS, name: 'ssa-deploy', fieldManager: 'kubectl', body },
        as(PatchStrategy.ServerSideApply),
      );
      expect(second.spec?.template.spec?.containers.map((c) => c.image)).toEqual(['nginx:3', 'busybox:1']);
      expect(second.metadata?.generation).toBe(2);
    });
  });
});

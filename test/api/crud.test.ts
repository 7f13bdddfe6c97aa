// The REST verbs through @kubernetes/client-node: get, list, create, update, delete and
// deletecollection on namespaced and cluster-scoped kinds, with DeleteOptions.
import type { AppsV1Api, CoreV1Api, V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';
import { failure } from '../helpers/status.js';

const configMap = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = { k: 'v' }): V1ConfigMap => ({
  metadata: { name, labels },
  data,
});

const pod = (name: string, nodeName?: string): V1Pod => ({
  metadata: { name },
  spec: { containers: [{ name: 'app', image: 'nginx' }], ...(nodeName ? { nodeName } : {}) },
});

const deployment = (name: string) => ({
  metadata: { name, labels: { app: name } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }] } },
  },
});

describe('CRUD through client-node', () => {
  let api: ApiServer, core: CoreV1Api, apps: AppsV1Api;

  beforeAll(async () => {
    ({ api, core, apps } = await startClientApi(['crud-a', 'crud-b']));
  });
  afterAll(() => api.stop());

  it('starts with the built-in namespaces, Active', async () => {
    const list = await core.listNamespace();
    const names = list.items.map((n) => n.metadata?.name);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) expect(names).toContain(ns);
    const def = await core.readNamespace({ name: 'default' });
    expect(def.status?.phase).toBe('Active');
    expect(def.metadata?.labels?.['kubernetes.io/metadata.name']).toBe('default');
  });

  it('creates, reads, replaces and deletes a ConfigMap', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'crud-a', body: configMap('one') });
    expect(created.kind).toBe('ConfigMap');
    expect(created.apiVersion).toBe('v1');
    expect(created.metadata?.namespace).toBe('crud-a');
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);

    const read = await core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'one' });
    expect(read.data).toEqual({ k: 'v' });
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);

    read.data = { k: 'changed', extra: 'x' };
    const replaced = await core.replaceNamespacedConfigMap({ namespace: 'crud-a', name: 'one', body: read });
    expect(replaced.data).toEqual({ k: 'changed', extra: 'x' });
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect((await core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'one' })).data?.k).toBe('changed');

    const status = await core.deleteNamespacedConfigMap({ namespace: 'crud-a', name: 'one' });
    expect(status.status).toBe('Success');
    expect(status.details?.name).toBe('one');
    expect(status.details?.uid).toBe(created.metadata?.uid);
    const gone = await failure(core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'one' }));
    expect(gone.code).toBe(404);
    expect(gone.status.reason).toBe('NotFound');
  });

  it('replacing with nothing changed keeps the resourceVersion', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'crud-a', body: configMap('same') });
    const replaced = await core.replaceNamespacedConfigMap({ namespace: 'crud-a', name: 'same', body: created });
    expect(replaced.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  it('names objects from metadata.generateName', async () => {
    const a = await core.createNamespacedConfigMap({ namespace: 'crud-a', body: { metadata: { generateName: 'gen-' }, data: {} } });
    const b = await core.createNamespacedConfigMap({ namespace: 'crud-a', body: { metadata: { generateName: 'gen-' }, data: {} } });
    expect(a.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(a.metadata?.generateName).toBe('gen-');
    expect(b.metadata?.name).not.toBe(a.metadata?.name);
    expect((await core.readNamespacedConfigMap({ namespace: 'crud-a', name: a.metadata!.name! })).metadata?.uid).toBe(a.metadata?.uid);
  });

  it('lists in one namespace and across all namespaces', async () => {
    await core.createNamespacedSecret({ namespace: 'crud-a', body: { metadata: { name: 's1' }, stringData: { p: 'w' } } });
    await core.createNamespacedSecret({ namespace: 'crud-b', body: { metadata: { name: 's2' }, data: { p: btoa('w') } } });
    const inA = await core.listNamespacedSecret({ namespace: 'crud-a' });
    expect(inA.kind).toBe('SecretList');
    expect(inA.items.map((s) => s.metadata?.name)).toEqual(['s1']);
    expect(inA.items[0].data).toEqual({ p: btoa('w') }); // stringData folded into data

    const all = await core.listSecretForAllNamespaces();
    const keys = all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`);
    expect(keys).toEqual(expect.arrayContaining(['crud-a/s1', 'crud-b/s2']));
    expect(Number(all.metadata?.resourceVersion)).toBeGreaterThanOrEqual(
      Math.max(...all.items.map((s) => Number(s.metadata?.resourceVersion))),
    );
  });

  it('serves Deployments in apps/v1 with defaults', async () => {
    const created = await apps.createNamespacedDeployment({ namespace: 'crud-a', body: deployment('web') });
    expect(created.apiVersion).toBe('apps/v1');
    expect(created.metadata?.generation).toBe(1);
    expect(created.spec?.strategy?.type).toBe('RollingUpdate');
    expect(created.spec?.revisionHistoryLimit).toBe(10);

    const list = await apps.listNamespacedDeployment({ namespace: 'crud-a' });
    expect(list.items.map((d) => d.metadata?.name)).toEqual(['web']);
    const everywhere = await apps.listDeploymentForAllNamespaces();
    expect(everywhere.items.some((d) => d.metadata?.namespace === 'crud-a' && d.metadata.name === 'web')).toBe(true);

    created.spec!.replicas = 4;
    const replaced = await apps.replaceNamespacedDeployment({ namespace: 'crud-a', name: 'web', body: created });
    expect(replaced.spec?.replicas).toBe(4);
    expect(replaced.metadata?.generation).toBe(2);

    await apps.deleteNamespacedDeployment({ namespace: 'crud-a', name: 'web' });
    expect((await failure(apps.readNamespacedDeployment({ namespace: 'crud-a', name: 'web' }))).code).toBe(404);
  });

  it('serves Pods and Services', async () => {
    const p = await core.createNamespacedPod({ namespace: 'crud-b', body: pod('p1') });
    expect(p.status?.phase).toBe('Pending');
    expect(p.spec?.restartPolicy).toBe('Always');
    const svc = await core.createNamespacedService({
      namespace: 'crud-b',
      body: { metadata: { name: 'svc' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } },
    });
    expect(svc.spec?.type).toBe('ClusterIP');
    expect(svc.spec?.ports?.[0].protocol).toBe('TCP');
    const pods = await core.listPodForAllNamespaces();
    expect(pods.items.some((x) => x.metadata?.name === 'p1' && x.metadata.namespace === 'crud-b')).toBe(true);
    // A pod on no node is deleted at once; the reply is the pod itself.
    const deleted = (await core.deleteNamespacedPod({ namespace: 'crud-b', name: 'p1' })) as V1Pod;
    expect(deleted.kind).toBe('Pod');
    expect((await failure(core.readNamespacedPod({ namespace: 'crud-b', name: 'p1' }))).code).toBe(404);
  });

  it('serves the cluster-scoped Node', async () => {
    const created = await core.createNode({ body: { metadata: { name: 'n1', labels: { zone: 'a' } }, spec: {} } });
    expect(created.metadata?.namespace).toBeUndefined();
    expect((await core.readNode({ name: 'n1' })).metadata?.labels).toEqual({ zone: 'a' });
    expect((await core.listNode()).items.map((n) => n.metadata?.name)).toContain('n1');
    created.spec = { unschedulable: true };
    expect((await core.replaceNode({ name: 'n1', body: created })).spec?.unschedulable).toBe(true);
    const status = await core.deleteNode({ name: 'n1' });
    expect(status.status).toBe('Success');
    expect((await failure(core.readNode({ name: 'n1' }))).code).toBe(404);
  });

  it('deletes a pod on a node after its grace period, or at once with gracePeriodSeconds 0', async () => {
    await core.createNamespacedPod({ namespace: 'crud-b', body: pod('bound', 'n9') });
    const marked = (await core.deleteNamespacedPod({ namespace: 'crud-b', name: 'bound' })) as V1Pod;
    expect(marked.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(marked.metadata?.deletionGracePeriodSeconds).toBe(30);
    expect((await core.readNamespacedPod({ namespace: 'crud-b', name: 'bound' })).metadata?.deletionTimestamp).toBeInstanceOf(Date);

    await core.deleteNamespacedPod({ namespace: 'crud-b', name: 'bound', gracePeriodSeconds: 0 });
    expect((await failure(core.readNamespacedPod({ namespace: 'crud-b', name: 'bound' }))).code).toBe(404);
  });

  it('honours delete preconditions on uid and resourceVersion', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'crud-a', body: configMap('pre') });
    const wrongUid = await failure(core.deleteNamespacedConfigMap({
      namespace: 'crud-a', name: 'pre', body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } },
    }));
    expect(wrongUid.code).toBe(409);
    expect(wrongUid.status.reason).toBe('Conflict');
    expect(wrongUid.status.message).toContain('Precondition failed: UID');

    const wrongRv = await failure(core.deleteNamespacedConfigMap({
      namespace: 'crud-a', name: 'pre', body: { preconditions: { resourceVersion: '1' } },
    }));
    expect(wrongRv.code).toBe(409);
    expect(wrongRv.status.message).toContain('Precondition failed: ResourceVersion');
    expect((await core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'pre' })).metadata?.uid).toBe(cm.metadata?.uid);

    await core.deleteNamespacedConfigMap({
      namespace: 'crud-a', name: 'pre',
      body: { preconditions: { uid: cm.metadata?.uid, resourceVersion: cm.metadata?.resourceVersion } },
    });
    expect((await failure(core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'pre' }))).code).toBe(404);
  });

  it('a dry-run delete leaves the object', async () => {
    await core.createNamespacedConfigMap({ namespace: 'crud-a', body: configMap('dry') });
    await core.deleteNamespacedConfigMap({ namespace: 'crud-a', name: 'dry', dryRun: 'All' });
    expect((await core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'dry' })).metadata?.name).toBe('dry');
  });

  it('deletes a collection by label selector', async () => {
    await core.createNamespace({ body: { metadata: { name: 'crud-coll' } } });
    for (const [name, tier] of [['c1', 'cache'], ['c2', 'cache'], ['c3', 'db']]) {
      await core.createNamespacedConfigMap({ namespace: 'crud-coll', body: configMap(name, { tier }) });
    }
    const res = await core.deleteCollectionNamespacedConfigMap({ namespace: 'crud-coll', labelSelector: 'tier=cache' });
    expect(res.kind).toBe('ConfigMapList'); // the deleted objects, as kube-apiserver answers
    const left = await core.listNamespacedConfigMap({ namespace: 'crud-coll' });
    expect(left.items.map((c) => c.metadata?.name)).toEqual(['c3']);
  });

  it('a dry-run create stores nothing', async () => {
    const obj = await core.createNamespacedConfigMap({ namespace: 'crud-a', body: configMap('dry-create'), dryRun: 'All' });
    expect(obj.metadata?.uid).toBeDefined();
    expect((await failure(core.readNamespacedConfigMap({ namespace: 'crud-a', name: 'dry-create' }))).code).toBe(404);
  });
});

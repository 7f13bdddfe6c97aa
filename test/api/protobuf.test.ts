// Protobuf request bodies as kubectl 1.32 sends them (fixtures captured from kubectl), read back as JSON.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/protobuf');
const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const bin = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, `${name}.bin`)));
const expected = (name: string) => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Record<string, any>;

describe('protobuf bodies', () => {
  let api: ApiServer, core: CoreV1Api, apps: AppsV1Api;

  async function send(method: string, path: string, body: Uint8Array<ArrayBuffer>) {
    const res = await api.request(path, {
      method,
      body,
      headers: { 'content-type': PROTOBUF, accept: `${PROTOBUF}, application/json` },
    });
    return { code: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, any> };
  }

  beforeAll(async () => {
    ({ api, core, apps } = await startClientApi());
  });
  afterAll(() => api.stop());

  it('kubectl create namespace', async () => {
    const res = await send('POST', '/api/v1/namespaces', bin('namespace'));
    expect(res.code).toBe(201);
    expect(res.type).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: expected('namespace').metadata.name } });
    const ns = await core.readNamespace({ name: 'x' });
    expect(ns.status?.phase).toBe('Active');
    expect(ns.metadata?.uid).toBe(res.body.metadata.uid);
  });

  it('kubectl create deployment', async () => {
    const res = await send('POST', '/apis/apps/v1/namespaces/default/deployments', bin('deployment'));
    expect(res.code).toBe(201);
    const want = expected('deployment');
    const dep = await apps.readNamespacedDeployment({ namespace: 'default', name: want.metadata.name });
    expect(dep.metadata?.labels).toEqual(want.metadata.labels);
    expect(dep.spec?.replicas).toBe(want.spec.replicas);
    expect(dep.spec?.selector).toEqual(want.spec.selector);
    expect(dep.spec?.template.metadata?.labels).toEqual(want.spec.template.metadata.labels);
    const [container] = dep.spec?.template.spec?.containers ?? [];
    expect(container.name).toBe(want.spec.template.spec.containers[0].name);
    expect(container.image).toBe(want.spec.template.spec.containers[0].image);
    expect(container.ports?.map((p) => p.containerPort)).toEqual([80]);
    // Zero values the encoder wrote for unset fields are treated as unset, so defaults apply.
    expect(dep.spec?.strategy?.type).toBe('RollingUpdate');
    expect(dep.spec?.template.spec?.restartPolicy).toBe('Always');
    expect(dep.metadata?.creationTimestamp).toBeInstanceOf(Date);
  });

  it('kubectl create service clusterip', async () => {
    const res = await send('POST', '/api/v1/namespaces/default/services', bin('service'));
    expect(res.code).toBe(201);
    const want = expected('service');
    const svc = await core.readNamespacedService({ namespace: 'default', name: want.metadata.name });
    expect(svc.spec?.selector).toEqual(want.spec.selector);
    expect(svc.spec?.type).toBe('ClusterIP');
    expect(svc.spec?.ports).toEqual([expect.objectContaining({ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 })]);
    expect(svc.spec?.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it('kubectl create configmap and secret', async () => {
    expect((await send('POST', '/api/v1/namespaces/default/configmaps', bin('configmap'))).code).toBe(201);
    const cm = await core.readNamespacedConfigMap({ namespace: 'default', name: expected('configmap').metadata.name });
    expect(cm.data).toEqual(expected('configmap').data);

    expect((await send('POST', '/api/v1/namespaces/default/secrets', bin('secret'))).code).toBe(201);
    const secret = await core.readNamespacedSecret({ namespace: 'default', name: expected('secret').metadata.name });
    expect(secret.data).toEqual(expected('secret').data);
    expect(secret.type).toBe('Opaque');
  });

  it('kubectl create serviceaccount', async () => {
    const res = await send('POST', '/api/v1/namespaces/default/serviceaccounts', bin('serviceaccount'));
    expect(res.code).toBe(201);
    expect(res.body).toMatchObject({ kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: expected('serviceaccount').metadata.name, namespace: 'default' } });
    expect((await core.readNamespacedServiceAccount({ namespace: 'default', name: 'sa' })).metadata?.uid).toBe(res.body.metadata.uid);
  });

  it('a second protobuf create of the same object is 409 AlreadyExists', async () => {
    const res = await send('POST', '/api/v1/namespaces/default/configmaps', bin('configmap'));
    expect(res.code).toBe(409);
    expect(res.body.reason).toBe('AlreadyExists');
  });

  it('a protobuf body of another kind than the path is 400', async () => {
    const res = await send('POST', '/api/v1/namespaces/default/configmaps', bin('secret'));
    expect(res.code).toBe(400);
  });

  it('kubectl drain without eviction: DELETE with protobuf DeleteOptions (dry run, then for real)', async () => {
    await core.createNode({ body: { metadata: { name: 'n1' } } });
    const pod = { metadata: { name: 'bare' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } };
    await core.createNamespacedPod({ namespace: 'default', body: pod });

    const dry = await send('DELETE', '/api/v1/namespaces/default/pods/bare', bin('drain-dry-run'));
    expect(dry.code).toBe(200);
    expect((await core.readNamespacedPod({ namespace: 'default', name: 'bare' })).metadata?.deletionTimestamp).toBeUndefined();

    const real = await send('DELETE', '/api/v1/namespaces/default/pods/bare', bin('drain-delete'));
    expect(real.code).toBe(200);
    expect(real.body.kind).toBe('Pod');
    const terminating = await core.readNamespacedPod({ namespace: 'default', name: 'bare' });
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
  });

  describe('malformed protobuf is 400', () => {
    const good = () => bin('configmap');
    it.each([
      ['no k8s envelope', () => new TextEncoder().encode('{"kind":"ConfigMap"}')],
      ['only the magic', () => new Uint8Array([0x6b, 0x38, 0x73, 0x00])],
      ['truncated', () => good().slice(0, good().length - 5)],
      ['garbage after the magic', () => new Uint8Array([0x6b, 0x38, 0x73, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])],
      ['a length running past the end', () => new Uint8Array([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x7f, 0x0a, 0x02])],
    ])('%s', async (_name, body) => {
      const res = await send('POST', '/api/v1/namespaces/default/configmaps', body());
      expect(res.code).toBe(400);
      expect(res.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    });

    it('leaves nothing behind', async () => {
      const list = await core.listNamespacedConfigMap({ namespace: 'default' });
      expect(list.items.map((c) => c.metadata?.name)).toEqual([expected('configmap').metadata.name]);
    });
  });
});

// The Kubernetes REST verbs through the Worker's fetch entry point inside workerd, with the state in
// the local libSQL endpoint reached over HTTP.
import { beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, expectStatus, send } from './api.js';

let ns: string;

beforeAll(async () => {
  ns = await createNamespace('crud');
});

describe('authentication', () => {
  it('answers 401 without the bearer token or with a wrong one', async () => {
    for (const token of [null, 'not-the-token']) {
      const status = await expectStatus(send(`/api/v1/namespaces/${ns}/configmaps`, { token }), 401);
      expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
  });
});

describe('ConfigMap', () => {
  const path = () => `/api/v1/namespaces/${ns}/configmaps`;

  it('is created, read, listed, patched and deleted', async () => {
    const created = await expectStatus(
      send(path(), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', labels: { app: 'web' } }, data: { a: '1' } } }),
      201,
    );
    expect(created.metadata).toMatchObject({ name: 'settings', namespace: ns });
    expect(created.metadata.uid).toEqual(expect.any(String));
    expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);

    const got = await expectStatus(send(`${path()}/settings`), 200);
    expect(got).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1', data: { a: '1' } });
    expect(got.metadata.uid).toBe(created.metadata.uid);

    await expectStatus(send(path(), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other' } } }), 201);
    const list = await expectStatus(send(`${path()}?labelSelector=app%3Dweb`), 200);
    expect(list.kind).toBe('ConfigMapList');
    expect(list.items.map((i: any) => i.metadata.name)).toEqual(['settings']);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(created.metadata.resourceVersion));

    const patched = await expectStatus(
      send(`${path()}/settings`, { method: 'PATCH', body: { data: { b: '2' } }, contentType: 'application/merge-patch+json' }),
      200,
    );
    expect(patched.data).toEqual({ a: '1', b: '2' });
    expect(Number(patched.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect((await expectStatus(send(`${path()}/settings`), 200)).data).toEqual({ a: '1', b: '2' });

    await expectStatus(send(`${path()}/settings`, { method: 'DELETE' }), 200);
    const gone = await expectStatus(send(`${path()}/settings`), 404);
    expect(gone).toMatchObject({ kind: 'Status', reason: 'NotFound', details: { name: 'settings', kind: 'configmaps' } });
    expect((await expectStatus(send(path()), 200)).items.map((i: any) => i.metadata.name)).toEqual(['other']);
  });

  it('refuses a second object of the same name with 409 AlreadyExists', async () => {
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice' } };
    await expectStatus(send(path(), { body }), 201);
    expect(await expectStatus(send(path(), { body }), 409)).toMatchObject({ reason: 'AlreadyExists' });
  });
});

describe('Deployment', () => {
  const path = () => `/apis/apps/v1/namespaces/${ns}/deployments`;
  const web = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } },
    },
  };

  it('is created with defaults, read, listed, patched and deleted', async () => {
    const created = await expectStatus(send(path(), { body: web }), 201);
    expect(created.metadata).toMatchObject({ name: 'web', namespace: ns, generation: 1 });
    expect(created.spec.strategy).toMatchObject({ type: 'RollingUpdate' });

    const got = await expectStatus(send(`${path()}/web`), 200);
    expect(got).toMatchObject({ kind: 'Deployment', apiVersion: 'apps/v1', spec: { replicas: 1 } });

    const list = await expectStatus(send(path()), 200);
    expect(list.kind).toBe('DeploymentList');
    expect(list.items.map((i: any) => i.metadata.name)).toEqual(['web']);

    const patched = await expectStatus(
      send(`${path()}/web`, { method: 'PATCH', body: { spec: { replicas: 3 } }, contentType: 'application/merge-patch+json' }),
      200,
    );
    expect(patched.spec.replicas).toBe(3);
    expect(patched.metadata.generation).toBe(2);

    await expectStatus(send(`${path()}/web`, { method: 'DELETE', body: { propagationPolicy: 'Background' } }), 200);
    expect(await expectStatus(send(`${path()}/web`), 404)).toMatchObject({ reason: 'NotFound', details: { group: 'apps', kind: 'deployments' } });
  });
});

// Conflicts and errors as a client sees them: the HTTP code and a metav1.Status with reason and details.
import { ApiException, CoreV1Api, KubeConfig, type AppsV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';
import { failure } from '../helpers/status.js';

const NS = 'errs';

describe('conflicts and errors', () => {
  let api: ApiServer, core: CoreV1Api, apps: AppsV1Api;

  /** A raw request; returns the code and the JSON body. */
  async function raw(method: string, path: string, body?: string, contentType = 'application/json') {
    const res = await api.request(path, { method, body, headers: body === undefined ? {} : { 'content-type': contentType } });
    const text = await res.text();
    return { code: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  }

  const cm = (name: string, data: Record<string, string> = { a: '1' }): V1ConfigMap => ({ metadata: { name }, data });

  beforeAll(async () => {
    ({ api, core, apps } = await startClientApi([NS]));
  });
  afterAll(() => api.stop());

  describe('conflicts', () => {
    it('an update with a stale resourceVersion is 409 Conflict', async () => {
      const first = await core.createNamespacedConfigMap({ namespace: NS, body: cm('stale') });
      await core.replaceNamespacedConfigMap({ namespace: NS, name: 'stale', body: { ...first, data: { a: '2' } } });
      const res = await failure(core.replaceNamespacedConfigMap({ namespace: NS, name: 'stale', body: { ...first, data: { a: '3' } } }));
      expect(res.code).toBe(409);
      expect(res.status).toMatchObject({
        kind: 'Status',
        status: 'Failure',
        reason: 'Conflict',
        code: 409,
        details: { name: 'stale', kind: 'configmaps' },
      });
      expect(res.status.message).toContain('the object has been modified');
      expect((await core.readNamespacedConfigMap({ namespace: NS, name: 'stale' })).data).toEqual({ a: '2' });
    });

    it('of two concurrent updates from the same read, exactly one wins', async () => {
      const read = await core.createNamespacedConfigMap({ namespace: NS, body: cm('race') });
      const results = await Promise.allSettled(
        ['x', 'y', 'z'].map((v) => core.replaceNamespacedConfigMap({ namespace: NS, name: 'race', body: { ...read, data: { a: v } } })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r.reason as ApiException<unknown>).code)).toEqual([409, 409]);
      const stored = await core.readNamespacedConfigMap({ namespace: NS, name: 'race' });
      expect(stored.data).toEqual((won[0] as PromiseFulfilledResult<V1ConfigMap>).value.data);
    });

    it('an update without a resourceVersion is unconditional', async () => {
      await core.createNamespacedConfigMap({ namespace: NS, body: cm('blind') });
      const res = await core.replaceNamespacedConfigMap({ namespace: NS, name: 'blind', body: cm('blind', { a: 'new' }) });
      expect(res.data).toEqual({ a: 'new' });
    });

    it('creating twice is 409 AlreadyExists', async () => {
      await core.createNamespacedConfigMap({ namespace: NS, body: cm('twice') });
      const res = await failure(core.createNamespacedConfigMap({ namespace: NS, body: cm('twice') }));
      expect(res.code).toBe(409);
      expect(res.status.reason).toBe('AlreadyExists');
      expect(res.status.message).toBe('configmaps "twice" already exists');
      expect(res.status.details).toMatchObject({ name: 'twice', kind: 'configmaps' });
    });
  });

  describe('not found', () => {
    it('a missing object is 404 NotFound with details', async () => {
      const res = await failure(core.readNamespacedConfigMap({ namespace: NS, name: 'missing' }));
      expect(res.code).toBe(404);
      expect(res.status).toMatchObject({ reason: 'NotFound', message: 'configmaps "missing" not found', details: { name: 'missing', kind: 'configmaps' } });
      const dep = await failure(apps.readNamespacedDeployment({ namespace: NS, name: 'web' }));
      expect(dep.status).toMatchObject({ message: 'deployments.apps "web" not found', details: { name: 'web', group: 'apps', kind: 'deployments' } });
      expect((await failure(core.deleteNamespacedConfigMap({ namespace: NS, name: 'missing' }))).code).toBe(404);
      expect((await failure(core.replaceNamespacedConfigMap({ namespace: NS, name: 'missing', body: cm('missing') }))).code).toBe(404);
    });

    it('an unknown resource or group is 404', async () => {
      for (const path of ['/api/v1/namespaces/default/widgets', '/apis/nope.example.com/v1/things', '/api/v2/pods', '/apis/apps/v1/namespaces/default/configmaps']) {
        const res = await raw('GET', path);
        expect(res.code, path).toBe(404);
        expect(res.body?.kind, path).toBe('Status');
        expect(res.body?.reason, path).toBe('NotFound');
      }
      // a cluster-scoped kind under a namespace
      expect((await raw('GET', '/api/v1/namespaces/default/nodes')).code).toBe(404);
    });

    it('creating into a namespace that does not exist is 404 for the namespace', async () => {
      const res = await failure(core.createNamespacedConfigMap({ namespace: 'no-such-ns', body: cm('x') }));
      expect(res.code).toBe(404);
      expect(res.status).toMatchObject({ reason: 'NotFound', details: { name: 'no-such-ns', kind: 'namespaces' } });
    });
  });

  describe('invalid objects', () => {
    it('422 Invalid with a cause per field path', async () => {
      const res = await failure(apps.createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name: 'bad' },
          spec: {
            replicas: -1,
            selector: { matchLabels: { app: 'x' } },
            template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'c', image: '' }] } },
          },
        },
      }));
      expect(res.code).toBe(422);
      expect(res.status.reason).toBe('Invalid');
      expect(res.status.details).toMatchObject({ name: 'bad', group: 'apps', kind: 'Deployment' });
      const fields = res.status.details?.causes?.map((c) => c.field);
      expect(fields).toEqual(expect.arrayContaining(['spec.replicas', 'spec.template.metadata.labels', 'spec.template.spec.containers[0].image']));
      expect(res.status.details?.causes?.every((c) => c.reason?.startsWith('FieldValue'))).toBe(true);
      expect(res.status.message).toMatch(/^Deployment\.apps "bad" is invalid: /);
    });

    it('rejects a bad name, and a bad data key', async () => {
      const badName = await failure(core.createNamespacedConfigMap({ namespace: NS, body: cm('Bad_Name') }));
      expect(badName.code).toBe(422);
      expect(badName.status.details?.causes?.map((c) => c.field)).toEqual(['metadata.name']);
      const badKey = await failure(core.createNamespacedConfigMap({ namespace: NS, body: cm('badkey', { 'no/slash': 'x' }) }));
      expect(badKey.code).toBe(422);
      expect(badKey.status.details?.causes?.map((c) => c.field)).toEqual(['data[no/slash]']);
      const noName = await failure(core.createNamespacedConfigMap({ namespace: NS, body: { data: {} } }));
      expect(noName.code).toBe(422);
      expect(noName.status.details?.causes?.[0]).toMatchObject({ reason: 'FieldValueRequired', field: 'metadata.name' });
    });

    it('rejects changes to immutable fields', async () => {
      const dep = await apps.createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name: 'sel' },
          spec: {
            selector: { matchLabels: { app: 'sel' } },
            template: { metadata: { labels: { app: 'sel', v: '1' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
          },
        },
      });
      dep.spec!.selector = { matchLabels: { app: 'sel', v: '1' } };
      const res = await failure(apps.replaceNamespacedDeployment({ namespace: NS, name: 'sel', body: dep }));
      expect(res.code).toBe(422);
      expect(res.status.details?.causes?.map((c) => c.field)).toContain('spec.selector');

      const frozen = await core.createNamespacedConfigMap({ namespace: NS, body: { ...cm('frozen'), immutable: true } });
      const change = await failure(core.replaceNamespacedConfigMap({ namespace: NS, name: 'frozen', body: { ...frozen, data: { a: 'changed' } } }));
      expect(change.code).toBe(422);
      expect(change.status.details?.causes?.map((c) => c.field)).toEqual(['data']);
    });

    it('fieldValidation=Strict refuses unknown fields with 400; the default accepts and drops nothing it knows', async () => {
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'strict' }, data: { a: '1' }, bogus: true };
      const strict = await raw('POST', `/api/v1/namespaces/${NS}/configmaps?fieldValidation=Strict`, JSON.stringify(body));
      expect(strict.code).toBe(400);
      expect(strict.body?.reason).toBe('BadRequest');
      expect(strict.body?.message).toContain('unknown field "bogus"');
      expect((await failure(core.readNamespacedConfigMap({ namespace: NS, name: 'strict' }))).code).toBe(404);

      const lax = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, JSON.stringify(body));
      expect(lax.code).toBe(201);
      expect(lax.body?.data).toEqual({ a: '1' });
      const bad = await raw('POST', `/api/v1/namespaces/${NS}/configmaps?fieldValidation=Loose`, JSON.stringify({ ...body, metadata: { name: 'x' } }));
      expect(bad.code).toBe(400);
    });
  });

  describe('bad requests', () => {
    it('a body of the wrong kind for the path is 400', async () => {
      const res = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }));
      expect(res.code).toBe(400);
      expect(res.body?.reason).toBe('BadRequest');
      const version = await raw('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, JSON.stringify({ apiVersion: 'apps/v1beta1', kind: 'Deployment', metadata: { name: 'x' } }));
      expect(version.code).toBe(400);
    });

    it('a namespace or name in the body that disagrees with the URL is 400', async () => {
      const ns = await failure(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'x', namespace: 'default' } } }));
      expect(ns.code).toBe(400);
      await core.createNamespacedConfigMap({ namespace: NS, body: cm('named') });
      const name = await failure(core.replaceNamespacedConfigMap({ namespace: NS, name: 'named', body: cm('other') }));
      expect(name.code).toBe(400);
    });

    it('malformed JSON is 400', async () => {
      const res = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, '{"metadata": ');
      expect(res.code).toBe(400);
      expect((await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, '[1, 2]')).code).toBe(400);
    });

    it('a resourceVersion on create is refused', async () => {
      const res = await failure(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'rv', resourceVersion: '5' } } }));
      expect(res.code).toBe(400);
    });

    it('a body over 3 MiB is 413', async () => {
      const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { a: 'x'.repeat(3 * 1024 * 1024 + 10) } });
      const res = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, big);
      expect(res.code).toBe(413);
      expect(res.body?.reason).toBe('RequestEntityTooLarge');
      expect((await failure(core.readNamespacedConfigMap({ namespace: NS, name: 'big' }))).code).toBe(404);
    });

    it('an unsupported content type is 415, for create and for patch', async () => {
      const create = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, 'name: x', 'text/plain');
      expect(create.code).toBe(415);
      expect(create.body?.reason).toBe('UnsupportedMediaType');
      await core.createNamespacedConfigMap({ namespace: NS, body: cm('patchme') });
      const patch = await raw('PATCH', `/api/v1/namespaces/${NS}/configmaps/patchme`, '{"data":{"a":"2"}}', 'application/json');
      expect(patch.code).toBe(415);
    });

    it('YAML bodies are accepted', async () => {
      const res = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: "1"\n', 'application/yaml');
      expect(res.code).toBe(201);
      expect((await core.readNamespacedConfigMap({ namespace: NS, name: 'from-yaml' })).data).toEqual({ a: '1' });
    });

    it('a method the path does not serve is 405', async () => {
      const res = await raw('POST', `/api/v1/namespaces/${NS}/configmaps/named`, JSON.stringify(cm('named')));
      expect(res.code).toBe(405);
      expect(res.body?.reason).toBe('MethodNotAllowed');
      expect((await raw('PUT', `/api/v1/namespaces/${NS}/configmaps`, JSON.stringify(cm('named')))).code).toBe(405);
    });

    it('bad query parameters are 400', async () => {
      expect((await raw('GET', `/api/v1/namespaces/${NS}/configmaps?limit=-1`)).code).toBe(400);
      expect((await raw('GET', `/api/v1/namespaces/${NS}/configmaps?watch=true&timeoutSeconds=abc`)).code).toBe(400);
      expect((await raw('DELETE', `/api/v1/namespaces/${NS}/configmaps/named?gracePeriodSeconds=-5`)).code).toBe(400);
      expect((await raw('POST', `/api/v1/namespaces/${NS}/configmaps?dryRun=Some`, JSON.stringify(cm('dry')))).code).toBe(400);
    });
  });

  describe('authentication', () => {
    it('401 without a token or with a wrong one; health endpoints stay open', async () => {
      const res = await fetch(`${api.url}/api/v1/namespaces`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${api.url}/version`)).status).toBe(200);

      const wrong = new KubeConfig();
      wrong.loadFromOptions({
        clusters: [{ name: 'c', server: api.url, skipTLSVerify: true }],
        users: [{ name: 'u', token: 'wrong-token' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const denied = await failure(wrong.makeApiClient(CoreV1Api).listNamespace());
      expect(denied.code).toBe(401);
    });
  });
});

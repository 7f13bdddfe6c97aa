// What the client libraries send, through HTTP: Python's `watch=True`, client-go's
// resourceVersionMatch and watch-list (sendInitialEvents), aggregated discovery as kubectl asks for
// it, and the query booleans read as kube-apiserver reads them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';

const NS = 'habits';
const CM = `/api/v1/namespaces/${NS}/configmaps`;

let api: ApiServer;
beforeAll(async () => {
  ({ api } = await startClientApi([NS], { bookmarkIntervalMs: 300 }));
  for (const name of ['a', 'b']) {
    const res = await api.request(CM, { method: 'POST', body: JSON.stringify({ metadata: { name }, data: { k: name } }), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(201);
  }
});
afterAll(() => api?.stop());

interface Event {
  type: string;
  object: { kind?: string; metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> } };
}

/** Reads a watch until `done` holds for the events so far (or the stream ends), then closes it. */
async function watchEvents(path: string, done: (events: Event[]) => boolean = () => false, ms = 5000): Promise<{ status: number; type: string | null; events: Event[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  const res = await api.request(path, { signal: controller.signal });
  const events: Event[] = [];
  if (res.status !== 200 || !res.body) return { status: res.status, type: res.headers.get('content-type'), events };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buffer.slice(0, nl)) as Event);
        buffer = buffer.slice(nl + 1);
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: res.status, type: res.headers.get('content-type'), events };
}

const summary = (events: Event[]) => events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`.trim());

describe('query booleans, as kube-apiserver reads them', () => {
  it('watches for watch=True (Python), t, 1, and anything but 0 and false', async () => {
    const results = await Promise.all(['True', 't', '1', 'bogus'].map((v) => watchEvents(`${CM}?watch=${v}&timeoutSeconds=1`)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.type).toBe('application/json');
      expect(summary(r.events)).toEqual(['ADDED a', 'ADDED b']);
    }
  });

  it('lists for watch=0, false and False', async () => {
    for (const v of ['0', 'false', 'False']) {
      const res = await api.request(`${CM}?watch=${v}`);
      expect(res.status).toBe(200);
      expect((await res.json()).kind).toBe('ConfigMapList');
    }
  });

  it('takes allowWatchBookmarks=True and pretty=true', async () => {
    const res = await api.request(`${CM}?pretty=true`);
    expect(res.status).toBe(200);
    const r = await watchEvents(`${CM}?watch=True&allowWatchBookmarks=True&timeoutSeconds=5`, (e) => e.length >= 3);
    expect(summary(r.events)).toEqual(['ADDED a', 'ADDED b', 'BOOKMARK']);
  });
});

describe('resourceVersionMatch and sendInitialEvents (client-go)', () => {
  const listRv = async () => (await (await api.request(CM)).json()).metadata.resourceVersion as string;

  it('lists NotOlderThan and Exact the current resourceVersion', async () => {
    const rv = await listRv();
    for (const match of ['NotOlderThan', 'Exact']) {
      const res = await api.request(`${CM}?resourceVersion=${rv}&resourceVersionMatch=${match}`);
      expect(res.status).toBe(200);
      expect((await res.json()).items).toHaveLength(2);
    }
  });

  it('refuses what kube-apiserver\'s ValidateListOptions refuses, with its words', async () => {
    const cases: [string, string][] = [
      ['resourceVersionMatch=NotOlderThan', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
      ['resourceVersion=1&resourceVersionMatch=Newest', 'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'],
      ['resourceVersion=0&resourceVersionMatch=Exact', 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
      ['sendInitialEvents=true', 'sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list'],
      ['watch=1&resourceVersionMatch=NotOlderThan', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'],
      ['watch=1&sendInitialEvents=true', 'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'],
    ];
    for (const [query, message] of cases) {
      const res = await api.request(`${CM}?${query}`);
      expect(res.status, query).toBe(422);
      const status = await res.json();
      expect(status.reason).toBe('Invalid');
      expect(status.message).toBe(`ListOptions.meta.k8s.io "" is invalid: ${message}`);
      expect(status.details).toMatchObject({ group: 'meta.k8s.io', kind: 'ListOptions' });
    }
  });

  it('answers a resourceVersion from the future with 504 Timeout, ResourceVersionTooLarge', async () => {
    const res = await api.request(`${CM}?resourceVersion=999999999&resourceVersionMatch=NotOlderThan`);
    expect(res.status).toBe(504);
    const status = await res.json();
    expect(status.reason).toBe('Timeout');
    expect(status.message).toMatch(/^Timeout: Too large resource version: 999999999, current: \d+$/);
    expect(status.details.causes).toEqual([{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }]);
  });

  it('streams the state, then the BOOKMARK marking its end, for a watch-list (sendInitialEvents=true)', async () => {
    const rv = await listRv();
    const r = await watchEvents(`${CM}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=`, (e) => e.length >= 3);
    expect(summary(r.events)).toEqual(['ADDED a', 'ADDED b', 'BOOKMARK']);
    const mark = r.events[2].object;
    expect(mark.kind).toBe('ConfigMap');
    expect(mark.metadata?.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
    expect(Number(mark.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
  });

  it('starts at the newest change, with no state first, for sendInitialEvents=false', async () => {
    const watching = watchEvents(`${CM}?watch=1&sendInitialEvents=false&resourceVersionMatch=NotOlderThan`, (e) => e.length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    await api.request(CM, { method: 'POST', body: JSON.stringify({ metadata: { name: 'c' } }), headers: { 'content-type': 'application/json' } });
    expect(summary((await watching).events)).toEqual(['ADDED c']);
    await api.request(`${CM}/c`, { method: 'DELETE' });
  });
});

describe('aggregated discovery', () => {
  const KUBECTL_1_33 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
  const KUBECTL_1_27 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

  const get = async (path: string, accept?: string) => {
    const res = await api.request(path, accept ? { headers: { accept } } : {});
    expect(res.status).toBe(200);
    return { type: res.headers.get('content-type'), vary: res.headers.get('vary'), body: await res.json() };
  };

  it('answers kubectl 1.30+ with v2 and 1.27-1.29 with v2beta1, under the Content-Type client-go reads', async () => {
    const v2 = await get('/apis', KUBECTL_1_33);
    expect(v2.type).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    expect(v2.vary).toBe('Accept');
    expect(v2.body).toMatchObject({ kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2' });
    const beta = await get('/api', KUBECTL_1_27);
    expect(beta.type).toBe('application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList');
    expect(beta.body.apiVersion).toBe('apidiscovery.k8s.io/v2beta1');
    // A protobuf aggregated document is not served: the next choice is taken.
    const next = await get('/apis', `application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,${KUBECTL_1_33}`);
    expect(next.body.apiVersion).toBe('apidiscovery.k8s.io/v2');
  });

  it('falls back to the legacy documents for any other Accept', async () => {
    for (const accept of [undefined, 'application/json', 'application/json, */*', '*/*']) {
      expect((await get('/api', accept)).body.kind, String(accept)).toBe('APIVersions');
      const apis = await get('/apis', accept);
      expect(apis.type).toBe('application/json');
      expect(apis.body.kind).toBe('APIGroupList');
    }
  });

  it('lists every resource with its verbs, names, scope, subresources and response kind', async () => {
    const core = (await get('/api', KUBECTL_1_33)).body;
    expect(core.items).toHaveLength(1);
    expect(core.items[0].metadata.name).toBeUndefined();
    const v1 = core.items[0].versions[0];
    expect(v1).toMatchObject({ version: 'v1', freshness: 'Current' });
    const pods = v1.resources.find((r: { resource: string }) => r.resource === 'pods');
    expect(pods).toMatchObject({
      responseKind: { group: '', version: 'v1', kind: 'Pod' },
      scope: 'Namespaced',
      singularResource: 'pod',
      shortNames: ['po'],
      categories: ['all'],
      verbs: expect.arrayContaining(['create', 'delete', 'get', 'list', 'watch']),
    });
    const subs = Object.fromEntries(pods.subresources.map((s: { subresource: string }) => [s.subresource, s]));
    expect(Object.keys(subs).sort()).toEqual(['attach', 'binding', 'eviction', 'exec', 'log', 'portforward', 'proxy', 'status']);
    expect(subs.eviction).toEqual({ subresource: 'eviction', responseKind: { group: 'policy', version: 'v1', kind: 'Eviction' }, verbs: ['create'] });
    expect(subs.exec.responseKind.kind).toBe('PodExecOptions');
    expect(subs.log.responseKind.kind).toBe('Pod');
    const nodes = v1.resources.find((r: { resource: string }) => r.resource === 'nodes');
    expect(nodes.scope).toBe('Cluster');
    expect(nodes.subresources.map((s: { subresource: string }) => s.subresource).sort()).toEqual(['proxy', 'status']);

    const groups = (await get('/apis', KUBECTL_1_33)).body.items;
    const apps = groups.find((g: { metadata: { name: string } }) => g.metadata.name === 'apps');
    const deployments = apps.versions[0].resources.find((r: { resource: string }) => r.resource === 'deployments');
    expect(deployments.responseKind).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(deployments.subresources).toContainEqual({ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] });
    const metrics = groups.find((g: { metadata: { name: string } }) => g.metadata.name === 'metrics.k8s.io');
    expect(metrics.versions[0].resources.map((r: { resource: string; scope: string }) => `${r.resource} ${r.scope}`)).toEqual(['nodes Cluster', 'pods Namespaced']);
  });

  it('says what the legacy documents say, group by group', async () => {
    const aggregated = [...(await get('/api', KUBECTL_1_33)).body.items, ...(await get('/apis', KUBECTL_1_33)).body.items];
    const legacyGroups = (await get('/apis')).body.groups as { name: string; preferredVersion: { version: string } }[];
    expect(aggregated.map((g) => g.metadata.name ?? '')).toEqual(['', ...legacyGroups.map((g) => g.name)]);
    for (const group of aggregated) {
      const name = group.metadata.name ?? '';
      for (const version of group.versions) {
        const legacy = (await get(name ? `/apis/${name}/${version.version}` : `/api/${version.version}`)).body.resources as { name: string; verbs: string[]; namespaced: boolean }[];
        const flattened = version.resources.flatMap((r: { resource: string; verbs: string[]; scope: string; subresources?: { subresource: string; verbs: string[] }[] }) => [
          { name: r.resource, verbs: r.verbs, namespaced: r.scope === 'Namespaced' },
          ...(r.subresources ?? []).map((s) => ({ name: `${r.resource}/${s.subresource}`, verbs: s.verbs, namespaced: r.scope === 'Namespaced' })),
        ]);
        const key = (r: { name: string }) => r.name;
        expect(flattened.sort((a: { name: string }, b: { name: string }) => key(a).localeCompare(key(b))), `${name}/${version.version}`)
          .toEqual(legacy.map((r) => ({ name: r.name, verbs: r.verbs, namespaced: r.namespaced })).sort((a, b) => key(a).localeCompare(key(b))));
      }
    }
  });
});

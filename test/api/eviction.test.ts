// pods/eviction honouring PodDisruptionBudgets, through @kubernetes/client-node and plain HTTP, on a
// scenario cluster (played nodes, test clock): 429 while the budget allows nothing, an allowed
// eviction spending one disruption as it deletes the pod, racing evictions that spend one disruption
// once, and the cases kube-apiserver lets through without spending any. Then the budget's own API:
// validation and the printed table.
import { CoreV1Api, PolicyV1Api, type V1PodDisruptionBudget } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Eviction } from '../../src/api/eviction.js';
import { ObjectWriter } from '../../src/api/objects.js';
import { parseResourcePath } from '../../src/api/paths.js';
import type { Store, WriteResult } from '../../src/store/store.js';
import { jsonRequest } from '../helpers/json-request.js';
import { failure } from '../helpers/status.js';
import { condition, deployment, isReady, isTerminating, perTestClusters, type Cluster } from '../scenarios/cluster.js';

const NS = 'default';
const PODS = `/api/v1/namespaces/${NS}/pods`;
const APPS = `/apis/apps/v1/namespaces/${NS}`;
const VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget.";

const startCluster = perTestClusters();

function clients(c: Cluster) {
  return { core: c.api.kubeConfig.makeApiClient(CoreV1Api), policy: c.api.kubeConfig.makeApiClient(PolicyV1Api) };
}

const budget = (name: string, spec: V1PodDisruptionBudget['spec']): V1PodDisruptionBudget => ({
  apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
});

const eviction = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS }, ...extra });

/** A cluster with Deployment web of `replicas` ready pods and the budget web over them, its status computed. */
async function webBehindBudget(replicas: number, spec: V1PodDisruptionBudget['spec']) {
  const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
  const { core, policy } = clients(c);
  await c.create(`${APPS}/deployments`, deployment('web', replicas));
  await policy.createNamespacedPodDisruptionBudget({ namespace: NS, body: budget('web', spec) });
  await c.settle();
  const pods = (await c.list(PODS, 'app=web')).filter(isReady);
  expect(pods).toHaveLength(replicas);
  return { c, core, policy, pods: pods.map((p) => p.metadata.name as string) };
}

/** A bare pod labelled app=web, bound to `node`. */
const barePod = (name: string, node?: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, labels: { app: 'web' } },
  spec: { containers: [{ name: 'app', image: 'nginx' }], ...(node ? { nodeName: node } : {}), ...extra },
});

describe('pods/eviction with a PodDisruptionBudget', () => {
  it('is refused with 429 while the budget allows no disruption, and the pod stays', async () => {
    const { c, core, pods } = await webBehindBudget(2, { minAvailable: 2 });
    const refused = await failure(core.createNamespacedPodEviction({ namespace: NS, name: pods[0], body: eviction(pods[0]) }));
    expect(refused.code).toBe(429);
    expect(refused.status).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: VIOLATION, reason: 'TooManyRequests',
      details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] },
      code: 429,
    });
    // No Retry-After: kube-apiserver suggests none for a budget that is simply spent.
    const res = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0])));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(isTerminating(await c.get(`${PODS}/${pods[0]}`))).toBe(false);
    expect((await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`)).status.disruptedPods).toBeUndefined();
  });

  it('an allowed eviction deletes the pod and spends one disruption; the next one waits for the replacement', async () => {
    const { c, core, policy, pods } = await webBehindBudget(2, { minAvailable: 1 });
    const res = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0])));
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });

    const evicted = await c.get(`${PODS}/${pods[0]}`);
    expect(isTerminating(evicted)).toBe(true);
    expect(condition(evicted, 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' });
    const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: NS, name: 'web' });
    expect(pdb.status?.disruptionsAllowed).toBe(0);
    expect(Object.keys(pdb.status?.disruptedPods ?? {})).toEqual([pods[0]]);
    expect(pdb.status?.conditions?.find((x) => x.type === 'DisruptionAllowed')).toMatchObject({ status: 'False', reason: 'InsufficientPods' });

    const second = await failure(core.createNamespacedPodEviction({ namespace: NS, name: pods[1], body: eviction(pods[1]) }));
    expect(second.code).toBe(429);

    // The evicted pod goes, a replacement gets ready: one disruption allowed again.
    await c.settle();
    expect(await c.status(`${PODS}/${pods[0]}`)).toBe(404);
    const again = await policy.readNamespacedPodDisruptionBudget({ namespace: NS, name: 'web' });
    expect(again.status).toMatchObject({ currentHealthy: 2, desiredHealthy: 1, expectedPods: 2, disruptionsAllowed: 1 });
    await core.createNamespacedPodEviction({ namespace: NS, name: pods[1], body: eviction(pods[1]) });
    expect(isTerminating(await c.get(`${PODS}/${pods[1]}`))).toBe(true);
  });

  it('concurrent evictions over HTTP for the last disruption: exactly one is allowed', async () => {
    const { c, pods } = await webBehindBudget(4, { minAvailable: 3 });
    for (let round = 0; round < 3; round++) {
      const names = (await c.list(PODS, 'app=web')).filter((p) => isReady(p) && !isTerminating(p)).map((p) => p.metadata.name);
      expect(names).toHaveLength(4);
      const codes = await Promise.all(names.map(async (name) => {
        const res = await c.api.request(`${PODS}/${name}/eviction`, jsonRequest('POST', eviction(name)));
        const body = await res.json();
        if (res.status === 429) expect(body.message).toBe(VIOLATION);
        return res.status;
      }));
      expect(codes.filter((s) => s === 201)).toHaveLength(1);
      expect(codes.filter((s) => s === 429)).toHaveLength(3);
      expect((await c.list(PODS, 'app=web')).filter(isTerminating)).toHaveLength(1);
      const pdb = await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`);
      expect(pdb.status.disruptionsAllowed).toBe(0);
      expect(Object.keys(pdb.status.disruptedPods)).toHaveLength(1);
      await c.settle();
    }
    expect(pods).toHaveLength(4);
  });

  it('two evictions that both read the last disruption before either writes: one wins, the other writes nothing', async () => {
    const { c, pods } = await webBehindBudget(4, { minAvailable: 3 });
    // The database as the evictions see it: their first reads are held until both have read.
    const store = c.api.store;
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    const commits: WriteResult[][] = [];
    const held = {
      query: async (stmts: Parameters<Store['query']>[0]) => {
        const rows = await store.query(stmts);
        if (arrived < 2 && ++arrived === 2) release();
        if (arrived <= 2) await bothRead;
        return rows;
      },
      commit: async (ops: Parameters<Store['commit']>[0]) => {
        const results = await store.commit(ops);
        commits.push(results);
        return results;
      },
    } as unknown as Store;
    const ctx = { store: held, clock: c.clock };
    const evict = (name: string) =>
      new Eviction(ctx, new ObjectWriter(ctx)).evict(parseResourcePath(`${PODS}/${name}/eviction`)!, eviction(name), { dryRun: false, fieldManager: 'test', fieldValidation: 'Warn' });
    const [a, b] = await Promise.all([evict(pods[0]), evict(pods[1])]);
    expect([a.status, b.status].sort()).toEqual([201, 429]);
    // Both wrote; the loser's budget write failed on the budget's resourceVersion, and its pod's
    // deletion, conditional on that write, did not happen either.
    expect(commits.map((r) => r.map((x) => x.ok))).toEqual(expect.arrayContaining([[true, true], [false, false]]));
    expect(commits).toHaveLength(2);
    expect((await c.list(PODS, 'app=web')).filter(isTerminating).map((p) => p.metadata.name)).toEqual([a.status === 201 ? pods[0] : pods[1]]);
    const pdb = await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`);
    expect(pdb.status.disruptionsAllowed).toBe(0);
    expect(Object.keys(pdb.status.disruptedPods)).toEqual([a.status === 201 ? pods[0] : pods[1]]);
  });

  it('a pod two budgets select is not evicted: 500, as kube-apiserver answers', async () => {
    const { c, policy, pods } = await webBehindBudget(2, { maxUnavailable: 1 });
    await policy.createNamespacedPodDisruptionBudget({ namespace: NS, body: budget('also', { maxUnavailable: 1 }) });
    await c.settle();
    const res = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0])));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.', code: 500,
    });
    expect(isTerminating(await c.get(`${PODS}/${pods[0]}`))).toBe(false);
  });

  it('a budget its controller has not seen since a change answers 429 with Retry-After', async () => {
    const { c, policy, pods } = await webBehindBudget(3, { minAvailable: 1 });
    await policy.patchNamespacedPodDisruptionBudget({ namespace: NS, name: 'web', body: [{ op: 'replace', path: '/spec/minAvailable', value: 2 }] });
    const res = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0])));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('10');
    expect((await res.json()).details).toEqual({
      causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web is still being processed by the server.' }],
      retryAfterSeconds: 10,
    });
    await c.settle();
    expect((await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0])))).status).toBe(201);
  });

  it('a dry run checks the budget and changes nothing', async () => {
    const { c, pods } = await webBehindBudget(2, { minAvailable: 1 });
    const before = await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`);
    const viaQuery = await c.api.request(`${PODS}/${pods[0]}/eviction?dryRun=All`, jsonRequest('POST', eviction(pods[0])));
    expect(viaQuery.status).toBe(201);
    const viaBody = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0], { deleteOptions: { dryRun: ['All'] } })));
    expect(viaBody.status).toBe(201);
    expect(isTerminating(await c.get(`${PODS}/${pods[0]}`))).toBe(false);
    expect(await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`)).toEqual(before);
  });

  it('deleteOptions are honoured: grace period and preconditions', async () => {
    const { c, pods } = await webBehindBudget(3, { minAvailable: 1 });
    const pod = await c.get(`${PODS}/${pods[0]}`);
    const stale = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0], { deleteOptions: { preconditions: { uid: 'not-its-uid' } } })));
    expect(stale.status).toBe(409);
    const pdb = await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`);
    expect(pdb.status.disruptionsAllowed).toBe(2); // a refused precondition spends nothing
    const ok = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction(pods[0], { deleteOptions: { gracePeriodSeconds: 7, preconditions: { uid: pod.metadata.uid } } })));
    expect(ok.status).toBe(201);
    expect((await c.get(`${PODS}/${pods[0]}`)).metadata.deletionGracePeriodSeconds).toBe(7);
    // Grace period 0: the pod is gone at once, in the same batch as the budget's write.
    const now = await c.api.request(`${PODS}/${pods[1]}/eviction`, jsonRequest('POST', eviction(pods[1], { deleteOptions: { gracePeriodSeconds: 0 } })));
    expect(now.status).toBe(201);
    expect(await c.status(`${PODS}/${pods[1]}`)).toBe(404);
    expect((await c.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`)).status.disruptionsAllowed).toBe(0);
  });

  it('pods that are not ready: evicted without spending, where the budget is met or says AlwaysAllow', async () => {
    // node-b's pods never get ready within the test.
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b', readyAfter: 1000 }]);
    const { core, policy } = clients(c);
    for (const [name, node] of [['r1', 'node-a'], ['r2', 'node-a'], ['u1', 'node-b'], ['u2', 'node-b']]) await c.create(PODS, barePod(name, node));
    await policy.createNamespacedPodDisruptionBudget({ namespace: NS, body: budget('web', { minAvailable: 2 }) });
    await c.settle();
    expect((await policy.readNamespacedPodDisruptionBudget({ namespace: NS, name: 'web' })).status).toMatchObject({ currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0 });

    // IfHealthyBudget (unset): the budget is met, so an unready pod may go; a ready one may not.
    await core.createNamespacedPodEviction({ namespace: NS, name: 'u1', body: eviction('u1') });
    expect(isTerminating(await c.get(`${PODS}/u1`))).toBe(true);
    expect((await failure(core.createNamespacedPodEviction({ namespace: NS, name: 'r1', body: eviction('r1') }))).code).toBe(429);
    const unspent = await policy.readNamespacedPodDisruptionBudget({ namespace: NS, name: 'web' });
    expect(unspent.status?.disruptedPods).toBeUndefined();

    // Not met (3 needed, 2 healthy): an unready pod waits too, unless the budget always allows it.
    await policy.patchNamespacedPodDisruptionBudget({ namespace: NS, name: 'web', body: [{ op: 'replace', path: '/spec/minAvailable', value: 3 }] });
    await c.settle();
    expect((await failure(core.createNamespacedPodEviction({ namespace: NS, name: 'u2', body: eviction('u2') }))).code).toBe(429);
    await policy.patchNamespacedPodDisruptionBudget({ namespace: NS, name: 'web', body: [{ op: 'add', path: '/spec/unhealthyPodEvictionPolicy', value: 'AlwaysAllow' }] });
    await c.settle();
    await core.createNamespacedPodEviction({ namespace: NS, name: 'u2', body: eviction('u2') });
    expect(await c.status(`${PODS}/u2`)).toBe(200);
    expect(isTerminating(await c.get(`${PODS}/u2`))).toBe(true);
  });

  it('a pending pod is deleted without asking its budget; a missing one is 404', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    const { core, policy } = clients(c);
    await c.create(PODS, barePod('nowhere', undefined, { nodeSelector: { disk: 'none-has-it' } }));
    await policy.createNamespacedPodDisruptionBudget({ namespace: NS, body: budget('web', { minAvailable: 5 }) });
    await c.settle();
    expect((await c.get(`${PODS}/nowhere`)).status.phase).toBe('Pending');
    await core.createNamespacedPodEviction({ namespace: NS, name: 'nowhere', body: eviction('nowhere') });
    expect(await c.status(`${PODS}/nowhere`)).toBe(404);
    expect((await failure(core.createNamespacedPodEviction({ namespace: NS, name: 'nowhere', body: eviction('nowhere') }))).code).toBe(404);
  });

  it('takes policy/v1beta1 Evictions; refuses a name other than the path’s', async () => {
    const { c, pods } = await webBehindBudget(2, { minAvailable: 1 });
    const wrongName = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', eviction('other')));
    expect(wrongName.status).toBe(400);
    expect((await wrongName.json()).message).toBe('name in URL does not match name in Eviction object');
    const beta = await c.api.request(`${PODS}/${pods[0]}/eviction`, jsonRequest('POST', { ...eviction(pods[0]), apiVersion: 'policy/v1beta1' }));
    expect(beta.status).toBe(201);
  });
});

describe('PodDisruptionBudget objects', () => {
  it('validation as ValidatePodDisruptionBudget', async () => {
    const c = await startCluster([]);
    const { policy } = clients(c);
    const refusal = async (spec: Record<string, unknown>) => {
      const f = await failure(policy.createNamespacedPodDisruptionBudget({ namespace: NS, body: budget('bad', spec as V1PodDisruptionBudget['spec']) }));
      expect(f.code).toBe(422);
      return (f.status.details?.causes ?? []).map((x) => `${x.field}: ${x.message}`);
    };
    expect(await refusal({ minAvailable: 1, maxUnavailable: 1 })).toEqual([expect.stringMatching(/^spec: Invalid value: .*: minAvailable and maxUnavailable cannot be both set$/)]);
    expect(await refusal({ minAvailable: -1 })).toEqual(['spec.minAvailable: Invalid value: -1: must be greater than or equal to 0']);
    expect(await refusal({ maxUnavailable: '120%' })).toEqual(['spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}: must not be greater than 100%']);
    expect(await refusal({ minAvailable: 'half' })).toEqual([
      `spec.minAvailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"half"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')`,
    ]);
    expect(await refusal({ minAvailable: 1, unhealthyPodEvictionPolicy: 'Sometimes' })).toEqual([
      'spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget"',
    ]);
    expect(await refusal({ minAvailable: 1, selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } })).toEqual([
      "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    ]);
    // Neither is allowed (policy/v1 sets no default): such a budget allows no disruption.
    const created = await policy.createNamespacedPodDisruptionBudget({ namespace: NS, body: budget('neither', {}) });
    expect(created.spec?.minAvailable).toBeUndefined();
    expect(created.spec?.unhealthyPodEvictionPolicy).toBeUndefined();
  });

  it('a status sent with a create is dropped; status is written through /status only', async () => {
    const c = await startCluster([]);
    const body = { ...budget('web', { minAvailable: 1 }), status: { disruptionsAllowed: 5, observedGeneration: 1 } };
    const created = await c.create(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`, body);
    // Go's zero values, as a budget its controller has not seen yet reads.
    const zero = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
    expect(created.status).toEqual(zero);
    const updated = await c.send('PUT', `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/web`, { ...created, status: { disruptionsAllowed: 5 } });
    expect(updated.status).toEqual(zero);
  });

  it('prints as printPodDisruptionBudget', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await c.create(`${APPS}/deployments`, deployment('web', 2));
    await c.create(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`, budget('web', { minAvailable: '50%' }));
    await c.settle();
    const res = await c.api.request(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    const table = await res.json();
    expect(table.columnDefinitions.map((d: any) => d.name)).toEqual(['Name', 'Min Available', 'Max Unavailable', 'Allowed Disruptions', 'Age']);
    expect(table.rows[0].cells).toEqual(['web', '50%', 'N/A', 1, '0s']);
  });
});

// The endpoints controller reads digests on every pass and pods only for stale Services: each cause
// of staleness is noticed by the next pass, a pass with nothing to do reads once and writes nothing
// (even after pod writes that change no address), and a small batchSize spreads many Services over
// several passes, each within its bound.
import { describe, expect, it } from 'vitest';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { endpoints } from '../../src/control/endpoints.js';
import { deployment, perTestClusters, type Cluster } from '../scenarios/cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const MERGE = 'application/merge-patch+json';

const startCluster = perTestClusters();

/** One run of the endpoints controller alone: its writes and round trips. */
async function endpointsPass(c: Cluster, batchSize = defaultControlOptions.batchSize): Promise<{ writes: number; roundTrips: number }> {
  const ctx = new PassContext(c.api.store, c.clock, { ...defaultControlOptions, batchSize });
  const before = c.api.store.roundTrips;
  await endpoints(ctx);
  return { writes: ctx.writes, roundTrips: c.api.store.roundTrips - before };
}

const service = (name: string, selector: Record<string, string>, ports: unknown[] = [{ name: 'http', port: 80, targetPort: 'http' }]) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector, ports },
});

/** Addresses of a Service's Endpoints and slice, by pod name. */
async function listed(c: Cluster, name: string) {
  const ep = await c.get(`${NS}/endpoints/${name}`);
  const [slice] = await c.list('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', `kubernetes.io/service-name=${name}`);
  const names = (as: any[] = []) => as.map((a) => a.targetRef.name).sort();
  return {
    ready: names((ep.subsets ?? []).flatMap((s: any) => s.addresses ?? [])),
    notReady: names((ep.subsets ?? []).flatMap((s: any) => s.notReadyAddresses ?? [])),
    ports: (ep.subsets ?? []).map((s: any) => s.ports),
    slice: { ready: names(slice.endpoints.filter((e: any) => e.conditions.ready)), all: names(slice.endpoints), ports: slice.ports },
  };
}

/** A node, a Deployment "web" of `replicas` running pods and a Service "web" over them, settled. */
async function webCluster(replicas = 3): Promise<{ c: Cluster; pods: string[] }> {
  const c = await startCluster([{ name: 'node-a' }]);
  await c.create(`${APPS}/deployments`, deployment('web', replicas));
  await c.create(`${NS}/services`, service('web', { app: 'web' }));
  await c.settle();
  const pods = (await c.list(`${NS}/pods`, 'app=web')).map((p) => p.metadata.name).sort();
  expect(pods).toHaveLength(replicas);
  expect((await listed(c, 'web')).ready).toEqual(pods);
  return { c, pods };
}

/** The pass after a change rewrites the Endpoints and slice; the one after that is idle. */
async function expectRecomputedThenIdle(c: Cluster): Promise<void> {
  expect(await endpointsPass(c)).toEqual({ writes: 2, roundTrips: 3 });
  expect(await endpointsPass(c)).toEqual({ writes: 0, roundTrips: 1 });
}

describe('endpoints staleness', () => {
  it('an idle pass reads once and writes nothing, also after pod writes that change no address', async () => {
    const { c, pods } = await webCluster();
    expect(await endpointsPass(c)).toEqual({ writes: 0, roundTrips: 1 });
    // Newer pods, same addresses: an annotation, and an ownerReference released and adopted back.
    await c.send('PATCH', `${NS}/pods/${pods[0]}`, { metadata: { annotations: { note: 'x' } } }, MERGE);
    const pod = await c.get(`${NS}/pods/${pods[1]}`);
    await c.send('PATCH', `${NS}/pods/${pods[1]}`, { metadata: { ownerReferences: null } }, MERGE);
    await c.send('PATCH', `${NS}/pods/${pods[1]}`, { metadata: { ownerReferences: pod.metadata.ownerReferences } }, MERGE);
    expect(await endpointsPass(c)).toEqual({ writes: 0, roundTrips: 1 });
  });

  it('a pod that turns unready moves to notReadyAddresses', async () => {
    const { c, pods } = await webCluster();
    const pod = await c.get(`${NS}/pods/${pods[0]}`);
    pod.status.conditions = pod.status.conditions.map((x: any) => (x.type === 'Ready' ? { ...x, status: 'False' } : x));
    await c.send('PUT', `${NS}/pods/${pods[0]}/status`, pod);
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'web')).toMatchObject({ ready: pods.slice(1), notReady: [pods[0]], slice: { ready: pods.slice(1), all: pods } });
  });

  it('a deleted pod leaves', async () => {
    const { c, pods } = await webCluster();
    await c.send('DELETE', `${NS}/pods/${pods[1]}`, undefined);
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'web')).toMatchObject({ ready: [pods[0], pods[2]], notReady: [], slice: { all: [pods[0], pods[2]] } });
  });

  it('a pod relabelled out of the selector leaves, and one relabelled in joins', async () => {
    const { c, pods } = await webCluster();
    await c.send('PATCH', `${NS}/pods/${pods[2]}`, { metadata: { labels: { app: 'other' } } }, MERGE);
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'web')).toMatchObject({ ready: pods.slice(0, 2), slice: { all: pods.slice(0, 2) } });
    await c.send('PATCH', `${NS}/pods/${pods[2]}`, { metadata: { labels: { app: 'web' } } }, MERGE);
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'web')).toMatchObject({ ready: pods, slice: { all: pods } });
  });

  it("a Service's new selector or ports are followed", async () => {
    const { c, pods } = await webCluster();
    await c.send('PATCH', `${NS}/pods/${pods[0]}`, { metadata: { labels: { tier: 'front' } } }, MERGE);
    await c.send('PATCH', `${NS}/services/web`, { spec: { selector: { app: 'web', tier: 'front' } } }, MERGE);
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'web')).toMatchObject({ ready: [pods[0]], slice: { all: [pods[0]] } });

    await c.send('PATCH', `${NS}/services/web`, { spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }, MERGE);
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'web')).toMatchObject({ ports: [[{ name: 'http', port: 8080, protocol: 'TCP' }]], slice: { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] } });
  });

  it("a Service edited without new addresses gets its labels copied once, then is idle", async () => {
    const { c } = await webCluster();
    await c.send('PATCH', `${NS}/services/web`, { metadata: { labels: { team: 'shop' } }, spec: { ports: [{ name: 'http', port: 8080, targetPort: 'http' }] } }, MERGE);
    await expectRecomputedThenIdle(c);
    expect((await c.get(`${NS}/endpoints/web`)).metadata.labels).toEqual({ team: 'shop' });
    const [slice] = await c.list('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', 'kubernetes.io/service-name=web');
    expect(slice.metadata.labels).toMatchObject({ team: 'shop', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
  });

  it('selects by label keys with dots and slashes, and drops the Endpoints of a deleted Service', async () => {
    const { c, pods } = await webCluster();
    await c.send('PATCH', `${NS}/pods/${pods[1]}`, { metadata: { labels: { 'app.kubernetes.io/part-of': 'shop' } } }, MERGE);
    await c.create(`${NS}/services`, service('shop', { 'app.kubernetes.io/part-of': 'shop' }));
    expect(await endpointsPass(c)).toEqual({ writes: 2, roundTrips: 3 });
    expect(await listed(c, 'shop')).toMatchObject({ ready: [pods[1]], slice: { all: [pods[1]] } });

    await c.send('DELETE', `${NS}/services/shop`, undefined);
    expect(await endpointsPass(c)).toEqual({ writes: 1, roundTrips: 2 });
    expect(await c.status(`${NS}/endpoints/shop`)).toBe(404);
  });

  it('a Service whose named port no pod has lists nothing and stays idle', async () => {
    const { c } = await webCluster();
    await c.create(`${NS}/services`, service('metrics', { app: 'web' }, [{ name: 'metrics', port: 9090, targetPort: 'metrics' }]));
    await expectRecomputedThenIdle(c);
    expect(await listed(c, 'metrics')).toMatchObject({ ready: [], notReady: [], slice: { all: (await listed(c, 'web')).ready } });
  });
});

describe('endpoints in batches', () => {
  it('many Services fill over several passes, each pass within batchSize writes', async () => {
    const { c, pods } = await webCluster();
    const names = Array.from({ length: 9 }, (_, i) => `svc-${i}`);
    for (const name of names) await c.create(`${NS}/services`, service(name, { app: 'web' }));
    const batchSize = 4; // two Services a pass: an Endpoints and a slice each
    const passes: number[] = [];
    for (let writes = -1; writes !== 0; ) {
      writes = (await endpointsPass(c, batchSize)).writes;
      expect(writes).toBeLessThanOrEqual(batchSize);
      passes.push(writes);
    }
    expect(passes).toEqual([4, 4, 4, 4, 2, 0]);
    for (const name of names) expect(await listed(c, name)).toMatchObject({ ready: pods, slice: { all: pods } });
  });

  it('Services with many pods go one a pass when their pods pass 10 x batchSize', async () => {
    const { c, pods } = await webCluster(30);
    const names = ['a', 'b', 'c'];
    for (const name of names) await c.create(`${NS}/services`, service(name, { app: 'web' }));
    // batchSize 4 allows two Services a pass, but 30 + 30 pods are past 40 rows.
    const passes: number[] = [];
    for (let writes = -1; writes !== 0; ) {
      writes = (await endpointsPass(c, 4)).writes;
      passes.push(writes);
    }
    expect(passes).toEqual([2, 2, 2, 0]);
    for (const name of names) expect((await listed(c, name)).ready).toEqual(pods);
  });

  it('Services whose pods change before every pass take turns, none passed over', async () => {
    const { c, pods } = await webCluster();
    const names = ['web', 'a', 'b', 'c'];
    for (const name of names.slice(1)) await c.create(`${NS}/services`, service(name, { app: 'web' }));
    while ((await endpointsPass(c)).writes > 0);
    const rvs = async () => Promise.all(names.map(async (n) => (await c.get(`${NS}/endpoints/${n}`)).metadata.resourceVersion));
    const before = await rvs();
    // One Service a pass (batchSize 2), and before every pass a pod of every Service flips, to a
    // readiness none of them lists yet: each pass serves the Service that has waited longest, so
    // four passes serve all four.
    const flips: [string, boolean][] = [[pods[0], false], [pods[1], false], [pods[2], false], [pods[0], true]];
    for (const [name, ready] of flips) {
      const pod = await c.get(`${NS}/pods/${name}`);
      pod.status.conditions = pod.status.conditions.map((x: any) => (x.type === 'Ready' ? { ...x, status: ready ? 'True' : 'False' } : x));
      await c.send('PUT', `${NS}/pods/${name}/status`, pod);
      expect((await endpointsPass(c, 2)).writes).toBe(2);
    }
    const after = await rvs();
    names.forEach((n, i) => expect(after[i], n).not.toBe(before[i]));
  });
});

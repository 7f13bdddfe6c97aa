// Nodes whose pods share the host's network (label node.skiff.dev/pod-network: host, set by the agent
// where its runtime cannot give pods a network namespace), through the API and real passes: there
// every containerPort is a host port (hostPort when given, else containerPort, per protocol), so two
// pods listening on one port never share such a node; other nodes are unchanged. Then the scheduler's
// SQL view of the ports placed (HOST_NETWORK_PORT) against the JS one (hostNetworkPorts), by fast-check.
import { createClient } from '@libsql/client';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { scheduler } from '../../src/control/scheduler.js';
import { containerPortRows, HOST_NETWORK_PORT } from '../../src/control/scheduler-reads.js';
import { hostNetworkPorts } from '../../src/control/scheduling.js';
import { LABEL_POD_NETWORK, POD_NETWORK_HOST } from '../../src/kinds/node.js';
import type { KObject } from '../../src/kinds/types.js';
import type { Store } from '../../src/store/store.js';
import { openTempStore } from '../helpers/temp-store.js';
import { condition, deployment, perNode, perTestClusters } from '../scenarios/cluster.js';

const NS = '/api/v1/namespaces/default';
const APPS = '/apis/apps/v1/namespaces/default';
const HOST = { [LABEL_POD_NETWORK]: POD_NETWORK_HOST };

const startCluster = perTestClusters();

const pod = (name: string, ports: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'app', image: 'img', ports }], ...extra },
});

const pending = async (c: Awaited<ReturnType<typeof startCluster>>, name: string) => {
  const p = await c.get(`${NS}/pods/${name}`);
  expect(p.spec.nodeName).toBeUndefined();
  return condition(p, 'PodScheduled');
};

describe('host-network nodes', () => {
  it('keep two replicas listening on one port apart, and say why the third waits', async () => {
    const c = await startCluster([{ name: 'host-a', labels: HOST }, { name: 'host-b', labels: HOST }]);
    await c.create(`${APPS}/deployments`, deployment('web', 3));
    await c.settle();
    const pods = await c.list(`${NS}/pods`, 'app=web');
    expect(perNode(pods)).toEqual({ 'host-a': 1, 'host-b': 1, '': 1 });
    const waiting = pods.find((p) => !p.spec.nodeName);
    expect(condition(waiting, 'PodScheduled')).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message: "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
    });
    const [event] = await c.list(`${NS}/events`, undefined, `involvedObject.name=${waiting.metadata.name},reason=FailedScheduling`);
    expect(event.message).toMatch(/^0\/2 nodes are available: 2 node\(s\) didn't have free ports for the requested pod ports\./);
  });

  it('on other nodes, only hostPorts conflict', async () => {
    const c = await startCluster([{ name: 'host-a', labels: HOST }, { name: 'plain' }]);
    await c.create(`${APPS}/deployments`, deployment('web', 3));
    await c.settle();
    expect(perNode(await c.list(`${NS}/pods`, 'app=web'))).toEqual({ 'host-a': 1, plain: 2 });
  });

  it('take pods on other ports or protocols, and count a hostPort as given', async () => {
    const c = await startCluster([{ name: 'host', labels: HOST }]);
    await c.create(`${NS}/pods`, pod('http', [{ containerPort: 80 }]));
    await c.create(`${NS}/pods`, pod('dns', [{ containerPort: 80, protocol: 'UDP' }, { containerPort: 53, protocol: 'UDP' }]));
    await c.create(`${NS}/pods`, pod('mapped', [{ containerPort: 80, hostPort: 8080 }]));
    await c.create(`${NS}/pods`, pod('other', [{ containerPort: 9090 }]));
    await c.settle();
    for (const name of ['http', 'dns', 'mapped', 'other']) expect((await c.get(`${NS}/pods/${name}`)).spec.nodeName, name).toBe('host');

    // Each of these clashes with one placed above.
    await c.create(`${NS}/pods`, pod('http-2', [{ containerPort: 80 }]));
    await c.create(`${NS}/pods`, pod('dns-2', [{ containerPort: 53, protocol: 'UDP' }]));
    await c.create(`${NS}/pods`, pod('on-8080', [{ containerPort: 8080 }]));
    await c.create(`${NS}/pods`, pod('hostport-9090', [{ containerPort: 1, hostPort: 9090 }]));
    await c.settle();
    for (const name of ['http-2', 'dns-2', 'on-8080', 'hostport-9090']) {
      expect((await pending(c, name)).message, name).toBe(
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
      );
    }

    // A pod that is gone frees its ports: the one waiting for them is tried again once its back-off is over.
    await c.send('DELETE', `${NS}/pods/http`, undefined);
    await c.advance(1);
    expect((await c.get(`${NS}/pods/http-2`)).spec.nodeName).toBe('host');
  });

  it('a pass binding a batch sees the ports of the pods it placed before', async () => {
    const c = await startCluster([{ name: 'host', labels: HOST }]);
    for (const name of ['a', 'b']) await c.create(`${NS}/pods`, pod(name, [{ containerPort: 80 }]));
    await c.api.reconcile();
    const nodes = [(await c.get(`${NS}/pods/a`)).spec.nodeName, (await c.get(`${NS}/pods/b`)).spec.nodeName];
    expect(nodes).toEqual(['host', undefined]);
  });
});

// The race the pod count alone misses: scheduler A reads the node holding one pod and plans `x` (port
// 80) there; meanwhile `y` (port 80) is bound there and the other pod goes. The node holds one pod
// again, as A read it, and has room: only its ports stop A's binding.
it('a scheduler that read before pods came and went does not bind a second pod on one host port', async () => {
  const t = await openTempStore('skiff-hostnet-');
  try {
    const now = t.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
    const object = (name: string, ports: Record<string, unknown>[], nodeName?: string): KObject => ({
      ...pod(name, ports, nodeName ? { nodeName } : {}),
      metadata: { name, namespace: 'default', uid: crypto.randomUUID(), creationTimestamp: now },
      status: nodeName ? { phase: 'Running' } : {},
    });
    const node: KObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'host', uid: crypto.randomUUID(), creationTimestamp: now, labels: HOST },
      spec: {},
      status: { allocatable: { cpu: '4', memory: '8Gi', pods: '10' }, conditions: [{ type: 'Ready', status: 'True' }] },
    };
    const created = await t.store.commit([{ op: 'create', object: node }, { op: 'create', object: object('z', [], 'host') }, { op: 'create', object: object('x', [{ containerPort: 80 }]) }]);
    expect(created.every((r) => r.ok)).toBe(true);

    let reached!: () => void;
    let release!: () => void;
    const atCommit = new Promise<void>((ok) => (reached = ok));
    const released = new Promise<void>((ok) => (release = ok));
    const held = Object.create(t.store, {
      commit: { value: async (ops: Parameters<Store['commit']>[0]) => (reached(), await released, t.store.commit(ops)) },
    }) as Store;
    const a = scheduler(new PassContext(held, t.clock, defaultControlOptions));
    await atCommit;

    const z = await t.store.get('Pod', 'default', 'z');
    const meanwhile = await t.store.commit([
      { op: 'create', object: object('y', [{ containerPort: 80 }], 'host') },
      { op: 'delete', kind: 'Pod', namespace: 'default', name: 'z', rv: Number(z!.metadata!.resourceVersion) },
    ]);
    expect(meanwhile.every((r) => r.ok)).toBe(true);
    release();
    await a;
    expect(((await t.store.get('Pod', 'default', 'x'))!.spec as { nodeName?: string }).nodeName).toBeUndefined();
  } finally {
    t.remove();
  }
});

describe('the ports placed, in SQL and in JS', () => {
  const client = createClient({ url: ':memory:' });
  afterAll(() => client.close());
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  const port = fc.record(
    {
      containerPort: maybe(fc.constantFrom(0, 80, 443)),
      hostPort: maybe(fc.constantFrom(0, 80, 8080)),
      hostIP: maybe(fc.constantFrom('', '127.0.0.1')),
      protocol: maybe(fc.constantFrom('TCP', 'UDP', 'SCTP')),
      name: maybe(fc.constant('http')),
    },
    { requiredKeys: [] },
  );
  const container = fc.record({ name: fc.constant('c'), ports: maybe(fc.array(port, { maxLength: 3 })) }, { requiredKeys: ['name'] });

  it('HOST_NETWORK_PORT agrees with hostNetworkPorts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(container, { maxLength: 3 }), async (containers) => {
        const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } };
        const rs = await client.execute({
          sql: `SELECT DISTINCT ${HOST_NETWORK_PORT} AS port FROM ${containerPortRows(':pod')} WHERE ${HOST_NETWORK_PORT} IS NOT NULL`,
          args: { pod: JSON.stringify(object) },
        });
        expect(rs.rows.map((r) => String(r.port)).sort()).toEqual(hostNetworkPorts(object).sort());
      }),
      { numRuns: 500 },
    );
  });
});

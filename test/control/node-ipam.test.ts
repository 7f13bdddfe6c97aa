// Node IPAM (--cluster-cidr, --node-cidr-mask-size): every Node gets its own block of the cluster CIDR
// in spec.podCIDR and spec.podCIDRs, through the API and real passes; a full range says so with a
// CIDRNotAvailable event (counted again only every few minutes, so passes settle); a deleted node's
// block is given again; podCIDR is set once. Then racing passes: the interleaving that would hand one
// block to two nodes, step by step, and fast-check's scheduler picking interleavings of passes (over
// two Stores on two libSQL clients of one file, as two Workers) and nodes joining.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@libsql/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { freeBlocks, nodeCidrBlocks, nodeIpam, type NodeCidrBlocks } from '../../src/control/node-ipam.js';
import type { KObject } from '../../src/kinds/types.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { jsonRequest } from '../helpers/json-request.js';
import { perTestClusters } from '../scenarios/cluster.js';

const startCluster = perTestClusters();
const cidrs = (nodes: any[]) => Object.fromEntries(nodes.map((n) => [n.metadata.name, n.spec.podCIDR]));

describe('node CIDR allocation through the API', () => {
  it('gives each node its own block of the cluster CIDR, and keeps it', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }, { name: 'node-c' }]);
    await c.settle();
    const nodes = await c.list('/api/v1/nodes');
    expect(cidrs(nodes)).toEqual({ 'node-a': '10.244.0.0/24', 'node-b': '10.244.1.0/24', 'node-c': '10.244.2.0/24' });
    for (const n of nodes) expect(n.spec.podCIDRs).toEqual([n.spec.podCIDR]);

    // podCIDR is set once: "" to valid, then never changed nor removed (ValidateNodeUpdate).
    const merge = 'application/merge-patch+json';
    for (const spec of [{ podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.9.0/24'] }, { podCIDR: null, podCIDRs: null }]) {
      const res = await c.api.request('/api/v1/nodes/node-a', jsonRequest('PATCH', { spec }, merge));
      expect(res.status).toBe(422);
      expect((await res.json()).message).toContain('node updates may not change podCIDR except from "" to valid');
    }

    // A node registered with a podCIDR of its own keeps it, and the allocator steps around it.
    await c.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-d' }, spec: { podCIDR: '10.244.3.0/24' } });
    await c.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-0' }, spec: {} });
    await c.settle();
    const after = cidrs(await c.list('/api/v1/nodes'));
    expect(after).toMatchObject({ 'node-d': '10.244.3.0/24', 'node-0': '10.244.4.0/24', 'node-a': '10.244.0.0/24' });
    expect((await c.get('/api/v1/nodes/node-d')).spec.podCIDRs).toEqual(['10.244.3.0/24']);
  });

  it('says CIDRNotAvailable when the range is full, and gives a deleted node\'s block to the next', async () => {
    // A /23 holds two /24s.
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }, { name: 'node-c' }], { clusterCidr: '10.10.0.0/23', nodeCidrMaskSize: 24 });
    await c.settle();
    expect(cidrs(await c.list('/api/v1/nodes'))).toEqual({ 'node-a': '10.10.0.0/24', 'node-b': '10.10.1.0/24', 'node-c': undefined });
    const events = () => c.list('/api/v1/namespaces/default/events', undefined, 'involvedObject.name=node-c,reason=CIDRNotAvailable');
    let [event] = await events();
    expect(event).toMatchObject({
      type: 'Normal',
      message: 'Node node-c status is now: CIDRNotAvailable',
      source: { component: 'cidrAllocator' },
      involvedObject: { kind: 'Node', name: 'node-c' },
      count: 1,
    });

    // Passes that find the range still full settle (settle() would throw otherwise) and count the
    // event again only every few minutes.
    await c.advance(120);
    expect((await events())[0].count).toBe(1);
    await c.advance(200);
    [event] = await events();
    expect(event.count).toBe(2);

    expect((await c.send('DELETE', '/api/v1/nodes/node-a', undefined)).status).toBe('Success');
    await c.settle();
    expect(cidrs(await c.list('/api/v1/nodes'))).toEqual({ 'node-b': '10.10.1.0/24', 'node-c': '10.10.0.0/24' });
  });

  it('an idle pass reads nothing of its own for IPAM', async () => {
    const c = await startCluster([{ name: 'node-a' }, { name: 'node-b' }]);
    await c.settle();
    const ctx = new PassContext(c.api.store, c.clock, defaultControlOptions);
    ctx.nodesWithoutPodCidr = [];
    const before = c.api.store.roundTrips;
    await nodeIpam(ctx);
    expect(c.api.store.roundTrips - before).toBe(0);
    // Alone, without node lifecycle's rows: one probe.
    await nodeIpam(new PassContext(c.api.store, c.clock, defaultControlOptions));
    expect(c.api.store.roundTrips - before).toBe(1);
  });
});

describe('node CIDR blocks', () => {
  const blocks = (cidr: string, mask: number) => nodeCidrBlocks(cidr, mask) as NodeCidrBlocks;

  it('cuts the cluster CIDR by the mask size, and refuses what the range allocator refuses', () => {
    expect(blocks('10.244.0.0/16', 24)).toMatchObject({ count: 256, size: 256 });
    expect(blocks('10.244.7.9/16', 26)).toMatchObject({ base: ((10 * 256 + 244) * 256) * 256, count: 1024, size: 64 });
    for (const [cidr, mask] of [['10.244.0.0/16', 15], ['10.244.0.0/16', 33], ['10.0.0.0/8', 25], ['fd00::/48', 64], ['10.244.0.0', 24]] as const) {
      expect(typeof nodeCidrBlocks(cidr, mask), `${cidr} ${mask}`).toBe('string');
    }
  });

  it('skips blocks that any CIDR in use overlaps', () => {
    const free = [...freeBlocks(blocks('10.1.0.0/22', 24), ['10.1.1.0/24', '10.1.2.128/25', '10.9.0.0/24', 'fd00::/64', 'junk'])];
    expect(free).toEqual(['10.1.0.0/24', '10.1.3.0/24']);
    expect([...freeBlocks(blocks('10.1.0.0/22', 24), ['10.0.0.0/8'])]).toEqual([]);
  });
});

// ---------------------------------------------------------------- racing passes

type Gate = { wait?: (label: string) => Promise<unknown> };

/** Two Stores over two clients of one database file; every call of either first waits for the gate. */
async function openStores() {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-ipam-'));
  const url = `file:${join(dir, 'skiff.db')}`;
  const clock = new ManualClock();
  const clients = [openClient(url)];
  await migrate(clients[0]);
  clients.push(openClient(url));
  const stores = clients.map((client) => new Store(client, clock));
  await stores[0].init();
  const gate: Gate = {};
  clients.forEach((client, i) => gateClient(client, gate, 'AB'[i]));
  const app = createApp({ store: stores[0], clock, authenticate: () => true });
  const createNode = async (name: string) => {
    const res = await app.fetch(new Request('http://skiff/api/v1/nodes', jsonRequest('POST', { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {} })));
    expect(res.status).toBe(201);
  };
  return {
    clock,
    stores,
    gate,
    createNode,
    close() {
      for (const s of stores) s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function gateClient(client: Client, gate: Gate, label: string): void {
  for (const method of ['execute', 'batch'] as const) {
    const original = (client[method] as (...args: unknown[]) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      if (gate.wait) await gate.wait(label);
      return original(...args);
    };
  }
}

async function podCidrs(store: Store): Promise<Map<string, string | undefined>> {
  const nodes = (await store.list('Node')).items;
  return new Map(nodes.map((n: KObject) => [n.metadata!.name!, (n.spec as { podCIDR?: string }).podCIDR]));
}

function expectUnique(allocated: Map<string, string | undefined>): void {
  const given = [...allocated.values()].filter((c): c is string => !!c);
  expect(new Set(given).size, JSON.stringify([...allocated])).toBe(given.length);
}

/** A pass of node IPAM alone whose commit waits for `release` (and says when it got there). */
function heldPass(store: Store, clock: ManualClock) {
  let reached!: () => void;
  let release!: () => void;
  const atCommit = new Promise<void>((ok) => (reached = ok));
  const released = new Promise<void>((ok) => (release = ok));
  const held = Object.create(store, {
    commit: { value: async (ops: Parameters<Store['commit']>[0]) => (reached(), await released, store.commit(ops)) },
  }) as Store;
  const done = nodeIpam(new PassContext(held, clock, defaultControlOptions));
  return { atCommit, release, done };
}

it('a pass that saw fewer nodes and one that saw more never give one block to two nodes', async () => {
  const s = await openStores();
  try {
    const [storeA, storeB] = s.stores;
    await s.createNode('node-b');
    // A reads: only node-b lacks a CIDR, so node-b gets the first block.
    const a = heldPass(storeA, s.clock);
    await a.atCommit;
    // node-a joins; B reads before A commits: node-a (first by name) gets the first block, node-b the second.
    await s.createNode('node-a');
    const b = heldPass(storeB, s.clock);
    await b.atCommit;
    a.release();
    await a.done;
    b.release();
    await b.done;
    // node-b's update from B fails on its resourceVersion; node-a's on the block A gave away since B read.
    expect(await podCidrs(storeA)).toEqual(new Map([['node-a', undefined], ['node-b', '10.244.0.0/24']]));
    await nodeIpam(new PassContext(storeA, s.clock, defaultControlOptions));
    expect(await podCidrs(storeA)).toEqual(new Map([['node-a', '10.244.1.0/24'], ['node-b', '10.244.0.0/24']]));
  } finally {
    s.close();
  }
});

it('racing passes and joining nodes converge to one block per node', async () => {
  let nodesChecked = 0;
  const step = fc.record({
    joins: fc.uniqueArray(fc.constantFrom('n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'), { maxLength: 3 }),
    passes: fc.array(fc.constantFrom(0, 1), { minLength: 1, maxLength: 3 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(step, { minLength: 1, maxLength: 5 }), async (sch, steps) => {
      const s = await openStores();
      try {
        // A small range, so passes also race for the last blocks and find it full.
        const opts = { ...defaultControlOptions, passLeaseSeconds: 0, clusterCidr: '10.0.0.0/29', nodeCidrMaskSize: 30 };
        const joined = new Set<string>();
        for (const st of steps) {
          s.gate.wait = (label) => sch.schedule(Promise.resolve(), label);
          const fresh = st.joins.filter((n) => !joined.has(n));
          fresh.forEach((n) => joined.add(n));
          const tasks = [...fresh.map((n) => s.createNode(n)), ...st.passes.map((i) => nodeIpam(new PassContext(s.stores[i], s.clock, opts)))];
          await sch.waitFor(Promise.all(tasks));
          s.gate.wait = undefined;
          // podCIDR never changes once set, so a block given twice would still show.
          expectUnique(await podCidrs(s.stores[0]));
        }
        // Alone, passes settle: every node has a block while there are blocks, and none shares one.
        for (let i = 0; i < 3; i++) await nodeIpam(new PassContext(s.stores[i % 2], s.clock, opts));
        const final = await podCidrs(s.stores[0]);
        expectUnique(final);
        expect([...final.values()].filter(Boolean).length).toBe(Math.min(2, final.size));
        nodesChecked += final.size;
      } finally {
        s.close();
      }
    }),
    { numRuns: 150, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
  );
  expect(nodesChecked).toBeGreaterThan(0);
}, 60_000);

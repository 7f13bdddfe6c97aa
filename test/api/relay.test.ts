// The control plane's relay endpoint (src/api/relay.ts), through the app with a recording NodeTunnels:
// who may relay, what is checked of the target, and what the target's node is asked. The relayed
// bytes themselves are tested end to end with real agents (test/agent/cross-node.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import type { Identity } from '../../src/api/auth/identity.js';
import { RELAY_PATH, RELAY_PROTOCOL } from '../../src/api/relay.js';
import type { NodeTunnels } from '../../src/api/tunnels.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import type { TunnelHead } from '../../src/tunnel/head.js';

const IDENTITIES: Record<string, Identity | true> = {
  'node-a': { user: 'system:node:node-a', groups: ['system:nodes', 'system:authenticated'] },
  bob: { user: 'bob', groups: ['system:authenticated'] },
  admin: true,
};

describe('GET /skiff/v1/relay', () => {
  let dir: string;
  let store: Store;
  let app: ReturnType<typeof createApp>;
  const asked: { node: string; head: TunnelHead }[] = [];
  let connected = new Set(['node-b']);

  const tunnels: NodeTunnels = {
    async exchange(node, head) {
      asked.push({ node, head });
      // Stands for the home's switch of protocols (a Response cannot carry 101 here).
      return new Response('switched', { status: 200 });
    },
    async accept() {
      return new Response(null, { status: 200 });
    },
    connected: (node) => connected.has(node),
  };

  const relay = (query: Record<string, string>, opts: { token?: string; upgrade?: boolean; protocol?: string } = {}) =>
    app.fetch(
      new Request(`https://skiff.test${RELAY_PATH}?${new URLSearchParams(query)}`, {
        headers: {
          authorization: `Bearer ${opts.token ?? 'node-a'}`,
          ...(opts.upgrade === false ? {} : { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': opts.protocol ?? RELAY_PROTOCOL }),
        },
      }),
    );
  const target = { namespace: 'demo', pod: 'web-1', ip: '10.244.2.7', port: '8080', source: '10.244.1.5' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-relay-api-'));
    const client = openClient(`file:${join(dir, 'skiff.db')}`);
    await migrate(client);
    const clock = new ManualClock();
    store = new Store(client, clock);
    await store.init();
    app = createApp({ store, clock, tunnels, authenticate: (t) => (t ? IDENTITIES[t] : undefined) });
    const pod = (name: string, spec: any, status: any) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'demo' },
      spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
      status,
    });
    const admin = { authorization: 'Bearer admin', 'content-type': 'application/json' };
    const create = async (obj: any) => {
      const ns = await app.fetch(new Request('https://skiff.test/api/v1/namespaces', { method: 'POST', headers: admin, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } }) }));
      expect([201, 409]).toContain(ns.status);
      const res = await app.fetch(new Request('https://skiff.test/api/v1/namespaces/demo/pods', { method: 'POST', headers: admin, body: JSON.stringify(obj) }));
      expect(res.status, await res.clone().text()).toBe(201);
      const created = await res.json();
      // Status as the node would have written it.
      const put = await app.fetch(
        new Request(`https://skiff.test/api/v1/namespaces/demo/pods/${obj.metadata.name}/status`, { method: 'PUT', headers: admin, body: JSON.stringify({ ...created, status: obj.status }) }),
      );
      expect(put.status, await put.clone().text()).toBe(200);
    };
    await create(pod('web-1', { nodeName: 'node-b' }, { phase: 'Running', podIP: '10.244.2.7', podIPs: [{ ip: '10.244.2.7' }] }));
    await create(pod('pending', {}, { phase: 'Pending' }));
    await create(pod('host', { nodeName: 'node-b', hostNetwork: true }, { phase: 'Running', podIP: '192.0.2.3' }));
    await create(pod('elsewhere', { nodeName: 'node-c' }, { phase: 'Running', podIP: '10.244.3.4' }));
  });

  afterAll(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("asks the target pod's node for a relay stream to the pod's address and port", async () => {
    asked.length = 0;
    const res = await relay(target);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('switched');
    expect(asked).toHaveLength(1);
    expect(asked[0].node).toBe('node-b');
    expect(asked[0].head).toMatchObject({
      op: 'relay',
      namespace: 'demo',
      pod: 'web-1',
      podIP: '10.244.2.7',
      port: 8080,
      fromNode: 'node-a',
      source: '10.244.1.5',
      transport: 'websocket',
      protocol: RELAY_PROTOCOL,
    });
    expect((asked[0].head as { uid: string }).uid).toMatch(/[0-9a-f-]{36}/);
  });

  it('is for nodes only', async () => {
    // A user is refused the path by RBAC; the admin, who may use any path, by the endpoint itself.
    expect((await relay(target, { token: 'bob' })).status).toBe(403);
    const admin = await relay(target, { token: 'admin' });
    expect(admin.status).toBe(403);
    expect((await admin.json()).message).toMatch(/only nodes relay/);
    expect((await relay(target, { token: 'nobody' })).status).toBe(401);
  });

  it('takes a WebSocket upgrade offering the relay protocol', async () => {
    expect((await relay(target, { upgrade: false })).status).toBe(400);
    const res = await relay(target, { protocol: 'v5.channel.k8s.io' });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toContain(RELAY_PROTOCOL);
  });

  it('checks the target: a pod that exists, is bound, on the pod network, at that address; a valid port', async () => {
    asked.length = 0;
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ ...target, pod: 'gone' }, 404, /not found/],
      [{ ...target, ip: '10.244.2.8' }, 404, /does not have the address 10\.244\.2\.8/],
      [{ ...target, pod: 'pending' }, 400, /does not have a host assigned/],
      [{ ...target, pod: 'host', ip: '192.0.2.3' }, 400, /only pod addresses are relayed/],
      [{ ...target, port: '0' }, 400, /invalid port/],
      [{ ...target, port: '70000' }, 400, /invalid port/],
      [{ ...target, ip: 'localhost' }, 400, /invalid ip/],
      [{ namespace: 'demo', ip: '10.244.2.7', port: '80' }, 400, /namespace and pod are required/],
    ];
    for (const [query, status, message] of cases) {
      const res = await relay(query);
      expect(res.status, JSON.stringify(query)).toBe(status);
      expect((await res.json()).message).toMatch(message);
    }
    expect(asked).toHaveLength(0);
  });

  it("answers 503 when the target's node has no tunnel", async () => {
    const res = await relay({ ...target, pod: 'elsewhere', ip: '10.244.3.4' });
    expect(res.status).toBe(503);
    expect((await res.json()).message).toMatch(/node "node-c" is not connected/);
    connected = new Set(['node-b', 'node-c']);
  });
});

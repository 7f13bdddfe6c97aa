// The usage reports nodes send (PUT /skiff/v1/nodes/NAME/usage) through the real app: only a node's
// own credential (or an admin) reports for it, only for pods bound to it, each report replacing the
// last; and metrics.k8s.io answering `kubectl top` from them when the node cannot be asked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { storeAuthenticator } from '../../src/api/auth/identity.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const ADMIN = 'admin-token-for-usage';

describe('usage reports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-usage-'));
  const clock = new ManualClock();
  let store: Store;
  let app: ReturnType<typeof createApp>;
  let nodeA: string;
  const uids: Record<string, string> = {};

  const call = (path: string, init: { method?: string; body?: unknown; token?: string } = {}) =>
    app.fetch(new Request(`http://skiff${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.token ?? ADMIN}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    }));
  const report = (pods: { uid: string; cpu: number }[], at = clock.now()) => ({
    timestamp: at.toISOString(),
    windowSeconds: 15,
    node: { cpuNanoCores: 250_000_000, memoryBytes: 512 * 1024 * 1024 },
    pods: pods.map((p) => ({ uid: p.uid, containers: [{ name: 'app', cpuNanoCores: p.cpu, memoryBytes: 10 * 1024 * 1024 }] })),
  });

  beforeAll(async () => {
    const client = openClient(`file:${join(dir, 'skiff.db')}`);
    await migrate(client);
    store = new Store(client, clock);
    await store.init();
    app = createApp({ store, clock, authenticate: storeAuthenticator({ store, clock, adminToken: ADMIN }) });
    const credentials = new CredentialStore(store);
    const { token } = await credentials.createJoinToken(clock.now(), 3600_000);
    const joined = await credentials.join(token, 'node-a', clock.now());
    if (!joined.ok) throw new Error('join failed');
    nodeA = joined.credential;
    for (const node of ['node-a', 'node-b']) {
      const res = await call('/api/v1/nodes', { method: 'POST', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } });
      expect(res.status).toBe(201);
    }
    for (const [name, node] of [['a1', 'node-a'], ['a2', 'node-a'], ['b1', 'node-b']]) {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'app', image: 'nginx' }] } };
      const created = await (await call('/api/v1/namespaces/default/pods', { method: 'POST', body: pod })).json();
      uids[name] = created.metadata.uid;
      created.status = { phase: 'Running' };
      expect((await call(`/api/v1/namespaces/default/pods/${name}/status`, { method: 'PUT', body: created })).status).toBe(200);
    }
  });
  afterAll(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const podMetrics = async () => {
    const list = await (await call('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods')).json();
    return Object.fromEntries(list.items.map((m: any) => [m.metadata.name, m.containers[0].usage.cpu]));
  };

  it('takes a node its own report only, and only for its own pods', async () => {
    const refused = await call('/skiff/v1/nodes/node-b/usage', { method: 'PUT', body: report([{ uid: uids.b1, cpu: 1 }]), token: nodeA });
    expect(refused.status).toBe(403);
    expect((await refused.json()).message).toBe('forbidden: User "system:node:node-a" cannot update path "/skiff/v1/nodes/node-b/usage": a node reports its own usage only');

    const res = await call('/skiff/v1/nodes/node-a/usage', {
      method: 'PUT', token: nodeA, body: report([{ uid: uids.a1, cpu: 100_000_000 }, { uid: uids.a2, cpu: 200_000_001 }, { uid: uids.b1, cpu: 5 }]),
    });
    expect(res.status).toBe(204);
    // b1 is node-b's: node-a's word on it is not taken.
    expect(await podMetrics()).toEqual({ a1: '100000000n', a2: '200000001n' });
    const node = await (await call('/apis/metrics.k8s.io/v1beta1/nodes/node-a')).json();
    expect(node).toMatchObject({ kind: 'NodeMetrics', window: '15s', usage: { cpu: '250000000n', memory: '524288Ki' } });
  });

  it('replaces a node\'s rows with each report, and forgets stale ones', async () => {
    await call('/skiff/v1/nodes/node-a/usage', { method: 'PUT', token: nodeA, body: report([{ uid: uids.a2, cpu: 300_000_000 }]) });
    expect(await podMetrics()).toEqual({ a2: '300000000n' });
    // An admin may report for any node.
    expect((await call('/skiff/v1/nodes/node-b/usage', { method: 'PUT', body: report([{ uid: uids.b1, cpu: 7 }]) })).status).toBe(204);
    expect(await podMetrics()).toEqual({ a2: '300000000n', b1: '7n' });
    clock.advance(61_000);
    expect(await podMetrics()).toEqual({});
    expect((await call('/apis/metrics.k8s.io/v1beta1/nodes/node-a')).status).toBe(404);
  });

  it('refuses a malformed report', async () => {
    const res = await call('/skiff/v1/nodes/node-a/usage', { method: 'PUT', token: nodeA, body: { timestamp: 'soon', pods: [] } });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toBe('invalid usage report: timestamp must be an RFC 3339 time');
  });
});

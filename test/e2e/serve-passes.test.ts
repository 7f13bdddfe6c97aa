// `skiff serve` runs its reconcile passes off the API's thread: a pass stuck in the database does not
// hold requests, and writes that make no work for a controller (Lease renewals, Events) start none.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openClient } from '../../src/store/db.js';
import { startSkiff, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const passCount = async (server: SkiffServer) => {
  const text = (await server.request('/metrics')).text;
  return Number(/^skiff_reconcile_passes_total (\d+)$/m.exec(text)![1]);
};

describe('skiff serve passes', () => {
  let server: SkiffServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('answers reads while a pass waits on the database, over a backlog of unschedulable pods', async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '200ms', '--v', '4'] });
    const s = server;
    const res = await s.request('/apis/apps/v1/namespaces/default/deployments', {
      method: 'POST',
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'backlog' },
        spec: { replicas: 2000, selector: { matchLabels: { app: 'backlog' } }, template: { metadata: { labels: { app: 'backlog' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
      },
    });
    expect(res.status).toBe(201);
    await until('the backlog created', async () => (await s.request('/api/v1/namespaces/default/pods?limit=1000')).json().items.length === 1000);

    // Another connection takes the database's write lock and keeps it: the next pass (every 200 ms)
    // waits for it, its first write stuck inside SQLite for up to the 5 s busy timeout.
    const db = openClient(`file:${join(s.data, 'skiff.db')}`);
    const lock = await db.transaction('write');
    try {
      await new Promise((r) => setTimeout(r, 600));
      const before = await passCount(s);
      for (let i = 0; i < 20; i++) {
        const got = await s.request('/api/v1/namespaces/default');
        expect(got.status).toBe(200);
      }
      const list = await s.request('/api/v1/namespaces/default/pods?limit=500');
      expect(list.json().items).toHaveLength(500);
      // Every request was answered while the pass was still waiting: none finished, none gave up.
      expect(await passCount(s)).toBe(before);
      expect(s.output()).not.toMatch(/reconcile pass failed/);
    } finally {
      await lock.rollback();
      db.close();
    }
    const after = await passCount(s);
    await until('passes run again once the lock is gone', async () => (await passCount(s)) > after);
  });

  it('starts no pass for Lease and Event writes, and one for a ConfigMap', async () => {
    // No timer to speak of: only kicks run passes.
    server = await startSkiff({ args: ['--reconcile-interval', '1h'] });
    const s = server;
    const settled = await until('the first passes settled', async () => {
      const n = await passCount(s);
      await new Promise((r) => setTimeout(r, 300));
      return n === (await passCount(s)) && n + 1;
    });
    const before = settled - 1;

    const leases = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
    let lease = (await s.request(leases, { method: 'POST', body: { metadata: { name: 'n1' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 40 } } })).json();
    for (let i = 0; i < 20; i++) {
      const renewed = await s.request(`${leases}/n1`, { method: 'PUT', body: { ...lease, spec: { ...lease.spec, renewTime: new Date(Date.now() + i).toISOString().replace('Z', '000Z') } } });
      expect(renewed.status).toBe(200);
      lease = renewed.json();
    }
    const event = await s.request('/api/v1/namespaces/default/events', {
      method: 'POST',
      body: { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'x', namespace: 'default' }, reason: 'Test', message: 'm', type: 'Normal' },
    });
    expect(event.status).toBe(201);
    await new Promise((r) => setTimeout(r, 500));
    expect(await passCount(s)).toBe(before);

    await s.request('/api/v1/namespaces/default/configmaps', { method: 'POST', body: { metadata: { name: 'c1' } } });
    await until('a ConfigMap write kicked a pass', async () => (await passCount(s)) > before);
  });
});

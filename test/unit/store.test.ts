import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { CompactedError, Store } from '../../src/store/store.js';

const cm = (name: string, data: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', uid: crypto.randomUUID() },
  data,
});

describe('store', () => {
  let dir: string;
  let store: Store;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-store-'));
    const client = openClient(`file:${join(dir, 'db')}`);
    await migrate(client);
    await migrate(client); // idempotent
    store = new Store(client, new ManualClock());
    await store.init();
    await store.init();
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with the built-in namespaces, once', async () => {
    const { items } = await store.list('Namespace');
    expect(items.map((n) => n.metadata?.name)).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
  });

  it('gives each write the next global revision, and only writes on the expected one', async () => {
    const [created] = await store.commit([{ op: 'create', object: cm('a') }]);
    expect(created.ok).toBe(true);
    const rv = Number((created as { object: { metadata: { resourceVersion: string } } }).object.metadata.resourceVersion);
    expect((await store.commit([{ op: 'create', object: cm('a') }]))[0].ok).toBe(false);

    const [stale, fresh] = await store.commit([
      { op: 'update', object: cm('a', { x: 'stale' }), rv: rv - 1 },
      { op: 'update', object: cm('a', { x: 'fresh' }), rv },
    ]);
    expect(stale.ok).toBe(false);
    expect(fresh.ok).toBe(true);
    const got = await store.get('ConfigMap', 'default', 'a');
    expect(got?.data).toEqual({ x: 'fresh' });
    expect(Number(got?.metadata?.resourceVersion)).toBe(rv + 1);
    expect((await store.commit([{ op: 'delete', kind: 'ConfigMap', namespace: 'default', name: 'a', rv }]))[0].ok).toBe(false);
    expect((await store.commit([{ op: 'delete', kind: 'ConfigMap', namespace: 'default', name: 'a', rv: rv + 1 }]))[0].ok).toBe(true);

    const { events } = await store.changesSince('ConfigMap', 0);
    expect(events.map((e) => [e.type, e.rev, e.object.data])).toEqual([
      ['ADDED', rv, {}],
      ['MODIFIED', rv + 1, { x: 'fresh' }],
      ['DELETED', rv + 2, { x: 'fresh' }],
    ]);
  });

  it('refuses creation in a namespace that does not exist', async () => {
    const obj = { ...cm('b'), metadata: { ...cm('b').metadata, namespace: 'nope' } };
    expect((await store.commit([{ op: 'create', object: obj, requireNamespace: true }]))[0].ok).toBe(false);
    expect((await store.commit([{ op: 'create', object: cm('b'), requireNamespace: true }]))[0].ok).toBe(true);
  });

  it('pages lists in name order and reports whether more remain', async () => {
    await store.commit(['c', 'a', 'b'].map((n) => ({ op: 'create' as const, object: cm(n) })));
    const first = await store.list('ConfigMap', { namespace: 'default', limit: 2 });
    expect(first.items.map((o) => o.metadata?.name)).toEqual(['a', 'b']);
    expect(first.more).toBe(true);
    const rest = await store.list('ConfigMap', { namespace: 'default', limit: 2, after: ['default', 'b'] });
    expect(rest.items.map((o) => o.metadata?.name)).toEqual(['c']);
    expect(rest.more).toBe(false);
  });

  it('drops old changes on compaction and says so to readers from before it', async () => {
    await store.commit(['a', 'b', 'c', 'd'].map((n) => ({ op: 'create' as const, object: cm(n) })));
    const { rev } = await store.revision();
    await store.compact(2);
    await expect(store.changesSince('ConfigMap', 0)).rejects.toBeInstanceOf(CompactedError);
    const { events } = await store.changesSince('ConfigMap', rev - 2);
    expect(events.map((e) => e.object.metadata?.name)).toEqual(['c', 'd']);
  });

  it('wakes listeners on commit', async () => {
    let woken = 0;
    const off = store.onCommit(() => woken++);
    await store.commit([{ op: 'create', object: cm('w') }]);
    off();
    await store.commit([{ op: 'create', object: cm('v') }]);
    expect(woken).toBe(1);
  });
});

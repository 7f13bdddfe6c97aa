// The console's live collections (src/ui/collection.ts) against a real API server whose watches end
// after a second, as watches on Workers end: a collection lists in pages, follows the watch, resumes
// from the last version it saw each time the server ends it (missing nothing), and lists again when
// that version was compacted away (410), dropping what was deleted meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../../src/ui/api.js';
import { Collection } from '../../src/ui/collection.js';
import { startApi, TOKEN, type ApiServer } from '../helpers/api-server.js';
import { until } from '../helpers/until.js';

let server: ApiServer;
// Every URL the collections fetched, to tell lists from watches.
const fetched: string[] = [];
const realFetch = globalThis.fetch;

beforeAll(async () => {
  server = await startApi({ passes: false, maxWatchSeconds: 1 });
  globalThis.fetch = (input, init) => {
    fetched.push(String(input));
    return realFetch(input, init);
  };
});
afterAll(async () => {
  globalThis.fetch = realFetch;
  await server?.stop();
});

const configMap = (name: string, value = '1') => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } });

async function create(ns: string, name: string): Promise<void> {
  const res = await server.request(`/api/v1/namespaces/${ns}/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(configMap(name)) });
  expect(res.status).toBe(201);
}

async function namespace(name: string): Promise<string> {
  const res = await server.request('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }) });
  expect(res.status).toBe(201);
  return name;
}

function follow(path: string): { collection: Collection; stop: () => void; notified: () => number } {
  const collection = new Collection(new Api(TOKEN, server.url), path);
  let count = 0;
  const stop = collection.subscribe(() => count++);
  return { collection, stop, notified: () => count };
}

const names = (c: Collection) => c.list().map((o) => o.metadata.name).sort();

describe('Collection', () => {
  it('lists in pages, then keeps up through watches the server keeps ending', async () => {
    const ns = await namespace('live');
    // More than the first page (250), so the list takes two requests.
    for (let i = 0; i < 260; i++) await create(ns, `before-${String(i).padStart(3, '0')}`);
    const { collection, stop, notified } = follow(`/api/v1/namespaces/${ns}/configmaps`);
    try {
      await until('the first list', async () => collection.synced);
      expect(collection.items.size).toBe(260);
      // Writes spread over several 1-second watches: each one ended and was resumed.
      for (let i = 0; i < 8; i++) {
        await create(ns, `during-${i}`);
        await new Promise((r) => setTimeout(r, 400));
      }
      const del = await server.request(`/api/v1/namespaces/${ns}/configmaps/before-000`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      await until('every change of the later watches', async () => collection.items.size === 267 && !collection.items.has(`${ns}/before-000`));
      expect(names(collection).filter((n) => n.startsWith('during-'))).toEqual([...Array(8)].map((_, i) => `during-${i}`));
      expect(collection.error).toBeUndefined();
      expect(notified()).toBeGreaterThan(2);
      // Listed once (two pages), then only watches, each from where the last one ended.
      const mine = fetched.filter((u) => u.includes(`/namespaces/${ns}/configmaps`));
      expect(mine.filter((u) => u.includes('limit='))).toHaveLength(2);
      expect(mine.filter((u) => u.includes('watch=1')).length).toBeGreaterThanOrEqual(3);
    } finally {
      stop();
    }
  });

  it('lists again when its version was compacted away, dropping what was deleted meanwhile', async () => {
    const ns = await namespace('compacted');
    await create(ns, 'kept');
    await create(ns, 'deleted');
    const { collection, stop } = follow(`/api/v1/namespaces/${ns}/configmaps`);
    await until('the first list', async () => collection.synced && collection.items.size === 2);
    stop();
    // While nobody watches: a delete, a create, and the change log compacted past both.
    expect((await server.request(`/api/v1/namespaces/${ns}/configmaps/deleted`, { method: 'DELETE' })).status).toBe(200);
    await create(ns, 'added');
    await server.store.compact(0);
    const again = collection.subscribe(() => {});
    try {
      await until('a fresh list after 410 Expired', async () => names(collection).join() === 'added,kept');
      expect(collection.error).toBeUndefined();
    } finally {
      again();
    }
  });

  it('says what the API refused, in its words', async () => {
    const collection = new Collection(new Api('not-a-token', server.url), '/api/v1/configmaps');
    const stop = collection.subscribe(() => {});
    try {
      await until('the refusal', async () => collection.error !== undefined);
      expect(collection.error).toMatchObject({ code: 401, reason: 'Unauthorized' });
      expect(collection.synced).toBe(false);
    } finally {
      stop();
    }
  });
});

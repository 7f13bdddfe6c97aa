// The agent's API client against a real `skiff serve`: verbs and Status errors, unreachable vs
// refused, watches that end and resume without missing an event, re-list on 410, reconnecting
// after the server went away.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, createAgent, UnreachableError, type WatchEvent } from '../../src/agent/client.js';
import { startSkiff, type SkiffServer } from '../helpers/skiff-server.js';

let server: SkiffServer;
let client: ApiClient;
const CM = '/api/v1/namespaces/default/configmaps';

beforeAll(async () => {
  server = await startSkiff();
  client = new ApiClient({ server: server.url, token: server.token, ca: server.ca });
});
afterAll(async () => {
  await server?.stop();
});

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ApiClient verbs', () => {
  it('creates, reads, patches, updates, lists and deletes', async () => {
    const created = await client.create(CM, { metadata: { name: 'verbs' }, data: { a: '1' } });
    expect(created.metadata.uid).toBeTruthy();
    expect((await client.get(`${CM}/verbs`)).data).toEqual({ a: '1' });
    const merged = await client.patch(`${CM}/verbs`, { data: { b: '2' } }, 'merge');
    expect(merged.data).toEqual({ a: '1', b: '2' });
    const strategic = await client.patch(`${CM}/verbs`, { metadata: { labels: { x: 'y' } } });
    expect(strategic.metadata.labels).toEqual({ x: 'y' });
    const json = await client.patch(`${CM}/verbs`, [{ op: 'remove', path: '/data/a' }], 'json');
    expect(json.data).toEqual({ b: '2' });
    const updated = await client.update(`${CM}/verbs`, { ...json, data: { c: '3' } });
    expect(updated.data).toEqual({ c: '3' });
    const list = await client.list(`${CM}?labelSelector=x%3Dy`);
    expect(list.items.map((i: any) => i.metadata.name)).toEqual(['verbs']);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThan(0);
    await client.delete(`${CM}/verbs`);
    const err = await client.get(`${CM}/verbs`).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, reason: 'NotFound' });
    expect(err.message).toContain('verbs');
  });

  it('throws ApiError with the Status of a conflict and of a refused token', async () => {
    await client.create(CM, { metadata: { name: 'dup' } });
    const dup = await client.create(CM, { metadata: { name: 'dup' } }).catch((e) => e);
    expect(dup).toMatchObject({ status: 409, reason: 'AlreadyExists' });
    const stale = await client.update(`${CM}/dup`, { metadata: { name: 'dup', resourceVersion: '1' } }).catch((e) => e);
    expect(stale).toMatchObject({ status: 409, reason: 'Conflict' });
    const refused = await client.withToken('nope').get(`${CM}/dup`).catch((e) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 401, reason: 'Unauthorized' });
  });

  it('pages through a list', async () => {
    for (let i = 0; i < 7; i++) await client.create(CM, { metadata: { name: `page-${i}`, labels: { paged: 'yes' } } });
    const all = await client.listAll(`${CM}?labelSelector=paged%3Dyes`, 3);
    expect(all.items.map((i: any) => i.metadata.name).sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `page-${i}`));
    expect(all.metadata.resourceVersion).toBeTruthy();
  });
});

describe('unreachable', () => {
  it('tells a refused connection from an answer', async () => {
    const probe = createTcpServer();
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((ok) => probe.close(() => ok()));
    const err = await new ApiClient({ server: `https://127.0.0.1:${port}`, token: 't' }).get('/api').catch((e) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('times out a server that never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    try {
      const port = (silent.address() as AddressInfo).port;
      const started = Date.now();
      const err = await new ApiClient({ server: `https://127.0.0.1:${port}`, timeoutMs: 300 }).get('/api').catch((e) => e);
      expect(err).toBeInstanceOf(UnreachableError);
      expect(err.code).toBe('ETIMEDOUT');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => silent.close(() => ok()));
    }
  });

  it('fails TLS verification against an untrusted certificate (system CAs)', async () => {
    const err = await new ApiClient({ server: server.url, token: server.token }).get('/api').catch((e) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.code).toMatch(/CERT|SELF_SIGNED|VERIFY/);
  });

  it('shares one agent between clients with their own tokens', async () => {
    const agent = createAgent(server.ca);
    try {
      const a = new ApiClient({ server: server.url, token: server.token, agent });
      const b = new ApiClient({ server: server.url, token: 'wrong', agent });
      const [ok, no] = await Promise.all([a.get('/api/v1/namespaces/default'), b.get('/api/v1/namespaces/default').catch((e) => e)]);
      expect(ok.metadata.name).toBe('default');
      expect(no).toMatchObject({ status: 401 });
    } finally {
      agent.destroy();
    }
  });
});

describe('watch', () => {
  it('ends when the server ends the stream and resolves with the last resourceVersion', async () => {
    const list = await client.list(CM);
    const seen: WatchEvent[] = [];
    const watching = client.watch(CM, { resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 1 }, (e) => {
      seen.push(e);
    });
    const made = await client.create(CM, { metadata: { name: 'watched' } });
    const rv = await watching;
    expect(seen.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'watched')).toBe(true);
    expect(Number(rv)).toBeGreaterThanOrEqual(Number(made.metadata.resourceVersion));
  });

  it('stops at once when aborted', async () => {
    const ac = new AbortController();
    const watching = client.watch(CM, { resourceVersion: '0', timeoutSeconds: 60, signal: ac.signal }, () => {});
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    await watching;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('listWatch resumes after each watch ends without missing an event', async () => {
    const ns = '/api/v1/namespaces/kube-public/configmaps';
    const ac = new AbortController();
    const names = new Set<string>();
    let syncs = 0;
    const running = client.listWatch(
      ns,
      {
        onSync: (items) => {
          syncs++;
          for (const i of items) names.add(i.metadata.name);
        },
        onEvent: (e) => {
          if (e.type === 'ADDED') names.add(e.object.metadata.name);
        },
      },
      { signal: ac.signal, timeoutSeconds: 1 },
    );
    const wanted: string[] = [];
    // Writes spread over several one-second watches, some landing between two of them.
    for (let i = 0; i < 12; i++) {
      const name = `resume-${i}`;
      wanted.push(name);
      await client.create(ns, { metadata: { name } });
      await new Promise((r) => setTimeout(r, 300));
    }
    await until(() => wanted.every((n) => names.has(n)));
    ac.abort();
    await running;
    expect(syncs).toBe(1);
  });

  it('listWatch sees the server go away, backs off, and reconnects', async () => {
    const own = await startSkiff();
    const port = new URL(own.url).port;
    const c = new ApiClient({ server: own.url, token: own.token, ca: own.ca, timeoutMs: 2_000 });
    const ac = new AbortController();
    const names = new Set<string>();
    const reach: boolean[] = [];
    const errors: unknown[] = [];
    const running = c.listWatch(
      CM,
      {
        onSync: (items) => items.forEach((i) => names.add(i.metadata.name)),
        onEvent: (e) => {
          if (e.type !== 'DELETED') names.add(e.object.metadata.name);
        },
        onError: (err) => errors.push(err),
        onReachability: (up) => reach.push(up),
      },
      { signal: ac.signal, timeoutSeconds: 30, backoffInitialMs: 200, backoffMaxMs: 1_000 },
    );
    let restarted: SkiffServer | undefined;
    try {
      await c.create(CM, { metadata: { name: 'before' } });
      await until(() => names.has('before'));
      await own.stop();
      await until(() => errors.some((e) => e instanceof UnreachableError));
      expect(reach).toEqual([true, false]);
      restarted = await startSkiff({ data: own.data, listen: `127.0.0.1:${port}` });
      await restarted.request(CM, { method: 'POST', body: { metadata: { name: 'after' } } });
      await until(() => names.has('after'), 30_000);
      expect(reach).toEqual([true, false, true]);
    } finally {
      ac.abort();
      await running;
      await restarted?.stop();
      await own.stop();
    }
  });
});

describe('410 Gone', () => {
  let fake: Server;
  let url: string;
  let lists = 0;
  let watches = 0;
  beforeAll(async () => {
    // A server that answers every first watch with ERROR 410, as kube-apiserver past compaction.
    fake = createHttpServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      res.setHeader('content-type', 'application/json');
      if (u.searchParams.get('watch')) {
        watches++;
        if (watches === 1) {
          res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version: 5 (9)' } }) + '\n');
        } else {
          res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'late', resourceVersion: '12' } } }) + '\n');
          setTimeout(() => res.end(), 100);
        }
        return;
      }
      lists++;
      res.end(JSON.stringify({ kind: 'ConfigMapList', metadata: { resourceVersion: lists === 1 ? '5' : '10' }, items: [{ metadata: { name: `listed-${lists}` } }] }));
    });
    await new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    fake.closeAllConnections();
    await new Promise<void>((ok) => fake.close(() => ok()));
  });

  it('watch rejects with ApiError 410 and listWatch lists again', async () => {
    const c = new ApiClient({ server: url });
    const ac = new AbortController();
    const syncs: string[][] = [];
    const events: string[] = [];
    const running = c.listWatch(CM, {
      onSync: (items, rv) => {
        syncs.push([rv, ...items.map((i) => i.metadata.name)]);
      },
      onEvent: (e) => {
        events.push(e.object.metadata.name);
        ac.abort();
      },
    }, { signal: ac.signal });
    await running;
    expect(syncs).toEqual([
      ['5', 'listed-1'],
      ['10', 'listed-2'],
    ]);
    expect(events).toEqual(['late']);

    watches = 0;
    const err = await c.watch(CM, { resourceVersion: '5' }, () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 410, reason: 'Expired' });
  });
});

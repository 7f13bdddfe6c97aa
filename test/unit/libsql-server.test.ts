// The local libSQL HTTP endpoint, driven by @libsql/client over HTTP (what the Worker uses under
// `wrangler dev`) and, for what that client does not send, by raw Hrana pipelines.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, LibsqlBatchError, LibsqlError, type Client } from '@libsql/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, migrationsFolder } from '../../src/node/migrate.js';
import { startLibsqlServer, type LibsqlServer, type LibsqlServerOptions } from '../../src/node/libsql-server.js';
import { systemClock } from '../../src/store/clock.js';
import { Store } from '../../src/store/store.js';

let dir: string;
let servers: LibsqlServer[];
let clients: Client[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-libsql-'));
  servers = [];
  clients = [];
});

afterEach(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(options: Partial<LibsqlServerOptions> = {}): Promise<LibsqlServer> {
  const server = await startLibsqlServer({ file: join(dir, 'db'), ...options });
  servers.push(server);
  return server;
}

function client(url: string, options: { authToken?: string; intMode?: 'number' | 'bigint' } = {}): Client {
  const c = createClient({ url, ...options });
  clients.push(c);
  return c;
}

async function connect(options: Partial<LibsqlServerOptions> = {}): Promise<{ server: LibsqlServer; db: Client }> {
  const server = await start(options);
  return { server, db: client(server.url) };
}

/** POSTs a raw Hrana pipeline. */
async function pipeline(url: string, body: unknown, path = 'v3/pipeline'): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const execute = (sql: string, extra: Record<string, unknown> = {}) => ({ type: 'execute', stmt: { sql, ...extra } });
const text = (value: string) => ({ type: 'text', value });

describe('local libSQL endpoint', () => {
  it('answers the JSON version probes and not the protobuf one', async () => {
    const server = await start();
    expect((await fetch(`${server.url}/v2`)).status).toBe(200);
    expect((await fetch(`${server.url}/v3`)).status).toBe(200);
    expect((await fetch(`${server.url}/v3-protobuf`)).status).toBe(404);
  });

  it('executes statements with positional and named arguments', async () => {
    const { db } = await connect();
    await db.execute('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)');
    const first = await db.execute({ sql: 'INSERT INTO people (name, age) VALUES (?, ?)', args: ['ada', 36] });
    expect(first.rowsAffected).toBe(1);
    expect(first.lastInsertRowid).toBe(1n);
    await db.execute({ sql: 'INSERT INTO people (name, age) VALUES (:name, @age)', args: { name: 'alan', age: 41 } });
    await db.execute({ sql: 'INSERT INTO people (name, age) VALUES ($name, :age)', args: { $name: 'grace', ':age': 85 } });
    await db.execute({ sql: 'INSERT INTO people (age, name) VALUES (?2, ?1)', args: ['edsger', 72] });

    const rs = await db.execute({ sql: 'SELECT id, name, age FROM people WHERE age > ? ORDER BY id', args: [40] });
    expect(rs.columns).toEqual(['id', 'name', 'age']);
    expect(rs.columnTypes).toEqual(['INTEGER', 'TEXT', 'INTEGER']);
    expect(rs.rows.map((r) => [r.id, r.name, r.age])).toEqual([
      [2, 'alan', 41],
      [3, 'grace', 85],
      [4, 'edsger', 72],
    ]);
    expect(rs.rowsAffected).toBe(0);
    expect(rs.lastInsertRowid).toBeUndefined();

    const updated = await db.execute({ sql: 'UPDATE people SET age = age + 1 WHERE age > :min', args: { min: 70 } });
    expect(updated.rowsAffected).toBe(2);
    expect((await db.execute({ sql: 'DELETE FROM people WHERE name = ?', args: ['nobody'] })).rowsAffected).toBe(0);
  });

  it('round-trips every value type', async () => {
    const server = await start();
    const db = client(server.url, { intMode: 'bigint' });
    await db.execute('CREATE TABLE vals (i INTEGER PRIMARY KEY, v)');
    const values = [
      null,
      0n,
      -1n,
      9007199254740993n, // past 2^53: survives only as a string on the wire
      9223372036854775807n,
      -9223372036854775808n,
      1.5,
      1.0,
      -0.25,
      1e300,
      '',
      'héllo ✓ \u{1F6A2}',
      new Uint8Array([0, 1, 2, 254, 255]),
      new Uint8Array([]),
    ];
    await db.batch(
      values.map((v, i) => ({ sql: 'INSERT INTO vals (i, v) VALUES (?, ?)', args: [i, v] })),
      'write',
    );
    const rs = await db.execute('SELECT v, typeof(v) AS t FROM vals ORDER BY i');
    expect(rs.rows.map((r) => r.t)).toEqual([
      'null',
      'integer',
      'integer',
      'integer',
      'integer',
      'integer',
      'real',
      'real',
      'real',
      'real',
      'text',
      'text',
      'blob',
      'blob',
    ]);
    const back = rs.rows.map((r) => (r.v instanceof ArrayBuffer ? new Uint8Array(r.v) : r.v));
    expect(back).toEqual(values);

    // The default client reads integers as numbers and refuses those a number cannot hold.
    const plain = client(server.url);
    expect((await plain.execute('SELECT v FROM vals WHERE i = 1')).rows[0].v).toBe(0);
    await expect(plain.execute('SELECT v FROM vals WHERE i = 3')).rejects.toThrow(RangeError);
  });

  it('runs a write batch atomically: a failing statement rolls the whole batch back', async () => {
    const { db } = await connect();
    await db.execute('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)');
    const ok = await db.batch(
      [
        { sql: 'INSERT INTO kv VALUES (?, ?)', args: ['a', '1'] },
        { sql: 'INSERT INTO kv VALUES (?, ?)', args: ['b', '2'] },
        'SELECT count(*) AS n FROM kv',
      ],
      'write',
    );
    expect(ok.map((r) => r.rowsAffected)).toEqual([1, 1, 0]);
    expect(ok[2].rows[0].n).toBe(2);

    const failed = await db
      .batch(
        [
          { sql: 'INSERT INTO kv VALUES (?, ?)', args: ['c', '3'] },
          { sql: 'INSERT INTO kv VALUES (?, ?)', args: ['a', 'duplicate'] },
        ],
        'write',
      )
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(LibsqlBatchError);
    expect((failed as LibsqlBatchError).statementIndex).toBe(1);
    expect((failed as LibsqlBatchError).code).toBe('SQLITE_CONSTRAINT');
    expect((failed as Error).message).toMatch(/UNIQUE constraint failed: kv\.k/);
    const [rows] = await db.batch(['SELECT k FROM kv ORDER BY k'], 'read');
    expect(rows.rows.map((r) => r.k)).toEqual(['a', 'b']);
  });

  it('commits and rolls back interactive transactions, unseen by others until commit', async () => {
    const { db } = await connect();
    await db.execute('CREATE TABLE t (x INTEGER)');
    const count = async () => Number((await db.execute('SELECT count(*) AS n FROM t')).rows[0].n);

    const tx = await db.transaction('write');
    await tx.execute({ sql: 'INSERT INTO t VALUES (:x)', args: { x: 1 } }); // named: analysed with EXPLAIN, which must not block COMMIT
    await tx.batch([{ sql: 'INSERT INTO t VALUES (?)', args: [2] }, 'SELECT 1']);
    expect(Number((await tx.execute('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(2);
    expect(await count()).toBe(0);
    await tx.commit();
    expect(await count()).toBe(2);

    const undone = await db.transaction('write');
    await undone.execute('DELETE FROM t');
    expect(Number((await undone.execute('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(0);
    await undone.rollback();
    expect(await count()).toBe(2);

    const read = await db.transaction('read');
    expect(Number((await read.execute('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(2);
    await read.commit();
  });

  it('makes a second writer wait for the first while reads go on beside them', async () => {
    const { db } = await connect();
    await db.execute('CREATE TABLE t (x INTEGER)');
    const first = await db.transaction('write');
    await first.execute('INSERT INTO t VALUES (1)');

    const second = await db.transaction('write');
    let secondDone = false;
    const secondInsert = second.execute('INSERT INTO t VALUES (2)').then((r) => {
      secondDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(secondDone).toBe(false);
    expect((await db.execute('SELECT count(*) AS n FROM t')).rows[0].n).toBe(0);

    await first.commit();
    expect((await secondInsert).rowsAffected).toBe(1);
    expect(Number((await second.execute('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(2);
    await second.commit();
    expect((await db.execute('SELECT group_concat(x) AS xs FROM t')).rows[0].xs).toBe('1,2');
  });

  it('fails a writer that waits longer than the busy timeout', async () => {
    const { db } = await connect({ busyTimeoutMs: 100 });
    await db.execute('CREATE TABLE t (x INTEGER)');
    const holder = await db.transaction('write');
    await holder.execute('INSERT INTO t VALUES (1)');
    const started = Date.now();
    const err = await db.execute('INSERT INTO t VALUES (2)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibsqlError);
    expect((err as LibsqlError).code).toBe('SQLITE_BUSY');
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    await holder.commit();
    await db.execute('INSERT INTO t VALUES (2)');
    expect((await db.execute('SELECT count(*) AS n FROM t')).rows[0].n).toBe(2);
  });

  it('reports SQL errors as LibsqlError with the SQLite message and code', async () => {
    const { db } = await connect();
    const missing = await db.execute('SELECT * FROM missing').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(LibsqlError);
    expect((missing as LibsqlError).code).toBe('SQLITE_ERROR');
    expect((missing as LibsqlError).message).toMatch(/no such table: missing/);

    await db.execute('CREATE TABLE u (x TEXT NOT NULL)');
    const nul = await db.execute({ sql: 'INSERT INTO u VALUES (?)', args: [null] }).catch((e: unknown) => e);
    expect((nul as LibsqlError).code).toBe('SQLITE_CONSTRAINT');
    expect((nul as LibsqlError).message).toMatch(/NOT NULL constraint failed: u\.x/);
    // The failures left nothing behind: the endpoint keeps serving.
    expect((await db.execute('SELECT count(*) AS n FROM u')).rows[0].n).toBe(0);
  });

  it('requires the bearer token when one is set', async () => {
    const server = await start({ authToken: 'sekret' });
    expect((await client(server.url, { authToken: 'sekret' }).execute('SELECT 1 AS one')).rows[0].one).toBe(1);

    const wrong = await client(server.url, { authToken: 'guess' })
      .execute('SELECT 1')
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(LibsqlError);
    expect((wrong as LibsqlError).code).toBe('UNAUTHORIZED');

    const anonymous = await fetch(`${server.url}/v2/pipeline`, { method: 'POST', body: JSON.stringify({ baton: null, requests: [] }) });
    expect(anonymous.status).toBe(401);
  });

  it('rejects malformed pipelines and unknown batons with 400', async () => {
    const server = await start();
    expect((await pipeline(server.url, '{not json')).status).toBe(400);
    const unknownType = await pipeline(server.url, { baton: null, requests: [{ type: 'drop_everything' }] });
    expect(unknownType.status).toBe(400);
    expect(unknownType.json.message).toMatch(/unknown request type/);
    const badValue = await pipeline(server.url, { baton: null, requests: [execute('SELECT ?', { args: [{ type: 'integer', value: '1.5' }] })] });
    expect(badValue.status).toBe(400);
    const forged = await pipeline(server.url, { baton: 'forged', requests: [] });
    expect(forged.status).toBe(400);
    expect(forged.json.code).toBe('STREAM_EXPIRED');
  });

  it('keeps a stream and its transaction between requests, under a fresh baton each time', async () => {
    const server = await start({ streamIdleTimeoutMs: 200 });
    const db = client(server.url);
    await db.execute('CREATE TABLE t (x INTEGER)');

    const opened = await pipeline(server.url, {
      baton: null,
      requests: [execute('BEGIN IMMEDIATE'), execute('INSERT INTO t VALUES (1)'), { type: 'get_autocommit' }],
    });
    expect(opened.status).toBe(200);
    expect(opened.json.results.map((r: any) => r.type)).toEqual(['ok', 'ok', 'ok']);
    expect(opened.json.results[2].response).toEqual({ type: 'get_autocommit', is_autocommit: false });
    const baton = opened.json.baton as string;
    expect(baton).toEqual(expect.any(String));

    const next = await pipeline(server.url, { baton, requests: [execute('SELECT count(*) FROM t')] }, 'v2/pipeline');
    expect(next.json.results[0].response.result.rows).toEqual([[{ type: 'integer', value: '1' }]]);
    expect(next.json.baton).not.toBe(baton);
    expect((await pipeline(server.url, { baton, requests: [] })).status).toBe(400); // a baton is good once

    // Left idle, the stream is closed and its transaction rolled back, which frees the write lock.
    await new Promise((r) => setTimeout(r, 400));
    const late = await pipeline(server.url, { baton: next.json.baton, requests: [execute('COMMIT')] });
    expect(late.status).toBe(400);
    expect(late.json.code).toBe('STREAM_EXPIRED');
    await db.execute('INSERT INTO t VALUES (2)');
    expect((await db.execute('SELECT group_concat(x) AS xs FROM t')).rows[0].xs).toBe('2');
  });

  it('evaluates batch step conditions', async () => {
    const server = await start();
    const step = (sql: string, condition?: unknown) => ({ stmt: { sql }, condition });
    const { json } = await pipeline(server.url, {
      baton: null,
      requests: [
        {
          type: 'batch',
          batch: {
            steps: [
              step('SELECT 0'),
              step('SELEC 1'),
              step('SELECT 2', { type: 'ok', step: 0 }),
              step('SELECT 3', { type: 'ok', step: 1 }),
              step('SELECT 4', { type: 'error', step: 1 }),
              step('SELECT 5', { type: 'not', cond: { type: 'ok', step: 1 } }),
              step('SELECT 6', { type: 'and', conds: [{ type: 'ok', step: 0 }, { type: 'error', step: 1 }] }),
              step('SELECT 7', { type: 'or', conds: [{ type: 'ok', step: 1 }, { type: 'is_autocommit' }] }),
              step('SELECT 8', { type: 'error', step: 3 }), // a skipped step neither succeeded nor failed
              step('SELECT 9', { type: 'and', conds: [{ type: 'ok', step: 0 }, { type: 'ok', step: 1 }] }),
            ],
          },
        },
        { type: 'close' },
      ],
    });
    const result = json.results[0].response.result;
    const ran = result.step_results.map((r: any) => (r ? r.rows[0][0].value : null));
    expect(ran).toEqual(['0', null, '2', null, '4', '5', '6', '7', null, null]);
    expect(result.step_errors.map((e: any) => e?.code ?? null)).toEqual([null, 'SQLITE_ERROR', null, null, null, null, null, null, null, null]);
    expect(json.baton).toBeNull();
  });

  it('stores SQL texts, binds mixed arguments, describes statements, runs sequences and closes', async () => {
    const server = await start();
    const { json } = await pipeline(server.url, {
      baton: null,
      requests: [
        { type: 'sequence', sql: "CREATE TABLE s (x INTEGER, y TEXT); INSERT INTO s VALUES (1, 'one');" },
        { type: 'store_sql', sql_id: 7, sql: 'SELECT ? AS b, :a AS a' },
        execute('', { sql: undefined, sql_id: 7, args: [text('positional')], named_args: [{ name: 'a', value: text('named') }] }),
        { type: 'describe', sql_id: 7 },
        { type: 'describe', sql: 'INSERT INTO s (x) VALUES (@x)' },
        { type: 'describe', sql: 'EXPLAIN SELECT x FROM s WHERE y = $y' },
        { type: 'describe', sql: 'SELECT x, y FROM s' },
        execute('SELECT :nope', { named_args: [{ name: 'other', value: text('x') }] }),
        execute('SELECT x FROM s', { want_rows: false }),
        execute('  -- nothing\n'),
        { type: 'close_sql', sql_id: 7 },
        execute('', { sql: undefined, sql_id: 7 }),
        { type: 'close' },
        execute('SELECT 1'),
      ],
    });
    const [seq, store, exec, desc, descInsert, descExplain, descCols, unknownArg, noRows, empty, closeSql, gone, close, after] = json.results;
    expect(seq).toEqual({ type: 'ok', response: { type: 'sequence' } });
    expect(store.type).toBe('ok');
    expect(exec.response.result.rows).toEqual([[text('positional'), text('named')]]);
    expect(desc.response.result).toEqual({
      params: [{ name: null }, { name: ':a' }],
      cols: [
        { name: 'b', decltype: null },
        { name: 'a', decltype: null },
      ],
      is_explain: false,
      is_readonly: true,
    });
    expect(descInsert.response.result).toMatchObject({ params: [{ name: '@x' }], cols: [], is_readonly: false });
    expect(descExplain.response.result).toMatchObject({ params: [{ name: '$y' }], is_explain: true, is_readonly: true });
    expect(descCols.response.result.cols).toEqual([
      { name: 'x', decltype: 'INTEGER' },
      { name: 'y', decltype: 'TEXT' },
    ]);
    expect(unknownArg.error.code).toBe('ARGS_INVALID');
    expect(noRows.response.result.rows).toEqual([]);
    expect(noRows.response.result.cols).toEqual([{ name: 'x', decltype: 'INTEGER' }]);
    expect(empty.error.code).toBe('SQL_NO_STATEMENT');
    expect(closeSql.type).toBe('ok');
    expect(gone.error.code).toBe('SQL_NOT_FOUND');
    expect(close.type).toBe('ok');
    expect(after.error.code).toBe('STREAM_CLOSED');
    expect(json.baton).toBeNull();
  });

  it('runs the migrations as one multi-statement executeMultiple', async () => {
    const { db } = await connect();
    const files = readdirSync(migrationsFolder).filter((f) => f.endsWith('.sql')).sort();
    const sql = files
      .flatMap((f) => readFileSync(join(migrationsFolder, f), 'utf8').split('--> statement-breakpoint'))
      .join('\n');
    await db.executeMultiple(sql);
    const tables = await db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    expect(tables.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['changes', 'objects', 'revision']));
  });

  it("serves skiff's Store: migrations, create, list, update conditional on rv, changes since", async () => {
    const { db } = await connect();
    await migrate(db);
    await migrate(db); // drizzle's journal over HTTP too: the second run applies nothing
    const store = new Store(db, systemClock);
    await store.init();
    expect((await store.list('Namespace')).items.map((n) => n.metadata?.name)).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);

    const start = await store.revision();
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default', uid: crypto.randomUUID() }, data: { a: '1' } };
    const [created] = await store.commit([{ op: 'create', object: cm }]);
    expect(created.ok).toBe(true);
    const rv = (created as { rv: number }).rv;
    expect((await store.commit([{ op: 'create', object: cm }]))[0].ok).toBe(false);

    const listed = await store.list('ConfigMap', { namespace: 'default' });
    expect(listed.items.map((o) => [o.metadata?.name, o.metadata?.resourceVersion])).toEqual([['cfg', String(rv)]]);
    expect(listed.rev).toBe(rv);

    const [stale, fresh] = await store.commit([
      { op: 'update', object: { ...cm, data: { a: 'stale' } }, rv: rv - 1 },
      { op: 'update', object: { ...cm, data: { a: '2' } }, rv },
    ]);
    expect(stale.ok).toBe(false);
    expect(fresh.ok).toBe(true);
    expect((await store.get('ConfigMap', 'default', 'cfg'))?.data).toEqual({ a: '2' });

    const { events, rev } = await store.changesSince('ConfigMap', start.rev);
    expect(events.map((e) => [e.type, e.object.data])).toEqual([
      ['ADDED', { a: '1' }],
      ['MODIFIED', { a: '2' }],
    ]);
    expect(rev).toBe(rv + 1);
  });

  it('keeps the data in the file, and stops answering once closed', async () => {
    const { server, db } = await connect();
    await db.execute('CREATE TABLE t (x TEXT)');
    await db.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['kept'] });
    const open = await db.transaction('write'); // rolled back by close
    await open.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['dropped'] });
    await server.close();
    servers = servers.filter((s) => s !== server);
    await expect(fetch(`${server.url}/v2`)).rejects.toThrow();

    const local = client(`file:${join(dir, 'db')}`);
    expect((await local.execute('SELECT x FROM t')).rows.map((r) => r.x)).toEqual(['kept']);
  });
});

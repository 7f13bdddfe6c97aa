// The database connections of `skiff serve`, off the API's event loop. A libSQL `file:` client runs
// SQLite on the calling thread, and a write waits there for the lock while another connection
// commits: either would hold every request. So the API reads on one thread and every write of the
// process, the API's and the pass thread's, goes through one writer thread: writes queue there in
// order instead of contending for SQLite's lock (whose busy handler sleeps, in steps up to 100 ms).
// The file is in WAL mode, so reads never wait for a write.
import type { Client, InStatement, ResultSet, Row, TransactionMode } from '@libsql/client';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { DbAnswer, DbCall, PlainResult } from './db-worker.js';
import { SqliteFile } from './sqlite-file.js';
import { startWorker } from './worker-script.js';

type Endpoint = Worker | MessagePort;
type Call = (stmts: InStatement[], mode?: TransactionMode) => Promise<ResultSet[]>;

/** Calls to a db-worker over a Worker or a MessagePort to one, answered in order. */
class DbLink {
  private calls = new Map<number, { resolve: (r: ResultSet[]) => void; reject: (e: Error) => void }>();
  private next = 0;
  private gone?: Error;

  constructor(private endpoint: Endpoint) {
    endpoint.on('message', (a: DbAnswer) => {
      const call = this.calls.get(a.id);
      this.calls.delete(a.id);
      if (!call) return;
      if ('error' in a) call.reject(Object.assign(new Error(a.error.message), { code: a.error.code }));
      else call.resolve(a.results.map(resultSet));
    });
  }

  /** The thread (or the port to it) is gone: what waits fails, and so does what comes. */
  fail(err: Error): void {
    this.gone = err;
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
  }

  call: Call = (stmts, mode) => {
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.calls.set(id, { resolve, reject });
      this.endpoint.postMessage({ id, stmts: stmts.map(plainStatement), mode } satisfies DbCall);
    });
  };
}

class DbThread {
  readonly link: DbLink;
  private worker: Worker;
  private exited = false;

  constructor(path: string, name: string) {
    this.worker = startWorker('db-worker', { workerData: { path }, name });
    this.link = new DbLink(this.worker);
    this.worker.on('error', (err) => this.link.fail(err));
    this.worker.on('exit', () => {
      this.exited = true;
      this.link.fail(new Error('the database thread has stopped'));
    });
  }

  /** A port another thread makes its calls to this one through. */
  port(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ attach: port1 }, [port1]);
    return port2;
  }

  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    const gone = new Promise<void>((done) => this.worker.once('exit', () => done()));
    this.worker.postMessage('close');
    return gone;
  }
}

// Statements cross to the thread by structured clone: plain objects only.
const plainStatement = (s: InStatement): InStatement => (typeof s === 'string' ? s : { sql: s.sql, args: s.args });

// Rows by column name only: what the Store reads (a libSQL Row is also indexed by position).
function resultSet(r: PlainResult): ResultSet {
  const rows = r.values.map((values) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < r.columns.length; i++) row[r.columns[i]] = values[i];
    return row as unknown as Row;
  });
  return { columns: r.columns, columnTypes: [], rows, rowsAffected: r.rowsAffected, lastInsertRowid: r.lastInsertRowid, toJSON: () => ({}) };
}

const READ = /^\s*(SELECT|WITH)\b/i;

/** A libSQL client (what the Store uses of one: execute, batch, close) that reads with `read`, writes with `write`. */
function routedClient(read: Call, write: Call, stop: () => Promise<void>): Client & { stop(): Promise<void> } {
  const client = {
    protocol: 'file',
    closed: false,
    async execute(stmt: InStatement | string, args?: unknown[]) {
      const s: InStatement = typeof stmt === 'string' && args ? { sql: stmt, args: args as never } : stmt;
      const [rs] = await (READ.test(typeof s === 'string' ? s : s.sql) ? read : write)([s]);
      return rs;
    },
    batch(stmts: InStatement[], mode: TransactionMode = 'deferred') {
      return (mode === 'read' ? read : write)(stmts, mode);
    },
    close() {
      void client.stop();
    },
    stop() {
      client.closed = true;
      return stop();
    },
  };
  return client as unknown as Client & { stop(): Promise<void> };
}

export type ThreadedClient = Client & {
  stop(): Promise<void>;
  /** A port to the writer thread, for the pass thread's writes (passClient). */
  writerPort(): MessagePort;
};

/** The API's client over a database file (its path): reads on one thread, writes on the writer thread. */
export function threadedClient(path: string): ThreadedClient {
  const reader = new DbThread(path, 'skiff-db-read');
  const writer = new DbThread(path, 'skiff-db-write');
  const client = routedClient(reader.link.call, writer.link.call, async () => {
    await Promise.all([reader.close(), writer.close()]);
  });
  return Object.assign(client, { writerPort: () => writer.port() });
}

/** The pass thread's client: reads on a connection of its own (on its own thread), writes through the writer thread. */
export function passClient(path: string, writer: MessagePort): Client {
  const local = new SqliteFile(path);
  const link = new DbLink(writer);
  writer.on('close', () => link.fail(new Error('the database writer thread has stopped')));
  const read: Call = async (stmts, mode) => (mode === undefined ? [local.execute(stmts[0])] : local.batch(stmts, mode)).map(resultSet);
  return routedClient(read, link.call, async () => {
    local.close();
    writer.close();
  });
}

/** The path of a `file:` URL. */
export const filePath = (url: string): string => url.slice('file:'.length);

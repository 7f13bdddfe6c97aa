// The API's database connections off its event loop. A libSQL `file:` client runs SQLite on the
// calling thread, and a write waits there for the lock while a pass (on its own thread) commits:
// either would hold every request. So `skiff serve` reads on one thread and writes on another
// (WAL: readers never wait for the writer); the event loop only posts calls and takes answers.
import type { Client, InStatement, ResultSet, Row, TransactionMode } from '@libsql/client';
import type { Worker } from 'node:worker_threads';
import type { DbAnswer, DbCall, PlainResult } from './db-worker.js';
import { startWorker } from './worker-script.js';

class DbThread {
  private worker: Worker;
  private calls = new Map<number, { resolve: (r: ResultSet[]) => void; reject: (e: Error) => void }>();
  private next = 0;
  private exited?: Error;

  constructor(url: string, authToken: string | undefined, name: string) {
    this.worker = startWorker('db-worker', { workerData: { url, authToken }, name });
    this.worker.on('message', (a: DbAnswer) => {
      const call = this.calls.get(a.id);
      this.calls.delete(a.id);
      if (!call) return;
      if ('error' in a) call.reject(Object.assign(new Error(a.error.message), { code: a.error.code }));
      else call.resolve(a.results.map(resultSet));
    });
    const fail = (err: Error) => {
      this.exited = err;
      for (const c of this.calls.values()) c.reject(err);
      this.calls.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', () => fail(new Error('the database thread has stopped')));
  }

  call(stmts: InStatement[], mode?: TransactionMode): Promise<ResultSet[]> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ id, stmts: stmts.map(plainStatement), mode } satisfies DbCall);
    });
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

/**
 * A libSQL client whose calls run on two threads: reads (read batches, SELECT statements) on one,
 * everything else on the other. What the Store uses of a Client: execute, batch, close.
 */
export function threadedClient(url: string, authToken?: string): Client & { stop(): Promise<void> } {
  const reader = new DbThread(url, authToken, 'skiff-db-read');
  const writer = new DbThread(url, authToken, 'skiff-db-write');
  const sqlOf = (s: InStatement) => (typeof s === 'string' ? s : s.sql);
  const client = {
    protocol: 'file',
    closed: false,
    async execute(stmt: InStatement | string, args?: unknown[]) {
      const s: InStatement = typeof stmt === 'string' && args ? { sql: stmt, args: args as never } : stmt;
      const [rs] = await (READ.test(sqlOf(s)) ? reader : writer).call([s]);
      return rs;
    },
    batch(stmts: InStatement[], mode: TransactionMode = 'deferred') {
      return (mode === 'read' ? reader : writer).call(stmts, mode);
    },
    close() {
      void client.stop();
    },
    async stop() {
      client.closed = true;
      await Promise.all([reader.close(), writer.close()]);
    },
  };
  return client as unknown as Client & { stop(): Promise<void> };
}

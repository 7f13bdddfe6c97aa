// A database connection on a thread of its own (see db-thread.ts): runs one call at a time, in the
// order they come, and answers with plain rows.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { InStatement, ResultSet, TransactionMode } from '@libsql/client';
import { openClient } from '../store/db.js';

export interface DbCall {
  id: number;
  stmts: InStatement[];
  /** A batch in this mode; undefined: one statement on its own (execute). */
  mode?: TransactionMode;
}

export interface PlainResult {
  columns: string[];
  values: unknown[][];
  rowsAffected: number;
  lastInsertRowid?: bigint;
}

export type DbAnswer = { id: number; results: PlainResult[] } | { id: number; error: { message: string; code?: string } };

const { url, authToken } = workerData as { url: string; authToken?: string };
const client = openClient(url, authToken);
const port = parentPort!;

const plain = (rs: ResultSet): PlainResult => ({
  columns: rs.columns,
  values: rs.rows.map((r) => rs.columns.map((_, i) => r[i])),
  rowsAffected: rs.rowsAffected,
  lastInsertRowid: rs.lastInsertRowid,
});

// One queue for every caller (the API's thread, and the pass thread through an attached port), so
// their writes never wait on each other inside SQLite.
let queue = Promise.resolve();
const serve = (reply: MessagePort | typeof port) => (call: DbCall) => {
  queue = queue.then(async () => {
    let answer: DbAnswer;
    try {
      const rs = call.mode === undefined ? [await client.execute(call.stmts[0])] : await client.batch(call.stmts, call.mode);
      answer = { id: call.id, results: rs.map(plain) };
    } catch (err) {
      const e = err as { message?: string; code?: string };
      answer = { id: call.id, error: { message: String(e.message ?? err), code: e.code } };
    }
    reply.postMessage(answer);
  });
};
const fromParent = serve(port);
const attached = new Set<MessagePort>();
port.on('message', (m: DbCall | { attach: MessagePort } | 'close') => {
  if (m === 'close') {
    void queue.then(() => {
      client.close();
      for (const p of attached) p.close();
      port.close();
    });
  } else if ('attach' in m) {
    attached.add(m.attach);
    m.attach.on('message', serve(m.attach));
    m.attach.on('close', () => attached.delete(m.attach));
  }
  else fromParent(m);
});

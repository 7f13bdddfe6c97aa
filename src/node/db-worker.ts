// A connection to the database file on a thread of its own (see db-thread.ts), with its prepared
// statements kept (sqlite-file.ts); answers with plain rows.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { InStatement, TransactionMode } from '@libsql/client';
import { SqliteFile } from './sqlite-file.js';

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

const { path } = workerData as { path: string };
const db = new SqliteFile(path);
const port = parentPort!;

// Calls run one at a time, each to its end, in the order they arrive from every caller (the API's
// thread, and the pass thread through an attached port): writes never wait on each other in SQLite.
const serve = (reply: MessagePort | typeof port) => (call: DbCall) => {
  let answer: DbAnswer;
  try {
    answer = { id: call.id, results: call.mode === undefined ? [db.execute(call.stmts[0])] : db.batch(call.stmts, call.mode) };
  } catch (err) {
    const e = err as { message?: string; code?: string };
    answer = { id: call.id, error: { message: String(e.message ?? err), code: e.code } };
  }
  reply.postMessage(answer);
};
const fromParent = serve(port);
const attached = new Set<MessagePort>();
port.on('message', (m: DbCall | { attach: MessagePort } | 'close') => {
  if (m === 'close') {
    db.close();
    for (const p of attached) p.close();
    port.close();
  } else if ('attach' in m) {
    attached.add(m.attach);
    m.attach.on('message', serve(m.attach));
    m.attach.on('close', () => attached.delete(m.attach));
  } else fromParent(m);
});

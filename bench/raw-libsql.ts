// The floor under every API write: the same number of plain INSERTs of a similar JSON document into a
// libSQL file through @libsql/client, with no HTTP, no validation, no change log and no triggers.
import { performance } from 'node:perf_hooks';
import { createClient } from '@libsql/client';

export interface RawResult {
  /** One execute (and so one implicit transaction) per row: each row's latency, ms. */
  each: number[];
  eachTotalMs: number;
  /** All rows in one client.batch (one transaction), ms. */
  batchTotalMs: number;
}

const CREATE = `CREATE TABLE objects (
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL, rv INTEGER NOT NULL,
  object TEXT NOT NULL, PRIMARY KEY (kind, namespace, name))`;
const INSERT = 'INSERT INTO objects (kind, namespace, name, uid, rv, object) VALUES (?, ?, ?, ?, ?, ?)';

/** `count` rows whose object is `template` (a stored Pod) renamed, first one at a time, then in one batch. */
export async function rawInserts(file: string, count: number, template: Record<string, any>): Promise<RawResult> {
  const client = createClient({ url: `file:${file}` });
  try {
    await client.execute(CREATE);
    const row = (namespace: string, i: number) => {
      const name = `pod-${i}`;
      const uid = crypto.randomUUID();
      const object = JSON.stringify({ ...template, metadata: { ...template.metadata, name, namespace, uid } });
      return { sql: INSERT, args: ['Pod', namespace, name, uid, i + 1, object] };
    };

    const each = new Array<number>(count);
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const stmt = row('each', i);
      const t0 = performance.now();
      await client.execute(stmt);
      each[i] = performance.now() - t0;
    }
    const eachTotalMs = performance.now() - start;

    const stmts = Array.from({ length: count }, (_, i) => row('batch', i));
    const b0 = performance.now();
    await client.batch(stmts, 'write');
    return { each, eachTotalMs, batchTotalMs: performance.now() - b0 };
  } finally {
    client.close();
  }
}

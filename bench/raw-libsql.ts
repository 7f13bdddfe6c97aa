// The floor under the API: plain INSERTs of the same JSON document into a libSQL file through
// @libsql/client, with no HTTP, no validation, no change log and no triggers; reads of one row by
// key; and the Lease writes and reads heartbeating nodes need at least.
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

/**
 * `count` reads of single rows by primary key, one at a time, from the rows rawInserts put in `file`
 * one at a time (`rows` of them): each read's latency, ms. The floor under a GET.
 */
export async function rawGets(file: string, count: number, rows: number): Promise<number[]> {
  const client = createClient({ url: `file:${file}` });
  try {
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const rs = await client.execute({ sql: 'SELECT rv, object FROM objects WHERE kind = ? AND namespace = ? AND name = ?', args: ['Pod', 'each', `pod-${i % rows}`] });
      out[i] = performance.now() - t0;
      if (rs.rows.length !== 1) throw new Error(`raw read of pod-${i % rows} found ${rs.rows.length} rows`);
    }
    return out;
  } finally {
    client.close();
  }
}

export interface RawLeaseCpu {
  /** CPU seconds of `nodes`/10 Lease UPDATEs a second (one renewal per node every 10 s), one execute each, for `seconds`. */
  writeCpuS: number;
  /** CPU seconds of reading every Lease's renewTime once a second, for `seconds`. */
  readCpuS: number;
  seconds: number;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * The floor under keeping `nodes` heartbeating nodes for `seconds`: the Lease renewals as plain
 * UPDATEs, and the reads a controller needs at least to notice a missed one (every Lease's renewTime,
 * once a second), each as CPU time of this process. `template` is a Lease as the server stored it.
 */
export async function rawLeaseCpu(file: string, nodes: number, seconds: number, template: Record<string, any>): Promise<RawLeaseCpu> {
  const client = createClient({ url: `file:${file}` });
  try {
    await client.execute(CREATE);
    const doc = (i: number, rv: number) => {
      const name = `node-${i}`;
      const object = JSON.stringify({ ...template, metadata: { ...template.metadata, name, resourceVersion: String(rv) }, spec: { ...template.spec, holderIdentity: name, renewTime: new Date().toISOString() } });
      return { name, object };
    };
    await client.batch(
      Array.from({ length: nodes }, (_, i) => {
        const { name, object } = doc(i, i + 1);
        return { sql: INSERT, args: ['Lease', 'kube-node-lease', name, crypto.randomUUID(), i + 1, object] };
      }),
      'write',
    );
    const renewals = Math.round((nodes * seconds) / 10);
    const w0 = cpuSeconds();
    for (let k = 0; k < renewals; k++) {
      const { name, object } = doc(k % nodes, nodes + k + 1);
      await client.execute({ sql: 'UPDATE objects SET rv = ?, object = ? WHERE kind = ? AND namespace = ? AND name = ?', args: [nodes + k + 1, object, 'Lease', 'kube-node-lease', name] });
    }
    const writeCpuS = cpuSeconds() - w0;
    const r0 = cpuSeconds();
    for (let s = 0; s < seconds; s++) {
      const rs = await client.execute({ sql: "SELECT name, object ->> '$.spec.renewTime' AS renew FROM objects WHERE kind = ? AND namespace = ?", args: ['Lease', 'kube-node-lease'] });
      if (rs.rows.length !== nodes) throw new Error(`raw lease read found ${rs.rows.length} rows`);
    }
    return { writeCpuS, readCpuS: cpuSeconds() - r0, seconds };
  } finally {
    client.close();
  }
}

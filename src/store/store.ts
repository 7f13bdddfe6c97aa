import type { Client, InStatement, ResultSet } from '@libsql/client';
import { skiffIngressClass } from '../kinds/ingressclass.js';
import { kubernetesService } from '../kinds/kubernetes-service.js';
import { BOOTSTRAP_NAMES, bootstrapPolicy, reconcileBootstrap } from '../kinds/rbac-bootstrap.js';
import { kindNamed } from '../kinds/registry.js';
import type { KObject } from '../kinds/types.js';
import type { Clock } from './clock.js';
import { EVENT_SEEN } from './event-seen.js';
import { signingKeyInsert } from './service-account-keys.js';

/** An extra SQL condition a write also needs to hold (e.g. "this node still has N pods"). */
export interface Guard {
  sql: string;
  args: (string | number)[];
}

/**
 * A write, conditional on the resourceVersion that was read (`rv`); create is conditional on
 * absence. `event` creates an Event or, when one of that name exists, counts it once more.
 */
export type WriteOp =
  | { op: 'create'; object: KObject; requireNamespace?: boolean; guard?: Guard }
  | { op: 'update'; object: KObject; rv: number; guard?: Guard }
  | { op: 'delete'; kind: string; namespace: string; name: string; rv: number; guard?: Guard }
  | { op: 'event'; object: KObject }
  /**
   * Set-based writes: many objects in one statement. A statement's preparation (the change-log
   * triggers compiled in) costs several times its execution per row, so a controller writing
   * thousands of objects writes them a few statements at a time. Each object still gets its own
   * resourceVersion and change; the outcome counts the objects written (`changed`).
   * `updates`: each item conditional on its `rv`, and on `guard`, which is evaluated per item, before
   * any is written, and may read the item's `with` (as JSON) as `v.w`.
   * `creates`: conditional on absence (an object whose name or uid is taken is skipped), on `guard`,
   * evaluated before any is written, and where asked, on a live namespace.
   * `events`: as `event`, each.
   */
  | { op: 'updates'; items: { object: KObject; rv: number; with?: unknown }[]; guard?: Guard }
  | { op: 'creates'; objects: KObject[]; requireNamespace?: boolean; guard?: Guard }
  | { op: 'events'; objects: KObject[] }
  /** A statement of the writer's own over its own tables (not `objects`), in the same transaction. */
  | { op: 'exec'; sql: string; args: (string | number | null)[] };

/** Outcome of one write: the object as stored (with its new resourceVersion), or `conflict` when its condition failed. */
export type WriteResult = { ok: true; object?: KObject; rv: number; changed?: number } | { ok: false };

export interface ChangeEvent {
  rev: number;
  kind: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KObject;
  /** For MODIFIED, when asked for and still in the log: the object as it was before. */
  previous?: KObject;
}

export interface ListQuery {
  namespace?: string;
  /** Only objects after this namespace/name key (for continue tokens). */
  after?: [string, string];
  limit?: number;
  /** Extra SQL conditions over the `objects` columns, ANDed (e.g. label selectors). */
  where?: { sql: string; args: (string | number)[] }[];
}

export class CompactedError extends Error {
  constructor(readonly compacted: number) {
    super(`resourceVersion is older than the oldest kept change (${compacted})`);
  }
}

/** The most writes one group commit carries (a remote database bounds a batch's size). */
const MAX_GROUP_OPS = 1000;

const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** A built-in object Store.init creates when absent (a later start never overwrites it). */
function builtinObject(obj: KObject): { sql: string; args: string[] } {
  const [kind, namespace, name] = keyOf(obj);
  return {
    sql: 'INSERT OR IGNORE INTO objects (kind, namespace, name, uid, rv, owner_uid, object) VALUES (?, ?, ?, ?, 0, NULL, ?)',
    args: [kind, namespace, name, String(obj.metadata?.uid), serialise(obj)],
  };
}

/**
 * The `kubernetes` Service in `default`, unless it exists or its address is taken (a database from
 * before it was made, where a Service was given that address already).
 */
function kubernetesServiceInsert(now: string, clusterIpRange: string | undefined): InStatement {
  const svc = kubernetesService(now, clusterIpRange);
  const ip = (svc.spec as { clusterIP: string }).clusterIP;
  return {
    sql: `INSERT OR IGNORE INTO objects (kind, namespace, name, uid, rv, owner_uid, object)
          SELECT 'Service', 'default', ?, ?, 0, NULL, ?
          WHERE NOT EXISTS (SELECT 1 FROM objects WHERE kind = 'Service' AND json_extract(object, '$.spec.clusterIP') = ?)`,
    args: [String(svc.metadata!.name), String(svc.metadata!.uid), serialise(svc), ip],
  };
}

/**
 * The default RBAC policy, created where absent, then read back (the last statement) so Store.init
 * can reconcile what an earlier start created with what this version adds.
 */
function rbacDefaultStatements(now: string): InStatement[] {
  const names = (list: string[]) => list.map((n) => `'${n.replace(/'/g, "''")}'`).join(', ');
  return [
    ...bootstrapPolicy(now).map(builtinObject),
    `SELECT rv, object FROM objects WHERE namespace = '' AND ((kind = 'ClusterRole' AND name IN (${names(BOOTSTRAP_NAMES.ClusterRole)}))
      OR (kind = 'ClusterRoleBinding' AND name IN (${names(BOOTSTRAP_NAMES.ClusterRoleBinding)})))`,
  ];
}

/** An object from a row that selected `rv, object`. */
export function objectOf(row: Record<string, unknown>): KObject {
  return parse(row.rv, row.object);
}

function parse(rv: unknown, json: unknown): KObject {
  const obj = JSON.parse(String(json)) as KObject;
  obj.metadata = { ...obj.metadata, resourceVersion: String(rv) };
  return obj;
}

/** The JSON stored: the object without its resourceVersion, which lives in the `rv` column. */
function serialise(obj: KObject): string {
  const { resourceVersion: _rv, ...metadata } = obj.metadata ?? {};
  return JSON.stringify({ ...obj, metadata });
}

function controllerUid(obj: KObject): string | null {
  return obj.metadata?.ownerReferences?.find((o) => o.controller)?.uid ?? null;
}

function summaryOf(obj: KObject): string | null {
  const summarise = kindNamed(String(obj.kind))?.summary;
  return summarise ? JSON.stringify(summarise(obj)) : null;
}

function keyOf(obj: KObject): [string, string, string] {
  return [String(obj.kind), obj.metadata?.namespace ?? '', String(obj.metadata?.name)];
}

/**
 * The object store over libSQL. Each public call is one database round trip
 * (one `execute` or one `batch`); `commit` writes many objects in one.
 */
export class Store {
  private listeners = new Set<() => void>();
  /** Commits waiting for the one in flight (group commit). */
  private waiting: { ops: WriteOp[]; resolve: (r: WriteResult[]) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  /** Round trips issued, for tests and benchmarks that count them. */
  roundTrips = 0;

  /** Calls to the database client that failed (an error, not a failed condition), for /metrics. */
  errors = 0;
  /** The database client, its failed calls counted in `errors`. */
  readonly client: Client;

  /**
   * @param groupCommit whether concurrent commits may share a transaction. Not on Workers: there a
   * request waiting on another request's database call is cancelled as hung.
   */
  constructor(
    client: Client,
    readonly clock: Clock,
    private readonly groupCommit = true,
  ) {
    this.client = countingErrors(client, () => this.errors++);
  }

  /**
   * Create the namespaces Kubernetes starts with, the IngressClass skiff serves, the key that signs
   * ServiceAccount tokens, and the `kubernetes` Service (on the first address of
   * `serviceClusterIpRange`, default 10.96.0.0/12). Idempotent: what exists is kept. And the default
   * RBAC policy, which kube-apiserver reconciles at start: defaults kept from an earlier start get
   * what this version adds unless annotated autoupdate "false" (see kinds/rbac-bootstrap.ts).
   */
  async init(opts: { serviceClusterIpRange?: string } = {}): Promise<void> {
    const now = this.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
    const signingKey = await signingKeyInsert(this.clock.now().getTime());
    const results = await this.batch(
      BUILTIN_NAMESPACES.map((name): InStatement => {
        const uid = crypto.randomUUID();
        const ns = {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, uid, creationTimestamp: now, labels: { 'kubernetes.io/metadata.name': name } },
          spec: { finalizers: ['kubernetes'] },
          status: { phase: 'Active' },
        };
        return {
          sql: 'INSERT OR IGNORE INTO objects (kind, namespace, name, uid, rv, owner_uid, object) VALUES (?, ?, ?, ?, 0, NULL, ?)',
          args: ['Namespace', '', name, uid, serialise(ns)],
        };
      }).concat(builtinObject(skiffIngressClass(now)), signingKey, kubernetesServiceInsert(now, opts.serviceClusterIpRange), ...rbacDefaultStatements(now)),
      'write',
    );
    // Defaults kept from an earlier start get what this version adds: a second round trip only then.
    const rbac = reconcileBootstrap(results[results.length - 1].rows.map(objectOf), now);
    if (rbac.length) await this.commit(rbac.map(({ object, rv }): WriteOp => ({ op: 'update', object, rv })));
  }

  close(): void {
    this.client.close();
  }

  /** Called after every committed write (watchers in this process wake on it). */
  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Wake what waits on commits: after this store's own, or another connection's (the pass thread's). */
  notifyCommitted(): void {
    for (const l of this.listeners) l();
  }

  private async batch(stmts: InStatement[], mode: 'read' | 'write'): Promise<ResultSet[]> {
    this.roundTrips++;
    return this.client.batch(stmts, mode);
  }

  async get(kind: string, namespace: string, name: string): Promise<KObject | undefined> {
    this.roundTrips++;
    const rs = await this.client.execute({
      sql: 'SELECT rv, object FROM objects WHERE kind = ? AND namespace = ? AND name = ?',
      args: [kind, namespace, name],
    });
    const row = rs.rows[0];
    return row ? parse(row.rv, row.object) : undefined;
  }

  /** Objects of a kind in namespace/name order, and the revision they were read at. */
  async list(kind: string, q: ListQuery = {}): Promise<{ items: KObject[]; rev: number; more: boolean }> {
    const where = ['kind = ?'];
    const args: (string | number)[] = [kind];
    if (q.namespace !== undefined) {
      where.push('namespace = ?');
      args.push(q.namespace);
    }
    if (q.after) {
      where.push('(namespace, name) > (?, ?)');
      args.push(...q.after);
    }
    for (const w of q.where ?? []) {
      where.push(w.sql);
      args.push(...w.args);
    }
    let sql = `SELECT rv, object FROM objects WHERE ${where.join(' AND ')} ORDER BY namespace, name`;
    if (q.limit) {
      sql += ' LIMIT ?';
      args.push(q.limit + 1);
    }
    const [rows, rev] = await this.batch([{ sql, args }, 'SELECT rev FROM revision WHERE id = 1'], 'read');
    const items = rows.rows.map((r) => parse(r.rv, r.object));
    const more = q.limit !== undefined && items.length > q.limit;
    if (more) items.pop();
    return { items, rev: Number(rev.rows[0].rev), more };
  }

  /**
   * Several queries in one round trip, for controllers. Each must select `rv, object`
   * from `objects` (any filter or join); results come back as objects.
   */
  async query(stmts: InStatement[]): Promise<KObject[][]> {
    const rs = await this.batch(stmts, 'read');
    return rs.map((r) => r.rows.map((row) => parse(row.rv, row.object)));
  }

  /** Several queries in one round trip, as plain rows (for the small projections controllers read). */
  async rows(stmts: InStatement[]): Promise<Record<string, unknown>[][]> {
    const rs = await this.batch(stmts, 'read');
    return rs.map((r) => r.rows.map((row) => ({ ...row })));
  }

  /** The current global revision. */
  async revision(): Promise<{ rev: number; compacted: number }> {
    this.roundTrips++;
    const rs = await this.client.execute('SELECT rev, compacted FROM revision WHERE id = 1');
    return { rev: Number(rs.rows[0].rev), compacted: Number(rs.rows[0].compacted) };
  }

  /**
   * Apply writes in one round trip and one transaction. Each write is conditional on its own
   * resourceVersion; one failing condition does not stop the others.
   *
   * Group commit: commits that arrive while another is in flight wait, then go together in the next
   * round trip and transaction, in arrival order, so each gets what it would have got alone. If that
   * transaction fails (an error, not a failed condition), each commit of the group is retried alone,
   * so one's error is never another's.
   */
  commit(ops: WriteOp[]): Promise<WriteResult[]> {
    if (ops.length === 0) return Promise.resolve([]);
    if (!this.groupCommit) return this.write(ops);
    return new Promise((resolve, reject) => {
      this.waiting.push({ ops, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.waiting.length > 0) {
      let size = 0;
      let n = 0;
      while (n < this.waiting.length && (n === 0 || size + this.waiting[n].ops.length <= MAX_GROUP_OPS)) size += this.waiting[n++].ops.length;
      const group = this.waiting.splice(0, n);
      let results: WriteResult[] | undefined;
      try {
        results = await this.write(group.flatMap((c) => c.ops));
      } catch (err) {
        if (group.length === 1) group[0].reject(err);
        else for (const c of group) await this.write(c.ops).then(c.resolve, c.reject);
      }
      if (results) {
        let at = 0;
        for (const c of group) c.resolve(results.slice(at, (at += c.ops.length)));
      }
    }
    this.flushing = false;
  }

  private async write(ops: WriteOp[]): Promise<WriteResult[]> {
    const stmts: InStatement[] = [];
    for (const w of ops) stmts.push(...opStatements(w));
    const rs = await this.batch(stmts, 'write');
    const results = ops.map((w, i): WriteResult => {
      if (w.op === 'updates' || w.op === 'creates' || w.op === 'events' || w.op === 'exec') return { ok: true, rv: Number(rs[2 * i + 1].rows[0].rev), changed: rs[2 * i].rowsAffected };
      if (rs[2 * i].rowsAffected !== 1) return { ok: false };
      const rv = Number(rs[2 * i + 1].rows[0].rev);
      if (w.op === 'delete' || w.op === 'event') return { ok: true, rv };
      return { ok: true, rv, object: { ...w.object, metadata: { ...w.object.metadata, resourceVersion: String(rv) } } };
    });
    if (results.some((r) => r.ok && r.changed !== 0)) this.notifyCommitted();
    return results;
  }

  /** Changes of some kinds after `rev`, oldest first; throws CompactedError when `rev` is older than what is kept. */
  async changesSince(kinds: string | string[], rev: number, namespace?: string, limit = 1000, withPrevious = false): Promise<{ events: ChangeEvent[]; rev: number }> {
    const list = typeof kinds === 'string' ? [kinds] : kinds;
    const args: (string | number)[] = [...list, rev];
    // The object's state before a modification, where a watch with a selector needs it to tell
    // an object entering or leaving the selection from one changing within it.
    const previous = withPrevious
      ? `, CASE WHEN c.type = 'MODIFIED' THEN (SELECT p.object FROM changes p WHERE p.kind = c.kind AND p.namespace = c.namespace
           AND p.name = c.name AND p.rev < c.rev ORDER BY p.rev DESC LIMIT 1) END AS previous`
      : '';
    let sql = `SELECT rev, kind, type, object${previous} FROM changes c WHERE kind IN (${list.map(() => '?').join(', ')}) AND rev > ?`;
    if (namespace !== undefined) {
      sql += ' AND namespace = ?';
      args.push(namespace);
    }
    sql += ' ORDER BY rev LIMIT ?';
    args.push(limit);
    const [changes, head] = await this.batch([{ sql, args }, 'SELECT rev, compacted FROM revision WHERE id = 1'], 'read');
    const compacted = Number(head.rows[0].compacted);
    if (rev < compacted) throw new CompactedError(compacted);
    const events = changes.rows.map((r) => ({
      rev: Number(r.rev),
      kind: String(r.kind),
      type: r.type as ChangeEvent['type'],
      object: parse(r.rev, r.object),
      ...(r.previous ? { previous: JSON.parse(String(r.previous)) as KObject } : {}),
    }));
    // When the page is full, the caller resumes from its last event rather than from the head.
    const upTo = events.length === limit ? events[events.length - 1].rev : Number(head.rows[0].rev);
    return { events, rev: upTo };
  }

  /**
   * Housekeeping in one round trip: drop change-log rows older than the newest `keep` (watches from
   * before them get 410 Gone) and, when given, Events last seen before `eventsBefore`; with
   * `releaseLease`, give that holder's pass lease back. Says whether another pass wanted the lease.
   */
  async compact(keep: number, eventsBefore?: string, releaseLease?: string): Promise<{ wanted: boolean }> {
    const stmts: InStatement[] = [
      { sql: 'UPDATE revision SET compacted = MAX(compacted, rev - ?) WHERE id = 1', args: [keep] },
      'DELETE FROM changes WHERE rev <= (SELECT compacted FROM revision WHERE id = 1)',
    ];
    if (eventsBefore) {
      stmts.push({
        sql: `DELETE FROM objects INDEXED BY objects_event_seen WHERE kind = 'Event' AND (${EVENT_SEEN}) < ?`,
        args: [eventsBefore],
      });
    }
    const release = stmts.length;
    if (releaseLease) stmts.push(...leaseRelease(releaseLease));
    const rs = await this.batch(stmts, 'write');
    if (eventsBefore && rs[2].rowsAffected > 0) this.notifyCommitted();
    return { wanted: !!releaseLease && Number(rs[release].rows[0]?.wanted ?? 0) === 1 };
  }

  /**
   * Takes the pass lease until `now + ttlMs` unless another holder has it unexpired; then marks it
   * wanted instead, so that holder runs one more pass. One round trip.
   */
  async acquirePassLease(holder: string, now: number, ttlMs: number): Promise<boolean> {
    const rs = await this.batch(
      [
        {
          sql: `INSERT INTO pass_lease (id, holder, expires, wanted) VALUES (1, ?, ?, 0)
                ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires = excluded.expires, wanted = 0 WHERE pass_lease.expires <= ?`,
          args: [holder, now + ttlMs, now],
        },
        { sql: 'UPDATE pass_lease SET wanted = 1 WHERE id = 1 AND holder != ?', args: [holder] },
        'SELECT holder FROM pass_lease WHERE id = 1',
      ],
      'write',
    );
    return rs[2].rows[0]?.holder === holder;
  }

  /** Extends the lease this holder has to `until` (ms since the epoch). */
  async renewPassLease(holder: string, until: number): Promise<void> {
    await this.batch([{ sql: 'UPDATE pass_lease SET expires = ? WHERE id = 1 AND holder = ?', args: [until, holder] }], 'write');
  }

  /** Gives the lease back early (a pass that failed); it would otherwise expire. */
  async releasePassLease(holder: string): Promise<void> {
    await this.batch(leaseRelease(holder), 'write');
  }
}

/** Whether the lease was wanted, then the lease given back: statements for a write batch. */
const leaseRelease = (holder: string): InStatement[] => [
  { sql: 'SELECT wanted FROM pass_lease WHERE id = 1 AND holder = ?', args: [holder] },
  { sql: 'UPDATE pass_lease SET expires = 0, wanted = 0 WHERE id = 1 AND holder = ?', args: [holder] },
];

// ---- the statements of one write

/** The revision the write is about to get: set in the statement itself, so the change-log trigger does not write the row again. */
const NEXT_REV = '(SELECT rev + 1 FROM revision WHERE id = 1)';
const REVISION = 'SELECT rev FROM revision WHERE id = 1';

/** `(?, ?, ...)` for each row, for a VALUES list. */
const placeholders = (rows: unknown[][]) => rows.map((r) => `(${r.map(() => '?').join(', ')})`).join(', ');

/** Namespaced objects are created only in a namespace that exists and is not terminating (`v.ns`). */
const liveNamespace = " AND EXISTS (SELECT 1 FROM objects WHERE kind = 'Namespace' AND namespace = '' AND name = v.ns AND json_extract(object, '$.metadata.deletionTimestamp') IS NULL)";

/** An Event written again under its name is counted once more. */
const EVENT_COUNTED = `ON CONFLICT (kind, namespace, name) DO UPDATE SET rv = excluded.rv, object = json_set(objects.object,
  '$.count', COALESCE(json_extract(objects.object, '$.count'), 1) + 1,
  '$.lastTimestamp', json_extract(excluded.object, '$.lastTimestamp'))`;

/** What the scheduler reads of a Node (scheduler-reads.ts), as JSON, of the Node object `o` (SQL). */
const nodeSchedulingView = (o: string) => `json_array(${o} -> '$.metadata.labels', ${o} -> '$.spec.taints', ${o} ->> '$.spec.unschedulable',
  COALESCE(${o} -> '$.status.allocatable', ${o} -> '$.status.capacity'),
  (SELECT rc.value ->> '$.status' FROM json_each(${o}, '$.status.conditions') rc WHERE rc.value ->> '$.type' = 'Ready'))`;

/** `what` (SQL over the change row `c`) of the change the write just made (the newest). */
const justWritten = (what: string) => `(SELECT ${what} FROM changes c WHERE c.rev = (SELECT rev FROM revision WHERE id = 1))`;

/** `what` of the object's change before it (args ?1, ?2, ?3: kind, namespace, name); NULL when none is kept. */
const writtenBefore = (what: string) => `(SELECT ${what} FROM changes c WHERE c.kind = ?1 AND c.namespace = ?2 AND c.name = ?3
  AND c.rev < (SELECT rev FROM revision WHERE id = 1) ORDER BY c.rev DESC LIMIT 1)`;

/**
 * In place of the revision statement, for a write that may let a pod that found no node fit: records
 * the write's revision in schedule_moves when it happened and `relevant` (SQL) holds, and answers the
 * revision as the revision statement does. Only these writes pay for the check.
 */
const moves = (relevant: string, args: (string | number)[] = []): InStatement => ({
  sql: `UPDATE schedule_moves SET rev = CASE WHEN changes() > 0 AND (${relevant}) THEN (SELECT rev FROM revision WHERE id = 1) ELSE rev END
    WHERE id = 1 RETURNING (SELECT rev FROM revision WHERE id = 1) AS rev`,
  args,
});

const FINISHED = ['Succeeded', 'Failed'];

/** A pod bound to a node that has finished (Succeeded or Failed). */
function finishedOnNode(o: KObject): boolean {
  const pod = o as { spec?: { nodeName?: string }; status?: { phase?: string } };
  return !!pod.spec?.nodeName && FINISHED.includes(pod.status?.phase ?? '');
}

/**
 * What may let a pod that found no node fit, as kube-scheduler's queue moves pods on it: a Node added, or
 * changed in what the scheduler reads of it (not its heartbeats); a pod bound to a node deleted or
 * finished. Undefined for any other write.
 */
function schedulingMove(w: WriteOp): InStatement | undefined {
  if (w.op === 'updates' || w.op === 'creates') {
    // Conservatively, any of them (set-based writes are the controllers' own: pods bound or created).
    const objects = w.op === 'updates' ? w.items.map((it) => it.object) : w.objects;
    return objects.some((o) => o.kind === 'Node' || (o.kind === 'Pod' && w.op === 'updates' && finishedOnNode(o))) ? moves('1') : undefined;
  }
  if (w.op === 'delete') return w.kind === 'Pod' ? moves(`COALESCE(${justWritten("c.object ->> '$.spec.nodeName'")}, '') != ''`) : undefined;
  if (w.op !== 'update') return undefined;
  const key = keyOf(w.object);
  if (key[0] === 'Node') return moves(`${justWritten(nodeSchedulingView('c.object'))} IS NOT ${writtenBefore(nodeSchedulingView('c.object'))}`, key);
  if (key[0] === 'Pod' && finishedOnNode(w.object)) {
    return moves(`COALESCE(${writtenBefore("c.object ->> '$.status.phase'")}, '') NOT IN ('Succeeded', 'Failed')`, key);
  }
  return undefined;
}

/**
 * The statements of one write in a write batch: the write itself, whose rowsAffected says whether it
 * happened, then one whose first row's `rev` is the revision after it (the write's resourceVersion).
 */
function opStatements(w: WriteOp): [InStatement, InStatement] {
  if (w.op === 'exec') return [{ sql: w.sql, args: w.args }, REVISION];
  // One object created, or one Event: the set-based statement with one row.
  if (w.op === 'create') return opStatements({ op: 'creates', objects: [w.object], requireNamespace: w.requireNamespace, guard: w.guard });
  if (w.op === 'event') return opStatements({ op: 'events', objects: [w.object] });
  const guard = 'guard' in w && w.guard ? [w.guard] : [];
  const and = guard.map((g) => ` AND (${g.sql})`).join('');
  const guardArgs = guard.flatMap((g) => g.args);
  const revision = schedulingMove(w) ?? REVISION;
  // Set-based: the rows as a VALUES list, bound parameters each (cheaper than JSON to take apart).
  // Each row gets the next rv as the statement sees it, and the trigger gives each its own.
  if (w.op === 'updates') {
    const rows = w.items.map(({ object, rv, with: extra }) => [
      ...keyOf(object), rv, serialise(object), controllerUid(object), summaryOf(object), extra === undefined ? null : JSON.stringify(extra),
    ]);
    return [
      {
        sql: `WITH v (k, ns, n, rv, o, ow, s, w) AS (VALUES ${placeholders(rows)})
          UPDATE objects SET object = v.o, owner_uid = v.ow, summary = v.s, rv = ${NEXT_REV}
          FROM v WHERE objects.kind = v.k AND objects.namespace = v.ns AND objects.name = v.n AND objects.rv = v.rv${and}`,
        args: [...rows.flat(), ...guardArgs],
      },
      revision,
    ];
  }
  if (w.op === 'creates') {
    const rows = w.objects.map((o) => [...keyOf(o), String(o.metadata?.uid), controllerUid(o), serialise(o), summaryOf(o)]);
    const live = w.requireNamespace ? liveNamespace : '';
    return [
      {
        sql: `WITH v (k, ns, n, uid, ow, o, s) AS (VALUES ${placeholders(rows)})
          INSERT OR IGNORE INTO objects (kind, namespace, name, uid, rv, owner_uid, object, summary)
          SELECT v.k, v.ns, v.n, v.uid, ${NEXT_REV}, v.ow, v.o, v.s FROM v WHERE 1${live}${and}`,
        args: [...rows.flat(), ...guardArgs],
      },
      revision,
    ];
  }
  if (w.op === 'events') {
    const rows = w.objects.map((o) => [...keyOf(o), String(o.metadata?.uid), serialise(o)]);
    return [
      {
        sql: `WITH v (k, ns, n, uid, o) AS (VALUES ${placeholders(rows)})
          INSERT INTO objects (kind, namespace, name, uid, rv, owner_uid, object, summary)
          SELECT v.k, v.ns, v.n, v.uid, ${NEXT_REV}, NULL, v.o, NULL FROM v WHERE true
          ${EVENT_COUNTED}`,
        args: rows.flat(),
      },
      revision,
    ];
  }
  if (w.op === 'delete') {
    return [{ sql: `DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ? AND rv = ?${and}`, args: [w.kind, w.namespace, w.name, w.rv, ...guardArgs] }, revision];
  }
  return [
    {
      sql: `UPDATE objects SET object = ?, owner_uid = ?, summary = ?, rv = ${NEXT_REV} WHERE kind = ? AND namespace = ? AND name = ? AND rv = ?${and}`,
      args: [serialise(w.object), controllerUid(w.object), summaryOf(w.object), ...keyOf(w.object), w.rv, ...guardArgs],
    },
    revision,
  ];
}

/** `client` with each failed call (execute, batch, transaction, ...) counted. */
function countingErrors(client: Client, failed: () => void): Client {
  const counted = new Set(['execute', 'batch', 'migrate', 'executeMultiple', 'transaction', 'sync']);
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || !counted.has(prop)) return value.bind(target);
      return (...args: unknown[]) => {
        try {
          const r = value.apply(target, args);
          return r instanceof Promise ? r.catch((e: unknown) => { failed(); throw e; }) : r;
        } catch (e) {
          failed();
          throw e;
        }
      };
    },
  });
}

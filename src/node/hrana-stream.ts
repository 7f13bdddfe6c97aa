// A Hrana stream executed on one libSQL connection: statements, conditional batches, sequences,
// describe, stored SQL texts. The libsql binding is synchronous; only waiting for a lock is async.
import Database from 'libsql';
import {
  HranaError,
  errorBody,
  encodeValue,
  type BatchCond,
  type BatchResult,
  type BatchStep,
  type DescribeResult,
  type SqlRef,
  type SqlValue,
  type Stmt,
  type StmtResult,
  type StreamRequest,
  type StreamResponse,
} from './hrana.js';

const STATEMENT_CACHE_SIZE = 100;

/** Whitespace, comments and semicolons only: SQLite would prepare no statement from it. */
const NO_STATEMENT = /^(?:\s|;|--[^\n]*(?:\n|$)|\/\*[\s\S]*?(?:\*\/|$))*$/;
const EXPLAIN_PREFIX = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*explain(?:\s+query\s+plan)?\b/i;

/** What EXPLAIN tells of a statement: its parameter names by index (from 1) and whether it writes. */
interface Analysis {
  params: (string | null)[];
  readonly: boolean;
}

/**
 * All rows of a reader statement. SQLite keeps an EXPLAIN of a write counted as an active writer even
 * after its last row, until the statement is reset, and that makes COMMIT fail ("SQL statements in
 * progress"); libsql's get() runs it again to its first row and resets it, which for EXPLAIN has no effect.
 */
function allRows(stmt: Database.Statement, args: SqlValue[], explain: boolean): unknown[][] {
  const rows = stmt.all(args) as unknown[][];
  if (explain) stmt.get(args);
  return rows;
}

function columnsOf(stmt: Database.Statement): { name: string; decltype: string | null }[] {
  return stmt.reader ? stmt.columns().map((c) => ({ name: c.name, decltype: c.type })) : [];
}

/** Keeps at most `size` entries, dropping the least recently used. */
function cached<V>(cache: Map<string, V>, key: string, size: number, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    if (cache.size >= size) cache.delete(cache.keys().next().value as string);
  } else {
    cache.delete(key);
  }
  cache.set(key, value);
  return value;
}

/** One SQLite connection to the database file, with its prepared statements cached. */
export class SqliteConnection {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly analyses = new Map<string, Analysis>();

  constructor(file: string) {
    // No busy handler: it would sleep on the event loop while the lock holder, most likely another
    // stream served by this same process, cannot make progress. Streams wait asynchronously instead.
    this.db = new Database(file, { timeout: 0 });
    this.db.defaultSafeIntegers(true);
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  close(): void {
    this.db.close();
  }

  private prepare(sql: string): Database.Statement {
    if (NO_STATEMENT.test(sql)) throw new HranaError('SQL string does not contain any statement', 'SQL_NO_STATEMENT');
    return cached(this.statements, sql, STATEMENT_CACHE_SIZE, () => {
      const stmt = this.db.prepare(sql);
      return stmt.reader ? stmt.raw(true) : stmt;
    });
  }

  private counters(): { total: bigint; changes: bigint; rowid: bigint } {
    const [total, changes, rowid] = (this.prepare('SELECT total_changes(), changes(), last_insert_rowid()').all() as bigint[][])[0];
    return { total, changes, rowid };
  }

  /** Runs one statement. affected_row_count and last_insert_rowid are reported only for statements that changed rows. */
  run(sql: string, stmt: Stmt): StmtResult {
    const prepared = this.prepare(sql);
    const args = stmt.namedArgs.length === 0 ? stmt.args : this.bindByName(sql, stmt);
    const before = this.counters().total;
    const rows = prepared.reader ? allRows(prepared, args, EXPLAIN_PREFIX.test(sql)) : (prepared.run(args), []);
    const after = this.counters();
    const changed = after.total !== before;
    return {
      cols: columnsOf(prepared),
      rows: stmt.wantRows ? rows.map((row) => row.map(encodeValue)) : [],
      affected_row_count: changed ? Number(after.changes) : 0,
      last_insert_rowid: changed ? after.rowid.toString() : null,
    };
  }

  /** Positional values for every parameter; a named argument may omit the prefix (`:`, `@`, `$`). */
  private bindByName(sql: string, stmt: Stmt): SqlValue[] {
    const { params } = this.analyse(sql);
    const values = params.map((_, i) => stmt.args[i] ?? null);
    for (const { name, value } of stmt.namedArgs) {
      const i = params.findIndex((p) => p !== null && (p === name || p.slice(1) === name));
      if (i < 0) throw new HranaError(`the statement has no parameter named ${name}`, 'ARGS_INVALID');
      values[i] = value;
    }
    return values;
  }

  /** The statement's bytecode names its parameters (OP_Variable) and shows whether it opens a write transaction. */
  private analyse(sql: string): Analysis {
    return cached(this.analyses, sql, STATEMENT_CACHE_SIZE, () => {
      const ops = allRows(this.db.prepare(`EXPLAIN ${sql}`).raw(true), [], true);
      const params: (string | null)[] = [];
      let readonly = true;
      for (const [, opcode, p1, p2, , p4] of ops) {
        if (opcode === 'Variable') params[Number(p1) - 1] = typeof p4 === 'string' && p4 !== '' ? p4 : null;
        if (opcode === 'Transaction' && Number(p2) !== 0) readonly = false;
      }
      return { params: Array.from(params, (p) => p ?? null), readonly };
    });
  }

  describe(sql: string): DescribeResult {
    const prepared = this.prepare(sql);
    const explain = EXPLAIN_PREFIX.exec(sql);
    // An EXPLAIN cannot itself be explained: analyse the statement it explains.
    const { params, readonly } = this.analyse(explain ? sql.slice(explain[0].length) : sql);
    return {
      params: params.map((name) => ({ name })),
      cols: columnsOf(prepared),
      is_explain: explain !== null,
      is_readonly: explain !== null || readonly,
    };
  }
}

function isBusy(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'SQLITE_BUSY';
}

/**
 * Runs `fn`, retrying while another connection holds the lock it needs, for up to `timeoutMs`. A
 * statement that failed with SQLITE_BUSY had no effect, so running it again is safe; a stale
 * snapshot (SQLITE_BUSY_SNAPSHOT) cannot succeed by waiting and fails at once.
 */
async function whenUnlocked<T>(fn: () => T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() >= deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, deadline - Date.now() + 1)));
  }
}

/** The state one baton stands for: a connection (and any transaction open on it) and its stored SQL texts. */
export class HranaStream {
  private readonly sqlTexts = new Map<number, string>();

  constructor(
    readonly connection: SqliteConnection,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Performs one request; throws (HranaError or a SQLite error) when it fails. `close` is the caller's. */
  async perform(request: Exclude<StreamRequest, { type: 'close' }>): Promise<StreamResponse> {
    switch (request.type) {
      case 'execute':
        return { type: 'execute', result: await this.execute(request.stmt) };
      case 'batch':
        return { type: 'batch', result: await this.batch(request.steps) };
      case 'sequence':
        // Not retried on SQLITE_BUSY: the statements before the busy one have already run.
        this.connection.exec(this.sqlOf(request));
        return { type: 'sequence' };
      case 'describe': {
        const sql = this.sqlOf(request);
        return { type: 'describe', result: await whenUnlocked(() => this.connection.describe(sql), this.busyTimeoutMs) };
      }
      case 'store_sql':
        if (this.sqlTexts.has(request.sqlId)) throw new HranaError(`SQL text id ${request.sqlId} is already in use`, 'SQL_ID_IN_USE');
        this.sqlTexts.set(request.sqlId, request.sql);
        return { type: 'store_sql' };
      case 'close_sql':
        this.sqlTexts.delete(request.sqlId);
        return { type: 'close_sql' };
      case 'get_autocommit':
        return { type: 'get_autocommit', is_autocommit: !this.connection.inTransaction };
    }
  }

  private sqlOf(ref: SqlRef): string {
    if (ref.sql !== undefined) return ref.sql;
    const sql = this.sqlTexts.get(ref.sqlId as number);
    if (sql === undefined) throw new HranaError(`no SQL text is stored with id ${ref.sqlId}`, 'SQL_NOT_FOUND');
    return sql;
  }

  private execute(stmt: Stmt): Promise<StmtResult> {
    const sql = this.sqlOf(stmt);
    return whenUnlocked(() => this.connection.run(sql, stmt), this.busyTimeoutMs);
  }

  /** Steps run in order; a step whose condition is false is skipped (null result and null error). */
  private async batch(steps: BatchStep[]): Promise<BatchResult> {
    const result: BatchResult = { step_results: [], step_errors: [] };
    for (const step of steps) {
      let outcome: StmtResult | null = null;
      let error = null;
      if (step.condition === undefined || this.holds(step.condition, result)) {
        try {
          outcome = await this.execute(step.stmt);
        } catch (e) {
          error = errorBody(e);
        }
      }
      result.step_results.push(outcome);
      result.step_errors.push(error);
    }
    return result;
  }

  private holds(cond: BatchCond, done: BatchResult): boolean {
    switch (cond.type) {
      case 'ok':
        return (done.step_results[cond.step] ?? null) !== null;
      case 'error':
        return (done.step_errors[cond.step] ?? null) !== null;
      case 'not':
        return !this.holds(cond.cond, done);
      case 'and':
        return cond.conds.every((c) => this.holds(c, done));
      case 'or':
        return cond.conds.some((c) => this.holds(c, done));
      case 'is_autocommit':
        return !this.connection.inTransaction;
    }
  }
}

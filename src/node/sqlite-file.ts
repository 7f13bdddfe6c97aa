// A connection to a database file that keeps its prepared statements: @libsql/client prepares every
// statement of every call anew, and for a write that compiles the change-log triggers in each time,
// about two thirds of what a small write costs. The database threads of `skiff serve` run the same
// few statements over and over, so they use this instead; answers are plain rows.
import Database from 'libsql';
import type { InStatement, TransactionMode } from '@libsql/client';
import type { PlainResult } from './db-worker.js';

const CACHE_SIZE = 500;

const BEGIN: Record<TransactionMode, string> = { write: 'BEGIN IMMEDIATE', read: 'BEGIN DEFERRED', deferred: 'BEGIN DEFERRED' };

export class SqliteFile {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(path: string, busyTimeoutMs = 5000) {
    this.db = new Database(path, { timeout: busyTimeoutMs });
  }

  /** One statement, in a transaction of its own. */
  execute(stmt: InStatement): PlainResult {
    return this.run(stmt);
  }

  /** Statements in one transaction: all of them or, on an error, none. */
  batch(stmts: InStatement[], mode: TransactionMode): PlainResult[] {
    this.db.exec(BEGIN[mode]);
    try {
      const results = stmts.map((s) => this.run(s));
      this.db.exec('COMMIT');
      return results;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }

  private run(stmt: InStatement): PlainResult {
    const { sql, args = [] } = typeof stmt === 'string' ? { sql: stmt } : stmt;
    const prepared = this.prepare(sql);
    if (prepared.reader) {
      const values = prepared.all(args as unknown[]) as unknown[][];
      return { columns: prepared.columns().map((c) => c.name), values, rowsAffected: values.length };
    }
    const info = prepared.run(args as unknown[]);
    return { columns: [], values: [], rowsAffected: info.changes, lastInsertRowid: BigInt(info.lastInsertRowid) };
  }

  /** The statement prepared once, kept while used (least recently used ones go). */
  private prepare(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt) this.statements.delete(sql);
    else {
      stmt = this.db.prepare(sql);
      if (stmt.reader) stmt.raw(true);
      if (this.statements.size >= CACHE_SIZE) this.statements.delete(this.statements.keys().next().value!);
    }
    this.statements.set(sql, stmt);
    return stmt;
  }
}

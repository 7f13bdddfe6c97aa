// Hrana over HTTP, JSON encoding (versions 2 and 3): the wire structures the local libSQL endpoint
// reads and writes, how a request body is checked and decoded, and how values, results and errors
// are encoded. Spec: libsql's docs/HRANA_3_SPEC.md ("Hrana over HTTP" and "Shared structures").
import { Buffer } from 'node:buffer';

/** A SQLite value as the libsql binding takes and gives it (integers as bigint, reals as number). */
export type SqlValue = null | bigint | number | string | Uint8Array;

export interface Stmt {
  sql?: string;
  sqlId?: number;
  args: SqlValue[];
  namedArgs: { name: string; value: SqlValue }[];
  wantRows: boolean;
}

export type BatchCond =
  | { type: 'ok' | 'error'; step: number }
  | { type: 'not'; cond: BatchCond }
  | { type: 'and' | 'or'; conds: BatchCond[] }
  | { type: 'is_autocommit' };

export interface BatchStep {
  condition?: BatchCond;
  stmt: Stmt;
}

/** SQL given inline or by the id of a text stored on the stream with `store_sql`. */
export interface SqlRef {
  sql?: string;
  sqlId?: number;
}

export type StreamRequest =
  | { type: 'close' }
  | { type: 'execute'; stmt: Stmt }
  | { type: 'batch'; steps: BatchStep[] }
  | ({ type: 'sequence' | 'describe' } & SqlRef)
  | { type: 'store_sql'; sqlId: number; sql: string }
  | { type: 'close_sql'; sqlId: number }
  | { type: 'get_autocommit' };

export interface PipelineRequest {
  baton?: string;
  requests: StreamRequest[];
}

export type WireValue =
  | { type: 'null' }
  | { type: 'integer'; value: string }
  | { type: 'float'; value: number }
  | { type: 'text'; value: string }
  | { type: 'blob'; base64: string };

export interface ErrorBody {
  message: string;
  code?: string;
}

export interface StmtResult {
  cols: { name: string | null; decltype: string | null }[];
  rows: WireValue[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
}

export interface BatchResult {
  step_results: (StmtResult | null)[];
  step_errors: (ErrorBody | null)[];
}

export interface DescribeResult {
  params: { name: string | null }[];
  cols: { name: string; decltype: string | null }[];
  is_explain: boolean;
  is_readonly: boolean;
}

export type StreamResponse =
  | { type: 'close' | 'sequence' | 'store_sql' | 'close_sql' }
  | { type: 'execute'; result: StmtResult }
  | { type: 'batch'; result: BatchResult }
  | { type: 'describe'; result: DescribeResult }
  | { type: 'get_autocommit'; is_autocommit: boolean };

export type StreamResult = { type: 'ok'; response: StreamResponse } | { type: 'error'; error: ErrorBody };

export interface PipelineResponse {
  baton: string | null;
  base_url: string | null;
  results: StreamResult[];
}

/** A malformed request body: the whole HTTP request fails with 400. */
export class ProtoError extends Error {}

/** An error reported to the client in a result, with a machine-readable code. */
export class HranaError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

type Fields = Record<string, unknown>;

function object(v: unknown, what: string): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtoError(`${what} must be an object`);
  return v as Fields;
}

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new ProtoError(`${what} must be an array`);
  return v;
}

function string(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new ProtoError(`${what} must be a string`);
  return v;
}

function int32(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) !== ((v as number) | 0)) throw new ProtoError(`${what} must be a 32-bit integer`);
  return v as number;
}

function uint(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new ProtoError(`${what} must be a non-negative integer`);
  return v as number;
}

/** Optional fields may be absent or null. */
function optional<T>(v: unknown, read: (v: unknown, what: string) => T, what: string): T | undefined {
  return v === undefined || v === null ? undefined : read(v, what);
}

function decodeValue(v: unknown): SqlValue {
  const o = object(v, 'value');
  switch (o.type) {
    case 'null':
      return null;
    case 'integer': {
      const text = string(o.value, 'integer value');
      const n = /^-?\d+$/.test(text) ? BigInt(text) : undefined;
      if (n === undefined || BigInt.asIntN(64, n) !== n) throw new ProtoError(`integer value ${text} is not a 64-bit integer`);
      return n;
    }
    case 'float':
      if (typeof o.value !== 'number') throw new ProtoError('float value must be a number');
      return o.value;
    case 'text':
      return string(o.value, 'text value');
    case 'blob':
      return Buffer.from(string(o.base64, 'blob base64'), 'base64');
    default:
      throw new ProtoError(`unknown value type ${JSON.stringify(o.type)}`);
  }
}

function sqlRef(o: Fields): SqlRef {
  const sql = optional(o.sql, string, 'sql');
  const sqlId = optional(o.sql_id, int32, 'sql_id');
  if ((sql === undefined) === (sqlId === undefined)) throw new ProtoError('exactly one of sql and sql_id must be given');
  return { sql, sqlId };
}

function decodeStmt(v: unknown): Stmt {
  const o = object(v, 'stmt');
  return {
    ...sqlRef(o),
    args: (optional(o.args, array, 'args') ?? []).map(decodeValue),
    namedArgs: (optional(o.named_args, array, 'named_args') ?? []).map((a) => {
      const arg = object(a, 'named arg');
      return { name: string(arg.name, 'named arg name'), value: decodeValue(arg.value) };
    }),
    wantRows: o.want_rows === undefined || o.want_rows === null ? true : o.want_rows === true,
  };
}

function decodeCond(v: unknown): BatchCond {
  const o = object(v, 'condition');
  switch (o.type) {
    case 'ok':
    case 'error':
      return { type: o.type, step: uint(o.step, 'condition step') };
    case 'not':
      return { type: 'not', cond: decodeCond(o.cond) };
    case 'and':
    case 'or':
      return { type: o.type, conds: array(o.conds, 'conds').map(decodeCond) };
    case 'is_autocommit':
      return { type: 'is_autocommit' };
    default:
      throw new ProtoError(`unknown condition type ${JSON.stringify(o.type)}`);
  }
}

function decodeRequest(v: unknown): StreamRequest {
  const o = object(v, 'request');
  switch (o.type) {
    case 'close':
    case 'get_autocommit':
      return { type: o.type };
    case 'execute':
      return { type: 'execute', stmt: decodeStmt(o.stmt) };
    case 'batch': {
      const steps = array(object(o.batch, 'batch').steps, 'batch steps').map((s) => {
        const step = object(s, 'batch step');
        return { condition: optional(step.condition, decodeCond, 'condition'), stmt: decodeStmt(step.stmt) };
      });
      return { type: 'batch', steps };
    }
    case 'sequence':
    case 'describe':
      return { type: o.type, ...sqlRef(o) };
    case 'store_sql':
      return { type: 'store_sql', sqlId: int32(o.sql_id, 'sql_id'), sql: string(o.sql, 'sql') };
    case 'close_sql':
      return { type: 'close_sql', sqlId: int32(o.sql_id, 'sql_id') };
    default:
      throw new ProtoError(`unknown request type ${JSON.stringify(o.type)}`);
  }
}

/** Checks and decodes a `POST …/pipeline` body; throws ProtoError when it is malformed. */
export function decodePipeline(json: unknown): PipelineRequest {
  const o = object(json, 'pipeline body');
  return { baton: optional(o.baton, string, 'baton'), requests: array(o.requests, 'requests').map(decodeRequest) };
}

export function encodeValue(v: unknown): WireValue {
  if (v === null || v === undefined) return { type: 'null' };
  if (typeof v === 'bigint') return { type: 'integer', value: v.toString() };
  if (typeof v === 'number') return { type: 'float', value: v };
  if (typeof v === 'string') return { type: 'text', value: v };
  if (v instanceof Uint8Array) return { type: 'blob', base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  throw new Error(`cannot encode a ${typeof v} as a Hrana value`);
}

/** The error body for a failed request: SQLite errors carry their primary code, as sqld reports them. */
export function errorBody(e: unknown): ErrorBody {
  if (e instanceof HranaError) return { message: e.message, code: e.code };
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    // libsql reports extended codes (SQLITE_CONSTRAINT_PRIMARYKEY); the primary code is the first two words.
    return { message: `SQLite error: ${message}`, code: code.split('_').slice(0, 2).join('_') };
  }
  return { message };
}

// A local libSQL HTTP endpoint over a database file, for development only: `skiff dev` runs the
// Worker under `wrangler dev`, and the Worker reaches this endpoint with @libsql/client exactly as it
// reaches Turso or sqld in production. It speaks Hrana over HTTP with JSON (GET /v2 and /v3, POST
// /v2/pipeline and /v3/pipeline); it has no protobuf encoding, no cursors, no replication and no
// per-database routing, and its one optional bearer token is compared as a plain string, not as a JWT.
//
// Each stream (one baton chain) holds its own SQLite connection, so a transaction a client keeps open
// between requests lives on that connection; the file is in WAL mode so readers run beside a writer.
// A stream left idle is closed, rolling back what it held.
import { Buffer } from 'node:buffer';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HranaStream, SqliteConnection } from './hrana-stream.js';
import { ProtoError, decodePipeline, errorBody, type ErrorBody, type PipelineResponse, type StreamResult } from './hrana.js';

export interface LibsqlServerOptions {
  /** Path of the database file (created when missing). */
  file: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** When set, every request must carry `Authorization: Bearer <authToken>`. */
  authToken?: string;
  /** A stream idle this long is closed and its transaction rolled back. Default 10 s. */
  streamIdleTimeoutMs?: number;
  /** How long a statement waits for a lock another stream holds before failing with SQLITE_BUSY. Default 5 s. */
  busyTimeoutMs?: number;
}

export interface LibsqlServer {
  /** `http://host:port`, for `createClient({ url })`. */
  url: string;
  /** Stops listening, rolls back open transactions and closes every connection. */
  close(): Promise<void>;
}

const IDLE_CONNECTIONS = 8;

/** Connections kept open between streams, so their prepared statements are reused. */
class ConnectionPool {
  private readonly idle: SqliteConnection[] = [];
  private closed = false;

  constructor(private readonly file: string) {}

  acquire(): SqliteConnection {
    return this.idle.pop() ?? new SqliteConnection(this.file);
  }

  release(connection: SqliteConnection): void {
    try {
      if (connection.inTransaction) connection.exec('ROLLBACK');
    } catch {
      connection.close();
      return;
    }
    if (!this.closed && this.idle.length < IDLE_CONNECTIONS) this.idle.push(connection);
    else connection.close();
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.close();
  }
}

/** Streams waiting for their next request, by baton. A baton is good for one request only. */
class ParkedStreams {
  private readonly byBaton = new Map<string, { stream: HranaStream; expiry: NodeJS.Timeout }>();
  private closed = false;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly idleTimeoutMs: number,
    private readonly busyTimeoutMs: number,
  ) {}

  open(): HranaStream {
    return new HranaStream(this.pool.acquire(), this.busyTimeoutMs);
  }

  take(baton: string): HranaStream | undefined {
    const parked = this.byBaton.get(baton);
    if (!parked) return undefined;
    this.byBaton.delete(baton);
    clearTimeout(parked.expiry);
    return parked.stream;
  }

  /** Parks the stream under a new unguessable baton; null once the server is closing. */
  park(stream: HranaStream): string | null {
    if (this.closed) {
      this.end(stream);
      return null;
    }
    const baton = randomBytes(24).toString('base64url');
    const expiry = setTimeout(() => {
      this.byBaton.delete(baton);
      this.end(stream);
    }, this.idleTimeoutMs);
    expiry.unref();
    this.byBaton.set(baton, { stream, expiry });
    return baton;
  }

  end(stream: HranaStream): void {
    this.pool.release(stream.connection);
  }

  close(): void {
    this.closed = true;
    for (const baton of [...this.byBaton.keys()]) {
      const stream = this.take(baton);
      if (stream) this.end(stream);
    }
  }
}

function send(res: ServerResponse, status: number, body: PipelineResponse | ErrorBody): void {
  // The client reads an error body as JSON only when the content type is exactly application/json.
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Runs a pipeline's requests in order on one stream; every request gets a result, even after a failure. */
async function runPipeline(streams: ParkedStreams, body: string): Promise<{ status: number; body: PipelineResponse | ErrorBody }> {
  let pipeline;
  try {
    pipeline = decodePipeline(JSON.parse(body));
  } catch (e) {
    if (e instanceof ProtoError || e instanceof SyntaxError) return { status: 400, body: { message: e.message, code: 'HRANA_PROTO_ERROR' } };
    throw e;
  }
  let stream: HranaStream | undefined = pipeline.baton === undefined ? streams.open() : streams.take(pipeline.baton);
  if (!stream) return { status: 400, body: { message: 'The stream has expired or its baton is not valid', code: 'STREAM_EXPIRED' } };
  const results: StreamResult[] = [];
  for (const request of pipeline.requests) {
    if (!stream) {
      results.push({ type: 'error', error: { message: 'The stream is closed', code: 'STREAM_CLOSED' } });
    } else if (request.type === 'close') {
      streams.end(stream);
      stream = undefined;
      results.push({ type: 'ok', response: { type: 'close' } });
    } else {
      try {
        results.push({ type: 'ok', response: await stream.perform(request) });
      } catch (e) {
        results.push({ type: 'error', error: errorBody(e) });
      }
    }
  }
  return { status: 200, body: { baton: stream ? streams.park(stream) : null, base_url: null, results } };
}

export async function startLibsqlServer(options: LibsqlServerOptions): Promise<LibsqlServer> {
  const pool = new ConnectionPool(options.file);
  const first = pool.acquire();
  first.exec('PRAGMA journal_mode = WAL');
  pool.release(first);
  const streams = new ParkedStreams(pool, options.streamIdleTimeoutMs ?? 10_000, options.busyTimeoutMs ?? 5_000);

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { message: e instanceof Error ? e.message : String(e) });
      else res.destroy();
    });
  });
  // A client busy for longer than Node's default 5 s between two requests (a large reconcile pass)
  // would otherwise send its next request on a socket the server has just closed.
  server.keepAliveTimeout = 120_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!authorized(req, options.authToken)) return send(res, 401, { message: 'Unauthorized: a valid bearer token is required', code: 'UNAUTHORIZED' });
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // Version probes: JSON for Hrana 2 and 3. /v3-protobuf answers 404, so a client falls back to JSON.
    if (req.method === 'GET' && (path === '/v2' || path === '/v3')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end();
      return;
    }
    if (req.method === 'POST' && (path === '/v2/pipeline' || path === '/v3/pipeline')) {
      const result = await runPipeline(streams, await readBody(req));
      return send(res, result.status, result.body);
    }
    send(res, 404, { message: `${req.method} ${path} is not a Hrana over HTTP endpoint`, code: 'NOT_FOUND' });
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      streams.close();
      pool.close();
      server.closeAllConnections();
      await stopped;
    },
  };
}

// Runs in Node before the workers project: serves a fresh database file over Hrana HTTP, as
// `npm run dev` does for `wrangler dev`, migrates it, and hands its URL to the Worker's bindings.
// In front of it, a counting proxy: `${countingUrl}/<tag>/` reaches the same database and counts
// the requests sent through it, as Cloudflare counts an invocation's subrequests.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLibsqlServer } from '../../src/node/libsql-server.js';
import { migrateDatabase } from '../../src/node/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the local libSQL endpoint the Worker under test reaches over HTTP. */
    libsqlUrl: string;
    /** Base URL of the counting proxy: `/<tag>/...` is forwarded, `GET /count/<tag>` answers how many were. */
    countingUrl: string;
  }
}

/** Forwards `/<tag>/<path>` to `target/<path>`, counting per tag. */
function startCountingProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const counts = new Map<string, number>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const [, tag, ...rest] = (req.url ?? '/').split('/');
    if (req.method === 'GET' && tag === 'count') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts.get(rest[0]) ?? 0));
      return;
    }
    counts.set(tag, (counts.get(tag) ?? 0) + 1);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
    try {
      const upstream = await fetch(`${target}/${rest.join('/')}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(body);
    } catch (e) {
      res.writeHead(502).end(String(e));
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-workers-'));
  const server = await startLibsqlServer({ file: join(dir, 'skiff.db'), port: 0 });
  await migrateDatabase(server.url);
  const proxy = await startCountingProxy(server.url);
  project.provide('libsqlUrl', server.url);
  project.provide('countingUrl', proxy.url);
  return async () => {
    await proxy.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  };
}

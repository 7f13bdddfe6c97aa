// Runs in Node before the workers project: serves a fresh database file over Hrana HTTP, as
// `npm run dev` does for `wrangler dev`, migrates it, and hands its URL to the Worker's bindings.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLibsqlServer } from '../../src/node/libsql-server.js';
import { migrateDatabase } from '../../src/node/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the local libSQL endpoint the Worker under test reaches over HTTP. */
    libsqlUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-workers-'));
  const server = await startLibsqlServer({ file: join(dir, 'skiff.db'), port: 0 });
  await migrateDatabase(server.url);
  project.provide('libsqlUrl', server.url);
  return async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  };
}

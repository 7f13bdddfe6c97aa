// Applies the drizzle-kit SQL migrations in migrations/ (package root, wherever the cwd is).
// drizzle records applied migrations in its own table, so running this on every start is safe.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { migrate as applyMigrations } from 'drizzle-orm/libsql/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { systemClock } from '../store/clock.js';
import { openClient } from '../store/db.js';
import { Store } from '../store/store.js';
import type { Progress } from './progress.js';

/** The package's migrations/, found upwards from this module (src/node/ in the sources, dist/ when bundled). */
export const migrationsFolder = (() => {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    const candidate = new URL('migrations/', dir);
    if (existsSync(new URL('meta/_journal.json', candidate))) return fileURLToPath(candidate);
    if (dir.pathname === '/') throw new Error('migrations/ not found beside the skiff package');
  }
})();

export async function migrate(client: Client, progress?: Progress): Promise<void> {
  // A database file is kept in WAL mode (the setting stays with the file): commits are cheaper and
  // readers do not block the writer. A remote database ignores this.
  if (client.protocol === 'file') await client.execute('PRAGMA journal_mode = WAL');
  if (progress?.enabled) {
    // drizzle applies the pending migrations in one batch: the count moves from those applied before to all.
    const all = readMigrationFiles({ migrationsFolder });
    const last = await client
      .execute('SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1')
      .then((r) => Number(r.rows[0]?.[0] ?? 0), () => 0);
    const applied = all.filter((m) => m.folderMillis <= last).length;
    progress.start('migrations applied', all.length);
    progress.update(applied, applied < all.length ? `applying ${all.length - applied}` : 'up to date');
    await applyMigrations(drizzle(client), { migrationsFolder });
    progress.update(all.length, 'done');
    return;
  }
  await applyMigrations(drizzle(client), { migrationsFolder });
}

/** Migrate a database by URL and create the built-in namespaces: what a new Workers deployment needs. */
export async function migrateDatabase(
  url: string,
  authToken?: string,
  init: { serviceClusterIpRange?: string; progress?: Progress } = {},
): Promise<void> {
  const client = openClient(url, authToken);
  const { progress, ...storeInit } = init;
  try {
    // Servers starting together on one database race to migrate it: the loser's transaction fails
    // (a table "already exists") and rolls back; once the winner's is in, there is nothing left to do.
    for (let attempt = 1; ; attempt++) {
      try {
        await migrate(client, progress);
        break;
      } catch (err) {
        if (attempt >= 5 || !/already exists/.test(String((err as Error).message))) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    progress?.start('creating the built-in namespaces');
    await new Store(client, systemClock).init(storeInit);
  } finally {
    progress?.done();
    client.close();
  }
}

// Applies the drizzle-kit SQL migrations in migrations/ (package root, wherever the cwd is).
// drizzle records applied migrations in its own table, so running this on every start is safe.
import { fileURLToPath } from 'node:url';
import type { Client } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { migrate as applyMigrations } from 'drizzle-orm/libsql/migrator';

export const migrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function migrate(client: Client): Promise<void> {
  await applyMigrations(drizzle(client), { migrationsFolder });
}

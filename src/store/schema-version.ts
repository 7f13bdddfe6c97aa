import type { Client } from '@libsql/client';
import journal from '../../migrations/meta/_journal.json';

/** When the newest migration this build knows was generated (drizzle records it as created_at). */
export const LATEST_MIGRATION = Math.max(...journal.entries.map((e) => e.when));

/**
 * Whether the database has every migration this build needs. Workers do not migrate on their own
 * (many isolates would race to); `skiff migrate` does, before a deploy.
 */
export async function schemaIsCurrent(client: Client): Promise<boolean> {
  try {
    const rs = await client.execute('SELECT MAX(created_at) AS latest FROM __drizzle_migrations');
    return Number(rs.rows[0]?.latest ?? 0) >= LATEST_MIGRATION;
  } catch {
    return false; // no migrations table: a new database
  }
}

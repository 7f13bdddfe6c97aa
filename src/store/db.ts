import { createClient, type Client } from '@libsql/client';

/** A libSQL client: `file:` locally, `libsql://` / `https://` for Turso and sqld. */
export function openClient(url: string, authToken?: string): Client {
  return createClient({ url, authToken });
}

import { createClient, type Client } from '@libsql/client';

/**
 * A libSQL client: `file:` locally, `libsql://` / `https://` for Turso and sqld. A local file may be
 * written by another process too (`skiff token`, a second server): wait for its lock a while rather
 * than fail the request.
 */
export function openClient(url: string, authToken?: string): Client {
  return createClient({ url, authToken, ...(url.startsWith('file:') ? { timeout: 5000 } : {}) });
}

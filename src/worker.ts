// Cloudflare Workers entry: the same Hono API over a libSQL database reached by HTTP.
import { createClient } from '@libsql/client/web';
import { createApp } from './api/app.js';
import { systemClock } from './store/clock.js';
import { Store } from './store/store.js';

export interface Env {
  LIBSQL_URL: string;
  LIBSQL_AUTH_TOKEN?: string;
  /** Bearer token that grants full access to the API. */
  SKIFF_ADMIN_TOKEN: string;
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const store = new Store(createClient({ url: env.LIBSQL_URL, authToken: env.LIBSQL_AUTH_TOKEN }), systemClock);
    const app = createApp({
      store,
      clock: systemClock,
      authenticate: (token) => !!env.SKIFF_ADMIN_TOKEN && token === env.SKIFF_ADMIN_TOKEN,
      // Isolates share no memory: watches read the change log on this interval.
      pollIntervalMs: 1_000,
    });
    return app.fetch(req);
  },
};

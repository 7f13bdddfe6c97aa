// An in-process API server over plain HTTP with its own database file, for tests that drive the
// API through @kubernetes/client-node or fetch. `skiff serve` itself is tested as a process elsewhere.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createApp, type AppOptions } from '../../src/api/app.js';
import { reconcile, PassScheduler } from '../../src/control/pass.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { migrate } from '../../src/node/migrate.js';
import { systemClock, type Clock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

export const TOKEN = 'test-token';

export interface ApiServer {
  url: string;
  store: Store;
  kubeConfig: KubeConfig;
  /** fetch against the server with the token. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Run one reconcile pass now. */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

export async function startApi(opts: Partial<Omit<AppOptions, 'store' | 'authenticate'>> & { clock?: Clock; passes?: boolean } = {}): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-api-'));
  const client = openClient(`file:${join(dir, 'skiff.db')}`);
  await migrate(client);
  const clock = opts.clock ?? systemClock;
  const store = new Store(client, clock);
  await store.init();
  const passes = new PassScheduler(() => reconcile(store, clock), 200);
  if (opts.passes !== false) passes.start();
  const app = createApp({
    ...opts,
    store,
    clock,
    authenticate: (t) => t === TOKEN,
    onWrite: opts.passes === false ? undefined : () => passes.kick(),
  });
  const adapter = createNodeAdapter((req) => app.fetch(req));
  const server = createServer(adapter.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'skiff', server: url, skipTLSVerify: true }],
    users: [{ name: 'admin', token: TOKEN }],
    contexts: [{ name: 'skiff', cluster: 'skiff', user: 'admin' }],
    currentContext: 'skiff',
  });

  return {
    url,
    store,
    kubeConfig,
    request: (path, init = {}) =>
      fetch(url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) } }),
    reconcile: async () => {
      await reconcile(store, clock);
    },
    stop: async () => {
      await passes.stop();
      adapter.endStreams();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

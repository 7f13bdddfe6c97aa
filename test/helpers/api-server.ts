// An in-process API server over plain HTTP with its own database file, for tests that drive the
// API through @kubernetes/client-node or fetch. `skiff serve` itself is tested as a process elsewhere.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createApp, type AppOptions } from '../../src/api/app.js';
import { defaultControlOptions, type ControlOptions } from '../../src/control/context.js';
import { kicksPass, reconcile, PassScheduler, type PassResult } from '../../src/control/pass.js';
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
  reconcile(): Promise<PassResult>;
  stop(): Promise<void>;
}

export interface StartApiOptions extends Partial<Omit<AppOptions, 'store' | 'authenticate'>> {
  clock?: Clock;
  /** Run passes on a timer and after writes (default); false: only when the test calls reconcile(). */
  passes?: boolean;
  /** Control-plane settings over the defaults; the default tolerations also reach pod admission. */
  control?: Partial<ControlOptions>;
}

export async function startApi(opts: StartApiOptions = {}): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-api-'));
  const client = openClient(`file:${join(dir, 'skiff.db')}`);
  await migrate(client);
  const clock = opts.clock ?? systemClock;
  const store = new Store(client, clock);
  await store.init();
  const control: ControlOptions = { ...defaultControlOptions, ...opts.control };
  const passes = new PassScheduler(() => reconcile(store, clock, control), 200);
  if (opts.passes !== false) passes.start();
  const app = createApp({
    ...opts,
    store,
    clock,
    defaultTolerationSeconds: opts.defaultTolerationSeconds ?? [control.defaultNotReadyTolerationSeconds, control.defaultUnreachableTolerationSeconds],
    authenticate: (t) => t === TOKEN,
    onWrite: opts.passes === false ? undefined : (kind) => kicksPass(kind) && passes.kick(),
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
    reconcile: () => reconcile(store, clock, control),
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

export interface ClientApi {
  api: ApiServer;
  core: CoreV1Api;
  apps: AppsV1Api;
}

/**
 * An API server (with no background passes unless `opts` says so), client-node clients for it, and
 * the namespaces given, created.
 */
export async function startClientApi(namespaces: string[] = [], opts: StartApiOptions = {}): Promise<ClientApi> {
  const api = await startApi({ passes: false, ...opts });
  const core = api.kubeConfig.makeApiClient(CoreV1Api);
  const apps = api.kubeConfig.makeApiClient(AppsV1Api);
  for (const name of namespaces) await core.createNamespace({ body: { metadata: { name } } });
  return { api, core, apps };
}

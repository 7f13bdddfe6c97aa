// `skiff serve`: the embedded control plane. HTTPS API over a libSQL file in the data folder,
// with the credentials and kubeconfig kept next to it.
import { timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:https';
import { isIPv6, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createApp } from '../api/app.js';
import type { ServiceRanges } from '../api/service-allocation.js';
import { defaultControlOptions, type ControlOptions } from '../control/context.js';
import { PassScheduler, reconcile } from '../control/pass.js';
import { systemClock } from '../store/clock.js';
import { openClient } from '../store/db.js';
import { Store } from '../store/store.js';
import { ensureCredentials } from './certs.js';
import { createNodeAdapter } from './http-adapter.js';
import { writeKubeconfig } from './kubeconfig.js';
import { migrate } from './migrate.js';

export interface ServeOptions {
  data: string;
  listen: string; // HOST:PORT, [V6]:PORT
  reconcileIntervalMs?: number;
  control?: Partial<ControlOptions>;
  serviceRanges?: ServiceRanges;
}

export interface RunningServer {
  /** https://HOST:PORT as bound (the real port when 0 was asked for). */
  url: string;
  dataDir: string;
  kubeconfigPath: string;
  /** Stops accepting, ends watch streams, waits for open requests, closes the database. */
  close(): Promise<void>;
}

// Requests still open this long after shutdown began have their connections cut.
const SHUTDOWN_GRACE_MS = 5000;

export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  const dataDir = resolve(opts.data);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const creds = ensureCredentials(dataDir, host);

  const client = openClient(`file:${join(dataDir, 'skiff.db')}`);
  let store: Store;
  try {
    await migrate(client);
    store = new Store(client, systemClock);
    await store.init();
  } catch (err) {
    client.close();
    throw err;
  }

  const control: ControlOptions = { ...defaultControlOptions, ...opts.control };
  const passes = new PassScheduler(() => reconcile(store, systemClock, control), opts.reconcileIntervalMs ?? 1000);
  const app = createApp({
    store,
    clock: systemClock,
    authenticate: tokenChecker(creds.token),
    onWrite: () => passes.kick(),
    serviceRanges: opts.serviceRanges,
    defaultTolerationSeconds: [control.defaultNotReadyTolerationSeconds, control.defaultUnreachableTolerationSeconds],
  });
  const adapter = createNodeAdapter((req) => app.fetch(req));
  const server = createServer({ key: creds.serverKey, cert: creds.serverCert }, adapter.listener);
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (err) {
    store.close();
    throw err;
  }

  const bound = server.address() as AddressInfo;
  const url = `https://${formatHost(connectHost(host))}:${bound.port}`;
  const kubeconfigPath = writeKubeconfig(dataDir, { server: url, caCert: creds.caCert, token: creds.token });
  passes.start();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((done) => {
      const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      server.close(() => {
        clearTimeout(cut);
        // The responses' own 'close' events (which stop their watches) come just after.
        setImmediate(() => {
          void passes.stop().then(() => {
            store.close();
            done();
          });
        });
      });
      adapter.endStreams();
      server.closeIdleConnections();
    }));

  return { url, dataDir, kubeconfigPath, close };
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** HOST:PORT or [IPV6]:PORT; an empty host means every interface, as in Go. */
export function parseListen(listen: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`--listen must be HOST:PORT, got "${listen}"`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

// Clients cannot connect to a wildcard address; they reach it through loopback.
function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function formatHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

function tokenChecker(adminToken: string): (token: string | undefined) => boolean {
  const expected = Buffer.from(adminToken);
  return (token) => {
    if (token === undefined) return false;
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

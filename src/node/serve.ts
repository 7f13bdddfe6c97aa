// `skiff serve`: the embedded control plane. HTTPS API over a libSQL file in the data folder,
// with the credentials and kubeconfig kept next to it.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:https';
import { isIPv6, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzip as zlibGzip } from 'node:zlib';
import { createApp } from '../api/app.js';
import { storeAuthenticator } from '../api/auth/identity.js';
import { ServiceAccountTokens } from '../api/auth/service-accounts.js';
import { ServerMetrics } from '../api/server-metrics.js';
import { forwardToService } from '../api/proxy.js';
import type { ServiceRanges } from '../api/service-allocation.js';
import { defaultControlOptions, type ControlOptions } from '../control/context.js';
import { nodeCidrBlocks } from '../control/node-ipam.js';
import { kicksPass } from '../control/pass.js';
import { systemClock } from '../store/clock.js';
import type { Client } from '@libsql/client';
import { openClient } from '../store/db.js';
import { Store } from '../store/store.js';
import { ensureCredentials } from './certs.js';
import { createNodeAdapter } from './http-adapter.js';
import { writeKubeconfig } from './kubeconfig.js';
import { migrateDatabase } from './migrate.js';
import { filePath, threadedClient } from './db-thread.js';
import { PassThread } from './pass-thread.js';
import { InProcessTunnels } from './tunnels.js';
import type { RunningAgent, RuntimeChoice } from '../agent/agent.js';
import { CredentialStore } from '../store/credentials.js';

const gzipAsync = promisify(zlibGzip);

export interface ServeOptions {
  data: string;
  listen: string; // HOST:PORT, [V6]:PORT
  reconcileIntervalMs?: number;
  control?: Partial<ControlOptions>;
  serviceRanges?: ServiceRanges;
  /** The local node (as k3s server runs one): its name and runtime; false: none (--no-agent). */
  agent?: false | { name?: string; runtime?: RuntimeChoice };
  /** A libSQL server several `skiff serve` share (libsql://, https://, http://); default: a file in `data`. */
  db?: { url: string; authToken?: string };
  /** Log verbosity (--v), as Kubernetes' components take it. */
  verbosity?: number;
  /** --service-account-issuer: the iss of ServiceAccount tokens; default the https URL served on. */
  serviceAccountIssuer?: string;
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
  // Bad settings stop the start, as kube-controller-manager's do, rather than leave nodes without CIDRs.
  const { clusterCidr, nodeCidrMaskSize } = { ...defaultControlOptions, ...opts.control };
  const blocks = nodeCidrBlocks(clusterCidr, nodeCidrMaskSize);
  if (typeof blocks === 'string') throw new Error(`--cluster-cidr, --node-cidr-mask-size: ${blocks}`);
  const dataDir = resolve(opts.data);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const creds = ensureCredentials(dataDir, host);

  // The schema and the built-in namespaces first, on a connection of this thread's; then the API's
  // connections (on threads of their own for a file) and the pass thread's.
  const dbUrl = opts.db?.url ?? `file:${join(dataDir, 'skiff.db')}`;
  const authToken = opts.db?.authToken;
  await migrateDatabase(dbUrl, authToken, { serviceClusterIpRange: opts.serviceRanges?.clusterIpRange });
  const threaded = dbUrl.startsWith('file:') ? threadedClient(filePath(dbUrl)) : undefined;
  const client: Client & { stop?: () => Promise<void> } = threaded ?? openClient(dbUrl, authToken);
  const store = new Store(client, systemClock);

  // On a file the passes' writes share the writer thread with the API's: in short transactions.
  // Ingresses report the address served on unless told another (--ingress-address).
  const control: ControlOptions = { ...defaultControlOptions, commitChunk: threaded ? 100 : 0, ingressAddress: connectHost(host), ...opts.control };
  // /metrics: the API's requests and store, and the pass thread's passes and connection.
  const metrics = new ServerMetrics(store, true);
  const passes = new PassThread({ url: dbUrl, authToken, control, intervalMs: opts.reconcileIntervalMs ?? 1000, onCommit: () => store.notifyCommitted(), writerPort: threaded?.writerPort, metrics, verbosity: opts.verbosity });
  const stopDatabase = async () => {
    await passes.stop();
    await (client.stop?.() ?? client.close());
  };
  // Tokens name the URL served on as their issuer (and audience), known once the server listens.
  let servedUrl = '';
  const serviceAccounts = new ServiceAccountTokens({ store, clock: systemClock, issuer: () => opts.serviceAccountIssuer ?? servedUrl });
  const tunnels = new InProcessTunnels(opts.verbosity && opts.verbosity >= 2 ? (line) => console.error(`skiff: ${line}`) : undefined);
  const app = createApp({
    store,
    clock: systemClock,
    authenticate: storeAuthenticator({ store, clock: systemClock, adminToken: creds.token, serviceAccounts }),
    caCert: creds.caCert,
    onWrite: (kind) => kicksPass(kind) && passes.kick(),
    // Writes through other servers on the same database are found by polling the change log.
    pollIntervalMs: 500,
    metrics,
    // kube-apiserver's level: the fastest, so a 35 MB list costs tens of milliseconds, off the event loop.
    gzip: async (body) => gzipAsync(body, { level: 1 }),
    tunnels,
    policyInBackground: true,
    ingress: { forward: (req, namespace, service, port, path) => forwardToService({ store, tunnels }, req, namespace, service, port, path) },
    serviceRanges: opts.serviceRanges,
    defaultTolerationSeconds: [control.defaultNotReadyTolerationSeconds, control.defaultUnreachableTolerationSeconds],
  });
  const adapter = createNodeAdapter((req) => app.fetch(req));
  const server = createServer({ key: creds.serverKey, cert: creds.serverCert }, adapter.listener);
  server.on('upgrade', tunnels.upgradeListener(async (req) => app.fetch(req)));
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (err) {
    await stopDatabase();
    throw err;
  }

  const bound = server.address() as AddressInfo;
  const url = `https://${formatHost(connectHost(host))}:${bound.port}`;
  servedUrl = url;
  const kubeconfigPath = writeKubeconfig(dataDir, { server: url, caCert: creds.caCert, token: creds.token });

  let agent: RunningAgent | undefined;
  if (opts.agent) {
    try {
      agent = await startLocalAgent(store, dataDir, url, opts.agent);
    } catch (err) {
      console.error(`skiff: the local node did not start: ${(err as Error).message}`);
    }
  }

  let closing: Promise<void> | undefined;
  // The local node stops first (its pods keep running), while the API can still answer it.
  const close = () =>
    (closing ??= (agent?.stop().catch(() => {}) ?? Promise.resolve()).then(() => new Promise<void>((done) => {
      const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      server.close(() => {
        clearTimeout(cut);
        // The responses' own 'close' events (which stop their watches) come just after.
        setImmediate(() => {
          void stopDatabase().then(done);
        });
      });
      adapter.endStreams();
      tunnels.close();
      server.closeIdleConnections();
    })));

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

/**
 * The node `skiff serve` runs itself (in the data folder's agent/), joined like any other with a join
 * token that lives only until it has been used, then kept by its own credential.
 */
async function startLocalAgent(store: Store, dataDir: string, url: string, opts: { name?: string; runtime?: RuntimeChoice }): Promise<RunningAgent> {
  const { startAgent } = await import('../agent/agent.js');
  const { readCredential, writeCredential } = await import('../agent/join.js');
  const agentDir = join(dataDir, 'agent');
  const credentials = new CredentialStore(store);
  const held = readCredential(agentDir);
  // Served at another address this time (--listen): the node's credential is still good here.
  if (held && held.server !== url) writeCredential(agentDir, { ...held, server: url });
  const joining = held ? undefined : await credentials.createJoinToken(systemClock.now(), 10 * 60_000, 'the local node of skiff serve');
  try {
    return await startAgent({ server: url, token: joining?.token, caCertFile: join(dataDir, 'ca.crt'), dataDir: agentDir, name: opts.name, runtime: opts.runtime });
  } finally {
    if (joining) await credentials.deleteJoinToken(joining.info.id);
  }
}

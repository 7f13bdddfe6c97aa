// `skiff dev`: the local edge. The Worker (src/worker.ts) runs under `wrangler dev` (workerd), served
// over HTTPS with the data folder's CA and certificate, against a local libSQL endpoint that skiff
// serves from DIR/edge.db over Hrana HTTP, the way the Worker reaches Turso in production.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCredentials } from './certs.js';
import { writeKubeconfig } from './kubeconfig.js';
import { startLibsqlServer, type LibsqlServer } from './libsql-server.js';
import { migrateDatabase } from './migrate.js';
import type { Progress } from './progress.js';

export interface DevOptions {
  data: string;
  port: number;
  /** The Worker's CLUSTER_CIDR var (wrangler.toml's otherwise). */
  clusterCidr?: string;
  /** Where startup shows what it is waiting for (createProgress(): a status line on a terminal). */
  progress?: Progress;
}

export interface RunningDev {
  /** https://127.0.0.1:PORT, where the Worker answers. */
  url: string;
  dataDir: string;
  kubeconfigPath: string;
  caPath: string;
  /** Settles when wrangler exits without close() having been called: the exit code, or null after a signal. */
  crashed: Promise<number | null>;
  /** Stops wrangler (its whole process group) and the libSQL endpoint. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
// Secrets for wrangler dev, rewritten at each start (the endpoint's token changes every run).
const ENV_FILE = 'dev.env';
const READY_TIMEOUT_MS = 60_000;
// wrangler gets this long to stop after SIGTERM before its process group is killed.
const STOP_GRACE_MS = 5_000;

/** Resolves once the Worker answers; rejects (having stopped what it started) on failure or on `abort`. */
export async function startDev(opts: DevOptions, abort?: AbortSignal): Promise<RunningDev> {
  const dataDir = resolve(opts.data);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const progress = opts.progress;
  progress?.start('starting the local libSQL endpoint');
  const creds = ensureCredentials(dataDir, HOST);

  // The endpoint listens on loopback only, but other local users could reach it: a token per run.
  const dbToken = randomBytes(32).toString('hex');
  const db = await startLibsqlServer({ file: join(dataDir, 'edge.db'), authToken: dbToken }).catch((err) => {
    progress?.done();
    throw err;
  });
  let wrangler: { child: ChildProcess; exit: Promise<number | null> } | undefined;
  try {
    await migrateDatabase(db.url, dbToken, { progress });
    abort?.throwIfAborted();
    const url = `https://${HOST}:${opts.port}`;
    const vars = { LIBSQL_URL: db.url, ...(opts.clusterCidr ? { CLUSTER_CIDR: opts.clusterCidr } : {}) };
    const child = spawnWrangler(opts.port, dataDir, vars, { LIBSQL_AUTH_TOKEN: dbToken, SKIFF_ADMIN_TOKEN: creds.token }, progress?.enabled === true);
    const exit = exitOf(child);
    wrangler = { child, exit };
    progress?.start(`starting wrangler dev: waiting for ${url}/healthz`);
    await waitHealthy(url, creds.caCert, exit, abort, (last) => progress?.update(undefined, last));
    progress?.done();
    const kubeconfigPath = writeKubeconfig(dataDir, { server: url, caCert: creds.caCert, token: creds.token });

    let closing: Promise<void> | undefined;
    return {
      url,
      dataDir,
      kubeconfigPath,
      caPath: join(dataDir, 'ca.crt'),
      crashed: exit.then((code) => (closing ? new Promise<never>(() => {}) : code)),
      close: () => (closing ??= stopGroup(child, exit).then(() => stopEndpoint(db, dataDir))),
    };
  } catch (err) {
    progress?.done();
    if (wrangler) await stopGroup(wrangler.child, wrangler.exit);
    await stopEndpoint(db, dataDir);
    throw err;
  }
}

/**
 * `wrangler dev` from the package root, with the project's own wrangler, in a process group of its own.
 * The secrets go in an env file readable by the owner only, not in `--var`s that `ps` shows to everyone;
 * giving one also keeps a `.dev.vars` in the project from being loaded.
 */
function spawnWrangler(port: number, dataDir: string, vars: Record<string, string>, secrets: Record<string, string>, relayOutput = false): ChildProcess {
  const envFile = join(dataDir, ENV_FILE);
  rmSync(envFile, { force: true }); // so the mode below applies
  writeFileSync(envFile, Object.entries(secrets).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });
  const bin = realpathSync(join(packageRoot, 'node_modules', '.bin', 'wrangler'));
  const args = [
    'dev',
    '--ip', HOST,
    '--port', String(port),
    '--local-protocol', 'https',
    '--https-key-path', join(dataDir, 'server.key'),
    '--https-cert-path', join(dataDir, 'server.crt'),
    '--test-scheduled',
    '--show-interactive-dev-session=false',
    ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    '--env-file', envFile,
  ];
  // Our own Node runs wrangler's script: the node on PATH may be older than wrangler accepts.
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: packageRoot,
    // detached: a new process group, so stopping reaches workerd too, and a Ctrl-C in the terminal
    // reaches only skiff, which then stops wrangler in order.
    detached: true,
    // No stdin: wrangler is not interactive, so it neither prompts nor offers to open a browser.
    // With a progress line on the terminal, its output comes through skiff, which clears the line
    // before each write (keeping wrangler's colours); otherwise it writes to skiff's own stdout and stderr.
    stdio: ['ignore', relayOutput ? 'pipe' : 'inherit', relayOutput ? 'pipe' : 'inherit'],
    // No telemetry, and no fetch of the `Request.cf` placeholder from workers.cloudflare.com (the
    // Worker does not read request.cf; offline, that fetch costs a timeout and a warning each start).
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...(relayOutput ? { FORCE_COLOR: '1' } : {}) },
  });
  if (relayOutput) {
    child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  }
  return child;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => {
    child.once('exit', (code) => done(code));
    child.once('error', () => done(null));
  });
}

async function stopEndpoint(db: LibsqlServer, dataDir: string): Promise<void> {
  rmSync(join(dataDir, ENV_FILE), { force: true });
  await db.close();
}

/** SIGTERM to the whole group (wrangler's launcher, its CLI process, workerd); SIGKILL to what lingers. */
async function stopGroup(child: ChildProcess, exit: Promise<number | null>): Promise<void> {
  if (child.pid === undefined) return;
  const group = -child.pid;
  signalGroup(group, 'SIGTERM');
  // The launcher exits at once on SIGTERM; its CLI process and workerd take a moment longer.
  const deadline = Date.now() + STOP_GRACE_MS;
  while (signalGroup(group, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  signalGroup(group, 'SIGKILL');
  await exit;
}

/** Sends a signal (0: none, only a check) to a process group; false when the group is gone. */
function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(group, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls /healthz over HTTPS, trusting only our CA, until it answers 200. */
async function waitHealthy(url: string, ca: string, exit: Promise<number | null>, abort?: AbortSignal, onTry?: (last: string) => void): Promise<void> {
  let exited: number | null | undefined;
  void exit.then((code) => (exited = code));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    abort?.throwIfAborted();
    if (exited !== undefined) throw new Error(`wrangler dev exited (${exited ?? 'signal'}) before the Worker answered`);
    try {
      const status = await getStatus(`${url}/healthz`, ca);
      if (status === 200) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    onTry?.(last);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Worker did not answer ${url}/healthz within ${READY_TIMEOUT_MS / 1000} s (${last})`);
}

function getStatus(url: string, ca: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(url, { ca, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode!));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', fail);
    req.end();
  });
}

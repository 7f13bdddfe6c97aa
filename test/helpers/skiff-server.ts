// Starts real `skiff serve` processes for end-to-end tests, and runs kubectl against them.
// Every child is killed when the test process exits, even if a test failed before stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const kubectlPath = '/usr/bin/kubectl';
export const hasKubectl = existsSync(kubectlPath);

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): any;
}

export interface RequestInit {
  method?: string;
  /** Objects are sent as JSON; strings as they are. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Bearer token; the admin token unless given, none when null. */
  token?: string | null;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface SkiffServer {
  url: string;
  token: string;
  /** Path of the kubeconfig the server wrote. */
  kubeconfig: string;
  data: string;
  /** CA certificate (PEM). */
  ca: string;
  /** kubectl --cache-dir for this server, so discovery caches never leak between servers. */
  cacheDir: string;
  /** What the process printed so far (stdout and stderr). */
  output(): string;
  request(path: string, init?: RequestInit): Promise<HttpResult>;
  kubectl(args: string[], opts?: KubectlOptions): Promise<CommandResult>;
  /** SIGTERM, then wait for the exit (SIGKILL if it takes over 15 s). */
  stop(): Promise<Exit>;
  /** Sends the signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

export interface StartOptions {
  /** Data folder; a fresh temporary one (removed when the test process exits) by default. */
  data?: string;
  listen?: string;
  env?: Record<string, string>;
  /** More `skiff serve` flags. */
  args?: string[];
  /** Run the local node too (`skiff serve` without --no-agent). Off by default. */
  agent?: boolean;
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
function cleanUp(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const file of claimed.splice(0)) rmSync(file, { force: true });
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
// Vitest may end its workers without an 'exit' event, so the test file's own teardown cleans
// up too; 'exit' covers runs outside vitest's lifecycle.
if (process.env.VITEST) afterAll(cleanUp);
process.once('exit', cleanUp);

const CIDR_CLAIMS = join(tmpdir(), 'skiff-test-cluster-cidrs');
const claimed: string[] = [];

/**
 * A cluster CIDR of its own for a test's server, 10.N.0.0/16 with N past 10.96/12 and short of
 * 10.244: claimed by a file, so test files running at once never share one (their agents' pods
 * live on this one machine: one range, one bridge, one address each).
 */
export function testClusterCidr(): string {
  mkdirSync(CIDR_CLAIMS, { recursive: true });
  for (let attempt = 0; attempt < 1000; attempt++) {
    const n = 128 + Math.floor(Math.random() * 112);
    const file = join(CIDR_CLAIMS, String(n));
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      // Taken, unless by a test process that is gone.
      const owner = Number(readFileSync(file, 'utf8'));
      if (owner === process.pid || isAlive(owner)) continue;
      writeFileSync(file, String(process.pid));
    }
    claimed.push(file);
    return `10.${n}.0.0/16`;
  }
  throw new Error('no free cluster CIDR for a test server');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

const START_TIMEOUT_MS = 60_000;

// node --import tsx rather than the tsx CLI: one process, so signals and kills reach skiff itself.
function spawnCli(args: string[], env?: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node/cli.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs a one-shot skiff command (token, kubeconfig, --help, ...). */
export function runSkiff(args: string[], env?: Record<string, string>): Promise<CommandResult> {
  return collect(spawnCli(args, env), 30_000, `skiff ${args.join(' ')}`);
}

export async function startSkiff(opts: StartOptions = {}): Promise<SkiffServer> {
  const data = opts.data ?? tempDir('skiff-data-');
  const args = ['serve', '--listen', opts.listen ?? '127.0.0.1:0', '--data', data, ...(opts.agent ? [] : ['--no-agent']), ...(opts.args ?? [])];
  // Servers of test files running side by side hand out pod addresses from ranges of their own, so
  // their agents' pods (on this one machine) never share an address or a bridge.
  if (!args.includes('--cluster-cidr')) args.push('--cluster-cidr', testClusterCidr());
  const child = spawnCli(args, opts.env);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`skiff serve did not start within ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = () => {
      const m = /skiff serving (https:\/\/\S+)/.exec(output);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`skiff serve exited (${exit.code ?? exit.signal}) before serving:\n${output}`));
    });
  });

  const ca = readFileSync(join(data, 'ca.crt'), 'utf8');
  const token = readFileSync(join(data, 'token'), 'utf8').trim();
  const kubeconfig = join(data, 'kubeconfig');
  const cacheDir = tempDir('skiff-kubectl-cache-');
  const agent = new Agent({ ca, keepAlive: true });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const exit = await exited;
    agent.destroy();
    return exit;
  };

  const server: SkiffServer = {
    url,
    token,
    kubeconfig,
    data,
    ca,
    cacheDir,
    output: () => output,
    request: (path, init = {}) => httpsFetch(url + path, agent, { ...init, token: init.token === undefined ? token : init.token }),
    kubectl: (args, kopts) => kubectl(args, { kubeconfig, cacheDir }, kopts),
    kill,
    stop: () => stopGracefully(child, kill),
  };
  await waitHealthy(server);
  return server;
}

/** SIGTERM, then SIGKILL if the process takes over 15 s to exit. */
export async function stopGracefully(child: ChildProcess, kill: (signal: NodeJS.Signals) => Promise<Exit>): Promise<Exit> {
  const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
  try {
    return await kill('SIGTERM');
  } finally {
    clearTimeout(force);
  }
}

async function waitHealthy(server: SkiffServer): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await server.request('/healthz', { token: null });
      if (res.status === 200) return;
      if (attempt > 50) throw new Error(`/healthz answered ${res.status}: ${res.text}`);
    } catch (err) {
      if (attempt > 50) throw new Error(`skiff serve is not healthy: ${String(err)}\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One HTTPS request, trusting only the given agent's CA. */
export function httpsFetch(url: string, agent: Agent, init: RequestInit = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
    // node:https does not frame a DELETE body by itself.
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (text += s));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface KubectlTarget {
  kubeconfig: string;
  cacheDir: string;
}

export interface KubectlOptions {
  stdin?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs /usr/bin/kubectl against a server with its own discovery cache. */
export function kubectl(args: string[], target: KubectlTarget, opts: KubectlOptions = {}): Promise<CommandResult> {
  const child = spawn(kubectlPath, ['--cache-dir', target.cacheDir, ...args], {
    env: { ...process.env, KUBECONFIG: target.kubeconfig, ...opts.env },
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.stdin?.end(opts.stdin);
  return collect(child, opts.timeoutMs ?? 60_000, `kubectl ${args.join(' ')}`);
}

function collect(child: ChildProcess, timeoutMs: number, what: string): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

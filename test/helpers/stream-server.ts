// A stand-in control plane for kubectl's streaming commands (exec, attach, cp, port-forward): a
// loopback HTTP server that answers what kubectl asks before the upgrade (discovery, the pod), does
// the upgrade itself (the WebSocket handshake through `ws`, SPDY's 101 by hand) after negotiate(),
// and relays the connection, message for message or byte for byte, over a pair of in-memory Muxes
// to the agent's serve functions. Sessions and pod connections are the test's to provide.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { ExecSession } from '../../src/agent/runtime.js';
import { servePortForward } from '../../src/agent/streams/port-forward.js';
import { serveRemoteCommand } from '../../src/agent/streams/remote-command.js';
import { ApiError } from '../../src/api/status.js';
import { negotiate } from '../../src/api/stream-protocols.js';
import type { ExecHead, PortForwardHead } from '../../src/tunnel/head.js';
import { Mux, type MuxStream } from '../../src/tunnel/mux.js';

export const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';

/** The kubectl binary of a minor version ("1.30"), if installed. */
export function kubectlBinary(version: string): string | undefined {
  const path = join(KUBECTL_DIR, `kubectl.${version}`);
  return existsSync(path) ? path : undefined;
}

/** One upgrade kubectl asked for, and what it got. */
export interface UpgradeRecord {
  method: string;
  path: string;
  upgrade: string;
  /** Sec-WebSocket-Protocol or X-Stream-Protocol-Version as offered. */
  offered: string;
  status: number;
  transport?: 'websocket' | 'spdy';
  protocol?: string;
}

export interface KubectlResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface StreamServerOptions {
  /** Starts the session of an exec or attach. */
  exec: (head: ExecHead) => Promise<ExecSession>;
  /** Dials a port of the pod. */
  connect?: (port: number, head: PortForwardHead) => Promise<Socket>;
  /** Turns WebSocket upgrades down (400), as a control plane without WebSocket support would: kubectl falls back to SPDY. */
  refuseWebSockets?: boolean;
  /** Settles on the first of these the client offers instead of the best (to try older protocol versions). */
  preferProtocols?: string[];
}

export interface StreamServer {
  readonly url: string;
  readonly upgrades: UpgradeRecord[];
  /** Tunnel streams the agent side still holds. */
  readonly openStreams: number;
  /** Runs kubectl to its end. */
  kubectl(version: string, args: string[], opts?: { stdin?: string | Buffer; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** Starts kubectl and leaves it running (port-forward); the caller stops it. */
  spawnKubectl(version: string, args: string[], env?: Record<string, string>): ChildProcess;
  /** Env for kubectl run some other way (under `script`, for a terminal). */
  kubectlEnv(env?: Record<string, string>): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export const POD = { namespace: 'default', name: 'web', uid: '6c1f6f0e-7a51-4a43-9e8c-0d1b0c3f5a11', container: 'main' };

const podObject = () => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: POD.name, namespace: POD.namespace, uid: POD.uid, resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z' },
  spec: { nodeName: 'node-1', containers: [{ name: POD.container, image: 'busybox' }] },
  status: {
    phase: 'Running',
    podIP: '127.0.0.1',
    containerStatuses: [
      { name: POD.container, ready: true, restartCount: 0, image: 'busybox', imageID: 'busybox', state: { running: { startedAt: '2025-01-01T00:00:00Z' } } },
    ],
  },
});

const DISCOVERY: Record<string, unknown> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
  '/api/v1': {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
      { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
    ],
  },
  '/version': { major: '1', minor: '33', gitVersion: 'v1.33.0-skiff' },
};

const flag = (q: URLSearchParams, name: string) => ['true', '1'].includes(q.get(name) ?? '');

function webRequest(req: IncomingMessage, url: URL): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  return new Request(url, { method: req.method, headers });
}

const toBytes = (data: RawData): Uint8Array =>
  Array.isArray(data) ? new Uint8Array(Buffer.concat(data)) : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data);

/** kubectl's WebSocket ↔ a tunnel stream, a message per message, held to the stream's window. */
function relayWebSocket(ws: WebSocket, stream: MuxStream): void {
  let chain = Promise.resolve();
  ws.on('message', (data) => {
    const chunk = toBytes(data);
    ws.pause();
    chain = chain.then(() => stream.write(chunk)).then(
      () => ws.resume(),
      () => ws.terminate(),
    );
  });
  ws.on('close', () => void chain.then(() => stream.end()));
  ws.on('error', () => stream.reset('client connection failed'));
  void (async () => {
    try {
      for await (const message of stream.messages()) {
        await new Promise<void>((ok, fail) => ws.send(message, { binary: true }, (e) => (e ? fail(e) : ok())));
      }
      ws.close(1000);
    } catch {
      ws.terminate();
    }
  })();
}

/** kubectl's upgraded socket (SPDY) ↔ a tunnel stream, as bytes. */
function relaySocket(socket: Duplex, head: Buffer, stream: MuxStream): void {
  let chain = Promise.resolve();
  const send = (chunk: Buffer) => {
    socket.pause();
    const bytes = new Uint8Array(chunk);
    chain = chain.then(() => stream.write(bytes)).then(
      () => void socket.resume(),
      () => void socket.destroy(),
    );
  };
  if (head.byteLength > 0) send(head);
  socket.on('data', send);
  socket.on('end', () => void chain.then(() => stream.end()));
  socket.on('close', () => void chain.then(() => stream.reset('client went away')));
  socket.on('error', () => {});
  void (async () => {
    try {
      for await (const message of stream.messages()) {
        if (!socket.write(message)) await new Promise((ok) => socket.once('drain', ok));
      }
      socket.end();
    } catch {
      socket.destroy();
    }
  })();
}

function refuse(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(`HTTP/1.1 ${err.code} ${err.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export async function startStreamServer(opts: StreamServerOptions): Promise<StreamServer> {
  const home = await mkdtemp(join(tmpdir(), 'skiff-kubectl-'));
  const upgrades: UpgradeRecord[] = [];
  const children = new Set<ChildProcess>();
  const sockets = new Set<Duplex>();

  // The tunnel: the control plane's Mux and the agent's, each delivering to the other on a later turn.
  let agent!: Mux;
  const control = new Mux({ send: (frame) => void setImmediate(() => agent.receive(frame)) });
  agent = new Mux({
    send: (frame) => void setImmediate(() => control.receive(frame)),
    onStream: (stream) => {
      const head = stream.head;
      stream.respond({ status: 101 });
      const served =
        head.op === 'exec' || head.op === 'attach'
          ? serveRemoteCommand(stream, head, () => opts.exec(head))
          : head.op === 'portforward'
            ? servePortForward(stream, head, (port) => (opts.connect ?? (() => Promise.reject(new Error('no pod ports'))))(port, head))
            : Promise.resolve(stream.reset('not served here'));
      served.catch((e: unknown) => stream.reset(e instanceof Error ? e.message : String(e)));
    },
  });

  // `ws` turns down subprotocols that are not RFC 7230 tokens, and "SPDY/3.1+portforward.k8s.io" has
  // a "/": the offer is taken off the request before ws sees it, and the answer put back here.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  wss.on('headers', (headers, req) => {
    const negotiated = (req as IncomingMessage & { negotiated?: string }).negotiated;
    if (negotiated) headers.push(`Sec-WebSocket-Protocol: ${negotiated}`);
  });

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === `/api/v1/namespaces/${POD.namespace}/pods/${POD.name}`) return reply(200, podObject());
    const doc = DISCOVERY[url.pathname];
    if (doc) return reply(200, doc);
    reply(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/.exec(url.pathname);
      const upgrade = req.headers.upgrade ?? '';
      const record: UpgradeRecord = {
        method: req.method ?? '',
        path: url.pathname,
        upgrade,
        offered: String(req.headers['sec-websocket-protocol'] ?? req.headers['x-stream-protocol-version'] ?? ''),
        status: 0,
      };
      upgrades.push(record);
      if (!m || m[1] !== POD.namespace || m[2] !== POD.name) {
        record.status = 404;
        return refuse(socket, new ApiError(404, 'NotFound', `pods "${m?.[2] ?? ''}" not found`));
      }
      if (opts.refuseWebSockets && upgrade.toLowerCase() === 'websocket') {
        record.status = 400;
        return refuse(socket, new ApiError(400, 'BadRequest', 'WebSocket upgrades are turned down here'));
      }
      const sub = m[3];
      let negotiated;
      try {
        negotiated = negotiate(webRequest(req, url), sub === 'portforward' ? 'portforward' : 'remotecommand');
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        record.status = e.code;
        return refuse(socket, e);
      }
      if (opts.preferProtocols) {
        const offered = record.offered.split(',').map((p) => p.trim());
        const preferred = opts.preferProtocols.find((p) => offered.includes(p));
        if (preferred) negotiated = { ...negotiated, protocol: preferred };
      }
      Object.assign(record, negotiated);
      const q = url.searchParams;
      const ref = { namespace: POD.namespace, pod: POD.name, uid: POD.uid };
      const tunnel = control.open(
        sub === 'portforward'
          ? { op: 'portforward', ...ref, ports: q.getAll('ports').map(Number), ...negotiated }
          : {
              op: sub === 'exec' ? 'exec' : 'attach',
              ...ref,
              container: q.get('container') ?? POD.container,
              ...(sub === 'exec' ? { command: q.getAll('command') } : {}),
              stdin: flag(q, 'stdin'),
              stdout: flag(q, 'stdout'),
              stderr: flag(q, 'stderr'),
              tty: flag(q, 'tty'),
              ...negotiated,
            },
      );
      const answer = await tunnel.reply;
      record.status = answer.status;
      if (answer.status !== 101) return refuse(socket, new ApiError(answer.status, 'InternalError', 'the node refused the stream'));
      if (negotiated.transport === 'websocket') {
        (req as IncomingMessage & { negotiated?: string }).negotiated = negotiated.protocol;
        delete req.headers['sec-websocket-protocol'];
        wss.handleUpgrade(req, socket, head, (ws) => relayWebSocket(ws, tunnel));
      } else {
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${negotiated.protocol}\r\n\r\n`);
        relaySocket(socket, head, tunnel);
      }
    })().catch(() => socket.destroy());
  });

  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const kubeconfig = join(home, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'skiff', cluster: { server: url } }],
      users: [{ name: 'test', user: {} }],
      contexts: [{ name: 'skiff', context: { cluster: 'skiff', user: 'test', namespace: POD.namespace } }],
      'current-context': 'skiff',
    }),
  );

  const kubectlEnv = (env: Record<string, string> = {}): NodeJS.ProcessEnv => {
    // kubectl's own switches come from the test, not from whoever runs it.
    const base = { ...process.env };
    delete base.KUBECTL_REMOTE_COMMAND_WEBSOCKETS;
    delete base.KUBECTL_PORT_FORWARD_WEBSOCKETS;
    return { ...base, HOME: home, KUBECONFIG: kubeconfig, ...env };
  };

  const spawnKubectl = (version: string, args: string[], env?: Record<string, string>): ChildProcess => {
    const bin = kubectlBinary(version);
    if (!bin) throw new Error(`kubectl ${version} is not installed in ${KUBECTL_DIR}`);
    const child = spawn(bin, args, { env: kubectlEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  };

  return {
    url,
    upgrades,
    get openStreams() {
      return agent.size;
    },
    kubectlEnv,
    spawnKubectl,
    kubectl(version, args, { stdin, env, timeoutMs = 60_000 } = {}) {
      const child = spawnKubectl(version, args, env);
      return collect(child, stdin, timeoutMs);
    },
    async close() {
      for (const child of children) child.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      control.close('test server closed');
      agent.close('test server closed');
      wss.close();
      await new Promise<void>((ok) => server.close(() => ok()));
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Waits for a child to exit, with its output; kills it after timeoutMs. Its stdin gets `stdin` and ends, or stays open (null). */
export function collect(child: ChildProcess, stdin: string | Buffer | undefined | null, timeoutMs: number): Promise<KubectlResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  child.stdin?.on('error', () => {});
  if (stdin !== null) child.stdin?.end(stdin);
  return new Promise((ok) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      ok({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** An ExecSession backed by a real child process; a "terminal" merges stderr into stdout. */
export interface ProcessSession extends ExecSession {
  readonly resizes: [number, number][];
  readonly child: ChildProcess;
}

export function processSession(command: string[], opts: { stdin: boolean; tty: boolean }): ProcessSession {
  const argv = opts.tty ? ['sh', '-c', 'exec "$@" 2>&1', 'sh', ...command] : command;
  const child = spawn(argv[0], argv.slice(1), { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const resizes: [number, number][] = [];
  const exit = new Promise<number>((ok) => {
    child.on('exit', (code, signal) => ok(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
    child.on('error', () => ok(127));
  });
  if (opts.tty) child.stderr?.resume();
  return {
    child,
    resizes,
    stdin: child.stdin ?? undefined,
    stdout: child.stdout as Readable,
    stderr: opts.tty ? undefined : (child.stderr as Readable),
    resize: (cols, rows) => void resizes.push([cols, rows]),
    exit,
    close: () => void child.kill('SIGKILL'),
  };
}

/** Dials 127.0.0.1:port. */
export function dial(port: number): Promise<Socket> {
  return new Promise((ok, fail) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.off('error', fail);
      ok(socket);
    });
    socket.once('error', fail);
  });
}

// What kubelet's server does, for the streams the control plane opens over the tunnel: container
// logs, exec and attach, port-forward, HTTP to a pod's port or the node's own endpoints, and usage.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ExecHead, HttpHead, PortForwardHead, RelayHead, TunnelHead } from '../tunnel/head.js';
import type { MuxStream } from '../tunnel/mux.js';
import { KubeletError, podLogs } from './container-logs.js';
import type { Runtime } from './runtime.js';
import { servePortForward } from './streams/port-forward.js';
import { pipeStream } from './relay-pipe.js';
import { serveRemoteCommand } from './streams/remote-command.js';
import type { UsageSampler } from './usage.js';

export interface NodeServerDeps {
  nodeName: string;
  runtime: Runtime;
  usage: UsageSampler;
  /** The pods bound to this node, as last seen. */
  pods: () => any[];
  /**
   * Whether a relayed connection (from head.source, a pod on head.fromNode) may reach the pod: why
   * not, or undefined. The relayed path's ingress check (it reaches the pod from the node's gateway).
   */
  admitRelay?: (head: RelayHead) => string | undefined | Promise<string | undefined>;
  log?: (line: string) => void;
}

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
const REASONS: Record<number, string> = { 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 500: 'InternalError', 502: 'BadGateway', 503: 'ServiceUnavailable' };

/** Answers a stream with a Kubernetes Status and ends it. */
async function fail(stream: MuxStream, code: number, message: string, headers: [string, string][] = []): Promise<void> {
  stream.respond({ status: code, headers: [['content-type', 'application/json'], ...headers] });
  await stream.write(new TextEncoder().encode(JSON.stringify(status(code, REASONS[code] ?? 'InternalError', message))));
  stream.end();
}

/** Copies a Node stream into the tunnel stream at the tunnel's pace; a reset destroys the source. */
async function pipeOut(source: Readable, stream: MuxStream): Promise<void> {
  stream.closed.then((reason) => reason !== undefined && source.destroy());
  try {
    for await (const chunk of source) await stream.write(chunk instanceof Uint8Array ? chunk : Buffer.from(chunk));
    stream.end();
  } catch (e) {
    source.destroy();
    stream.reset((e as Error).message);
  }
}

export class NodeServer {
  constructor(private readonly deps: NodeServerDeps) {}

  handle(stream: MuxStream): void {
    this.serve(stream, stream.head).catch((e: unknown): unknown => {
      const message = e instanceof Error ? e.message : String(e);
      if (e instanceof KubeletError) return fail(stream, e.status, message).catch(() => stream.reset(message));
      this.deps.log?.(`${stream.head.op} failed: ${message}`);
      stream.reset(message);
    });
  }

  private async serve(stream: MuxStream, head: TunnelHead): Promise<void> {
    switch (head.op) {
      case 'logs': {
        const source = await podLogs(this.deps.runtime, head, this.deps.pods().find((p) => p.metadata?.uid === head.uid));
        stream.respond({ status: 200, headers: [['content-type', 'text/plain']] });
        return pipeOut(source, stream);
      }
      case 'exec':
      case 'attach':
        return this.remoteCommand(stream, head);
      case 'portforward':
        return this.portForward(stream, head);
      case 'http':
        return this.http(stream, head);
      case 'relay':
        return this.relay(stream, head);
      case 'stats': {
        const stats = await this.deps.usage.stats(this.deps.pods().map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid })));
        stream.respond({ status: 200, headers: [['content-type', 'application/json']] });
        await stream.write(new TextEncoder().encode(JSON.stringify(stats)));
        return stream.end();
      }
      default:
        return fail(stream, 404, `unknown request "${(head as { op: string }).op}"`);
    }
  }

  /** The running container of that name (kubelet answers 404 "container not found" otherwise). */
  private async runningContainer(uid: string, name: string): Promise<string> {
    const running = (await this.deps.runtime.listContainers(uid)).filter((c) => c.name === name && c.state === 'running');
    const latest = running.sort((a, b) => b.attempt - a.attempt)[0];
    if (!latest) throw new KubeletError(404, 'NotFound', `container not found ("${name}")`);
    return latest.id;
  }

  private async remoteCommand(stream: MuxStream, head: ExecHead): Promise<void> {
    const id = await this.runningContainer(head.uid, head.container);
    const opts = { stdin: head.stdin, tty: head.tty };
    stream.respond({ status: 101 });
    await serveRemoteCommand(stream, head, () =>
      head.op === 'exec' ? this.deps.runtime.execStream(id, head.command ?? [], opts) : this.deps.runtime.attach(id, opts),
    );
  }

  private async portForward(stream: MuxStream, head: PortForwardHead): Promise<void> {
    const pod = this.deps.pods().find((p) => p.metadata?.uid === head.uid);
    const ip: string | undefined = pod?.status?.podIP ?? head.podIP;
    if (!pod || !ip) throw new KubeletError(404, 'NotFound', `pod "${head.pod}" is not running on node "${this.deps.nodeName}"`);
    stream.respond({ status: 101 });
    await servePortForward(stream, head, (port: number) => dial(ip, port));
  }

  /** A pod on another node connecting to one of this node's pods through the control plane (relay-pipe.ts). */
  private async relay(stream: MuxStream, head: RelayHead): Promise<void> {
    const pod = this.deps.pods().find((p) => p.metadata?.uid === head.uid);
    const ip: string | undefined = pod?.status?.podIP;
    if (!pod || !ip || ip !== head.podIP) throw new KubeletError(404, 'NotFound', `pod "${head.pod}" with address ${head.podIP} is not running on node "${this.deps.nodeName}"`);
    const refusal = await this.deps.admitRelay?.(head);
    if (refusal) throw new KubeletError(403, 'Forbidden', refusal);
    let socket: Socket;
    try {
      // Within the control plane's wait for an answer (10 s), so a pod that drops the SYN costs this stream only.
      socket = await dialWithin(ip, head.port, 5_000);
    } catch (e) {
      return fail(stream, 502, `error dialing ${ip}:${head.port}: ${(e as Error).message}`);
    }
    stream.respond({ status: 101 });
    await pipeStream(stream, socket);
  }

  private async http(stream: MuxStream, head: HttpHead): Promise<void> {
    if (head.host === '') return this.nodeEndpoints(stream, head);
    const [host, port] = splitHostPort(head.host, head.scheme === 'https' ? 443 : 80);
    const send = head.scheme === 'https' ? httpsRequest : httpRequest;
    // As an object (not raw pairs), so Node adds the Host header HTTP/1.1 servers require.
    const upstream: Record<string, string[]> = {};
    for (const [k, v] of head.headers) (upstream[k.toLowerCase()] ??= []).push(v);
    const req = send({ host, port, method: head.method, path: head.path, headers: upstream, rejectUnauthorized: false });
    const answered = new Promise<IncomingMessage>((ok, bad) => {
      req.once('response', ok);
      req.once('error', bad);
    });
    stream.closed.then((reason) => reason !== undefined && req.destroy());
    // The request body, at the pod's pace.
    void (async () => {
      try {
        for await (const chunk of stream.messages()) if (!req.write(chunk)) await new Promise((ok) => req.once('drain', ok));
        req.end();
      } catch {
        req.destroy();
      }
    })();
    let res: IncomingMessage;
    try {
      res = await answered;
    } catch (e) {
      // The control plane tries the next endpoint on this: the pod could not be reached.
      return fail(stream, 502, `error dialing backend: ${(e as Error).message}`, [['x-skiff-dial-error', '1']]);
    }
    const headers: [string, string][] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
    stream.respond({ status: res.statusCode ?? 502, headers });
    await pipeOut(res, stream);
  }

  /** The node's own endpoints (nodes/NAME/proxy/...): a part of kubelet's. */
  private async nodeEndpoints(stream: MuxStream, head: HttpHead): Promise<void> {
    const path = head.path.split('?')[0];
    let body: unknown;
    if (path === '/healthz') body = 'ok';
    else if (path === '/pods') body = { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: this.deps.pods() };
    else if (path === '/stats/summary' || path === '/metrics/resource') {
      body = await this.deps.usage.stats(this.deps.pods().map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid })));
    } else return fail(stream, 404, `no endpoint ${path} on node "${this.deps.nodeName}": /healthz, /pods, /stats/summary`);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    stream.respond({ status: 200, headers: [['content-type', typeof body === 'string' ? 'text/plain' : 'application/json']] });
    await stream.write(new TextEncoder().encode(text));
    stream.end();
  }
}

function splitHostPort(hostPort: string, defaultPort: number): [string, number] {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort) ?? /^([^:]+)(?::(\d+))?$/.exec(hostPort);
  return m ? [m[1], m[2] ? Number(m[2]) : defaultPort] : [hostPort, defaultPort];
}

function dialWithin(host: string, port: number, ms: number): Promise<Socket> {
  return new Promise((ok, fail) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no answer within ${ms / 1000}s`));
    }, ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      ok(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
  });
}

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((ok, fail) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.off('error', fail);
      ok(socket);
    });
    socket.once('error', fail);
  });
}

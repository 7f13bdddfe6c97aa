// The node tunnels on Workers. Isolates share no memory, so each node's session (the WebSocket its
// agent dials) lives in a Durable Object named after the node, which every isolate reaches: the
// Worker authenticates and works out the TunnelHead (src/api), then forwards the agent's upgrade or
// the client's request to that object, one subrequest each.
//
// The agent's socket is accepted with the hibernation API: between requests an idle node costs
// nothing (no timers; keepalive pings are answered by the runtime without waking the object), and a
// woken object rebuilds its Mux from the socket on the next message. A client's exec/attach/
// port-forward WebSocket is an ordinary accepted socket: a live session keeps the object in memory.
import { ApiError, badRequest, statusResponse } from './api/status.js';
import { notConnected, type NodeTunnels } from './api/tunnels.js';
import type { TunnelHead, TunnelReply } from './tunnel/head.js';
import { streamResponse } from './tunnel/http.js';
import { Mux, REPLY_TIMEOUT_MS, StreamReset, WINDOW, type MuxStream } from './tunnel/mux.js';

// ---- The parts of the Workers runtime used here (the project compiles against the DOM lib) ----

/** A WebSocket of workerd: a WebSocketPair's end, or one the hibernation API hands back. */
export interface WorkersWebSocket {
  readonly readyState: number;
  /** Bytes sent but not yet written to the network. */
  readonly bufferedAmount: number;
  /** `blob` by default at our compatibility date (as in browsers); the relay wants ArrayBuffers. */
  binaryType: 'blob' | 'arraybuffer';
  accept(): void;
  send(message: ArrayBuffer | ArrayBufferView | string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: ArrayBuffer | string }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
}

/** What a Durable Object is constructed with (the hibernation part of it). */
export interface NodeTunnelState {
  acceptWebSocket(ws: WorkersWebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): WorkersWebSocket[];
  setWebSocketAutoResponse(pair?: unknown): void;
}

/** The NODE_TUNNEL binding. */
export interface NodeTunnelNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(req: Request): Promise<Response> };
}

interface WorkersRuntime {
  WebSocketPair: new () => { 0: WorkersWebSocket; 1: WorkersWebSocket };
  WebSocketRequestResponsePair: new (request: string, response: string) => unknown;
}
const runtime = globalThis as unknown as WorkersRuntime;

/** workerd's ResponseInit: a 101 carries the socket; `manual` passes an encoded body through as it is. */
type WorkersResponseInit = ResponseInit & { webSocket?: WorkersWebSocket; encodeBody?: 'automatic' | 'manual' };
type WorkersRequestInit = RequestInit & { duplex?: 'half' };

// ---- Between the Worker and the object ----

/** The agent's keepalive: a text message `ping`, answered `pong` by the runtime, hibernating or not. */
export const KEEPALIVE_PING = 'ping';
export const KEEPALIVE_PONG = 'pong';
/** The close code an agent's socket gets when a newer session of its node replaces it. */
export const REPLACED_CLOSE_CODE = 4000;

const OBJECT_ORIGIN = 'https://node-tunnel.skiff';
const ACCEPT_PATH = '/accept';
const EXCHANGE_PATH = '/exchange';
/** The node's name and the TunnelHead (JSON), URI-encoded: header values are Latin-1. */
const NODE_HEADER = 'x-skiff-tunnel-node';
const HEAD_HEADER = 'x-skiff-tunnel-head';
/** Set on the object's answer when the node has no session, so a node's own 503 is not taken for it. */
const ERROR_HEADER = 'x-skiff-tunnel-error';
const NOT_CONNECTED = 'not-connected';

const AGENT_TAG = 'agent';
const OPEN = 1;
/**
 * A client's WebSocket has no backpressure on what it receives: messages the node has no window for
 * yet wait here, up to this much per session; a client further ahead is cut off (1009).
 */
export const CLIENT_BACKLOG = 8 * 1024 * 1024;
/** After a client closes its WebSocket, the node has this long to end its side before the stream is reset. */
const CLOSE_GRACE_MS = 5_000;

const SPDY_REFUSED =
  'Upgrade: SPDY/3.1 is not served by this control plane (Cloudflare Workers relays WebSockets only): exec, attach and cp need kubectl 1.30 or newer, port-forward 1.31 or newer, which speak WebSockets';

interface AgentAttachment {
  node: string;
  /** A newer session of the node took over, or the socket failed: it is closing and serves no streams. */
  retired?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The Durable Object holding one node's tunnel (named by the node: `idFromName(node)`). */
export class NodeTunnel {
  /** The session's streams; rebuilt from the agent's socket after hibernation, which forgets it. */
  private mux?: Mux;

  constructor(
    private readonly ctx: NodeTunnelState,
    _env: unknown,
  ) {
    ctx.setWebSocketAutoResponse(new runtime.WebSocketRequestResponsePair(KEEPALIVE_PING, KEEPALIVE_PONG));
  }

  async fetch(req: Request): Promise<Response> {
    const node = decodeURIComponent(req.headers.get(NODE_HEADER) ?? '');
    try {
      const path = new URL(req.url).pathname;
      if (path === ACCEPT_PATH) return this.accept(node, req);
      if (path === EXCHANGE_PATH) return await this.exchange(node, req);
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    } catch (err) {
      if (err instanceof ApiError) return statusResponse(err);
      throw err;
    }
  }

  // Hibernation API handlers: the runtime calls these for sockets accepted with ctx.acceptWebSocket.

  webSocketMessage(ws: WorkersWebSocket, message: ArrayBuffer | string): void {
    // Frames are binary; text other than the keepalive (answered by the runtime) means nothing.
    if (typeof message === 'string' || attachment(ws)?.retired) return;
    this.session()?.receive(new Uint8Array(message));
  }

  webSocketClose(ws: WorkersWebSocket): void {
    this.agentGone(ws);
  }

  webSocketError(ws: WorkersWebSocket): void {
    // e.g. a message over the runtime's limit: workerd may leave the socket open, so close it (the agent redials).
    this.agentGone(ws);
    retire(ws);
    closeQuietly(ws, 1011, 'tunnel error');
  }

  /** The agent's upgrade: its socket becomes the node's session, replacing an older one. */
  private accept(node: string, req: Request): Response {
    if (!isWebSocketUpgrade(req)) throw badRequest('the tunnel is a WebSocket: send Upgrade: websocket');
    for (const old of this.ctx.getWebSockets(AGENT_TAG)) {
      // Retired first: its close (and any frame still arriving) must not touch the new session.
      retire(old);
      closeQuietly(old, REPLACED_CLOSE_CODE, 'replaced by a newer session of the node');
    }
    this.endSession(`node "${node}" disconnected`);
    const pair = new runtime.WebSocketPair();
    this.ctx.acceptWebSocket(pair[1], [AGENT_TAG]);
    pair[1].serializeAttachment({ node } satisfies AgentAttachment);
    return new Response(null, { status: 101, webSocket: pair[0] } as WorkersResponseInit);
  }

  private async exchange(node: string, req: Request): Promise<Response> {
    const head = headOf(req);
    const upgrade = req.headers.get('upgrade');
    if (upgrade && upgrade.toLowerCase() !== 'websocket') throw badRequest(SPDY_REFUSED);
    const mux = this.session();
    if (!mux) return notConnectedResponse(node);
    const stream = mux.open(head);
    if (upgrade) return relay(node, stream, head);
    try {
      return passThrough(await streamResponse(stream, req.body));
    } catch (err) {
      throw unreachable(node, err);
    }
  }

  /** The node's session: the agent's open socket (not retired), with its Mux. */
  private session(): Mux | undefined {
    if (this.mux) return this.mux;
    const ws = this.ctx.getWebSockets(AGENT_TAG).find((s) => s.readyState === OPEN && !attachment(s)?.retired);
    if (!ws) return undefined;
    const node = attachment(ws)?.node ?? '';
    const mux = new Mux({
      replyTimeoutMs: REPLY_TIMEOUT_MS,
      // A node that answers nothing is gone though no close came: the next request finds no session.
      onSilent: () => {
        if (this.mux !== mux) return;
        retire(ws);
        this.endSession(`node "${node}" disconnected`);
        try {
          ws.close(4001, 'no answer');
        } catch {
          // closed already
        }
      },
      send: (frame) => {
        try {
          ws.send(frame);
        } catch {
          // The socket is gone under us; its close event may never come to this object.
          queueMicrotask(() => {
            if (this.mux === mux) this.endSession(`node "${node}" disconnected`);
          });
        }
      },
    });
    this.mux = mux;
    return mux;
  }

  private agentGone(ws: WorkersWebSocket): void {
    const a = attachment(ws);
    if (a && !a.retired) this.endSession(`node "${a.node}" disconnected`);
  }

  /** Every open stream is reset, so clients see an error rather than a hang. */
  private endSession(reason: string): void {
    const mux = this.mux;
    this.mux = undefined;
    mux?.close(reason);
  }
}

/** The Worker's side: each call is one subrequest to the node's object. */
export function workerTunnels(env: { NODE_TUNNEL: NodeTunnelNamespace }): NodeTunnels {
  // A stub belongs to the request that made it: one per call, never cached in the isolate.
  const objectOf = (node: string) => env.NODE_TUNNEL.get(env.NODE_TUNNEL.idFromName(node));
  return {
    async accept(node, req) {
      if (!isWebSocketUpgrade(req)) throw badRequest('the tunnel is a WebSocket: send Upgrade: websocket');
      return objectOf(node).fetch(forward(ACCEPT_PATH, node, req));
    },
    async exchange(node, head, req) {
      // kubectl ≤ 1.29's raw SPDY upgrade: workerd hands a Worker no raw connection to relay.
      const upgrade = req.headers.get('upgrade');
      if (upgrade && upgrade.toLowerCase() !== 'websocket') throw badRequest(SPDY_REFUSED);
      const res = await objectOf(node).fetch(forward(EXCHANGE_PATH, node, req, head));
      if (res.headers.get(ERROR_HEADER) === NOT_CONNECTED) {
        await res.body?.cancel();
        throw notConnected(node);
      }
      return res;
    },
  };
}

/** The client's request as the object gets it: its method, headers (less credentials) and body, streamed. */
function forward(path: string, node: string, req: Request, head?: TunnelHead): Request {
  const headers = new Headers(req.headers);
  // The bearer token (a node's credential, or the client's) has been checked; the object needs neither.
  headers.delete('authorization');
  headers.set(NODE_HEADER, encodeURIComponent(node));
  if (head) headers.set(HEAD_HEADER, encodeURIComponent(JSON.stringify(head)));
  const withBody = req.body !== null && req.method !== 'GET' && req.method !== 'HEAD';
  const init: WorkersRequestInit = { method: req.method, headers, body: withBody ? req.body : null, ...(withBody ? { duplex: 'half' } : {}) };
  return new Request(OBJECT_ORIGIN + path, init);
}

function headOf(req: Request): TunnelHead {
  const raw = req.headers.get(HEAD_HEADER);
  try {
    if (raw) return JSON.parse(decodeURIComponent(raw)) as TunnelHead;
  } catch {
    // below
  }
  throw badRequest('missing or malformed tunnel head');
}

function isWebSocketUpgrade(req: Request): boolean {
  return req.headers.get('upgrade')?.toLowerCase() === 'websocket';
}

function notConnectedResponse(node: string): Response {
  const res = statusResponse(notConnected(node));
  res.headers.set(ERROR_HEADER, NOT_CONNECTED);
  return res;
}

/** A stream reset before the node answered (it went away, or refused the head outright). */
function unreachable(node: string, err: unknown): unknown {
  if (!(err instanceof StreamReset)) return err;
  return new ApiError(503, 'ServiceUnavailable', `node "${node}": ${err.message}`);
}

const attachment = (ws: WorkersWebSocket) => ws.deserializeAttachment() as AgentAttachment | null;

/** Marks an agent socket as no longer the node's session (the mark survives hibernation). */
function retire(ws: WorkersWebSocket): void {
  const a = attachment(ws);
  try {
    ws.serializeAttachment({ node: a?.node ?? '', retired: true } satisfies AgentAttachment);
  } catch {
    // closed already
  }
}

/**
 * The node's answer as the client gets it. Its bytes go through untouched (`manual`: a body the node
 * encoded stays so), and an unencoded one is marked `identity`, because Cloudflare's front line (and
 * wrangler dev) would otherwise gzip it and hold a stream (logs -f) back until it ended.
 */
function passThrough(res: Response): Response {
  const headers = new Headers(res.headers);
  if (!headers.has('content-encoding')) headers.set('content-encoding', 'identity');
  return new Response(res.body, { status: res.status, headers, encodeBody: 'manual' } as WorkersResponseInit);
}

/** A client's WebSocket upgrade: the node's answer, then (on 101) the messages both ways. */
async function relay(node: string, stream: MuxStream, head: TunnelHead): Promise<Response> {
  let reply: TunnelReply;
  try {
    reply = await stream.reply;
  } catch (err) {
    throw unreachable(node, err);
  }
  if (reply.status !== 101) {
    // The node refused (no such container, not running...): its answer is the client's, with no switch.
    stream.end();
    const empty = reply.status === 204 || reply.status === 304;
    if (empty) void stream.readable.cancel().catch(() => {});
    return passThrough(new Response(empty ? null : stream.readable, { status: reply.status, headers: reply.headers ?? [] }));
  }
  const pair = new runtime.WebSocketPair();
  const server = pair[1];
  server.accept();
  server.binaryType = 'arraybuffer';
  relayMessages(server, stream);
  const headers = new Headers();
  const protocol = new Headers(reply.headers ?? []).get('sec-websocket-protocol') ?? ('protocol' in head ? head.protocol : undefined);
  if (protocol) headers.set('sec-websocket-protocol', protocol);
  return new Response(null, { status: 101, headers, webSocket: pair[0] } as WorkersResponseInit);
}

/** kubectl's messages ↔ the stream's, one for one, neither way holding more than a bound. */
function relayMessages(ws: WorkersWebSocket, stream: MuxStream): void {
  let backlog = 0;
  let chain = Promise.resolve();
  let clientClosed = false;

  ws.addEventListener('message', (event) => {
    const chunk = typeof event.data === 'string' ? encoder.encode(event.data) : new Uint8Array(event.data);
    if (backlog > 0 && backlog + chunk.byteLength > CLIENT_BACKLOG) {
      stream.reset('the client sent faster than the node reads');
      closeQuietly(ws, 1009, 'sending faster than the node reads');
      return;
    }
    backlog += chunk.byteLength;
    // In order, each once the node's window has room; a reset stream fails them, told by the reader below.
    chain = chain.then(() => stream.write(chunk)).then(
      () => void (backlog -= chunk.byteLength),
      () => {},
    );
  });
  ws.addEventListener('close', () => {
    clientClosed = true;
    void chain.then(() => stream.end());
    setTimeout(() => {
      if (!stream.done) stream.reset('the client closed the connection');
    }, CLOSE_GRACE_MS);
  });
  ws.addEventListener('error', () => stream.reset('the client connection failed'));

  void (async () => {
    const reader = stream.readable.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (clientClosed || ws.readyState !== OPEN) return stream.reset('the client went away');
        ws.send(value);
        // Sending never blocks: read (and so credit the node) no further while the client lags a window behind.
        for (let wait = 5; ws.bufferedAmount > WINDOW && ws.readyState === OPEN; wait = Math.min(wait * 2, 200)) {
          await new Promise((ok) => setTimeout(ok, wait));
        }
      }
      closeQuietly(ws, 1000);
    } catch (err) {
      closeQuietly(ws, 1011, err instanceof Error ? err.message : String(err));
    }
  })();
}

function closeQuietly(ws: WorkersWebSocket, code: number, reason?: string): void {
  try {
    ws.close(code, reason === undefined ? undefined : closeReason(reason));
  } catch {
    // closed already
  }
}

/** A close reason is at most 123 bytes of UTF-8: cut at a character boundary. */
export function closeReason(reason: string): string {
  const bytes = encoder.encode(reason);
  if (bytes.byteLength <= 123) return reason;
  let end = 123;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

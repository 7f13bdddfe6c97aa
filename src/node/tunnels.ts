// The node tunnels of `skiff serve`, held in-process: one WebSocket per node, dialled by its agent,
// with the Mux's streams over it. Upgrades (the agents' tunnels; kubectl's exec, attach and
// port-forward over WebSocket or SPDY) arrive as the HTTPS server's 'upgrade' events: the request
// goes through the API like any other (authentication, authorization, validation), and when the API
// answers with a switch of protocols this module finishes it on the socket and relays.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { notConnected, type NodeTunnels } from '../api/tunnels.js';
import { ApiError } from '../api/status.js';
import type { TunnelHead } from '../tunnel/head.js';
import { streamResponse } from '../tunnel/http.js';
import { Mux, REPLY_TIMEOUT_MS, type MuxStream } from '../tunnel/mux.js';

type Negotiated = IncomingMessage & { skiffProtocol?: string };

type Pending = { kind: 'agent'; node: string } | { kind: 'client'; stream: MuxStream; head: TunnelHead & { transport: string; protocol: string } };

/** The API's answer that means "switch protocols here": the upgrade listener takes it from there. */
const SWITCH = 'x-skiff-switch';
const switching = () => new Response(null, { status: 200, headers: { [SWITCH]: '1' } });

/** The agent pings; a session silent this long is dead (a NAT dropped it without a word). */
const AGENT_SILENCE_MS = 90_000;
/** Largest WebSocket message taken: a tunnel frame carries at most one kubectl message plus 5 bytes. */
const MAX_MESSAGE = 8 * 1024 * 1024;

interface Session {
  ws: WebSocket;
  mux: Mux;
  seen: number;
}

export class InProcessTunnels implements NodeTunnels {
  private readonly sessions = new Map<string, Session>();
  private readonly pending = new WeakMap<Request, Pending>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE,
  });
  private readonly reaper: NodeJS.Timeout;

  constructor(private readonly log: (line: string) => void = () => {}) {
    // The API negotiated the subprotocol (stream-protocols.ts); the handshake names it. ws would refuse
    // port-forward's `SPDY/3.1+portforward.k8s.io` (not an RFC 7230 token), so the offer is taken out
    // of the request before ws reads it, and the answer is added here.
    this.wss.on('headers', (headers, req) => {
      const chosen = (req as Negotiated).skiffProtocol;
      if (chosen) headers.push(`Sec-WebSocket-Protocol: ${chosen}`);
    });
    this.reaper = setInterval(() => {
      const now = Date.now();
      for (const s of this.sessions.values()) if (now - s.seen > AGENT_SILENCE_MS) s.ws.terminate();
    }, 15_000);
    this.reaper.unref();
  }

  connected(node: string): boolean {
    return this.sessions.has(node);
  }

  /** Nodes holding a session. */
  nodes(): string[] {
    return [...this.sessions.keys()];
  }

  async accept(node: string, req: Request): Promise<Response> {
    this.pending.set(req, { kind: 'agent', node });
    return switching();
  }

  async exchange(node: string, head: TunnelHead, req: Request): Promise<Response> {
    const session = this.sessions.get(node);
    if (!session) throw notConnected(node);
    const stream = session.mux.open(head);
    const unanswered = (e: Error): never => {
      throw new ApiError(503, 'ServiceUnavailable', `node "${node}": ${e.message}`);
    };
    if (head.op === 'exec' || head.op === 'attach' || head.op === 'portforward' || head.op === 'relay') {
      const reply = await stream.reply.catch(unanswered);
      // The node refused (no such container, not running): its Status is the answer, and no switch.
      if (reply.status !== 101) return new Response(stream.readable, { status: reply.status, headers: reply.headers });
      this.pending.set(req, { kind: 'client', stream, head });
      return switching();
    }
    return streamResponse(stream, req.body).catch(unanswered);
  }

  /** The HTTPS server's 'upgrade' listener: `fetch` is the API. */
  upgradeListener(fetch: (req: Request) => Promise<Response>): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
    return (incoming, socket, head) => {
      socket.on('error', () => socket.destroy());
      const request = toRequest(incoming);
      fetch(request)
        .then(async (res) => {
          const pending = this.pending.get(request);
          if (!res.headers.get(SWITCH) || !pending) return writeResponse(socket, res);
          if (pending.kind === 'agent') {
            this.wss.handleUpgrade(incoming, socket, head, (ws) => this.open(pending.node, ws));
          } else if (pending.head.transport === 'websocket' || incoming.headers.upgrade?.toLowerCase() === 'websocket') {
            (incoming as Negotiated).skiffProtocol = pending.head.protocol;
            delete incoming.headers['sec-websocket-protocol'];
            this.wss.handleUpgrade(incoming, socket, head, (ws) => relayWebSocket(ws, pending.stream));
          } else {
            socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${pending.head.protocol}\r\n\r\n`);
            relaySocket(socket, head, pending.stream);
          }
        })
        .catch((err: unknown) => {
          this.log(`upgrade failed: ${(err as Error).message}`);
          socket.destroy();
        });
    };
  }

  private open(node: string, ws: WebSocket): void {
    const old = this.sessions.get(node);
    const mux = new Mux({ send: (frame) => ws.send(frame), replyTimeoutMs: REPLY_TIMEOUT_MS, onSilent: () => ws.terminate() });
    const session: Session = { ws, seen: Date.now(), mux };
    this.sessions.set(node, session);
    if (old) old.ws.close(4000, 'replaced by a newer session of the node');
    this.log(`node ${node} connected its tunnel`);
    ws.on('message', (data, isBinary) => {
      session.seen = Date.now();
      if (isBinary) session.mux.receive(bytes(data));
      else if (data.toString() === 'ping') ws.send('pong');
    });
    ws.on('close', () => {
      if (this.sessions.get(node) === session) {
        this.sessions.delete(node);
        this.log(`node ${node} disconnected its tunnel`);
      }
      session.mux.close(`node "${node}" disconnected`);
    });
    ws.on('error', () => ws.terminate());
  }

  /** Ends every session (shutdown): agents reconnect to the next server. */
  close(): void {
    clearInterval(this.reaper);
    for (const s of this.sessions.values()) s.ws.close(1001, 'server shutting down');
    this.sessions.clear();
  }
}

function bytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

function toRequest(incoming: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const url = `https://${incoming.headers.host ?? 'localhost'}${incoming.url ?? '/'}`;
  return new Request(url, { method: incoming.method, headers });
}

/** An answer that is not a switch (a refusal), written as HTTP/1.1 on the raw socket. */
async function writeResponse(socket: Duplex, res: Response): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer());
  const lines = [`HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`];
  res.headers.forEach((v, k) => {
    if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') lines.push(`${k}: ${v}`);
  });
  lines.push(`content-length: ${body.byteLength}`, 'connection: close', '', '');
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n')), body]));
}

/** kubectl's WebSocket ↔ the node's stream, message for message, each way held to the stream's window. */
export function relayWebSocket(ws: WebSocket, stream: MuxStream): void {
  let chain = Promise.resolve();
  let inFlight = 0;
  ws.on('message', (data) => {
    const chunk = bytes(data);
    // The stream's window holds the node's side; here, stop reading the socket while writes wait.
    if (++inFlight > 8) ws.pause();
    chain = chain.then(() => stream.write(chunk)).then(
      () => {
        if (--inFlight <= 8) ws.resume();
      },
      () => ws.terminate(),
    );
  });
  ws.on('close', () => void chain.then(() => stream.end()));
  ws.on('error', () => stream.reset('client connection failed'));
  void (async () => {
    try {
      for await (const chunk of stream.messages()) {
        if (ws.readyState !== WebSocket.OPEN) return void stream.reset('client went away');
        await new Promise<void>((ok, fail) => ws.send(chunk, { binary: true }, (err) => (err ? fail(err) : ok())));
      }
      ws.close(1000);
    } catch (e) {
      if (ws.readyState === WebSocket.OPEN) ws.close(1011, truncate((e as Error).message));
    }
  })();
}

/** A raw upgraded connection (kubectl's SPDY) ↔ the node's stream, as bytes. */
function relaySocket(socket: Duplex, head: Buffer, stream: MuxStream): void {
  const send = (chunk: Buffer) => {
    socket.pause();
    stream.write(new Uint8Array(chunk)).then(() => socket.resume(), () => socket.destroy());
  };
  if (head.byteLength) send(head);
  socket.on('data', send);
  socket.on('end', () => stream.end());
  socket.on('close', () => stream.reset('client went away'));
  void (async () => {
    try {
      for await (const chunk of stream.messages()) {
        if (!socket.write(chunk)) await new Promise((ok) => socket.once('drain', ok));
      }
      socket.end();
    } catch {
      socket.destroy();
    }
  })();
}

/** A WebSocket close reason is at most 123 bytes. */
const truncate = (s: string) => (Buffer.byteLength(s) > 120 ? Buffer.from(s).subarray(0, 120).toString() : s);

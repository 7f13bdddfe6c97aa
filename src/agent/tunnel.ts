// The agent's end of the tunnel: one WebSocket it dials to the control plane (the machine accepts no
// connection), authenticated by the node's credential, redialled with back-off whenever it drops.
// The control plane opens streams over it; each goes to the node server (node-server.ts).
import { WebSocket } from 'ws';
import { TUNNEL_PATH } from '../api/tunnels.js';
import { Mux, type MuxStream } from '../tunnel/mux.js';

export interface TunnelOptions {
  /** https://HOST:PORT of the API. */
  server: string;
  token: string;
  /** CA to trust (PEM); absent: the system's. */
  ca?: string;
  onStream: (stream: MuxStream) => void;
  log?: (line: string) => void;
  /** kubelet's --streaming-connection-idle-timeout: streams carrying nothing this long are closed. */
  idleTimeoutMs?: number;
}

/** Pings keep NATs from forgetting the connection, and tell a dead one: the control plane answers "pong". */
const PING_MS = 30_000;
const SILENCE_MS = 75_000;
const MAX_BACKOFF_MS = 30_000;
/** A connection that lived this long starts the back-off over. */
const STABLE_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 4 * 3600_000;

export class TunnelClient {
  private ws?: WebSocket;
  private mux?: Mux;
  private stopped = false;
  private backoff = 500;
  private timer?: NodeJS.Timeout;
  private connectedAt = 0;
  /** Whether the tunnel is up. */
  connected = false;

  constructor(private readonly opts: TunnelOptions) {}

  start(): void {
    this.dial();
  }

  private dial(): void {
    if (this.stopped) return;
    const url = this.opts.server.replace(/^http/, 'ws') + TUNNEL_PATH;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.opts.token}` },
      perMessageDeflate: false,
      maxPayload: 8 * 1024 * 1024,
      handshakeTimeout: 15_000,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    this.ws = ws;
    let seen = Date.now();
    let keepalive: NodeJS.Timeout | undefined;
    const mux = new Mux({ send: (frame) => ws.readyState === WebSocket.OPEN && ws.send(frame), onStream: this.opts.onStream });
    ws.on('open', () => {
      this.mux = mux;
      this.connected = true;
      this.connectedAt = Date.now();
      this.opts.log?.('tunnel to the control plane open');
      keepalive = setInterval(() => {
        if (Date.now() - seen > SILENCE_MS) return ws.terminate();
        ws.send('ping');
        mux.sweep(this.opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
      }, PING_MS);
    });
    ws.on('message', (data, isBinary) => {
      seen = Date.now();
      if (isBinary) mux.receive(Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    });
    ws.on('unexpected-response', (_req, res) => {
      this.opts.log?.(`tunnel refused: HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => {}); // 'close' follows, and redials
    ws.on('close', (code, reason) => {
      clearInterval(keepalive);
      mux.close('tunnel to the control plane closed');
      if (this.ws !== ws) return;
      if (this.connected) this.opts.log?.(`tunnel closed (${code}${reason.length ? `: ${reason}` : ''}): redialling`);
      this.connected = false;
      this.mux = undefined;
      if (this.stopped) return;
      if (Date.now() - this.connectedAt > STABLE_MS) this.backoff = 500;
      const wait = this.backoff * (0.5 + Math.random());
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.timer = setTimeout(() => this.dial(), wait);
    });
  }

  /** Closes the tunnel; its streams end with an error. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.mux?.close('agent stopping');
    const ws = this.ws;
    ws?.close(1001, 'agent stopping');
    setTimeout(() => ws?.terminate(), 1000).unref();
  }
}

// The node's side of the relayed path: one local listener per remote endpoint that this node's pods may
// reach (a pod IP and port on a node it cannot reach directly). The node's NAT rules send a pod's
// connection to that endpoint here (Node.js cannot read SO_ORIGINAL_DST, so the listener is what
// tells the destination), and each connection is carried over a WebSocket to the control plane's
// relay endpoint (src/api/relay.ts), which hands it to the target's node through its tunnel.
import { Agent as HttpsAgent } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { RELAY_PATH, RELAY_PROTOCOL } from '../api/relay.js';
import { pipeWebSocket } from './relay-pipe.js';

/** A remote endpoint: the pod behind an address and port (namespace and name, for the control plane to find it). */
export interface RelayTarget {
  ip: string;
  port: number;
  namespace: string;
  pod: string;
}

export interface RelayListenersOptions {
  /** https://HOST:PORT of the control plane, the node's credential, and the CA to trust (PEM). */
  server: string;
  token: string;
  ca?: string;
  /** The address listeners bind: the node's pod gateway, which its pods reach. */
  host: string;
  /**
   * Whether a pod's connection (from its address) may go to the target: the relayed path's egress
   * check (the connection reaches the node itself, not FORWARD). Refused connections are reset.
   */
  admit?: (source: string, target: RelayTarget) => boolean | Promise<boolean>;
  log?: (line: string) => void;
}

interface Listener {
  server: Server;
  port: number;
  target: RelayTarget;
}

export const targetKey = (ip: string, port: number) => `${ip}:${port}`;

export class RelayListeners {
  private readonly listeners = new Map<string, Listener>();
  // Upgrades are not pooled, but TLS sessions are: later connections resume rather than handshake anew.
  private readonly agent: HttpsAgent;
  /** Connections relayed, and those the relay refused or lost (for logs and tests). */
  readonly counts = { connections: 0, failed: 0 };

  constructor(private readonly opts: RelayListenersOptions) {
    this.agent = new HttpsAgent({ keepAlive: false, maxCachedSessions: 64, ...(opts.ca ? { ca: opts.ca } : {}) });
  }

  /** The local address a target is reached at, once its listener is up. */
  address(ip: string, port: number): { host: string; port: number } | undefined {
    const l = this.listeners.get(targetKey(ip, port));
    return l && { host: this.opts.host, port: l.port };
  }

  /** Makes the listeners match `targets` (keyed by ip:port); connections already relayed go on. */
  async sync(targets: RelayTarget[]): Promise<void> {
    const wanted = new Map(targets.map((t) => [targetKey(t.ip, t.port), t]));
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      this.listeners.delete(key);
      l.server.close();
    }
    await Promise.all(
      [...wanted].map(async ([key, target]) => {
        const existing = this.listeners.get(key);
        if (existing) {
          existing.target = target; // the address may now belong to another pod
          return;
        }
        try {
          this.listeners.set(key, await this.listen(target));
        } catch (e) {
          this.opts.log?.(`cannot relay ${key}: ${(e as Error).message}`);
        }
      }),
    );
  }

  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => new Promise((ok) => l.server.close(ok))));
    this.agent.destroy();
  }

  private listen(target: RelayTarget): Promise<Listener> {
    const listener = { target } as Listener;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.relay(socket, listener.target));
    listener.server = server;
    return new Promise((ok, fail) => {
      server.once('error', fail);
      server.listen({ host: this.opts.host, port: 0, exclusive: true }, () => {
        server.off('error', fail);
        server.on('error', (e) => this.opts.log?.(`relay listener for ${targetKey(target.ip, target.port)}: ${e.message}`));
        listener.port = (server.address() as { port: number }).port;
        ok(listener);
      });
    });
  }

  private relay(socket: Socket, target: RelayTarget): void {
    socket.on('error', () => {});
    const source = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const admitted = this.opts.admit ? this.opts.admit(source, target) : true;
    if (admitted === true) return this.open(socket, target, source);
    void Promise.resolve(admitted).then(
      (ok) => (ok ? this.open(socket, target, source) : socket.resetAndDestroy()),
      () => socket.resetAndDestroy(),
    );
  }

  private open(socket: Socket, target: RelayTarget, source: string): void {
    const q = new URLSearchParams({ namespace: target.namespace, pod: target.pod, ip: target.ip, port: String(target.port) });
    if (source) q.set('source', source);
    const url = `${this.opts.server.replace(/^http/, 'ws')}${RELAY_PATH}?${q}`;
    const ws = new WebSocket(url, RELAY_PROTOCOL, {
      headers: { authorization: `Bearer ${this.opts.token}` },
      ...(url.startsWith('wss:') ? { agent: this.agent } : {}),
      perMessageDeflate: false,
      maxPayload: 8 * 1024 * 1024,
      handshakeTimeout: 15_000,
    });
    let settled = false;
    const refused = (why: string) => {
      if (settled) return;
      settled = true;
      this.counts.failed++;
      this.opts.log?.(`relay to ${target.namespace}/${target.pod} ${targetKey(target.ip, target.port)} failed: ${why}`);
      // As a refused connection would: the pod's client sees a reset.
      if (!socket.destroyed) socket.resetAndDestroy();
    };
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s.length < 2048 ? s : ''));
      res.on('end', () => {
        let message = body;
        try {
          message = JSON.parse(body).message ?? body;
        } catch {
          // not a Status
        }
        refused(`HTTP ${res.statusCode}${message ? `: ${message}` : ''}`);
        ws.terminate();
      });
    });
    ws.on('error', (e) => {
      if (ws.readyState !== WebSocket.OPEN) refused(e.message);
    });
    // The pod gave up before the relay was open.
    socket.once('close', () => {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    });
    ws.on('open', () => {
      settled = true;
      this.counts.connections++;
      pipeWebSocket(ws, socket);
    });
  }
}

// The node-local API endpoint, as k3s's agent runs a local load balancer: programs in pods reach the
// Kubernetes API here (KUBERNETES_SERVICE_HOST/PORT), wherever the control plane is (127.0.0.1 of
// another machine's `skiff serve`, Workers, behind NAT). A pod's network namespace cannot reach the
// host's loopback and the control plane's certificate does not name pod-network addresses, so the
// agent serves HTTPS itself on the pod bridge's gateway (the address every pod's netns routes to) and
// on 127.0.0.1 (host-network pods), with a certificate of its own CA (local-ca.ts), and forwards each
// request to the control plane over its own HTTPS, trusting what the agent trusts.
//
// - Nothing of the agent's is added: no bearer token, no client certificate. The pod's own
//   Authorization header (its ServiceAccount token) is what authenticates, so a pod can do through
//   here exactly what it could do talking to the control plane directly.
// - Bodies are streamed both ways with backpressure (pipeline): a watch's events reach the pod as
//   the control plane sends them, and a large body is never held whole in memory.
// - Upgrades (exec, attach, port-forward from inside a pod: SPDY or WebSocket) are relayed as raw
//   byte streams once the control plane answered 101; a refusal is relayed as it came.
// - When the control plane cannot be reached the pod gets a 503 Status, as from an API server that
//   is down; its token and files stay (service-account.ts), so it can try again.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { createServer, request as httpsRequest, type Agent as HttpsAgent, type Server } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { join } from 'node:path';
import { createAgent } from './client.js';
import { API_DNS_NAMES, ensureServingCert } from './local-ca.js';

export interface ApiProxyOptions {
  /** The control plane (the agent's --server), https://host:port (http:// for tests). */
  upstream: string;
  /** The CA(s) the agent trusts for the control plane (PEM); the system's when absent. */
  upstreamCa?: string;
  /** Where to listen: the pod bridge's gateway (when pods have networks of their own) and 127.0.0.1. */
  addresses: string[];
  /**
   * The port asked for (--api-proxy-port; 0: any free one), used as given or not at all. Absent: the
   * one used before (running pods hold it in their env), else 443 when root, else a free one.
   */
  port?: number;
  /** Where the CA, the serving certificate and the chosen port are kept. */
  dir: string;
  /** For messages to pods ("the control plane cannot be reached from node X"). */
  nodeName?: string;
  log?: (line: string) => void;
}

export interface ApiProxy {
  /** The addresses actually served on, and their one port. */
  readonly addresses: string[];
  readonly port: number;
  /** The CA certificate (PEM) pods verify this endpoint with: their ca.crt. */
  readonly caCert: string;
  close(): Promise<void>;
}

// @kubernetes/client-node's loadFromCluster speaks plain HTTP to these ports: never serve HTTPS there.
const HTTP_PORTS = new Set([80, 8080, 8001]);
// Hop-by-hop headers (RFC 9110 7.6.1), and Host, which names the control plane on the way out.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

export async function startApiProxy(opts: ApiProxyOptions): Promise<ApiProxy> {
  const log = opts.log ?? (() => {});
  if (opts.port !== undefined && HTTP_PORTS.has(opts.port)) {
    throw new Error(`--api-proxy-port ${opts.port}: in-cluster clients take ports 80, 8080 and 8001 for plain HTTP; choose another`);
  }
  const addresses = [...new Set(opts.addresses)];
  const cert = ensureServingCert(opts.dir, [...addresses, ...API_DNS_NAMES]);
  const upstream = new URL(opts.upstream);
  const secure = upstream.protocol === 'https:';
  const agent: HttpsAgent | HttpAgent = secure ? createAgent(opts.upstreamCa) : new HttpAgent({ keepAlive: true });
  const forward = new Forwarder(upstream, agent, opts.nodeName);

  const portFile = join(opts.dir, 'port');
  const saved = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8').trim()) || undefined : undefined;
  // A port picked by the system (0) may be taken on another address already: then another try.
  const preferred = opts.port !== undefined ? [opts.port] : [...new Set([...(saved ? [saved] : []), ...(process.getuid?.() === 0 ? [443] : [])])];
  const candidates = opts.port !== undefined ? preferred : [...preferred, 0, 0, 0];

  let lastError: Error | undefined;
  for (const want of candidates) {
    try {
      const servers = await listenAll(addresses, want, cert, forward, log);
      const port = (servers[0]!.server.address() as { port: number }).port;
      if (saved !== undefined && port !== saved) log(`the in-cluster API endpoint moved from port ${saved} to ${port}: pods started earlier keep the old port in their env until their containers restart`);
      writeFileSync(portFile, `${port}\n`);
      const served = servers.map((s) => s.address);
      return {
        addresses: served,
        port,
        caCert: cert.caCert,
        async close() {
          forward.closeUpgrades();
          await Promise.all(servers.map((s) => closeServer(s.server)));
          agent.destroy();
        },
      };
    } catch (err) {
      lastError = err as Error;
    }
  }
  agent.destroy();
  throw new Error(`cannot serve the in-cluster API endpoint on ${addresses.join(', ')}: ${lastError?.message}`);
}

/** One server per address, all on one port (the first one's, when `port` is 0); all or none. */
async function listenAll(
  addresses: string[],
  port: number,
  cert: { cert: string; key: string },
  forward: Forwarder,
  log: (line: string) => void,
): Promise<{ address: string; server: Server }[]> {
  const up: { address: string; server: Server }[] = [];
  try {
    for (const address of addresses) {
      const server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => forward.request(req, res));
      server.on('upgrade', (req, socket, head) => forward.upgrade(req, socket, head));
      // A long upload or watch is no reason to cut a pod off; idle keep-alive sockets still close.
      server.requestTimeout = 0;
      server.on('clientError', (_err, socket) => socket.destroy());
      const at = up.length ? (up[0]!.server.address() as { port: number }).port : port;
      try {
        await listen(server, address, at);
      } catch (err) {
        // An address this machine does not have (a bridge gone): the others still serve.
        if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL' && addresses.length > 1) {
          log(`the in-cluster API endpoint cannot listen on ${address}: ${(err as Error).message}`);
          continue;
        }
        throw err;
      }
      up.push({ address, server });
    }
    if (!up.length) throw new Error('no address to listen on');
    return up;
  } catch (err) {
    await Promise.all(up.map((s) => closeServer(s.server)));
    throw err;
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The request's headers as the control plane should get them: no hop-by-hop ones (but an upgrade's own), its Host. */
function outgoingHeaders(raw: string[], host: string, upgrade: boolean): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  const listed = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) listed.add(t.trim().toLowerCase());
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) {
      if (!(upgrade && lower === 'upgrade')) continue;
    }
    const prev = out[name];
    out[name] = prev === undefined ? raw[i + 1]! : [...(Array.isArray(prev) ? prev : [prev]), raw[i + 1]!];
  }
  out.host = host;
  if (upgrade) out.connection = 'Upgrade';
  return out;
}

/** The control plane's response headers for the pod: no hop-by-hop ones (Node frames the body again). */
function incomingHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(String(headers.connection ?? '').split(',').map((t) => t.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

class Forwarder {
  private readonly upgraded = new Set<Duplex>();
  private readonly prefix: string;
  private readonly hostname: string;

  constructor(
    private readonly upstream: URL,
    private readonly agent: HttpsAgent | HttpAgent,
    private readonly nodeName?: string,
  ) {
    this.prefix = upstream.pathname.replace(/\/+$/, '');
    this.hostname = upstream.hostname.replace(/^\[(.*)\]$/, '$1');
  }

  private send(req: IncomingMessage, upgrade: boolean) {
    const secure = this.upstream.protocol === 'https:';
    return (secure ? httpsRequest : httpRequest)({
      protocol: this.upstream.protocol,
      hostname: this.hostname,
      port: this.upstream.port || (secure ? 443 : 80),
      method: req.method,
      path: this.prefix + (req.url ?? '/'),
      headers: outgoingHeaders(req.rawHeaders, this.upstream.host, upgrade),
      agent: this.agent as HttpsAgent,
    });
  }

  private unreachable(err: Error): string {
    const where = this.nodeName ? ` from node ${this.nodeName}` : '';
    return statusBody(503, 'ServiceUnavailable', `the control plane cannot be reached${where}: ${err.message}`);
  }

  request(req: IncomingMessage, res: ServerResponse): void {
    const up = this.send(req, false);
    up.on('response', (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, incomingHeaders(ures.headers));
      // Each chunk goes on as it comes (watch events), at the pace the pod reads.
      pipeline(ures, res, () => {
        if (!res.writableFinished) res.destroy();
      });
    });
    up.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      const body = this.unreachable(err);
      res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
    // The pod went away (a watch it closed): the control plane's side is closed too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    pipeline(req, up, (err) => {
      if (err) up.destroy();
    });
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    const up = this.send(req, true);
    up.on('upgrade', (ures, usocket, uhead) => {
      this.upgraded.add(usocket);
      usocket.once('close', () => this.upgraded.delete(usocket));
      usocket.on('error', () => socket.destroy());
      let lines = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}\r\n`;
      for (let i = 0; i < ures.rawHeaders.length; i += 2) lines += `${ures.rawHeaders[i]}: ${ures.rawHeaders[i + 1]}\r\n`;
      socket.write(lines + '\r\n');
      if (uhead.length) socket.write(uhead);
      if (head.length) usocket.write(head);
      // Each way at the pace of its reader; either side closing closes the other.
      socket.pipe(usocket);
      usocket.pipe(socket);
      socket.once('close', () => usocket.destroy());
      usocket.once('close', () => socket.destroy());
    });
    up.on('response', (ures) => {
      // Refused (no 101): the control plane's answer, then the connection closes.
      const headers = incomingHeaders(ures.headers);
      delete headers['content-length'];
      let lines = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}\r\n`;
      for (const [k, v] of Object.entries(headers)) for (const one of [v].flat()) lines += `${k}: ${one}\r\n`;
      socket.write(lines + 'connection: close\r\n\r\n');
      pipeline(ures, socket, () => socket.destroy());
    });
    up.on('error', (err) => {
      const body = this.unreachable(err);
      socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    socket.once('close', () => up.destroy());
    up.end();
  }

  closeUpgrades(): void {
    for (const s of this.upgraded) s.destroy();
    this.upgraded.clear();
  }
}

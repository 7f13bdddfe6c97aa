// Names outside the cluster domain go to the machine's own resolvers, as CoreDNS' `forward .
// /etc/resolv.conf` sends them. The agent runs in the host's network namespace, so a loopback stub
// such as systemd-resolved's 127.0.0.53 works here although pods could not reach it themselves.
// Queries are relayed as they came (the client's EDNS size, flags and id included) over the
// transport the client used; each upstream is tried in turn.
import dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import * as packet from 'dns-packet';
import type { Answer } from 'dns-packet';
import { HOST_RESOLV_CONF, parseResolvConf } from './resolv-conf.js';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  /** Fixed upstreams (tests); default: the nameservers of resolvConf, re-read when it changes. */
  upstreams?: Upstream[];
  resolvConf?: string;
  /** Addresses never forwarded to: the server's own (a resolv.conf naming it would loop). */
  exclude?: () => string[];
  /** Per upstream and attempt. */
  timeoutMs?: number;
}

const MAX_TCP_MESSAGE = 65_535;
/** How often the resolv.conf is checked for changes at most. */
const RECHECK_MS = 5_000;

export class Forwarder {
  private readonly fixed?: Upstream[];
  private readonly resolvConf: string;
  private readonly timeoutMs: number;
  private readonly exclude: () => string[];
  private cached: { upstreams: Upstream[]; mtimeMs: number; checkedAt: number } | undefined;

  constructor(opts: ForwarderOptions = {}) {
    this.fixed = opts.upstreams;
    this.resolvConf = opts.resolvConf ?? HOST_RESOLV_CONF;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.exclude = opts.exclude ?? (() => []);
  }

  /** The upstreams now: the fixed ones, or the resolv.conf's nameservers (port 53). */
  async upstreams(): Promise<Upstream[]> {
    const own = new Set(this.exclude());
    if (this.fixed) return this.fixed.filter((u) => !own.has(u.host));
    const now = Date.now();
    if (!this.cached || now - this.cached.checkedAt >= RECHECK_MS) {
      const stat = await fs.stat(this.resolvConf).catch(() => undefined);
      const mtimeMs = stat?.mtimeMs ?? 0;
      if (!this.cached || this.cached.mtimeMs !== mtimeMs) {
        const text = await fs.readFile(this.resolvConf, 'utf8').catch(() => '');
        this.cached = { upstreams: parseResolvConf(text).servers.map((host) => ({ host, port: 53 })), mtimeMs, checkedAt: now };
      } else {
        this.cached.checkedAt = now;
      }
    }
    return this.cached.upstreams.filter((u) => !own.has(u.host));
  }

  /** Relays a query; the first upstream's answer, or undefined when none answered. */
  async forward(query: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    for (const u of await this.upstreams()) {
      const answer = await (tcp ? this.overTcp(u, query) : this.overUdp(u, query)).catch(() => undefined);
      if (answer) return answer;
    }
    return undefined;
  }

  /** Resolves a name outside the cluster (an ExternalName's target): its answers, [] when it has none. */
  async lookup(name: string, type: 'A' | 'AAAA'): Promise<Answer[]> {
    const id = Math.floor(Math.random() * 65_536);
    const query = packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
    let raw = await this.forward(query, false);
    if (raw && packet.decode(raw).flag_tc) raw = await this.forward(query, true);
    if (!raw) return [];
    const reply = packet.decode(raw) as packet.DecodedPacket & { rcode?: string };
    if (reply.rcode !== 'NOERROR') return [];
    return reply.answers ?? [];
  }

  private overUdp(u: Upstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      // A socket per query: a fresh random source port, and only the upstream's reply is taken.
      const socket = dgram.createSocket(net.isIPv6(u.host.split('%')[0]!) ? 'udp6' : 'udp4');
      const done = (answer?: Buffer) => {
        clearTimeout(timer);
        socket.close();
        resolve(answer);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      socket.on('error', () => done(undefined));
      socket.on('message', (msg, rinfo) => {
        if (msg.length < 12 || msg.readUInt16BE(0) !== query.readUInt16BE(0)) return;
        if (rinfo.port !== u.port) return;
        done(msg);
      });
      socket.send(query, u.port, u.host, (err) => err && done(undefined));
    });
  }

  private overTcp(u: Upstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: u.host, port: u.port });
      let buf = Buffer.alloc(0);
      const done = (answer?: Buffer) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      socket.on('error', () => done(undefined));
      socket.on('close', () => done(undefined));
      socket.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        socket.write(Buffer.concat([len, query]));
      });
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length > MAX_TCP_MESSAGE + 2) return done(undefined);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (buf.length >= len + 2) done(buf.subarray(2, len + 2));
      });
    });
  }
}

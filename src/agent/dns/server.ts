// The node's DNS server for its pods, over UDP and TCP: the cluster domain (and the reverse names of
// ClusterIPs and endpoints) answered from the agent's catalog (cluster-zone.ts), anything else relayed
// to the machine's resolvers (forwarder.ts). Messages are read and written with dns-packet.
import dgram from 'node:dgram';
import net from 'node:net';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer } from 'dns-packet';
import type { ClusterZone } from './cluster-zone.js';
import type { Forwarder } from './forwarder.js';

export interface DnsServerOptions {
  zone: ClusterZone;
  forwarder: Forwarder;
  /** Addresses to listen on (IPv4 or IPv6). */
  addresses: string[];
  /** Default 53; 0 picks a free one (the same for UDP and TCP on every address). */
  port?: number;
  log?: (line: string) => void;
}

const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type RcodeName = keyof typeof RCODES;
/** A UDP answer without EDNS fits in 512 bytes (RFC 1035); with EDNS, in what the client offers, up to this. */
const MAX_UDP_PAYLOAD = 4096;
const EDNS_PAYLOAD = 1232;
const TCP_IDLE_MS = 10_000;

export class DnsServer {
  private readonly opts: DnsServerOptions;
  private udp: dgram.Socket[] = [];
  private tcp: net.Server[] = [];
  private readonly connections = new Set<net.Socket>();
  private boundPort = 0;

  constructor(opts: DnsServerOptions) {
    this.opts = opts;
  }

  /** The port listened on (once started). */
  get port(): number {
    return this.boundPort;
  }

  get addresses(): string[] {
    return [...this.opts.addresses];
  }

  async start(): Promise<void> {
    let port = this.opts.port ?? 53;
    try {
      for (const address of this.opts.addresses) {
        const server = net.createServer((socket) => this.serveTcp(socket));
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: address, port, exclusive: true }, () => resolve());
        });
        server.on('error', (err) => this.opts.log?.(`dns: tcp ${address}: ${err.message}`));
        this.tcp.push(server);
        // Port 0: the first listener picks one, the others take the same.
        if (port === 0) port = (server.address() as net.AddressInfo).port;
        const socket = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4' });
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address, port, exclusive: true }, () => resolve());
        });
        socket.on('error', (err) => this.opts.log?.(`dns: udp ${address}: ${err.message}`));
        socket.on('message', (msg, rinfo) => void this.serveUdp(socket, msg, rinfo));
        this.udp.push(socket);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.boundPort = port;
  }

  async close(): Promise<void> {
    for (const s of this.udp) s.close();
    this.udp = [];
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    await Promise.all(this.tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.tcp = [];
  }

  private async serveUdp(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const reply = await this.handle(msg, false).catch((err) => {
      this.opts.log?.(`dns: ${(err as Error).message}`);
      return undefined;
    });
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  }

  private serveTcp(socket: net.Socket): void {
    this.connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    // Queries on one connection may be answered out of order (RFC 7766): each answer carries its id.
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
        const msg = buf.subarray(2, buf.readUInt16BE(0) + 2);
        buf = buf.subarray(msg.length + 2);
        void this.handle(Buffer.from(msg), true).then(
          (reply) => {
            if (!reply || socket.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            socket.write(Buffer.concat([len, reply]));
          },
          (err) => this.opts.log?.(`dns: ${(err as Error).message}`),
        );
      }
    });
  }

  /** The answer to one message (undefined: nothing to send back, e.g. a response or garbage). */
  async handle(msg: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    let query: DecodedPacket & { opcode?: string };
    try {
      query = packet.decode(msg);
    } catch {
      // Unreadable past the header: FORMERR if at least the header is there.
      if (msg.length < 12 || msg.readUInt16BE(2) & 0x8000) return undefined;
      return this.bare(msg.readUInt16BE(0), (msg.readUInt16BE(2) >> 11) & 0xf, msg.readUInt16BE(2) & 0x0100, 'FORMERR');
    }
    if (query.type === 'response') return undefined;
    const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
    const rd = (query.flags ?? 0) & packet.RECURSION_DESIRED;
    if (opcode !== 0) return this.bare(query.id ?? 0, opcode, rd, 'NOTIMP');
    const question = query.questions?.[0];
    if (!question || (query.questions?.length ?? 0) > 1) return this.bare(query.id ?? 0, opcode, rd, 'FORMERR');

    const opt = query.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
    const zoned = await this.opts.zone.answer(question);
    if (!zoned) {
      const relayed = await this.opts.forwarder.forward(msg, tcp);
      return relayed ?? this.reply(query, opt, 'SERVFAIL', [], [], [], false, tcp);
    }
    return this.reply(query, opt, zoned.rcode, zoned.answers, zoned.authorities, zoned.additionals, true, tcp);
  }

  private bare(id: number, opcode: number, rd: number, rcode: RcodeName): Buffer {
    const flags = (opcode << 11) | rd | packet.RECURSION_AVAILABLE | RCODES[rcode];
    return packet.encode({ type: 'response', id, flags, questions: [], answers: [], authorities: [], additionals: [] });
  }

  private reply(
    query: DecodedPacket,
    opt: OptAnswer | undefined,
    rcode: RcodeName,
    answers: Answer[],
    authorities: Answer[],
    additionals: Answer[],
    authoritative: boolean,
    tcp: boolean,
  ): Buffer {
    const rd = (query.flags ?? 0) & packet.RECURSION_DESIRED;
    let flags = rd | packet.RECURSION_AVAILABLE | RCODES[rcode] | (authoritative ? packet.AUTHORITATIVE_ANSWER : 0);
    // EDNS is answered with EDNS (RFC 6891), offering what we accept.
    const edns: Answer[] = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as unknown as Answer] : [];
    const base = { type: 'response' as const, id: query.id ?? 0, questions: query.questions ?? [] };
    const full = packet.encode({ ...base, flags, answers, authorities, additionals: [...additionals, ...edns] });
    const limit = tcp ? 65_535 : opt ? Math.max(512, Math.min(opt.udpPayloadSize || 512, MAX_UDP_PAYLOAD)) : 512;
    if (full.length <= limit) return full;
    // Too big for the datagram: say so (TC), and the client asks again over TCP.
    flags |= packet.TRUNCATED_RESPONSE;
    return packet.encode({ ...base, flags, answers: [], authorities: [], additionals: edns });
  }
}

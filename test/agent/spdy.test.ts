// The SPDY/3.1 server connection against a minimal client written here (kubectl's own client is
// exercised in stream-protocols.test.ts): header compression with one zlib context per direction,
// replies, half-close, PING, refusals, the windows it returns as its consumers read, the peer's
// window it honours once the peer shows it keeps one, and the bounded buffering that holds a fast
// sender back through the tunnel's own window.
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Socket } from 'node:net';
import { servePortForward } from '../../src/agent/streams/port-forward.js';
import { decodeHeaderBlock, encodeHeaderBlock, SPDY_DICTIONARY, SpdyConnection, type SpdyStream } from '../../src/agent/streams/spdy.js';
import type { PortForwardHead } from '../../src/tunnel/head.js';
import { Mux, type MuxStream } from '../../src/tunnel/mux.js';
import { until } from '../helpers/until.js';

function adler32(b: Uint8Array): number {
  let a = 1;
  let s = 0;
  for (const byte of b) {
    a = (a + byte) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

interface Frame {
  control: boolean;
  type: number; // control frames
  id: number;
  flags: number;
  payload: Uint8Array;
}

/** Runs one chunk through a zlib stream created with flush: Z_SYNC_FLUSH. */
function zrun(z: Inflate | Deflate, input: Uint8Array): Promise<Uint8Array> {
  return new Promise((ok) => {
    const out: Buffer[] = [];
    const take = (c: Buffer) => out.push(c);
    z.on('data', take);
    z.write(input, () =>
      setImmediate(() => {
        z.off('data', take);
        ok(Buffer.concat(out));
      }),
    );
  });
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** A SPDY client as spdystream is one, over a tunnel stream, written only for these tests. */
class Client {
  readonly frames: Frame[] = [];
  private readonly deflate = createDeflate({ dictionary: SPDY_DICTIONARY, flush: zc.Z_SYNC_FLUSH });
  private readonly inflate = createInflate({ dictionary: SPDY_DICTIONARY, flush: zc.Z_SYNC_FLUSH });
  private buffer = Buffer.alloc(0);
  written = 0;

  constructor(readonly stream: MuxStream) {
    void (async () => {
      try {
        for await (const chunk of stream.messages()) {
          this.buffer = Buffer.concat([this.buffer, chunk]);
          while (this.buffer.length >= 8) {
            const length = this.buffer.readUInt32BE(4) & 0xffffff;
            if (this.buffer.length < 8 + length) break;
            const first = this.buffer.readUInt32BE(0);
            const control = (first & 0x80000000) !== 0;
            const payload = new Uint8Array(this.buffer.subarray(8, 8 + length));
            this.frames.push({
              control,
              type: control ? first & 0xffff : 0,
              id: control ? (length >= 4 ? Buffer.from(payload).readUInt32BE(0) & 0x7fffffff : 0) : first & 0x7fffffff,
              flags: this.buffer[4],
              payload,
            });
            this.buffer = this.buffer.subarray(8 + length);
          }
        }
      } catch {
        // reset
      }
    })();
  }

  private async send(bytes: Uint8Array): Promise<void> {
    await this.stream.write(bytes);
    this.written += bytes.byteLength;
  }

  control(type: number, flags: number, payload: Uint8Array, version = 3): Promise<void> {
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | version, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE(((flags << 24) | payload.byteLength) >>> 0, 4);
    return this.send(Buffer.concat([head, payload]));
  }

  async synStream(id: number, headers: Record<string, string>, flags = 0): Promise<void> {
    const block = await zrun(this.deflate, encodeHeaderBlock(new Map(Object.entries(headers).map(([k, v]) => [k, [v]]))));
    await this.control(1, flags, Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block]));
  }

  data(id: number, bytes: Uint8Array, fin = false): Promise<void> {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id, 0);
    head.writeUInt32BE((((fin ? 1 : 0) << 24) | bytes.byteLength) >>> 0, 4);
    return this.send(Buffer.concat([head, bytes]));
  }

  /** The headers of a SYN_REPLY, through this side's inflate context. */
  async replyHeaders(frame: Frame): Promise<Map<string, string[]>> {
    return decodeHeaderBlock(await zrun(this.inflate, frame.payload.subarray(4)));
  }

  dataFor(id: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => !f.control && f.id === id).map((f) => f.payload));
  }

  finished(id: number): boolean {
    return this.frames.some((f) => !f.control && f.id === id && (f.flags & 1) !== 0);
  }

  controls(type: number): Frame[] {
    return this.frames.filter((f) => f.control && f.type === type);
  }
}

const muxes: Mux[] = [];
afterEach(() => {
  for (const m of muxes.splice(0)) m.close('test over');
});

/** A SPDY connection on the agent's end of a tunnel stream, and a client on the control plane's. */
function connect(onStream: (s: SpdyStream) => boolean = () => true) {
  let agent!: Mux;
  let conn!: SpdyConnection;
  let done!: Promise<void>;
  const control = new Mux({ send: (f) => void setImmediate(() => agent.receive(f)) });
  agent = new Mux({
    send: (f) => void setImmediate(() => control.receive(f)),
    onStream: (s) => {
      conn = new SpdyConnection(s, { onStream });
      done = conn.run();
    },
  });
  muxes.push(control, agent);
  const client = new Client(control.open({ op: 'stats' }));
  return { client, conn: () => conn, done: () => done };
}

describe('SPDY/3.1 server connection', () => {
  it('primes zlib with the 1423-byte SPDY/3 dictionary spdystream uses', () => {
    expect(SPDY_DICTIONARY.byteLength).toBe(1423);
    // The checksum Go's zlib.NewReaderDict compares with the FDICT id of each peer's stream.
    expect(adler32(SPDY_DICTIONARY)).toBe(3821447106);
  });

  it('replies to streams, carries data both ways and half-closes', async () => {
    const streams: SpdyStream[] = [];
    const { client } = connect((s) => (streams.push(s), true));
    await client.synStream(1, { streamtype: 'stdin', port: '80' });
    await client.synStream(3, { streamtype: 'stdout' });
    await until('two replies', async () => client.controls(2).length === 2, 5000);
    expect(await client.replyHeaders(client.controls(2)[0])).toEqual(new Map());
    expect(await client.replyHeaders(client.controls(2)[1])).toEqual(new Map());
    expect(streams.map((s) => [s.id, s.header('streamType')])).toEqual([
      [1, 'stdin'],
      [3, 'stdout'],
    ]);
    await client.data(1, Buffer.from('hello '));
    await client.data(1, Buffer.from('world'), true);
    const got: Buffer[] = [];
    for await (const c of streams[0]) got.push(Buffer.from(c));
    expect(Buffer.concat(got).toString()).toBe('hello world');
    await streams[1].write(new TextEncoder().encode('out'));
    await streams[1].end();
    await until('the FIN', async () => client.finished(3), 5000);
    expect(client.dataFor(3).toString()).toBe('out');
  });

  it('echoes pings and refuses what it must', async () => {
    const { client } = connect((s) => s.header('streamtype') === 'ok');
    await client.control(6, 0, u32(7));
    await client.synStream(1, { streamtype: 'nope' });
    await client.data(9, Buffer.from('x'));
    await until('answers', async () => client.controls(6).length === 1 && client.controls(3).length === 2, 5000);
    expect(Buffer.from(client.controls(6)[0].payload).readUInt32BE(0)).toBe(7);
    const resets = client.controls(3).map((f) => [f.id, Buffer.from(f.payload).readUInt32BE(4)]);
    expect(resets).toEqual([
      [1, 3], // REFUSED_STREAM
      [9, 2], // INVALID_STREAM: never opened
    ]);
  });

  it('returns the window as its consumer reads (stream and connection)', async () => {
    const streams: SpdyStream[] = [];
    const { client } = connect((s) => (streams.push(s), true));
    await client.synStream(1, { streamtype: 'stdin' });
    for (let i = 0; i < 4; i++) await client.data(1, Buffer.alloc(16 * 1024));
    await until('the stream', async () => streams.length === 1, 5000);
    let read = 0;
    while (read < 64 * 1024) read += (await streams[0].read())!.byteLength;
    await until('window updates', async () => client.controls(9).length >= 2, 5000);
    const updates = client.controls(9).map((f) => [f.id, Buffer.from(f.payload).readUInt32BE(4)]);
    expect(updates).toContainEqual([1, 32 * 1024]);
    expect(updates).toContainEqual([0, 32 * 1024]);
  });

  it('holds a sender that ignores the window back through the tunnel, not with memory', async () => {
    const { client } = connect();
    await client.synStream(1, { streamtype: 'stdin' });
    // Nobody reads the stream: 4 MiB offered, in 32 KiB frames as spdystream writes them.
    const sending = (async () => {
      for (let i = 0; i < 128; i++) await client.data(1, Buffer.alloc(32 * 1024));
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    // Held: a stream's window (64 KiB) plus the tunnel's (256 KiB) plus a frame or two.
    expect(client.written).toBeLessThan(512 * 1024);
    client.stream.reset('done');
    await sending;
  });

  it('sends without waiting for a peer that keeps no window (spdystream)', async () => {
    const streams: SpdyStream[] = [];
    const { client } = connect((s) => (streams.push(s), true));
    await client.synStream(1, { streamtype: 'stdout' });
    await until('the stream', async () => streams.length === 1, 5000);
    await streams[0].write(new Uint8Array(1024 * 1024));
    await until('all of it', async () => client.dataFor(1).byteLength === 1024 * 1024, 5000);
  });

  it('honours the window of a peer that keeps one (SETTINGS, WINDOW_UPDATE)', async () => {
    const streams: SpdyStream[] = [];
    const { client } = connect((s) => (streams.push(s), true));
    // SETTINGS: INITIAL_WINDOW_SIZE (7) = 1000.
    await client.control(4, 0, Buffer.concat([u32(1), u32(7), u32(1000)]));
    await client.synStream(1, { streamtype: 'stdout' });
    await until('the stream', async () => streams.length === 1, 5000);
    const writing = streams[0].write(new Uint8Array(5000));
    await new Promise((r) => setTimeout(r, 200));
    expect(client.dataFor(1).byteLength).toBe(1000);
    await client.control(9, 0, Buffer.concat([u32(1), u32(4000)]));
    await writing;
    await until('the rest', async () => client.dataFor(1).byteLength === 5000, 5000);
  });

  it('ends at once when the transport is reset, even with a stream full and unread', async () => {
    const streams: SpdyStream[] = [];
    const { client, conn, done } = connect((s) => (streams.push(s), true));
    await client.synStream(1, { streamtype: 'stdin' });
    const sending = (async () => {
      for (let i = 0; i < 64; i++) await client.data(1, Buffer.alloc(32 * 1024));
    })().catch(() => {});
    await until('the stream', async () => streams.length === 1, 5000);
    await new Promise((r) => setTimeout(r, 200));
    client.stream.reset('client went away');
    await done();
    await conn().closed;
    // What had arrived may still be read; then the stream is lost with its connection.
    await expect((async () => {
      for (;;) await streams[0].read();
    })()).rejects.toThrow(/client went away/);
    await sending;
  });

  it('port-forward: a client gone while the pod reads nothing closes the pod connection', async () => {
    // A pod that accepts and never reads.
    const accepted: Socket[] = [];
    const pod = createServer((s) => {
      s.pause();
      accepted.push(s);
    });
    await new Promise<void>((ok) => pod.listen(0, '127.0.0.1', ok));
    const podPort = (pod.address() as { port: number }).port;
    const dialed: Socket[] = [];
    let agent!: Mux;
    let served!: Promise<void>;
    const control = new Mux({ send: (f) => void setImmediate(() => agent.receive(f)) });
    agent = new Mux({
      send: (f) => void setImmediate(() => control.receive(f)),
      onStream: (s) => {
        s.respond({ status: 101 });
        served = servePortForward(s, s.head as PortForwardHead, async () => {
          const { connect: dial } = await import('node:net');
          const socket = dial({ host: '127.0.0.1', port: podPort });
          await new Promise((ok) => socket.once('connect', ok));
          dialed.push(socket);
          return socket;
        });
      },
    });
    muxes.push(control, agent);
    const head: PortForwardHead = { op: 'portforward', namespace: 'default', pod: 'web', uid: 'u1', ports: [], transport: 'spdy', protocol: 'portforward.k8s.io' };
    const client = new Client(control.open(head));
    await client.synStream(1, { streamtype: 'error', port: '80', requestid: '0' });
    await client.synStream(3, { streamtype: 'data', port: '80', requestid: '0' });
    const sending = (async () => {
      for (let i = 0; i < 512; i++) await client.data(3, Buffer.alloc(32 * 1024));
    })().catch(() => {});
    await until('the pod connection', async () => dialed.length === 1 && accepted.length === 1, 5000);
    await new Promise((r) => setTimeout(r, 300));
    // 16 MiB offered; the pod took none: what is held is the kernel's buffers and a window or two.
    expect(client.written).toBeLessThan(12 * 1024 * 1024);
    client.stream.reset('kubectl went away');
    await served;
    expect(dialed[0].destroyed).toBe(true);
    await sending;
    for (const s of accepted) s.destroy();
    await new Promise<void>((ok) => pod.close(() => ok()));
  });

  it('answers a protocol error with GOAWAY and drops the connection', async () => {
    const { client, done } = connect();
    await client.control(6, 0, u32(1), 2); // a SPDY/2 frame
    await done();
    await until('GOAWAY', async () => client.controls(7).length === 1, 5000);
    expect(Buffer.from(client.controls(7)[0].payload).readUInt32BE(4)).toBe(1); // PROTOCOL_ERROR
    expect(await client.stream.closed).toMatch(/SPDY protocol error/);
  });
});

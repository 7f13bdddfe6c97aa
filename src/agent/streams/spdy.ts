// A SPDY/3.1 server connection over a byte stream: the transport kubectl's exec, attach, cp and
// port-forward speak (github.com/moby/spdystream, through client-go's httpstream/spdy), either on
// the raw upgraded connection or tunnelled in WebSocket messages. Only what a server needs: the
// client opens every stream (SYN_STREAM), the server accepts (SYN_REPLY) or refuses (RST_STREAM)
// it, then both send DATA and half-close with FIN.
//
// Written here rather than taken from npm: spdy-transport maps SYN_STREAM to HTTP requests and
// rejects streams without `:method`/`:path` (kubectl's carry only streamType, port, requestID), and
// it holds senders to the SPDY window, which stalls against spdystream: that never sends
// WINDOW_UPDATE and relies on TCP's backpressure instead.
import { constants as zlibConstants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

/** What the connection runs over: a MuxStream satisfies it. */
export interface ByteTransport {
  readonly readable: ReadableStream<Uint8Array>;
  write(chunk: Uint8Array): Promise<void>;
  end(): void;
  reset(reason: string): void;
  /** Settles with a reason when the transport is reset (undefined when it ended cleanly). */
  readonly closed?: Promise<string | undefined>;
}

const VERSION = 3;
const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const HEADERS = 8;
const WINDOW_UPDATE = 9;

const FLAG_FIN = 0x01;
const FLAG_UNIDIRECTIONAL = 0x02;
const SETTINGS_INITIAL_WINDOW_SIZE = 7;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

const GOAWAY_OK = 0;
const GOAWAY_PROTOCOL_ERROR = 1;

/** SPDY's initial window, per stream and (3.1) per connection. */
export const DEFAULT_WINDOW = 64 * 1024;
/** Largest DATA frame sent; spdystream writes its io.Copy buffers, 32 KiB, as frames too. */
const MAX_DATA_CHUNK = 32 * 1024;
/** Largest frame accepted: far above what any SPDY client sends, low enough to bound a connection's buffer. */
const MAX_FRAME = 1024 * 1024;
/** Largest decompressed header block; kubectl's are a few dozen bytes. */
const MAX_HEADER_BLOCK = 64 * 1024;
/** Streams open at once; kubectl's exec uses five, port-forward two per forwarded connection. */
const MAX_STREAMS = 1024;

// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed header
// names and values, then a run of common strings. Both ends prime zlib with exactly these 1423 bytes.
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
  'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY_DICTIONARY: Uint8Array = (() => {
  const parts: Uint8Array[] = [];
  for (const word of DICTIONARY_WORDS) {
    const bytes = new TextEncoder().encode(word);
    parts.push(u32(bytes.byteLength), bytes);
  }
  parts.push(new TextEncoder().encode(DICTIONARY_TAIL));
  return concat(parts);
})();

export class SpdyProtocolError extends Error {}

/** A stream the peer reset, or one lost with its connection. */
export class SpdyStreamReset extends Error {
  constructor(readonly status: number | undefined, message: string) {
    super(message);
    this.name = 'SpdyStreamReset';
  }
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function controlFrame(type: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.byteLength);
  const v = view(out);
  v.setUint16(0, 0x8000 | VERSION);
  v.setUint16(2, type);
  v.setUint32(4, ((flags & 0xff) << 24 | payload.byteLength) >>> 0);
  out.set(payload, 8);
  return out;
}

function dataFrame(id: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.byteLength);
  const v = view(out);
  v.setUint32(0, id & 0x7fffffff);
  v.setUint32(4, ((flags & 0xff) << 24 | payload.byteLength) >>> 0);
  out.set(payload, 8);
  return out;
}

const pair = (a: number, b: number) => concat([u32(a), u32(b)]);

/** Header block: a count, then length-prefixed names and values (several values NUL-separated). */
export function encodeHeaderBlock(headers: Map<string, string[]>): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [u32(headers.size)];
  for (const [name, values] of headers) {
    const n = enc.encode(name.toLowerCase());
    const v = enc.encode(values.join('\0'));
    parts.push(u32(n.byteLength), n, u32(v.byteLength), v);
  }
  return concat(parts);
}

export function decodeHeaderBlock(block: Uint8Array): Map<string, string[]> {
  const dec = new TextDecoder();
  const v = view(block);
  let at = 0;
  const take = (): string => {
    if (at + 4 > block.byteLength) throw new SpdyProtocolError('truncated header block');
    const len = v.getUint32(at);
    at += 4;
    if (at + len > block.byteLength) throw new SpdyProtocolError('truncated header block');
    const s = dec.decode(block.subarray(at, at + len));
    at += len;
    return s;
  };
  if (block.byteLength < 4) throw new SpdyProtocolError('truncated header block');
  const count = v.getUint32(0);
  at = 4;
  if (count > 1000) throw new SpdyProtocolError('too many headers');
  const headers = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const name = take().toLowerCase();
    const values = take().split('\0');
    headers.set(name, [...(headers.get(name) ?? []), ...values]);
  }
  return headers;
}

/**
 * One direction's zlib context, kept for the whole connection as SPDY/3 requires. Node's zlib
 * streams are asynchronous; callers run header blocks through it one at a time, in frame order.
 */
class HeaderZlib {
  private out: Buffer[] = [];
  private size = 0;
  private pending?: { ok: (b: Uint8Array) => void; fail: (e: Error) => void };
  private failure?: Error;

  constructor(private readonly z: Inflate | Deflate) {
    z.on('data', (chunk: Buffer) => {
      this.size += chunk.byteLength;
      if (this.size <= MAX_HEADER_BLOCK) this.out.push(chunk);
    });
    z.on('error', (e: Error) => {
      this.failure = e;
      this.pending?.fail(new SpdyProtocolError(`header compression: ${e.message}`));
      this.pending = undefined;
    });
  }

  run(input: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(new SpdyProtocolError(`header compression: ${this.failure.message}`));
    if (this.z.destroyed) return Promise.reject(new SpdyStreamReset(undefined, 'connection closed'));
    return new Promise((ok, fail) => {
      this.pending = { ok, fail };
      // Created with flush: Z_SYNC_FLUSH, so each write's output is complete when its callback runs.
      this.z.write(input, () => {
        const finish = () => {
          const pending = this.pending;
          this.pending = undefined;
          if (!pending) return;
          const size = this.size;
          const out = Buffer.concat(this.out);
          this.out = [];
          this.size = 0;
          if (size > MAX_HEADER_BLOCK) pending.fail(new SpdyProtocolError('header block too large'));
          else pending.ok(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
        };
        // Output still buffered in the readable side is emitted on a later tick.
        if (this.z.readableLength > 0) setImmediate(finish);
        else finish();
      });
    });
  }

  close(): void {
    this.z.destroy();
  }
}

/** The bytes received and not yet parsed into frames. */
class InputBuffer {
  private chunks: Uint8Array[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.byteLength;
  }

  /** The first n bytes, without consuming them. */
  peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first.byteLength >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.chunks) {
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.byteLength;
      if (at === n) break;
    }
    return out;
  }

  take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first.byteLength >= n) {
      this.length -= n;
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      if (c.byteLength <= left) {
        this.chunks.shift();
        left -= c.byteLength;
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.length -= n;
    return out;
  }
}

export class SpdyStream {
  /** The SYN_STREAM's headers, names lower-cased. */
  readonly headers: Map<string, string[]>;
  /** Settles when both sides ended, or the stream was reset. */
  readonly closed: Promise<void>;
  /** @internal what this end may still send before the peer's WINDOW_UPDATE (when it does flow control). */
  sendWindow: number;

  private queue: Uint8Array[] = [];
  private queued = 0;
  private unacked = 0;
  private remoteEnded: boolean;
  private localEnded: boolean;
  private resetError?: SpdyStreamReset;
  private discarding = false;
  private wakeReader?: () => void;
  private wakeRoom?: () => void;
  private settleClosed!: () => void;
  private settleAccepted!: () => void;
  /** @internal resolves once the SYN_REPLY is queued: DATA may follow it. */
  readonly accepted: Promise<void>;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    headers: Map<string, string[]>,
    flags: number,
    sendWindow: number,
  ) {
    this.headers = headers;
    this.sendWindow = sendWindow;
    this.remoteEnded = (flags & FLAG_FIN) !== 0;
    this.localEnded = (flags & FLAG_UNIDIRECTIONAL) !== 0;
    this.closed = new Promise((ok) => (this.settleClosed = ok));
    this.accepted = new Promise((ok) => (this.settleAccepted = ok));
  }

  /** A header's first value. */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  /** The peer's next chunk; null once it half-closed. Throws SpdyStreamReset after a reset. */
  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.byteLength;
        this.consumed(chunk.byteLength);
        this.wakeRoom?.();
        return chunk;
      }
      if (this.resetError) throw this.resetError;
      if (this.remoteEnded) return null;
      await new Promise<void>((ok) => (this.wakeReader = ok));
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = await this.read();
      if (chunk === null) return;
      yield chunk;
    }
  }

  /** Drops what the peer sends from now on (still returning its window), for streams nobody reads. */
  discard(): void {
    this.discarding = true;
    for (const c of this.queue.splice(0)) this.consumed(c.byteLength);
    this.queued = 0;
    this.wakeRoom?.();
  }

  /** Sends data, in frames the peer's window (if it keeps one) and the transport accept. */
  write(data: Uint8Array): Promise<void> {
    if (this.resetError) return Promise.reject(this.resetError);
    if (this.localEnded) return Promise.reject(new SpdyStreamReset(undefined, 'write after end'));
    return this.conn.sendData(this, data, false);
  }

  /** Half-closes this side (an empty DATA frame with FIN). */
  async end(): Promise<void> {
    if (this.localEnded || this.resetError) return;
    this.localEnded = true;
    try {
      await this.conn.sendData(this, new Uint8Array(0), true);
    } finally {
      this.maybeDone();
    }
  }

  /** Aborts both directions (RST_STREAM). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.resetError || (this.localEnded && this.remoteEnded)) return;
    this.conn.sendReset(this.id, status);
    this.aborted(new SpdyStreamReset(status, 'stream reset'));
  }

  /** @internal */ get resetReason(): SpdyStreamReset | undefined {
    return this.resetError;
  }

  /** @internal */ markAccepted(): void {
    this.settleAccepted();
  }

  /** @internal Takes a DATA frame's payload; waits while the stream already holds a window's worth. */
  async onData(payload: Uint8Array, fin: boolean): Promise<void> {
    if (payload.byteLength > 0) {
      while (!this.discarding && !this.resetError && this.queued > 0 && this.queued + payload.byteLength > DEFAULT_WINDOW) {
        await new Promise<void>((ok) => (this.wakeRoom = ok));
      }
      if (this.discarding || this.resetError) this.consumed(payload.byteLength);
      else {
        this.queue.push(payload);
        this.queued += payload.byteLength;
      }
    }
    if (fin) {
      this.remoteEnded = true;
      this.maybeDone();
    }
    this.wakeReader?.();
  }

  /** @internal */ get remoteDone(): boolean {
    return this.remoteEnded;
  }

  /** @internal The peer's FIN on a HEADERS frame. */
  onRemoteFin(): void {
    this.remoteEnded = true;
    this.wakeReader?.();
    this.maybeDone();
  }

  /** @internal */ aborted(error: SpdyStreamReset): void {
    if (this.resetError) return;
    this.resetError = error;
    this.wakeReader?.();
    this.wakeRoom?.();
    this.settleAccepted();
    this.conn.forget(this);
    this.settleClosed();
  }

  /** Returns the window for bytes consumed, in half-window steps, while the peer may still send. */
  private consumed(bytes: number): void {
    this.conn.consumedOnConnection(bytes);
    if (this.remoteEnded || this.resetError) return;
    this.unacked += bytes;
    if (this.unacked >= DEFAULT_WINDOW / 2) {
      this.conn.sendWindowUpdate(this.id, this.unacked);
      this.unacked = 0;
    }
  }

  private maybeDone(): void {
    if (this.localEnded && this.remoteEnded && !this.resetError) {
      this.conn.forget(this);
      this.settleClosed();
    }
  }
}

export interface SpdyConnectionOptions {
  /**
   * Called for each stream the peer opens, synchronously: true accepts it (SYN_REPLY), false
   * refuses it (RST_STREAM REFUSED_STREAM). Writes to the stream wait for the reply.
   */
  onStream(stream: SpdyStream): boolean;
}

/** The server end of one SPDY/3.1 connection. */
export class SpdyConnection {
  /** Settles when the peer's bytes ended (it went away) or the connection failed. */
  readonly closed: Promise<void>;

  private readonly streams = new Map<number, SpdyStream>();
  private readonly input = new InputBuffer();
  private readonly inflate = new HeaderZlib(createInflate({ dictionary: SPDY_DICTIONARY, flush: zlibConstants.Z_SYNC_FLUSH }));
  // A small window suffices for the few bytes of headers this end sends.
  private readonly deflate = new HeaderZlib(
    createDeflate({ dictionary: SPDY_DICTIONARY, flush: zlibConstants.Z_SYNC_FLUSH, windowBits: 11, memLevel: 1 }),
  );
  private writing: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  private goneAway = false;
  private ended = false;
  private failed = false;
  private isShutdown = false;
  // Flow control towards the peer, enforced only once it shows it keeps windows (SETTINGS or
  // WINDOW_UPDATE): spdystream sends neither and would otherwise stall after 64 KiB.
  private streamFlowControl = false;
  private connectionFlowControl = false;
  private initialSendWindow = DEFAULT_WINDOW;
  private connectionSendWindow = DEFAULT_WINDOW;
  private connectionUnacked = 0;
  private windowWaiters: (() => void)[] = [];
  private settleClosed!: () => void;

  constructor(
    private readonly transport: ByteTransport,
    private readonly opts: SpdyConnectionOptions,
  ) {
    this.closed = new Promise((ok) => (this.settleClosed = ok));
    // The read loop may be waiting for a consumer to make room: a reset must not wait for that.
    void transport.closed?.then((reason) => {
      if (reason !== undefined) this.shutdown(reason);
    });
  }

  /** Reads and handles the peer's frames until its bytes end; every stream still open is then lost. */
  async run(): Promise<void> {
    let reason = 'connection closed';
    const reader = this.transport.readable.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.input.push(value);
        while (!this.failed && (await this.nextFrame()));
        if (this.failed) break;
      }
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
      if (e instanceof SpdyProtocolError) await this.fail(reason);
    } finally {
      reader.releaseLock();
      this.shutdown(reason);
    }
  }

  /** Tells the peer no more streams are taken (GOAWAY); open streams go on. */
  goAway(): Promise<void> {
    if (this.goneAway) return Promise.resolve();
    this.goneAway = true;
    return this.send(controlFrame(GOAWAY, 0, pair(this.lastStreamId, GOAWAY_OK)));
  }

  /** GOAWAY, then the end of this side's bytes once everything queued is written. */
  async close(): Promise<void> {
    await this.goAway().catch(() => {});
    await this.writing;
    if (!this.ended) {
      this.ended = true;
      this.transport.end();
    }
  }

  /** Drops the connection at once. */
  abort(reason: string): void {
    this.ended = true;
    this.transport.reset(reason);
    this.shutdown(reason);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** @internal */ forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    // A writer of a reset stream may be waiting for window: it should fail now.
    this.wakeWindowWaiters();
  }

  /** @internal */ sendReset(id: number, status: number): void {
    this.send(controlFrame(RST_STREAM, 0, pair(id, status))).catch(() => {});
  }

  /** @internal */ sendWindowUpdate(id: number, delta: number): void {
    this.send(controlFrame(WINDOW_UPDATE, 0, pair(id, delta))).catch(() => {});
  }

  /** @internal Bytes any stream's consumer took: the connection's window (SPDY/3.1) comes back too. */
  consumedOnConnection(bytes: number): void {
    this.connectionUnacked += bytes;
    if (this.connectionUnacked >= DEFAULT_WINDOW / 2 && !this.ended && !this.failed) {
      this.sendWindowUpdate(0, this.connectionUnacked);
      this.connectionUnacked = 0;
    }
  }

  /** @internal */ async sendData(stream: SpdyStream, data: Uint8Array, fin: boolean): Promise<void> {
    await stream.accepted;
    let at = 0;
    do {
      if (stream.resetReason) throw stream.resetReason;
      let n = Math.min(MAX_DATA_CHUNK, data.byteLength - at);
      if (n > 0) n = await this.reserve(stream, n);
      if (stream.resetReason) throw stream.resetReason;
      const last = at + n >= data.byteLength;
      await this.send(dataFrame(stream.id, fin && last ? FLAG_FIN : 0, data.subarray(at, at + n)));
      at += n;
    } while (at < data.byteLength);
  }

  /** Waits for room in the peer's windows (when it keeps them); answers how much of n may go now. */
  private async reserve(stream: SpdyStream, n: number): Promise<number> {
    for (;;) {
      if (stream.resetReason) throw stream.resetReason;
      const room = Math.min(
        this.streamFlowControl ? stream.sendWindow : n,
        this.connectionFlowControl ? this.connectionSendWindow : n,
      );
      if (room > 0) {
        const granted = Math.min(n, room);
        stream.sendWindow -= granted;
        this.connectionSendWindow -= granted;
        return granted;
      }
      if (this.ended || this.failed) throw new SpdyStreamReset(undefined, 'connection closed');
      await new Promise<void>((ok) => this.windowWaiters.push(ok));
    }
  }

  private wakeWindowWaiters(): void {
    for (const w of this.windowWaiters.splice(0)) w();
  }

  /** Queues bytes (or bytes made when their turn comes) for the transport, in order. */
  private send(frame: Uint8Array | (() => Promise<Uint8Array>)): Promise<void> {
    const next = this.writing.then(async () => {
      if (this.ended) throw new SpdyStreamReset(undefined, 'connection closed');
      const bytes = typeof frame === 'function' ? await frame() : frame;
      await this.transport.write(bytes);
    });
    this.writing = next.catch(() => {});
    return next;
  }

  /** Parses and handles one frame if the input holds all of it. */
  private async nextFrame(): Promise<boolean> {
    if (this.input.length < 8) return false;
    const head = view(this.input.peek(8));
    const length = head.getUint32(4) & 0xffffff;
    if (length > MAX_FRAME) throw new SpdyProtocolError(`frame of ${length} bytes is too large`);
    if (this.input.length < 8 + length) return false;
    const frame = this.input.take(8 + length);
    const flags = frame[4];
    const payload = frame.subarray(8);
    const first = head.getUint32(0);
    if ((first & 0x80000000) === 0) await this.onData(first & 0x7fffffff, flags, payload);
    else {
      const version = (first >>> 16) & 0x7fff;
      if (version !== VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
      await this.onControl(first & 0xffff, flags, payload);
    }
    return true;
  }

  private async onControl(type: number, flags: number, p: Uint8Array): Promise<void> {
    const v = view(p);
    const need = (n: number) => {
      if (p.byteLength < n) throw new SpdyProtocolError(`short control frame of type ${type}`);
    };
    switch (type) {
      case SYN_STREAM: {
        need(10);
        // The header block goes through the zlib context even for a stream refused below.
        const headers = decodeHeaderBlock(await this.inflate.run(p.subarray(10)));
        return this.onSynStream(v.getUint32(0) & 0x7fffffff, flags, headers);
      }
      case SYN_REPLY:
        // This end opens no streams; keep the zlib context in step and ignore it.
        need(4);
        await this.inflate.run(p.subarray(4));
        return;
      case HEADERS: {
        need(4);
        const headers = decodeHeaderBlock(await this.inflate.run(p.subarray(4)));
        const stream = this.streams.get(v.getUint32(0) & 0x7fffffff);
        if (!stream) return;
        for (const [k, vals] of headers) stream.headers.set(k, [...(stream.headers.get(k) ?? []), ...vals]);
        if (flags & FLAG_FIN) stream.onRemoteFin();
        return;
      }
      case RST_STREAM: {
        need(8);
        const status = v.getUint32(4);
        this.streams.get(v.getUint32(0) & 0x7fffffff)?.aborted(new SpdyStreamReset(status, `stream reset by peer (status ${status})`));
        return;
      }
      case SETTINGS: {
        need(4);
        const count = v.getUint32(0);
        need(4 + count * 8);
        for (let i = 0; i < count; i++) {
          const id = v.getUint32(4 + i * 8) & 0xffffff;
          const value = v.getUint32(8 + i * 8);
          if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
            const delta = value - this.initialSendWindow;
            this.initialSendWindow = value;
            for (const s of this.streams.values()) s.sendWindow += delta;
            this.streamFlowControl = true;
          }
        }
        this.wakeWindowWaiters();
        return;
      }
      case PING:
        need(4);
        // Odd ids are the client's: echo them. Even ones would answer pings of ours (none are sent).
        if (v.getUint32(0) % 2 === 1) this.send(controlFrame(PING, 0, p.slice(0, 4))).catch(() => {});
        return;
      case GOAWAY:
        // The peer opens no more streams; those open go on until they end.
        return;
      case WINDOW_UPDATE: {
        need(8);
        const id = v.getUint32(0) & 0x7fffffff;
        const delta = v.getUint32(4) & 0x7fffffff;
        if (id === 0) {
          this.connectionFlowControl = true;
          this.connectionSendWindow += delta;
        } else {
          const stream = this.streams.get(id);
          this.streamFlowControl = true;
          if (stream) stream.sendWindow += delta;
        }
        this.wakeWindowWaiters();
        return;
      }
      default:
        // NOOP, CREDENTIAL and unknown types are skipped, as SPDY/3 asks.
        return;
    }
  }

  private onSynStream(id: number, flags: number, headers: Map<string, string[]>): void {
    if (id === 0 || id % 2 === 0 || id <= this.lastStreamId) return this.sendReset(id || 1, RstStatus.PROTOCOL_ERROR);
    this.lastStreamId = id;
    if (this.goneAway || this.streams.size >= MAX_STREAMS) return this.sendReset(id, RstStatus.REFUSED_STREAM);
    const stream = new SpdyStream(this, id, headers, flags, this.initialSendWindow);
    this.streams.set(id, stream);
    let accept = false;
    try {
      accept = this.opts.onStream(stream);
    } catch {
      accept = false;
    }
    if (!accept) {
      this.sendReset(id, RstStatus.REFUSED_STREAM);
      stream.aborted(new SpdyStreamReset(RstStatus.REFUSED_STREAM, 'stream refused'));
      return;
    }
    // An empty reply, as kubelet sends; its header block goes through the deflate context in turn.
    this.send(async () => controlFrame(SYN_REPLY, 0, concat([u32(id), await this.deflate.run(encodeHeaderBlock(new Map()))]))).catch(() => {});
    stream.markAccepted();
  }

  private async onData(id: number, flags: number, payload: Uint8Array): Promise<void> {
    const stream = this.streams.get(id);
    if (!stream) {
      // Data for a stream this end forgot (reset, done) is dropped; a stream never opened is an error.
      this.consumedOnConnection(payload.byteLength);
      if (id > this.lastStreamId) this.sendReset(id, RstStatus.INVALID_STREAM);
      return;
    }
    if (stream.remoteDone) {
      this.consumedOnConnection(payload.byteLength);
      return stream.reset(RstStatus.STREAM_ALREADY_CLOSED);
    }
    await stream.onData(payload, (flags & FLAG_FIN) !== 0);
  }

  /** A protocol error: GOAWAY with PROTOCOL_ERROR, then the transport is dropped. */
  private async fail(reason: string): Promise<void> {
    if (this.failed) return;
    this.failed = true;
    this.goneAway = true;
    await this.send(controlFrame(GOAWAY, 0, pair(this.lastStreamId, GOAWAY_PROTOCOL_ERROR))).catch(() => {});
    this.ended = true;
    this.transport.reset(`SPDY protocol error: ${reason}`);
  }

  private shutdown(reason: string): void {
    if (this.isShutdown) return;
    this.isShutdown = true;
    this.failed = true;
    for (const s of [...this.streams.values()]) s.aborted(new SpdyStreamReset(undefined, reason));
    this.wakeWindowWaiters();
    this.inflate.close();
    this.deflate.close();
    this.settleClosed();
  }
}

// The tunnel's framing: many streams over one WebSocket that the agent dials to the control plane.
// Runtime-neutral (the agent, `skiff serve` and the Workers Durable Object all use it).
//
// Every WebSocket message is one frame: a type byte, a 32-bit stream id, a payload. The control plane
// opens streams (OPEN carries a TunnelHead as JSON); the agent answers each with REPLY (a status and
// headers, as an HTTP response head) and then both sides send DATA messages, END (half-close) and
// RESET (abort, with a reason). DATA keeps message boundaries, so a WebSocket message from kubectl
// arrives at the agent as one message. Each direction of each stream has a window: a sender may have
// WINDOW bytes unread by the receiver's consumer, and the receiver returns credit as it consumes. So
// neither end holds more than a window per stream, however slow the reader at the far end.
import type { TunnelHead, TunnelReply } from './head.js';

const OPEN = 1;
const REPLY = 2;
const DATA = 3;
const END = 4;
const RESET = 5;
const CREDIT = 6;

/** Bytes a stream's sender may have in flight, unread by the receiving consumer. */
export const WINDOW = 256 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frame(type: number, id: number, payload?: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + (payload?.byteLength ?? 0));
  out[0] = type;
  new DataView(out.buffer).setUint32(1, id);
  if (payload) out.set(payload, 5);
  return out;
}

const json = (value: unknown) => encoder.encode(JSON.stringify(value));

export class StreamReset extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'StreamReset';
  }
}

export class MuxStream {
  /** What the opener asked for (on the accepting side) or sent (on the opening side). */
  readonly head: TunnelHead;
  /** The agent's answer (on the opening side). */
  readonly reply: Promise<TunnelReply>;
  /** The peer's messages, each as it was written; the stream's consumer returns credit by reading. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Settles when both directions ended or the stream was reset (with its reason). */
  readonly closed: Promise<string | undefined>;

  private queue: Uint8Array[] = [];
  private queued = 0;
  private consumed = 0;
  private remoteEnded = false;
  private localEnded = false;
  private resetReason?: string;
  private wake?: () => void;
  private credit = WINDOW;
  private creditWaiters: (() => void)[] = [];
  private settleReply!: [(r: TunnelReply) => void, (e: Error) => void];
  private settleClosed!: (reason: string | undefined) => void;
  lastActive = Date.now();

  constructor(
    private readonly mux: Mux,
    readonly id: number,
    head: TunnelHead,
  ) {
    this.head = head;
    this.reply = new Promise((ok, fail) => (this.settleReply = [ok, fail]));
    this.reply.catch(() => {}); // a reset before the reply is also told by readable and closed
    this.closed = new Promise((ok) => (this.settleClosed = ok));
    this.readable = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          while (this.queue.length === 0 && !this.remoteEnded && this.resetReason === undefined) {
            await new Promise<void>((ok) => (this.wake = ok));
          }
          if (this.resetReason !== undefined && this.queue.length === 0) return controller.error(new StreamReset(this.resetReason));
          const chunk = this.queue.shift();
          if (!chunk) return controller.close();
          this.queued -= chunk.byteLength;
          this.consumed += chunk.byteLength;
          // Credit goes back in half-window steps, so a steady stream costs one CREDIT per 128 KiB.
          if (this.consumed >= WINDOW / 2 && this.resetReason === undefined) {
            this.mux.send(CREDIT, this.id, u32(this.consumed));
            this.consumed = 0;
          }
          controller.enqueue(chunk);
        },
        cancel: (reason) => this.reset(reason instanceof Error ? reason.message : 'reader went away'),
      },
      { highWaterMark: 0 },
    );
  }

  /** The peer's messages as an async iterable (reading `readable`); a reset throws StreamReset. */
  async *messages(): AsyncGenerator<Uint8Array> {
    const reader = this.readable.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** Sends one message, once the peer's window has room for it. */
  async write(chunk: Uint8Array): Promise<void> {
    while (this.credit <= 0 && this.resetReason === undefined) await new Promise<void>((ok) => this.creditWaiters.push(ok));
    if (this.resetReason !== undefined) throw new StreamReset(this.resetReason);
    if (this.localEnded) throw new StreamReset('stream already ended');
    this.credit -= chunk.byteLength;
    this.lastActive = Date.now();
    this.mux.send(DATA, this.id, chunk);
  }

  /** Ends this side's messages; the peer may go on sending. */
  end(): void {
    if (this.localEnded || this.resetReason !== undefined) return;
    this.localEnded = true;
    this.mux.send(END, this.id);
    this.maybeDone();
  }

  /** Aborts both directions, telling the peer why. */
  reset(reason: string): void {
    if (this.resetReason !== undefined || (this.localEnded && this.remoteEnded)) return;
    this.mux.send(RESET, this.id, encoder.encode(reason));
    this.aborted(reason);
  }

  /** The answer to an OPEN (accepting side), before any DATA. */
  respond(reply: TunnelReply): void {
    if (this.resetReason === undefined) this.mux.send(REPLY, this.id, json(reply));
  }

  /** Whether the stream is over (reset, or ended both ways). */
  get done(): boolean {
    return this.resetReason !== undefined || (this.localEnded && this.remoteEnded);
  }

  /** @internal */ onData(chunk: Uint8Array): void {
    this.lastActive = Date.now();
    if (this.remoteEnded) return;
    this.queue.push(chunk);
    this.queued += chunk.byteLength;
    // A peer that ignores the window gets its stream cut rather than our memory.
    if (this.queued > 2 * WINDOW + 65536) return this.reset('flow control window exceeded');
    this.wake?.();
  }
  /** @internal */ onEnd(): void {
    this.remoteEnded = true;
    this.wake?.();
    this.maybeDone();
  }
  /** @internal */ onCredit(bytes: number): void {
    this.credit += bytes;
    for (const w of this.creditWaiters.splice(0)) w();
  }
  /** @internal */ onReply(reply: TunnelReply): void {
    this.settleReply[0](reply);
  }
  /** @internal */ aborted(reason: string): void {
    if (this.resetReason !== undefined) return;
    this.resetReason = reason;
    this.settleReply[1](new StreamReset(reason));
    this.wake?.();
    for (const w of this.creditWaiters.splice(0)) w();
    this.mux.forget(this.id);
    this.settleClosed(reason);
  }

  private maybeDone(): void {
    if (this.localEnded && this.remoteEnded && this.resetReason === undefined) {
      this.mux.forget(this.id);
      this.settleClosed(undefined);
    }
  }
}

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

export interface MuxOptions {
  /** Sends one frame as one binary WebSocket message. */
  send: (frame: Uint8Array) => void;
  /** Called for each stream the peer opens (the agent's side). */
  onStream?: (stream: MuxStream) => void;
  /**
   * The opening side: a stream the peer has not answered in this long is reset, and `onSilent` is
   * told, since a peer that answers nothing is gone (a connection dropped where no close reached us).
   */
  replyTimeoutMs?: number;
  onSilent?: () => void;
}

/** An agent answers every stream at once (its reply comes before any slow work): 10 s of silence is a dead link. */
export const REPLY_TIMEOUT_MS = 10_000;

export class Mux {
  private readonly streams = new Map<number, MuxStream>();
  // Random, so ids stay unique across a Durable Object's hibernation, which forgets the counter.
  private nextId = (Math.random() * 0x3fffffff) | 0;
  private closedReason?: string;

  constructor(private readonly opts: MuxOptions) {}

  /** Opens a stream to the peer (the control plane's side). */
  open(head: TunnelHead): MuxStream {
    const id = (this.nextId = (this.nextId + 1) >>> 0 || 1);
    const stream = new MuxStream(this, id, head);
    this.streams.set(id, stream);
    if (this.closedReason !== undefined) stream.aborted(this.closedReason);
    else {
      this.opts.send(frame(OPEN, id, json(head)));
      const timeout = this.opts.replyTimeoutMs;
      if (timeout) {
        const timer = setTimeout(() => {
          stream.reset(`no answer from the node within ${timeout / 1000}s`);
          this.opts.onSilent?.();
        }, timeout);
        const clear = () => clearTimeout(timer);
        stream.reply.then(clear, clear);
      }
    }
    return stream;
  }

  /** Handles one frame from the peer; a malformed frame is dropped. */
  receive(data: Uint8Array): void {
    if (data.byteLength < 5) return;
    const type = data[0];
    const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1);
    const payload = data.subarray(5);
    if (type === OPEN) {
      if (this.streams.has(id)) return;
      let head: TunnelHead;
      try {
        head = JSON.parse(decoder.decode(payload)) as TunnelHead;
      } catch {
        return this.opts.send(frame(RESET, id, encoder.encode('malformed stream head')));
      }
      const stream = new MuxStream(this, id, head);
      this.streams.set(id, stream);
      if (this.opts.onStream) this.opts.onStream(stream);
      else stream.reset('this end accepts no streams');
      return;
    }
    const stream = this.streams.get(id);
    if (!stream) {
      // A stream this end has forgotten (reset, or before a restart): the peer should forget it too.
      if (type !== RESET && type !== CREDIT) this.opts.send(frame(RESET, id, encoder.encode('no such stream')));
      return;
    }
    if (type === DATA) stream.onData(payload.slice());
    else if (type === END) stream.onEnd();
    else if (type === CREDIT && payload.byteLength >= 4) stream.onCredit(new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0));
    else if (type === REPLY) {
      try {
        stream.onReply(JSON.parse(decoder.decode(payload)) as TunnelReply);
      } catch {
        stream.reset('malformed reply');
      }
    } else if (type === RESET) stream.aborted(decoder.decode(payload) || 'reset by peer');
  }

  /** Ends every stream with `reason` (the WebSocket closed); streams opened later fail at once. */
  close(reason: string): void {
    this.closedReason = reason;
    for (const s of [...this.streams.values()]) s.aborted(reason);
  }

  /** Resets streams that have carried nothing for `idleMs` (kubelet's streaming-connection-idle-timeout). */
  sweep(idleMs: number, now = Date.now()): void {
    for (const s of [...this.streams.values()]) if (now - s.lastActive > idleMs) s.reset(`stream idle for more than ${Math.round(idleMs / 1000)}s`);
  }

  get size(): number {
    return this.streams.size;
  }

  /** @internal */ send(type: number, id: number, payload?: Uint8Array): void {
    if (this.closedReason === undefined) this.opts.send(frame(type, id, payload));
  }
  /** @internal */ forget(id: number): void {
    this.streams.delete(id);
  }
}

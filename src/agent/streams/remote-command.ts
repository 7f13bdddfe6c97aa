// kubectl exec, attach and cp, served on the node: Kubernetes' remote command protocols (v1 to v5 of
// channel.k8s.io) over the WebSocket messages or the SPDY connection that the control plane relays,
// with the semantics kubelet's server and kube-apiserver's WebSocket translator give them.
import type { Readable, Writable } from 'node:stream';
import type { ExecHead } from '../../tunnel/head.js';
import type { MuxStream } from '../../tunnel/mux.js';
import type { ExecSession } from '../runtime.js';
import { SpdyConnection, type SpdyStream } from './spdy.js';

// WebSocket channels: each message is one of these bytes, then data.
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
/** v5: [255, channel] half-closes a channel (the client's stdin). */
const CLOSE = 255;

/** kubelet's stream creation timeout: a SPDY client opens all its streams within it. */
const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** After the status, the time the client has to close the connection before it is dropped. */
const CLOSE_GRACE_MS = 60_000;
/** Largest WebSocket message of output sent. */
const MAX_MESSAGE = 64 * 1024;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** The version of a remote command subprotocol name (channel.k8s.io is v1), or undefined. */
export function protocolVersion(protocol: string): number | undefined {
  if (protocol === 'channel.k8s.io') return 1;
  const m = /^v([1-5])\.channel\.k8s\.io$/.exec(protocol);
  return m ? Number(m[1]) : undefined;
}

/** metav1.Status as kubelet marshals it onto the error stream (no kind or apiVersion). */
export interface ExecStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message: string }[] };
  code?: number;
}

const success = (): ExecStatus => ({ metadata: {}, status: 'Success' });

/** The status of a finished command: kubectl exits with the code of the ExitCode cause. */
export function exitStatus(code: number, command: string[] = []): ExecStatus {
  if (code === 0) return success();
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** apierrors.NewInternalError, as kubelet reports a command that could not run. */
export function internalError(message: string): ExecStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/** v4 and later carry the Status as JSON; v1 to v3 only a failure's message, as text. */
function statusBytes(status: ExecStatus, version: number): Uint8Array | undefined {
  if (version >= 4) return encoder.encode(JSON.stringify(status));
  return status.status === 'Failure' ? encoder.encode(status.message ?? '') : undefined;
}

interface Streams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Resize messages: a stream of JSON TerminalSize objects ({"Width":80,"Height":24}), split anywhere. */
class TerminalSizes {
  private text = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array): { width: number; height: number }[] {
    this.text += this.decoder.decode(chunk, { stream: true });
    const sizes: { width: number; height: number }[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.text.length; i++) {
      const c = this.text[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && depth > 0 && --depth === 0) {
        try {
          const size = JSON.parse(this.text.slice(start, i + 1)) as { Width?: unknown; Height?: unknown };
          const width = Number(size.Width);
          const height = Number(size.Height);
          if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0) sizes.push({ width, height });
        } catch {
          // kubelet's decoder stops at garbage; skipping it is kinder and as safe.
        }
        consumed = i + 1;
      }
    }
    this.text = this.text.slice(consumed);
    // A client sending one endless object gets it dropped rather than buffered.
    if (this.text.length > 4096) this.text = '';
    return sizes;
  }
}

/** Resolves once a Writable drains, closes or fails. */
function drained(w: Writable): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      w.off('error', done);
      ok();
    };
    w.on('drain', done);
    w.on('close', done);
    w.on('error', done);
  });
}

/** The session's input side, usable before the session has started (input waits for it). */
class SessionInput {
  private session?: ExecSession;
  private settle!: (s: ExecSession | undefined) => void;
  private readonly ready = new Promise<ExecSession | undefined>((ok) => (this.settle = ok));
  private stopped = false;

  started(session: ExecSession | undefined): void {
    this.session = session;
    session?.stdin?.on('error', () => {}); // EPIPE once the command exits: the input is dropped
    this.settle(session);
  }

  /** No more input is delivered (the command ended). */
  stop(): void {
    this.stopped = true;
  }

  /** Writes to the command's stdin at the command's pace. */
  async stdin(chunk: Uint8Array): Promise<void> {
    const stdin = (await this.ready)?.stdin;
    if (!stdin || this.stopped || stdin.destroyed || stdin.writableEnded) return;
    if (!stdin.write(chunk)) await drained(stdin);
  }

  async stdinEnd(): Promise<void> {
    const stdin = (await this.ready)?.stdin;
    if (stdin && !stdin.destroyed && !stdin.writableEnded) stdin.end();
  }

  resize(width: number, height: number): void {
    void this.ready.then((s) => {
      if (s && !this.stopped) s.resize(width, height);
    });
  }
}

/** The client's side of a session, over one of the two transports. */
interface ClientIO {
  stdout?: (chunk: Uint8Array) => Promise<void>;
  stderr?: (chunk: Uint8Array) => Promise<void>;
  /** Feeds the client's stdin and resizes to the session; resolves when the client has gone. */
  serve(input: SessionInput): Promise<void>;
  /** Writes the status, ends the client's streams and this side of the connection. */
  finish(status: ExecStatus): Promise<void>;
  abort(reason: string): void;
}

/**
 * Serves an exec or attach stream (the caller has answered it with 101): waits for the client's
 * streams, starts the session, copies its input and output at the slower side's pace, and after
 * the command ends and its output is flushed, writes the status and ends the stream.
 */
export async function serveRemoteCommand(stream: MuxStream, head: ExecHead, start: () => Promise<ExecSession>): Promise<void> {
  const version = protocolVersion(head.protocol);
  if (version === undefined) return stream.reset(`unsupported remote command protocol "${head.protocol}"`);
  // kubelet: a terminal carries stderr on stdout.
  const opts: Streams = { stdin: head.stdin, stdout: head.stdout, stderr: head.stderr && !head.tty, tty: head.tty };
  const io = head.transport === 'websocket' ? webSocketIO(stream, opts, version) : await spdyIO(stream, opts, version);
  if (!io) return;

  const input = new SessionInput();
  const clientGone = io.serve(input);
  let session: ExecSession;
  try {
    session = await start();
  } catch (e) {
    input.started(undefined);
    const what = head.op === 'exec' ? 'error executing command in container' : 'error attaching to container';
    await io.finish(internalError(`${what}: ${e instanceof Error ? e.message : String(e)}`));
    return closeAfter(io, clientGone);
  }
  input.started(session);

  let ended = false;
  // A client that goes away ends the command (exec) or detaches (attach).
  void clientGone.then(() => {
    if (!ended) session.close();
  });
  const output = Promise.all([copyOut(session.stdout, opts.stdout ? io.stdout : undefined), session.stderr ? copyOut(session.stderr, io.stderr) : undefined]);
  const code = await session.exit;
  await output;
  ended = true;
  input.stop();
  // kubelet reports attach's end as Success whatever the container's exit code.
  await io.finish(head.op === 'attach' ? success() : exitStatus(code, head.command));
  return closeAfter(io, clientGone);
}

/** Waits for the client to close after the status; one that does not is dropped. */
async function closeAfter(io: ClientIO, clientGone: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((ok) => {
    timer = setTimeout(() => ok(true), CLOSE_GRACE_MS);
    timer.unref();
  });
  const timedOut = await Promise.race([clientGone.then(() => false), late]);
  clearTimeout(timer);
  if (timedOut) io.abort('client did not close the connection');
}

/** Copies a session's output to the client, reading only as fast as the client takes it. */
async function copyOut(source: Readable, write?: (chunk: Uint8Array) => Promise<void>): Promise<void> {
  try {
    for await (const chunk of source) {
      if (write) await write(chunk instanceof Uint8Array ? chunk : encoder.encode(String(chunk)));
    }
  } catch {
    // The client went away (the loop's exit destroyed the source) or the output failed.
  }
}

/** The channels of a WebSocket: each stream message is one of kubectl's binary messages. */
function webSocketIO(stream: MuxStream, opts: Streams, version: number): ClientIO {
  let chain: Promise<void> = Promise.resolve();
  // Messages go out strictly in order: output before the status before the end.
  const send = (channel: number, data: Uint8Array): Promise<void> => {
    const message = new Uint8Array(1 + data.byteLength);
    message[0] = channel;
    message.set(data, 1);
    const sent = chain.then(() => stream.write(message));
    chain = sent.catch(() => {});
    return sent;
  };
  const sendChunks = async (channel: number, data: Uint8Array) => {
    for (let at = 0; at < data.byteLength; at += MAX_MESSAGE) await send(channel, data.subarray(at, at + MAX_MESSAGE));
  };
  // As kubelet does: an empty message on the lowest channel written tells the client the session is open.
  void send(opts.stdout ? STDOUT : opts.stderr ? STDERR : ERROR, EMPTY).catch(() => {});
  let finished = false;

  return {
    stdout: opts.stdout ? (c) => sendChunks(STDOUT, c) : undefined,
    stderr: opts.stderr ? (c) => sendChunks(STDERR, c) : undefined,
    async serve(input) {
      const sizes = new TerminalSizes();
      const reading = (async () => {
        try {
          for await (const message of stream.messages()) {
            if (finished || message.byteLength === 0) continue;
            const data = message.subarray(1);
            if (message[0] === STDIN && opts.stdin) await input.stdin(data);
            else if (message[0] === RESIZE) for (const s of sizes.push(data)) input.resize(s.width, s.height);
            else if (message[0] === CLOSE && version >= 5 && data[0] === STDIN && opts.stdin) await input.stdinEnd();
          }
        } catch {
          // Reset: the client is gone all the same.
        }
      })();
      // A reset counts at once, even while stdin waits for a command that does not read it.
      await Promise.race([reading, stream.closed]);
    },
    async finish(status) {
      finished = true;
      const bytes = statusBytes(status, version);
      try {
        if (bytes) await send(ERROR, bytes);
        await chain;
        stream.end();
      } catch {
        stream.reset('client went away');
      }
    },
    abort: (reason) => stream.reset(reason),
  };
}

/** The SPDY streams kubectl opens, one per stream type (v3 adds resize, v4 a JSON status). */
async function spdyIO(stream: MuxStream, opts: Streams, version: number): Promise<ClientIO | undefined> {
  const expected = new Set(['error']);
  if (opts.stdin) expected.add('stdin');
  if (opts.stdout) expected.add('stdout');
  if (opts.stderr) expected.add('stderr');
  if (opts.tty && version >= 3) expected.add('resize');
  const streams = new Map<string, SpdyStream>();
  let allOpen!: () => void;
  const opened = new Promise<'open'>((ok) => (allOpen = () => ok('open')));
  const conn = new SpdyConnection(stream, {
    // kubelet replies to every stream and ignores those of a type it does not expect.
    onStream: (s) => {
      const type = s.header('streamtype') ?? '';
      if (expected.has(type) && !streams.has(type)) {
        streams.set(type, s);
        if (streams.size === expected.size) allOpen();
      } else s.discard();
      return true;
    },
  });
  const running = conn.run();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    opened,
    conn.closed.then(() => 'closed' as const),
    new Promise<'late'>((ok) => (timer = setTimeout(() => ok('late'), STREAM_CREATION_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'open') {
    if (outcome === 'late') conn.abort('timed out waiting for client to create streams');
    await running;
    return undefined;
  }
  // What the client sends on streams only this end writes is not read.
  for (const type of ['error', 'stdout', 'stderr']) streams.get(type)?.discard();
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');

  return {
    stdout: stdout ? (c) => stdout.write(c) : undefined,
    stderr: stderr ? (c) => stderr.write(c) : undefined,
    async serve(input) {
      const stdin = streams.get('stdin');
      const resize = streams.get('resize');
      if (stdin) {
        void (async () => {
          try {
            for await (const chunk of stdin) await input.stdin(chunk);
            await input.stdinEnd();
          } catch {
            // reset, or the connection went
          }
        })();
      }
      if (resize) {
        void (async () => {
          const sizes = new TerminalSizes();
          try {
            for await (const chunk of resize) for (const s of sizes.push(chunk)) input.resize(s.width, s.height);
          } catch {
            // as above
          }
        })();
      }
      await running;
    },
    async finish(status) {
      // Input that still arrives is dropped rather than left to fill the connection's buffers.
      streams.get('stdin')?.discard();
      streams.get('resize')?.discard();
      const bytes = statusBytes(status, version);
      try {
        // kubectl reads stdout and stderr to their end, then the error stream to its end.
        await stdout?.end();
        await stderr?.end();
        const error = streams.get('error')!;
        if (bytes) await error.write(bytes);
        await error.end();
        await streams.get('stdin')?.end();
        await streams.get('resize')?.end();
        await conn.close();
      } catch {
        conn.abort('client went away');
      }
    },
    abort: (reason) => conn.abort(reason),
  };
}

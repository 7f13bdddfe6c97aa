// The two ends of a relayed connection: on the pod's node, a TCP connection from the pod joined to a
// WebSocket to the control plane; on the target's node, a tunnel stream joined to a connection to the
// target pod. Between them each message is bytes of the connection, and an empty message ends its
// sender's direction, so a half-close (a client that shuts down its sending side and waits for the
// answer) crosses the relay as it would cross a network. A reset on either side resets the other.
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { MuxStream } from '../tunnel/mux.js';
import { drained } from './streams/port-forward.js';

const EOF = new Uint8Array(0);
/** Bytes sent on the WebSocket and not yet written out, past which the pod's socket is paused. */
const HIGH_WATER = 1024 * 1024;

/**
 * The target's node: `socket` (connected to the pod, the stream answered 101) and `stream` copied
 * both ways at the slower side's pace. Resolves when the connection is over; the stream ends if it
 * closed cleanly, else is reset with the reason.
 */
export async function pipeStream(stream: MuxStream, socket: Socket): Promise<void> {
  socket.allowHalfOpen = true;
  let failure: string | undefined;
  socket.on('error', (e) => (failure ??= e.message));
  const closed = new Promise<void>((ok) => socket.once('close', () => ok()));
  void stream.closed.then((reason) => {
    if (reason !== undefined) socket.destroy();
  });

  // The other pod's bytes, until its EOF (or the stream's end: the other side went away cleanly).
  void (async () => {
    try {
      for await (const chunk of stream.messages()) {
        if (chunk.byteLength === 0) break;
        if (socket.destroyed) return;
        if (!socket.write(chunk)) await drained(socket);
      }
      if (!socket.destroyed) socket.end();
    } catch {
      socket.destroy();
    }
  })();

  // The pod's bytes at the stream's pace. Events rather than `for await`, whose end destroys the
  // socket and so would cut the other direction short.
  const lost = (e: Error) => {
    failure ??= e.message;
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    socket.pause();
    stream.write(chunk).then(() => socket.resume(), lost);
  });
  socket.on('end', () => {
    if (!stream.done) stream.write(EOF).catch(lost);
  });
  await closed;
  if (failure !== undefined) stream.reset(failure);
  else stream.end();
}

/**
 * The pod's node: `socket` (the pod's connection, accepted by a relay listener) joined to `ws` (open,
 * to the control plane). A WebSocket that closes other than normally resets the pod's connection.
 */
export function pipeWebSocket(ws: WebSocket, socket: Socket, onDone?: (error?: string) => void): void {
  socket.allowHalfOpen = true;
  let sentEof = false;
  let gotEof = false;
  let pending = 0;
  let finished = false;
  const finish = (error?: string) => {
    if (finished) return;
    finished = true;
    onDone?.(error);
  };

  socket.on('data', (chunk: Buffer) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    pending += chunk.byteLength;
    if (pending > HIGH_WATER) socket.pause();
    ws.send(chunk, { binary: true }, () => {
      pending -= chunk.byteLength;
      if (pending <= HIGH_WATER / 2 && socket.isPaused() && !socket.destroyed) socket.resume();
    });
  });
  socket.on('end', () => {
    sentEof = true;
    if (ws.readyState === WebSocket.OPEN) ws.send(EOF, { binary: true });
  });
  socket.on('error', () => {}); // told by 'close' below
  socket.on('close', (hadError) => {
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      // A clean close both ways ends the relay normally; a reset ends it as a failure.
      if (hadError || !(sentEof && gotEof)) ws.close(4000, 'connection reset');
      else ws.close(1000);
    }
    finish(hadError ? 'connection reset by the pod' : undefined);
  });

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    if (data.byteLength === 0) {
      gotEof = true;
      if (!socket.destroyed) socket.end();
      return;
    }
    if (socket.destroyed) return;
    if (!socket.write(data)) {
      ws.pause();
      void drained(socket).then(() => ws.resume());
    }
  });
  ws.on('close', (code: number) => {
    if (socket.destroyed) return finish();
    if (code === 1000 || code === 1005) {
      // The far side closed both ways: what is written still goes out, then the connection ends.
      socket.end(() => socket.destroy());
      finish();
    } else {
      socket.resetAndDestroy();
      finish(`relay closed (${code})`);
    }
  });
  ws.on('error', () => {}); // 'close' follows
  socket.resume();
}

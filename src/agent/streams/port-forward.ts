// kubectl port-forward, served on the node: the portforward.k8s.io protocol, a SPDY connection on
// which the client opens a pair of streams (error, data) for each local connection it accepts,
// named by the headers port, streamType and requestID. The SPDY bytes come raw (kubectl's SPDY
// upgrade) or in WebSocket messages (SPDY/3.1+portforward.k8s.io, kubectl 1.30+); both read the same.
//
// kubelet's other WebSocket port-forward protocol (channels per ?ports=, v4.channel.k8s.io) is not
// served: no kubectl from 1.27 to 1.33 asks for it (they tunnel SPDY instead).
import type { Socket } from 'node:net';
import type { PortForwardHead } from '../../tunnel/head.js';
import type { MuxStream } from '../../tunnel/mux.js';
import { SpdyConnection, type SpdyStream } from './spdy.js';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
export const PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

/** kubelet's stream creation timeout: both streams of a request arrive within it. */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();

interface StreamPair {
  id: string;
  port: number;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** The request a stream belongs to. */
function requestId(stream: SpdyStream): string {
  const id = stream.header('requestid');
  if (id) return id;
  // Clients from before requestID (kubelet's best effort): a pair's ids are consecutive odd
  // numbers, error stream first.
  return String(stream.header('streamtype') === 'data' ? stream.id - 2 : stream.id);
}

/** Resolves once a socket drains or closes. */
export function drained(socket: Socket): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      ok();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * Serves a port-forward stream (the caller has answered it with 101): each request's data stream
 * is joined to a connection from `connect(port)`, at the pace of the slower side. A connection that
 * cannot be made is reported on the request's error stream, as kubelet does.
 */
export async function servePortForward(stream: MuxStream, head: PortForwardHead, connect: (port: number) => Promise<Socket>): Promise<void> {
  if (head.transport === 'websocket' && head.protocol !== PORT_FORWARD_TUNNEL_PROTOCOL) {
    return stream.reset(`unsupported port-forward protocol "${head.protocol}"`);
  }
  const pairs = new Map<string, StreamPair>();
  const sockets = new Set<Socket>();

  /** The pod's side of one request. */
  async function forward(pair: StreamPair, error: SpdyStream, data: SpdyStream): Promise<void> {
    let socket: Socket;
    try {
      socket = await connect(pair.port);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      try {
        await error.write(encoder.encode(`error forwarding port ${pair.port} to pod ${head.pod}, uid ${head.uid}: ${reason}`));
        await error.end();
        await data.end();
      } catch {
        // the client went away
      }
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // surfaces as the end of the copies below
    // The client's half-close reaches the pod as one, not as the end of the whole connection.
    socket.allowHalfOpen = true;

    const fromClient = (async () => {
      try {
        for await (const chunk of data) {
          if (socket.destroyed) break;
          if (!socket.write(chunk)) await drained(socket);
        }
        socket.end();
      } catch {
        // kubectl resets the data stream once it has the pod's side to the end: nothing more comes.
        socket.destroy();
      }
    })();
    try {
      for await (const chunk of socket) await data.write(chunk as Uint8Array);
      await data.end();
    } catch {
      data.reset();
      socket.destroy();
    }
    // kubectl reads the error stream to its end once the pod's side is done; kubelet then closes
    // it empty. Errors after connecting stay off it: kubectl 1.27-1.33 drops the whole
    // port-forward on any message there, and a pod resetting one connection should not do that.
    await error.end().catch(() => {});
    await fromClient;
  }

  const conn = new SpdyConnection(stream, {
    onStream(s) {
      // kubelet refuses streams without a valid port or stream type.
      const portText = s.header('port') ?? '';
      const port = Number(portText);
      const type = s.header('streamtype');
      if (!/^\d+$/.test(portText) || port < 1 || port > 65535 || (type !== 'error' && type !== 'data')) return false;
      const id = requestId(s);
      let pair = pairs.get(id);
      if (!pair) {
        const created: StreamPair = {
          id,
          port,
          timer: setTimeout(() => {
            pairs.delete(id);
            void created.error?.write(encoder.encode(`(request=${id}) timed out waiting for streams`)).then(() => created.error?.end()).catch(() => {});
            created.data?.reset();
          }, STREAM_CREATION_TIMEOUT_MS),
        };
        created.timer.unref();
        pairs.set(id, created);
        pair = created;
      }
      if (type === 'error') {
        // The client writes nothing on it (kubectl half-closes it at once).
        s.discard();
        if (pair.error) {
          void pair.error.write(encoder.encode(`error processing stream for request ${id}: error stream already assigned`)).catch(() => {});
          return true;
        }
        pair.error = s;
      } else {
        if (pair.data) {
          void pair.error?.write(encoder.encode(`error processing stream for request ${id}: data stream already assigned`)).catch(() => {});
          s.discard();
          return true;
        }
        pair.data = s;
      }
      if (pair.error && pair.data) {
        clearTimeout(pair.timer);
        pairs.delete(id);
        void forward(pair, pair.error, pair.data);
      }
      return true;
    },
  });

  await conn.run();
  // The client has gone: whatever is still forwarded goes with it.
  for (const pair of pairs.values()) clearTimeout(pair.timer);
  for (const socket of sockets) socket.destroy();
  await conn.close().catch(() => {});
}

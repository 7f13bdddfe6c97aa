// The control plane's side of a stream that answers like HTTP (logs, proxy, stats): the request body
// goes out as DATA, and the node's REPLY and DATA become a Response whose body is read as the client
// reads it, so credit (and so the node's sending) follows the client's pace.
import type { MuxStream } from './mux.js';

/** Sends `body` (if any) on the stream, then answers with the node's reply. */
export async function streamResponse(stream: MuxStream, body: ReadableStream<Uint8Array> | null | undefined): Promise<Response> {
  void sendBody(stream, body);
  const reply = await stream.reply;
  const headers = new Headers(reply.headers ?? []);
  // 204 and 304 carry no body; the stream still ends from the node.
  const empty = reply.status === 204 || reply.status === 304;
  if (empty) void stream.readable.cancel().catch(() => {});
  return new Response(empty ? null : stream.readable, { status: reply.status, headers });
}

async function sendBody(stream: MuxStream, body: ReadableStream<Uint8Array> | null | undefined): Promise<void> {
  try {
    if (body) {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.byteLength) await stream.write(value);
      }
    }
    stream.end();
  } catch (e) {
    stream.reset(`request body: ${e instanceof Error ? e.message : String(e)}`);
  }
}

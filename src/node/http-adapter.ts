// Bridges node:http(s) to a Web fetch handler (the Hono app) through @hono/node-server, which is
// about twice as cheap per request as building a full Request/Response per call (lazy Request,
// bodies read straight from the socket, string bodies written without a stream). What skiff needs
// from it, checked in its source and by test/e2e/serve.test.ts:
// - a streamed body gets its headers flushed at once (watches: `kubectl rollout status` waits on them);
// - the response's 'close' before the end aborts the Request's signal and cancels the body reader.
// What it lacks is a way to end open streams at shutdown; endStreams() adds that.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener, RequestError } from '@hono/node-server';

export type FetchHandler = (req: Request) => Promise<Response> | Response;

export interface NodeAdapter {
  listener(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every response still streaming (watch streams), as at shutdown. */
  endStreams(): void;
}

export function createNodeAdapter(
  handler: FetchHandler,
  onError: (err: unknown) => void = (err) => console.error('skiff: request failed:', err),
): NodeAdapter {
  const hono = getRequestListener((req) => handler(req), {
    errorHandler: (err) => {
      if (err instanceof RequestError) return statusResponse(400, 'BadRequest', err.message);
      onError(err);
      return statusResponse(500, 'InternalError', 'internal error');
    },
  });
  const open = new Set<ServerResponse>();

  return {
    listener(req, res) {
      open.add(res);
      res.once('close', () => open.delete(res));
      hono(req, res).catch((err: unknown) => {
        onError(err);
        res.destroy();
      });
    },
    endStreams() {
      // A chunked response whose headers are out is a stream in flight. Ending it writes the
      // final chunk, so clients see a clean end; the 'close' that follows makes
      // @hono/node-server cancel the body, which stops the watch.
      for (const res of open) {
        if (res.headersSent && res.chunkedEncoding && !res.writableEnded) res.end();
      }
    },
  };
}

function statusResponse(code: number, reason: string, message: string): Response {
  return Response.json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }, { status: code });
}

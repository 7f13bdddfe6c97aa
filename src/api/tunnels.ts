// How the API reaches nodes: through the tunnel each agent dials. Each home holds the sessions its
// own way (`skiff serve` in-process, Workers in a Durable Object per node); the API only says which
// node and what to ask of it.
import type { TunnelHead } from '../tunnel/head.js';
import { ApiError } from './status.js';

/** The path an agent dials (a WebSocket upgrade, with its node credential). */
export const TUNNEL_PATH = '/skiff/v1/tunnel';

export interface NodeTunnels {
  /**
   * Asks the node for `head`. For an upgrade (exec, attach, port-forward) `req` is the client's
   * upgrade request and the answer is the home's switch of protocols; otherwise `req`'s body (if
   * any) is the request body sent on, and the answer is the node's response, streamed.
   * Throws notConnected(node) when the node holds no session.
   */
  exchange(node: string, head: TunnelHead, req: Request): Promise<Response>;
  /** Takes an agent's upgrade request on TUNNEL_PATH as the node's session (replacing an older one). */
  accept(node: string, req: Request): Promise<Response>;
  /** Whether the node holds a session, where that is known without asking (in-process); undefined: ask. */
  connected?(node: string): boolean;
}

/** kube-apiserver answers 502 when kubelet cannot be dialled; skiff's nodes dial out, so it is 503 until they do. */
export const notConnected = (node: string) =>
  new ApiError(503, 'ServiceUnavailable', `node "${node}" is not connected: its agent has no tunnel to the control plane`);

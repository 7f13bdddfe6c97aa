// Which streaming protocol an exec, attach or port-forward request gets: the upgrade kind
// (WebSocket or SPDY/3.1) and the subprotocol, chosen from the client's offers the way kubelet and
// kube-apiserver do. Runtime-neutral: Web APIs only.
//
// What kubectl offers (the full table is in test/agent/stream-protocols.test.ts):
//   exec/attach/cp  1.27-1.28 SPDY v4..v1; 1.29 SPDY v5..v1; 1.30+ WebSocket v5.channel.k8s.io only,
//                   falling back to SPDY v5..v1 when the upgrade is refused.
//                   KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true makes 1.29 do as 1.30; =false keeps 1.30+ on SPDY.
//   port-forward    1.27-1.30 SPDY portforward.k8s.io; 1.31+ WebSocket SPDY/3.1+portforward.k8s.io,
//                   falling back to SPDY when refused. KUBECTL_PORT_FORWARD_WEBSOCKETS=true makes
//                   1.30 do as 1.31; =false keeps 1.31+ on SPDY.
import { badRequest } from './status.js';

export type StreamKind = 'remotecommand' | 'portforward';

export interface NegotiatedStream {
  /** websocket: answer with a WebSocket handshake; spdy: a 101 with Upgrade: SPDY/3.1. */
  transport: 'websocket' | 'spdy';
  /** Sec-WebSocket-Protocol or X-Stream-Protocol-Version of the answer. */
  protocol: string;
}

/** Remote command protocols served, best first (kubelet's order). Binary channels only: the tunnel carries no text messages. */
export const REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** client-go's WebSocket port-forward: SPDY carried in binary WebSocket messages. */
export const PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

const list = (value: string | null): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** Go's %v of a []string, as the messages print the offers. */
const goList = (items: string[]) => `[${items.join(' ')}]`;

/**
 * The transport and subprotocol for an upgrade request, or ApiError 400 BadRequest when it is no
 * upgrade, or offers nothing served.
 */
export function negotiate(req: Request, kind: StreamKind): NegotiatedStream {
  const connection = (req.headers.get('connection') ?? '').toLowerCase();
  const upgrade = (req.headers.get('upgrade') ?? '').toLowerCase();
  // kube-apiserver's UpgradeAwareHandler for connect subresources that need an upgrade.
  if (!connection.includes('upgrade') || upgrade === '') throw badRequest('Upgrade request required');

  if (list(upgrade).includes('websocket')) {
    const offered = list(req.headers.get('sec-websocket-protocol'));
    const served = kind === 'remotecommand' ? REMOTE_COMMAND_PROTOCOLS : [PORT_FORWARD_TUNNEL_PROTOCOL];
    const protocol = served.find((p) => offered.includes(p));
    // wsstream's handshake error (kubelet answers it for WebSocket offers it cannot serve).
    if (!protocol) throw badRequest(`unable to upgrade: requested protocol(s) are not supported: ${goList(offered)}; supports ${goList(served)}`);
    return { transport: 'websocket', protocol };
  }

  if (upgrade.includes('spdy/3.1')) {
    const offered = list(req.headers.get('x-stream-protocol-version'));
    const served = kind === 'remotecommand' ? REMOTE_COMMAND_PROTOCOLS : [PORT_FORWARD_PROTOCOL];
    // httpstream.Handshake's errors.
    if (offered.length === 0) throw badRequest('unable to upgrade: X-Stream-Protocol-Version is required');
    const protocol = served.find((p) => offered.includes(p));
    if (!protocol) throw badRequest(`unable to upgrade: unable to negotiate protocol: client supports ${goList(offered)}, server accepts ${goList(served)}`);
    return { transport: 'spdy', protocol };
  }

  // httpstream/spdy's upgrader, for an Upgrade that is neither.
  throw badRequest(`unable to upgrade: missing upgrade headers in request: upgrade ${JSON.stringify(upgrade)} is neither websocket nor SPDY/3.1`);
}

// The relayed path between nodes: a pod on one node connects to a pod on a node it cannot reach (NAT
// on either side), and its agent carries the connection here as a WebSocket; the control plane opens
// a stream to the target pod's node through its tunnel, and that agent dials the pod. Only nodes
// relay (a pod reaches any pod on a flat network anyway; a node's credential stands for its pods),
// and only to a pod's own address on the pod network: never to a node's host ports.
//
//   GET /skiff/v1/relay?namespace=NS&pod=NAME&ip=POD_IP&port=PORT[&source=CLIENT_POD_IP]
//   Upgrade: websocket, Sec-WebSocket-Protocol: v1.relay.skiff.dev
//
// Each binary message is bytes of the connection; an empty one ends its sender's direction. One
// database read (the pod) and one exchange with the node's tunnel per connection.
import type { Store } from '../store/store.js';
import type { RelayHead } from '../tunnel/head.js';
import { nodeNameOf, type Identity } from './auth/identity.js';
import { ApiError, badRequest, notFound } from './status.js';
import { notConnected, type NodeTunnels } from './tunnels.js';

export const RELAY_PATH = '/skiff/v1/relay';
export const RELAY_PROTOCOL = 'v1.relay.skiff.dev';

export interface RelayDeps {
  store: Store;
  tunnels?: NodeTunnels;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const isIP = (s: string) => IPV4.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));

function portOf(value: string | null): number {
  const n = Number(value);
  if (!value || !/^\d+$/.test(value) || n < 1 || n > 65535) throw badRequest(`invalid port "${value ?? ''}": must be between 1 and 65535`);
  return n;
}

/** Answers the relaying node's upgrade with the target node's switch of protocols. */
export async function relay(deps: RelayDeps, req: Request, identity: Identity): Promise<Response> {
  const fromNode = nodeNameOf(identity);
  if (!fromNode) throw new ApiError(403, 'Forbidden', `forbidden: User "${identity.user}" cannot get path "${RELAY_PATH}": only nodes relay connections`);
  if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') throw badRequest('the relay is a WebSocket: send Upgrade: websocket');
  const offered = (req.headers.get('sec-websocket-protocol') ?? '').split(',').map((s) => s.trim());
  if (!offered.includes(RELAY_PROTOCOL)) throw badRequest(`unable to upgrade: the relay speaks ${RELAY_PROTOCOL}`);

  const q = new URL(req.url).searchParams;
  const namespace = q.get('namespace') ?? '';
  const name = q.get('pod') ?? '';
  const ip = q.get('ip') ?? '';
  const source = q.get('source') ?? '';
  if (!namespace || !name) throw badRequest('namespace and pod are required');
  if (!isIP(ip)) throw badRequest(`invalid ip "${ip}"`);
  if (source && !isIP(source)) throw badRequest(`invalid source "${source}"`);
  const port = portOf(q.get('port'));

  const pod = await deps.store.get('Pod', namespace, name);
  if (!pod) throw notFound('pods', '', name);
  const spec = (pod.spec ?? {}) as { nodeName?: string; hostNetwork?: boolean };
  const status = (pod.status ?? {}) as { podIP?: string; podIPs?: { ip: string }[] };
  if (!spec.nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  if (spec.hostNetwork) throw badRequest(`pod ${name} uses its node's network: only pod addresses are relayed`);
  const addresses = [status.podIP, ...(status.podIPs ?? []).map((p) => p.ip)];
  // The relaying node's view is out of date (the pod was recreated elsewhere, or not yet started).
  if (!addresses.includes(ip)) throw new ApiError(404, 'NotFound', `pod "${name}" does not have the address ${ip}`);

  const node = spec.nodeName;
  if (!deps.tunnels || deps.tunnels.connected?.(node) === false) throw notConnected(node);
  const head: RelayHead = {
    op: 'relay',
    namespace,
    pod: name,
    uid: String(pod.metadata?.uid ?? ''),
    podIP: ip,
    port,
    fromNode,
    ...(source ? { source } : {}),
    transport: 'websocket',
    protocol: RELAY_PROTOCOL,
  };
  return deps.tunnels.exchange(node, head, req);
}

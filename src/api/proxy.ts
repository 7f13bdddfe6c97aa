import type { KObject } from '../kinds/types.js';
import type { Store } from '../store/store.js';
import type { PodRef } from '../tunnel/head.js';
import type { ResourcePath } from './paths.js';
import { ApiError, badRequest, notFound } from './status.js';
import type { NodeTunnels } from './tunnels.js';

// services/NAME[:PORT]/proxy/PATH and pods/NAME[:PORT]/proxy/PATH: the request goes on to a ready
// endpoint of the Service (or to the pod's IP) and the answer streams back. Endpoints are located as
// kube-apiserver's ResourceLocation does; unlike it, requests rotate over the ready addresses and a
// connection failure moves on to the next address, so the edge balances load over the backends.
// A backend on a node goes through that node's tunnel (the control plane may not reach pod
// addresses: on Workers it never does); a node without a session is skipped for the next address.

export interface ProxyTarget {
  scheme: 'http' | 'https';
  /** host[:port], IPv6 in brackets. */
  host: string;
  /** The node the backend runs on, reached through its tunnel; absent: dialled directly. */
  node?: string;
  pod?: PodRef;
}

export interface ProxyDeps {
  store: Store;
  tunnels?: NodeTunnels;
}

/** A proxy id, `name`, `name:port` or `scheme:name:port` (utilnet.SplitSchemeNamePort). */
export function splitSchemeNamePort(id: string): { scheme: 'http' | 'https'; name: string; port: string } | undefined {
  const parts = id.split(':');
  if (parts.length > 3) return undefined;
  const [scheme, name, port] = parts.length === 3 ? parts : ['', parts[0], parts[1] ?? ''];
  if (!name || !['', 'http', 'https'].includes(scheme)) return undefined;
  return { scheme: scheme === 'https' ? 'https' : 'http', name, port };
}

const joinHostPort = (ip: string, port: number | string) => {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === '' ? host : `${host}:${port}`;
};

const serviceUnavailable = (message: string) => new ApiError(503, 'ServiceUnavailable', message);

interface EndpointSubset {
  addresses?: { ip: string; nodeName?: string; targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string } }[];
  ports?: { name?: string; port: number }[];
}

/** Rotates where each service request starts among the ready addresses (per isolate or process). */
let turn = 0;

/**
 * The ready addresses serving the Service's port `id` names, in the order to try them. A port number
 * is the Service's port, found by its name in the Endpoints subsets; no port is the unnamed one.
 */
export async function serviceTargets(store: Store, namespace: string, id: string): Promise<ProxyTarget[]> {
  const parsed = splitSchemeNamePort(id);
  if (!parsed) throw badRequest(`invalid service request "${id}"`);
  const { scheme, name } = parsed;
  const byName = (kind: string) => ({ sql: 'SELECT rv, object FROM objects WHERE kind = ? AND namespace = ? AND name = ?', args: [kind, namespace, name] });
  const [[svc], [eps]] = await store.query([byName('Service'), byName('Endpoints')]);
  if (!svc) throw notFound('services', '', name);

  let portName = parsed.port;
  if (/^\d+$/.test(portName)) {
    const ports = ((svc.spec as { ports?: { name?: string; port: number }[] } | undefined)?.ports ?? []);
    const match = ports.find((p) => p.port === Number(portName));
    if (!match) throw serviceUnavailable(`no service port ${portName} found for service "${name}"`);
    portName = match.name ?? '';
  }
  // A missing Endpoints object (the controller has not written it yet) counts as none.
  const subsets = ((eps as KObject | undefined)?.subsets ?? []) as EndpointSubset[];
  if (subsets.length === 0) throw serviceUnavailable(`no endpoints available for service "${name}"`);
  const targets = subsets.flatMap((ss) => {
    const port = (ss.ports ?? []).find((p) => (p.name ?? '') === portName);
    return port ? (ss.addresses ?? []).map((a): ProxyTarget => ({ scheme, host: joinHostPort(a.ip, port.port), ...located(a, namespace) })) : [];
  });
  if (targets.length === 0) throw serviceUnavailable(`no endpoints available for service "${id}"`);
  const start = turn++ % targets.length;
  return [...targets.slice(start), ...targets.slice(0, start)];
}

/** Where an endpoint address runs: its node, and the pod when the address names one. */
function located(a: NonNullable<EndpointSubset['addresses']>[number], namespace: string): Pick<ProxyTarget, 'node' | 'pod'> {
  if (!a.nodeName) return {};
  const ref = a.targetRef;
  const pod = ref?.kind === 'Pod' && ref.name ? { namespace: ref.namespace ?? namespace, pod: ref.name, uid: ref.uid ?? '' } : undefined;
  return { node: a.nodeName, ...(pod ? { pod } : {}) };
}

interface PodContainer {
  ports?: { name?: string; containerPort: number }[];
}

/** The pod's IP and the given port: a number, a container port's name, or by default the first container port. */
export async function podTarget(store: Store, namespace: string, id: string): Promise<ProxyTarget> {
  const parsed = splitSchemeNamePort(id);
  if (!parsed) throw badRequest(`invalid pod request "${id}"`);
  const pod = await store.get('Pod', namespace, parsed.name);
  if (!pod) throw notFound('pods', '', parsed.name);
  const ports = ((pod.spec as { containers?: PodContainer[] } | undefined)?.containers ?? []).flatMap((c) => c.ports ?? []);
  let port: number | string = parsed.port;
  if (port === '') port = ports[0]?.containerPort ?? '';
  else if (!/^\d+$/.test(port)) {
    const named = ports.find((p) => p.name === port);
    if (!named) throw badRequest(`pod "${parsed.name}" has no container port named "${port}"`);
    port = named.containerPort;
  }
  const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
  if (!ip) throw badRequest('address not allowed');
  const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
  const ref = { namespace, pod: parsed.name, uid: String(pod.metadata?.uid ?? '') };
  return { scheme: parsed.scheme, host: joinHostPort(ip, port), ...(node ? { node, pod: ref } : {}) };
}

// Hop-by-hop headers (RFC 9110 7.6.1) stay on their own connection; fetch refuses some of them.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

function withoutHopByHop(source: Headers): Headers {
  const headers = new Headers(source);
  // Connection names further hop-by-hop headers; anything there that is not a header name is ignored.
  for (const name of (source.get('connection') ?? '').split(',').map((n) => n.trim())) if (HEADER_NAME.test(name)) headers.delete(name);
  for (const name of HOP_BY_HOP) headers.delete(name);
  return headers;
}

/** What the backend receives: the client's headers, less hop-by-hop ones and the API credentials. */
export function upstreamHeaders(req: Request, credentials = false): Headers {
  const headers = withoutHopByHop(req.headers);
  // The API's credentials stay with the API; an Ingress's traffic carries the application's own.
  for (const name of [...(credentials ? [] : ['authorization']), 'host', 'content-length', 'expect']) headers.delete(name);
  // fetch decodes compressed bodies but keeps their Content-Encoding; asking for none keeps both honest.
  headers.set('accept-encoding', 'identity');
  return headers;
}

/** What the client receives: the backend's headers, less hop-by-hop ones and any encoding fetch undid. */
function downstreamHeaders(res: Response): Headers {
  const headers = withoutHopByHop(res.headers);
  if (/^(gzip|x-gzip|deflate|br)$/i.test(res.headers.get('content-encoding') ?? '')) {
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  return headers;
}

/** Most addresses one request tries, so dead endpoints cannot use up an edge invocation's subrequests. */
const MAX_ATTEMPTS = 5;

const describeError = (e: unknown): string => {
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : e instanceof Error ? e.message : String(e);
};

/** Handles a request on services/NAME/proxy or pods/NAME/proxy. */
export async function proxy(deps: ProxyDeps, req: Request, rp: ResourcePath, url: URL): Promise<Response> {
  const namespace = rp.namespace ?? '';
  const isService = rp.def.kind === 'Service';
  const targets = isService ? await serviceTargets(deps.store, namespace, rp.name!) : [await podTarget(deps.store, namespace, rp.name!)];
  const path = rp.proxyPath ?? '';
  // As kube-apiserver (issue 4958): .../proxy without a slash redirects to .../proxy/, so relative links resolve.
  if (path === '' && (req.method === 'GET' || req.method === 'HEAD')) {
    return new Response(null, { status: 301, headers: { location: `${url.pathname}/${url.search}` } });
  }
  return forward(deps, req, targets, `${path || '/'}${url.search}`, isService ? 'service' : 'pod');
}

/**
 * Sends a request to a ready endpoint of a Service's port (a number or a port name), as the Service
 * proxy does: the Ingress's way to its backends.
 */
export async function forwardToService(deps: ProxyDeps, req: Request, namespace: string, service: string, port: string, pathAndQuery: string): Promise<Response> {
  return forward(deps, req, await serviceTargets(deps.store, namespace, port === '' ? service : `${service}:${port}`), pathAndQuery, 'service', true);
}

/** Headers as the tunnel carries them. */
export function headerList(headers: Headers): [string, string][] {
  return [...headers];
}

async function forward(deps: ProxyDeps, req: Request, targets: ProxyTarget[], pathAndQuery: string, what: string, credentials = false): Promise<Response> {
  // Buffered, so a retry on another address can send it again.
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
  const headers = upstreamHeaders(req, credentials);
  let lastError: unknown;
  for (const target of targets.slice(0, MAX_ATTEMPTS)) {
    try {
      const res = target.node && deps.tunnels ? await throughTunnel(deps.tunnels, target, req, body, headers, pathAndQuery) : await fetch(`${target.scheme}://${target.host}${pathAndQuery}`, {
        method: req.method, headers, body, redirect: 'manual', signal: req.signal,
      });
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers: downstreamHeaders(res) });
    } catch (e) {
      lastError = e; // could not connect, or the node is not connected: the next address may be
    }
  }
  throw serviceUnavailable(`error trying to reach ${what}: ${describeError(lastError)}`);
}

/** The request through the backend's node, which dials the pod; a connection failure there counts as one here. */
async function throughTunnel(tunnels: NodeTunnels, target: ProxyTarget, req: Request, body: ArrayBuffer | undefined, headers: Headers, path: string): Promise<Response> {
  const node = target.node!;
  if (tunnels.connected?.(node) === false) throw new Error(`node "${node}" is not connected`);
  const res = await tunnels.exchange(node, { op: 'http', ...(target.pod ? { pod: target.pod } : {}), scheme: target.scheme, host: target.host, method: req.method, path, headers: headerList(headers) }, new Request(req.url, { method: req.method, body, signal: req.signal }));
  // 502 from the node: it could not connect to the pod.
  if (res.status === 502 && res.headers.get('x-skiff-dial-error')) throw new Error(await res.text());
  return res;
}

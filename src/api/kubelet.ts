// The subresources kube-apiserver hands to a kubelet: pods/log, pods/exec, pods/attach,
// pods/portforward, and nodes/proxy. skiff's nodes dial out, so each goes through the node's tunnel:
// this module checks the request as kube-apiserver does (pod bound, container valid, options sane),
// works out what to ask of the node, and leaves the transport to the home's NodeTunnels.
import type { KObject } from '../kinds/types.js';
import type { Clock } from '../store/clock.js';
import type { Store } from '../store/store.js';
import type { ExecHead, LogsHead, PodRef, PortForwardHead } from '../tunnel/head.js';
import type { ResourcePath } from './paths.js';
import { headerList, splitSchemeNamePort, upstreamHeaders } from './proxy.js';
import { ApiError, badRequest, notFound } from './status.js';
import { queryBool as flag } from './query.js';
import { negotiate } from './stream-protocols.js';
import { notConnected, type NodeTunnels } from './tunnels.js';

export interface KubeletDeps {
  store: Store;
  clock: Clock;
  tunnels?: NodeTunnels;
}

interface PodSpecLike {
  nodeName?: string;
  containers?: { name: string; ports?: { name?: string; containerPort: number }[] }[];
  initContainers?: { name: string }[];
  ephemeralContainers?: { name: string }[];
}

const namesOf = (list: { name: string }[] | undefined) => (list ?? []).map((c) => c.name);

/** The pod, which must be on a node. */
async function boundPod(deps: KubeletDeps, namespace: string, name: string): Promise<{ pod: KObject; spec: PodSpecLike; node: string; ref: PodRef }> {
  const pod = await deps.store.get('Pod', namespace, name);
  if (!pod) throw notFound('pods', '', name);
  const spec = (pod.spec ?? {}) as PodSpecLike;
  if (!spec.nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  return { pod, spec, node: spec.nodeName, ref: { namespace, pod: name, uid: String(pod.metadata?.uid ?? '') } };
}

/** The container a request names, or the pod's only one, as kube-apiserver's validContainer does. */
function containerFor(spec: PodSpecLike, pod: string, requested: string | null): string {
  const containers = namesOf(spec.containers);
  const init = namesOf(spec.initContainers);
  const ephemeral = namesOf(spec.ephemeralContainers);
  if (!requested) {
    if (containers.length === 1) return containers[0];
    let message = `a container name must be specified for pod ${pod}, choose one of: [${containers.join(' ')}]`;
    if (init.length) message += ` or one of the init containers: [${init.join(' ')}]`;
    if (ephemeral.length) message += ` or one of the ephemeral containers: [${ephemeral.join(' ')}]`;
    throw badRequest(message);
  }
  if (![...containers, ...init, ...ephemeral].includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod}`);
  return requested;
}

function integer(q: URLSearchParams, name: string, min: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${name}: "${v}": must be an integer`);
  const n = Number(v);
  if (n < min) throw new ApiError(422, 'Invalid', `PodLogOptions "" is invalid: ${name}: Invalid value: ${n}: must be greater than or equal to ${min}`);
  return n;
}

function logsHead(deps: KubeletDeps, ref: PodRef, container: string, q: URLSearchParams): LogsHead {
  const sinceSeconds = integer(q, 'sinceSeconds', 1);
  const sinceTimeParam = q.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTimeParam) {
    throw new ApiError(422, 'Invalid', 'PodLogOptions "" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  }
  let sinceTime: string | undefined;
  if (sinceTimeParam) {
    const t = Date.parse(sinceTimeParam);
    if (Number.isNaN(t)) throw badRequest(`invalid value for sinceTime: "${sinceTimeParam}": must be an RFC 3339 time`);
    sinceTime = new Date(t).toISOString();
  } else if (sinceSeconds !== undefined) {
    sinceTime = new Date(deps.clock.now().getTime() - sinceSeconds * 1000).toISOString();
  }
  return {
    op: 'logs',
    ...ref,
    container,
    follow: flag(q, 'follow'),
    previous: flag(q, 'previous'),
    timestamps: flag(q, 'timestamps'),
    tailLines: integer(q, 'tailLines', 0),
    limitBytes: integer(q, 'limitBytes', 1),
    sinceTime,
  };
}

function tunnelsOf(deps: KubeletDeps, node: string): NodeTunnels {
  if (!deps.tunnels || deps.tunnels.connected?.(node) === false) throw notConnected(node);
  return deps.tunnels;
}

/** pods/log, pods/exec, pods/attach, pods/portforward. */
export async function podStream(deps: KubeletDeps, req: Request, rp: ResourcePath, url: URL): Promise<Response> {
  const q = url.searchParams;
  const sub = rp.subresource!;
  const method = req.method;
  if (sub === 'log' ? method !== 'GET' : !['GET', 'POST'].includes(method)) {
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }
  const { pod, spec, node, ref } = await boundPod(deps, rp.namespace ?? '', rp.name!);

  if (sub === 'log') {
    const head = logsHead(deps, ref, containerFor(spec, ref.pod, q.get('container')), q);
    return tunnelsOf(deps, node).exchange(node, head, req);
  }
  if (sub === 'portforward') {
    const ports = q.getAll('ports').flatMap((p) => p.split(',')).filter((p) => p !== '').map((p) => {
      const n = Number(p);
      if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw badRequest(`invalid port "${p}": must be between 1 and 65535`);
      return n;
    });
    const { transport, protocol } = negotiate(req, 'portforward');
    const podIP = (pod.status as { podIP?: string } | undefined)?.podIP;
    const head: PortForwardHead = { op: 'portforward', ...ref, ports, transport, protocol, ...(podIP ? { podIP } : {}) };
    return tunnelsOf(deps, node).exchange(node, head, req);
  }
  // exec and attach
  const container = containerFor(spec, ref.pod, q.get('container'));
  const command = q.getAll('command');
  if (sub === 'exec' && command.length === 0) throw badRequest('you must specify at least one command for the container');
  const streams = { stdin: flag(q, 'stdin'), stdout: flag(q, 'stdout'), stderr: flag(q, 'stderr'), tty: flag(q, 'tty') };
  if (!streams.stdin && !streams.stdout && !streams.stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  const { transport, protocol } = negotiate(req, 'remotecommand');
  const head: ExecHead = { op: sub === 'exec' ? 'exec' : 'attach', ...ref, container, ...(sub === 'exec' ? { command } : {}), ...streams, transport, protocol };
  return tunnelsOf(deps, node).exchange(node, head, req);
}

/** nodes/NAME[:PORT]/proxy/PATH: the agent's own endpoints (no port), or a port on the machine's loopback. */
export async function nodeProxy(deps: KubeletDeps, req: Request, rp: ResourcePath, url: URL): Promise<Response> {
  const parsed = splitSchemeNamePort(rp.name!);
  if (!parsed) throw badRequest(`invalid node request "${rp.name}"`);
  const node = await deps.store.get('Node', '', parsed.name);
  if (!node) throw notFound('nodes', '', parsed.name);
  const path = rp.proxyPath ?? '';
  if (path === '' && (req.method === 'GET' || req.method === 'HEAD')) {
    return new Response(null, { status: 301, headers: { location: `${url.pathname}/${url.search}` } });
  }
  if (parsed.port !== '' && !/^\d+$/.test(parsed.port)) throw badRequest(`invalid port "${parsed.port}"`);
  const host = parsed.port === '' ? '' : `127.0.0.1:${parsed.port}`;
  return tunnelsOf(deps, parsed.name).exchange(parsed.name, { op: 'http', scheme: parsed.scheme, host, method: req.method, path: (path || '/') + url.search, headers: headerList(upstreamHeaders(req)) }, req);
}

// metrics.k8s.io/v1beta1, as metrics-server serves it for `kubectl top`: NodeMetrics and PodMetrics,
// from the usage each agent samples, asked of the nodes through their tunnels when requested (no
// scraping loop: a control plane on Workers has none to run). A node that cannot be asked is
// answered for from the usage it last reported (store/pod-usage.ts), when fresh; nodes with neither
// are left out, as metrics-server leaves out nodes it could not scrape.
import type { KObject } from '../kinds/types.js';
import type { Clock } from '../store/clock.js';
import { readUsage } from '../store/pod-usage.js';
import type { Store } from '../store/store.js';
import type { NodeStats } from '../tunnel/head.js';
import { labelSql, parseLabelSelector } from './selectors.js';
import { ApiError, notFound } from './status.js';
import type { NodeTunnels } from './tunnels.js';

export const METRICS_GROUP = 'metrics.k8s.io';
const GV = `${METRICS_GROUP}/v1beta1`;

export function metricsResourceList(): Record<string, unknown> {
  const res = (name: string, kind: string, namespaced: boolean) => ({ name, singularName: '', namespaced, kind, verbs: ['get', 'list'] });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: GV, resources: [res('nodes', 'NodeMetrics', false), res('pods', 'PodMetrics', true)] };
}

export const metricsGroup = { name: METRICS_GROUP, versions: [{ groupVersion: GV, version: 'v1beta1' }], preferredVersion: { groupVersion: GV, version: 'v1beta1' } };

/** How long one node may take to answer before it is left out. */
const NODE_TIMEOUT_MS = 5000;

async function statsOf(tunnels: NodeTunnels, node: string): Promise<NodeStats | undefined> {
  if (tunnels.connected?.(node) === false) return undefined;
  try {
    const req = new Request('http://node/stats', { signal: AbortSignal.timeout(NODE_TIMEOUT_MS) });
    const res = await tunnels.exchange(node, { op: 'stats' }, req);
    if (!res.ok) return void (await res.body?.cancel());
    return (await res.json()) as NodeStats;
  } catch {
    return undefined;
  }
}

const cpu = (nanoCores: number) => `${Math.round(nanoCores)}n`;
const memory = (bytes: number) => `${Math.round(bytes / 1024)}Ki`;
const window = (s: NodeStats) => `${Math.round(s.windowSeconds)}s`;

function meta(obj: KObject, namespaced: boolean): Record<string, unknown> {
  const m = obj.metadata ?? {};
  return { name: m.name, ...(namespaced ? { namespace: m.namespace } : {}), creationTimestamp: new Date().toISOString(), labels: m.labels ?? {} };
}

const list = (kind: string, items: unknown[]) => ({ kind, apiVersion: GV, metadata: {}, items });

/** GET /apis/metrics.k8s.io/v1beta1/...: nodes[/NAME], pods, namespaces/NS/pods[/NAME]. */
export async function metricsRequest(deps: { store: Store; tunnels?: NodeTunnels; clock?: Clock }, path: string, q: URLSearchParams): Promise<Response> {
  const segs = path.split('/').filter(Boolean).slice(3); // after apis/metrics.k8s.io/v1beta1
  let namespace: string | undefined;
  let rest = segs;
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    namespace = segs[1];
    rest = segs.slice(2);
  }
  const [resource, name, ...extra] = rest;
  if (extra.length || (resource !== 'nodes' && resource !== 'pods') || (resource === 'nodes' && namespace !== undefined)) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  const where = labelSql(parseLabelSelector(q.get('labelSelector') ?? undefined));
  const tunnels = deps.tunnels;
  const now = (deps.clock?.now() ?? new Date()).getTime();

  if (resource === 'nodes') {
    const nodes = name ? [await deps.store.get('Node', '', name)].filter((n): n is KObject => !!n) : (await deps.store.list('Node', { where })).items;
    const stats = await Promise.all(nodes.map((n) => (tunnels ? statsOf(tunnels, String(n.metadata?.name)) : undefined)));
    const unasked = nodes.filter((_, i) => !stats[i]).map((n) => String(n.metadata?.name));
    const reported = unasked.length ? new Map((await readUsage(deps.store, [], unasked, now)).nodes.map((u) => [u.node, u])) : new Map();
    const items = nodes.flatMap((n, i) => {
      const s = stats[i];
      if (s) return [{ kind: 'NodeMetrics', apiVersion: GV, metadata: meta(n, false), timestamp: s.timestamp, window: window(s), usage: { cpu: cpu(s.node.cpuNanoCores), memory: memory(s.node.memoryBytes) } }];
      const u = reported.get(String(n.metadata?.name));
      return u ? [{ kind: 'NodeMetrics', apiVersion: GV, metadata: meta(n, false), timestamp: new Date(u.sampled).toISOString(), window: `${Math.round(u.windowMs / 1000)}s`, usage: { cpu: cpu(u.cpuNanoCores), memory: memory(u.memoryBytes) } }] : [];
    });
    if (name) return items[0] ? Response.json(items[0]) : metricsNotFound('nodemetrics', name);
    return Response.json(list('NodeMetricsList', items));
  }

  const pods = (name ? [await deps.store.get('Pod', namespace ?? '', name)].filter((p): p is KObject => !!p) : (await deps.store.list('Pod', { namespace, where })).items)
    .filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running');
  const nodes = [...new Set(pods.map((p) => (p.spec as { nodeName?: string }).nodeName).filter((n): n is string => !!n))];
  const byNode = new Map((await Promise.all(nodes.map(async (n) => [n, tunnels ? await statsOf(tunnels, n) : undefined] as const))));
  const nodeOf = (p: KObject) => (p.spec as { nodeName?: string }).nodeName ?? '';
  const unasked = pods.filter((p) => !byNode.get(nodeOf(p))).map((p) => String(p.metadata?.uid));
  const reported = unasked.length ? new Map((await readUsage(deps.store, unasked, [], now)).pods.map((u) => [u.uid, u])) : new Map();
  const items = pods.flatMap((p) => {
    const s = byNode.get(nodeOf(p));
    const usage = s?.pods.find((u) => u.uid === p.metadata?.uid);
    const r = reported.get(String(p.metadata?.uid));
    if (!s && r) {
      const containers = r.containers.map((c: { name: string; cpu: number; memory: number }) => ({ name: c.name, usage: { cpu: cpu(c.cpu), memory: memory(c.memory) } }));
      return [{ kind: 'PodMetrics', apiVersion: GV, metadata: meta(p, true), timestamp: new Date(r.sampled).toISOString(), window: `${Math.round(r.windowMs / 1000)}s`, containers }];
    }
    if (!s || !usage) return [];
    const containers = usage.containers.map((c) => ({ name: c.name, usage: { cpu: cpu(c.cpuNanoCores), memory: memory(c.memoryBytes) } }));
    return [{ kind: 'PodMetrics', apiVersion: GV, metadata: meta(p, true), timestamp: s.timestamp, window: window(s), containers }];
  });
  if (name) return items[0] ? Response.json(items[0]) : metricsNotFound('podmetrics', name);
  return Response.json(list('PodMetricsList', items));
}

function metricsNotFound(resource: string, name: string): never {
  throw notFound(resource, METRICS_GROUP, name);
}

import { Hono } from 'hono';
import type { Clock } from '../store/clock.js';
import type { Store } from '../store/store.js';
import { authorize } from './auth/authorize.js';
import { ADMIN, isMaster, nodeNameOf, type Identity } from './auth/identity.js';
import { bearerToken, join, JOIN_PATH } from './auth/join.js';
import { apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from './discovery.js';
import { openapiV2, openapiV3Document, openapiV3Index } from './openapi/index.js';
import { parseResourcePath } from './paths.js';
import { addDefaultTolerations } from '../kinds/pod.js';
import { ResourceHandler } from './resources.js';
import { allocateService, defaultServiceRanges, type ServiceRanges } from './service-allocation.js';
import { ApiError, statusResponse } from './status.js';
import { admitIngress, IngressRouter, type ForwardToService } from './ingress.js';
import { metricsGroup, metricsRequest, metricsResourceList, METRICS_GROUP } from './metrics-api.js';
import { TUNNEL_PATH, type NodeTunnels } from './tunnels.js';
import type { WatchPolling } from './watch.js';

export interface AppOptions {
  store: Store;
  clock: Clock;
  /**
   * Who the bearer token (undefined when none was sent) is, or undefined when no one. `true` stands
   * for the admin (tests and benchmarks that check no token), `false` for no one.
   */
  authenticate: (token: string | undefined) => Identity | boolean | undefined | Promise<Identity | boolean | undefined>;
  /** The CA certificate (PEM) that `GET /cacerts` serves to joining machines; absent: 404. */
  caCert?: string;
  /** Called after a committed write, so a reconcile pass can follow. */
  onWrite?: (kind: string) => void;
  /** Longest watch, in seconds (kube-apiserver's --min-request-timeout is 1800). */
  maxWatchSeconds?: number;
  bookmarkIntervalMs?: number;
  /** How often the shared change feed reads the log when no local write woke it. */
  pollIntervalMs?: number;
  /**
   * Where no commit can wake a watch and reads are metered (Workers): each watch polls the log
   * itself, backing off while quiet, and ends after a bounded number of polls.
   */
  watchPolling?: WatchPolling;
  /** --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds. */
  defaultTolerationSeconds?: [number, number];
  /** --service-cluster-ip-range and --service-node-port-range. */
  serviceRanges?: ServiceRanges;
  /** What `GET /metrics` answers, in Prometheus' text format; absent: 404. */
  metrics?: () => string;
  /** The nodes' tunnels, held by the home; absent: nodes cannot be reached (logs, exec, ... answer 503). */
  tunnels?: NodeTunnels;
  /** skiff as the ingress controller: Ingress traffic goes to Services through `forward`; absent: no ingress. */
  ingress?: {
    forward: ForwardToService;
    /** How long the Ingress hosts read are trusted for writes made elsewhere (default 1 s): each read is a round trip. */
    hostsTtlMs?: number;
  };
}

// /cacerts is public as k3s serves it: an agent fetches it unverified and checks its hash. The join
// exchange checks its own token.
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version', '/cacerts', JOIN_PATH]);

type AppEnv = { Variables: { identity: Identity } };

const notFoundPath = () => new ApiError(404, 'NotFound', 'the server could not find the requested resource');

export function createApp(opts: AppOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const ingress = opts.ingress && new IngressRouter({ store: opts.store, forward: opts.ingress.forward }, Date.now, opts.ingress.hostsTtlMs);
  const resources = new ResourceHandler({
    store: opts.store,
    clock: opts.clock,
    onWrite: (kind) => {
      ingress?.written(kind);
      opts.onWrite?.(kind);
    },
    admit: async (def, obj, old) => {
      if (def.kind === 'Service') return allocateService(opts.store, opts.serviceRanges ?? defaultServiceRanges, obj, old);
      if (def.kind === 'Pod' && !old) addDefaultTolerations(obj.spec, ...(opts.defaultTolerationSeconds ?? []));
      if (def.kind === 'Ingress' && !old) await admitIngress(opts.store, obj);
      return undefined;
    },
    maxWatchSeconds: opts.maxWatchSeconds ?? 1800,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
    pollIntervalMs: opts.pollIntervalMs ?? 2_000,
    watchPolling: opts.watchPolling,
    tunnels: opts.tunnels,
  });

  app.onError((err) => {
    if (err instanceof ApiError) return statusResponse(err);
    console.error('internal error:', err);
    return statusResponse(new ApiError(500, 'InternalError', `Internal error occurred: ${err.message}`));
  });
  app.notFound(() => statusResponse(notFoundPath()));

  // Ingress traffic, before authentication: public, and the backend's own business.
  if (ingress) app.use('*', async (c, next) => (await ingress.handle(c.req.raw, c.req.path)) ?? next());

  app.use('*', async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const found = await opts.authenticate(bearerToken(c.req.header('authorization')));
    const identity = found === true ? ADMIN : found || undefined;
    if (!identity) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    // Other than the admin, only nodes exist: they may read every path that is not a resource
    // (discovery, OpenAPI, version); resource requests are authorized below.
    if (!isMaster(identity) && !nodeNameOf(identity)) {
      throw new ApiError(403, 'Forbidden', `forbidden: User "${identity.user}" cannot ${c.req.method.toLowerCase()} path "${c.req.path}"`);
    }
    c.set('identity', identity);
    return next();
  });

  app.post(JOIN_PATH, (c) => join(c.req.raw, opts.store, opts.clock));
  app.get('/cacerts', (c) => {
    if (!opts.caCert) throw notFoundPath();
    return c.body(opts.caCert, 200, { 'content-type': 'text/plain; charset=utf-8' });
  });

  app.get('/metrics', (c) => {
    if (!opts.metrics) throw notFoundPath();
    if (!isMaster(c.get('identity'))) throw new ApiError(403, 'Forbidden', `forbidden: User "${c.get('identity').user}" cannot get path "/metrics"`);
    return c.body(opts.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
  for (const path of ['/healthz', '/livez', '/readyz']) app.get(path, (c) => c.text('ok'));
  app.get('/version', (c) => c.json(SERVER_VERSION));
  app.get('/api', (c) => c.json(apiVersions(new URL(c.req.url).host)));
  app.get('/apis', (c) => {
    const list = apiGroupList() as { groups: unknown[] };
    return c.json({ ...list, groups: [...list.groups, metricsGroup] });
  });
  // An agent's tunnel: only a node's own credential opens its node's session.
  app.get(TUNNEL_PATH, (c) => {
    const node = nodeNameOf(c.get('identity'));
    if (!node) throw new ApiError(403, 'Forbidden', `forbidden: User "${c.get('identity').user}" cannot get path "${TUNNEL_PATH}": only nodes open tunnels`);
    if (!opts.tunnels) throw new ApiError(404, 'NotFound', 'this server holds no node tunnels');
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw new ApiError(400, 'BadRequest', 'the tunnel is a WebSocket: send Upgrade: websocket');
    return opts.tunnels.accept(node, c.req.raw);
  });
  app.get(`/apis/${METRICS_GROUP}/v1beta1`, (c) => c.json(metricsResourceList()));
  app.get(`/apis/${METRICS_GROUP}/v1beta1/*`, (c) => {
    if (!isMaster(c.get('identity'))) throw new ApiError(403, 'Forbidden', `forbidden: User "${c.get('identity').user}" cannot list resource in API group "${METRICS_GROUP}"`);
    return metricsRequest({ store: opts.store, tunnels: opts.tunnels }, c.req.path, new URL(c.req.url).searchParams);
  });
  app.get('/api/:version', (c) => c.json(found(apiResourceList('', c.req.param('version')))));
  app.get('/apis/:group/:version', (c) => c.json(found(apiResourceList(c.req.param('group'), c.req.param('version')))));
  // kubectl asks for v2 only as protobuf, as a fallback; JSON is for other clients.
  app.get('/openapi/v2', (c) => {
    const accept = c.req.header('accept') ?? '*/*';
    if (!/application\/json|\*\/\*/.test(accept)) throw new ApiError(406, 'NotAcceptable', 'only application/json is served');
    return c.json(openapiV2());
  });
  app.get('/openapi/v3', (c) => c.json(openapiV3Index()));
  app.get('/openapi/v3/*', (c) => c.json(found(openapiV3Document(c.req.path.slice('/openapi/v3/'.length)))));

  app.all('*', async (c) => {
    const url = new URL(c.req.url);
    const rp = parseResourcePath(url.pathname);
    if (!rp) throw notFoundPath();
    const identity = c.get('identity');
    if (!identity) throw new ApiError(401, 'Unauthorized', 'Unauthorized'); // a public path is never a resource
    const access = await authorize(identity, c.req.method, rp, url.searchParams, opts.store);
    return resources.handle(c.req.raw, rp, url, access);
  });
  return app;
}

function found<T>(doc: T | undefined): T {
  if (doc === undefined) throw notFoundPath();
  return doc;
}

import { Hono } from 'hono';
import type { Clock } from '../store/clock.js';
import type { Store } from '../store/store.js';
import { accessReview } from './auth/access-reviews.js';
import { authorize, authorizeNonResource, decide, forbidden } from './auth/authorize.js';
import { ADMIN, isStoreAuthenticator, nodeNameOf, type Identity } from './auth/identity.js';
import { impersonate } from './auth/impersonation.js';
import { jwks, JWKS_PATH, OPENID_CONFIG_PATH, openidConfiguration } from './auth/oidc.js';
import { RbacAuthorizer } from './auth/rbac.js';
import { selfSubjectReview, tokenReview } from './auth/reviews.js';
import { decodeObject, mediaType, readBody } from './body.js';
import { bearerToken, join, JOIN_PATH } from './auth/join.js';
import { aggregatedContentType, aggregatedDiscovery, aggregatedDiscoveryVersion, apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from './discovery.js';
import { openapiV3Document, openapiV3Index } from './openapi/index.js';
import { openapiV2Response } from './openapi/v2.js';
import { parseResourcePath } from './paths.js';
import type { KindDef } from '../kinds/types.js';
import { addDefaultTolerations } from '../kinds/pod.js';
import { ResourceHandler } from './resources.js';
import { handleServedVersion } from './served-versions.js';
import { allocateService, defaultServiceRanges, type ServiceRanges } from './service-allocation.js';
import { ApiError, statusResponse } from './status.js';
import { admitIngress, IngressRouter, type ForwardToService } from './ingress.js';
import { metricsGroup, metricsRequest, metricsResourceList, METRICS_GROUP } from './metrics-api.js';
import { TUNNEL_PATH, type NodeTunnels } from './tunnels.js';
import { relay, RELAY_PATH } from './relay.js';
import { USAGE_REPORT_PATH, usageReport } from './usage-reports.js';
import type { WatchPolling } from './watch.js';
import { EXPOSITION_CONTENT_TYPE } from './metrics-registry.js';
import type { ServerMetrics } from './server-metrics.js';
import { isConsolePath, serveConsole } from './console.js';
import { compressLarge, type Gzip } from './compression.js';

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
  /** What `GET /metrics` answers (Prometheus' text format) and counts every request; absent: 404. */
  metrics?: ServerMetrics;
  /** Gzips large GET answers for clients that accept it, as kube-apiserver does; absent: none are. */
  gzip?: Gzip;
  /** The nodes' tunnels, held by the home; absent: nodes cannot be reached (logs, exec, ... answer 503). */
  tunnels?: NodeTunnels;
  /** skiff as the ingress controller: Ingress traffic goes to Services through `forward`; absent: no ingress. */
  /** How long RBAC's objects read are trusted for writes made elsewhere (default 1 s): each read is a round trip. */
  policyTtlMs?: number;
  /** Check RBAC's objects past policyTtlMs without holding requests up (not on Workers). */
  policyInBackground?: boolean;
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
  const rbac = new RbacAuthorizer(opts.store, { ttlMs: opts.policyTtlMs, background: opts.policyInBackground });
  const authn = isStoreAuthenticator(opts.authenticate) ? opts.authenticate : undefined;
  const resources = new ResourceHandler({
    store: opts.store,
    clock: opts.clock,
    onWrite: (kind) => {
      ingress?.written(kind);
      rbac.written(kind);
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
    serviceAccounts: authn?.serviceAccounts,
  });

  app.onError((err) => {
    if (err instanceof ApiError) return statusResponse(err);
    console.error('internal error:', err);
    return statusResponse(new ApiError(500, 'InternalError', `Internal error occurred: ${err.message}`));
  });
  app.notFound(() => statusResponse(notFoundPath()));

  // Ingress traffic, before authentication: public, and the backend's own business.
  if (ingress) app.use('*', async (c, next) => (await ingress.handle(c.req.raw, c.req.path)) ?? next());
  // Every API request counted (refused ones too), as kube-apiserver's apiserver_request_total.
  if (opts.metrics) app.use('*', opts.metrics.middleware());
  if (opts.gzip) app.use('*', compressLarge(opts.gzip));

  app.use('*', async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path) || isConsolePath(c.req.path)) return next();
    const found = await opts.authenticate(bearerToken(c.req.header('authorization')));
    const identity = found === true ? ADMIN : found || undefined;
    if (!identity) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    // --as and --as-group: who may act as whom is RBAC's `impersonate` verb.
    const acting = await impersonate(identity, c.req.raw.headers, (who, a) => {
      const slash = a.resource.indexOf('/');
      const [resource, subresource] = slash < 0 ? [a.resource, undefined] : [a.resource.slice(0, slash), a.resource.slice(slash + 1)];
      return decide(who, { resource: { verb: a.verb, group: a.apiGroup, resource, subresource, name: a.name, namespace: a.namespace, fields: [] } }, opts.store, rbac);
    });
    c.set('identity', acting);
    // Resource requests are authorized with their attributes below; everything else here by its path.
    // Usage reports check their node themselves (usage-reports.ts).
    if (!RESOURCE_PATH.test(c.req.path) && !USAGE_REPORT_PATH.test(c.req.path)) await authorizeNonResource(acting, c.req.method, c.req.path, rbac);
    return next();
  });

  serveConsole(app);
  app.post(JOIN_PATH, (c) => join(c.req.raw, opts.store, opts.clock));
  app.get('/cacerts', (c) => {
    if (!opts.caCert) throw notFoundPath();
    return c.body(opts.caCert, 200, { 'content-type': 'text/plain; charset=utf-8' });
  });

  app.get('/metrics', async (c) => {
    if (!opts.metrics) throw notFoundPath();
    return c.body(await opts.metrics.expose(), 200, { 'content-type': EXPOSITION_CONTENT_TYPE });
  });
  for (const path of ['/healthz', '/livez', '/readyz']) app.get(path, (c) => c.text('ok'));
  app.get('/version', (c) => c.json(SERVER_VERSION));
  // /api and /apis: aggregated discovery when the Accept asks for it (one round trip for all).
  const discovery = (path: '/api' | '/apis', accept: string | undefined, legacy: () => unknown) => {
    const version = aggregatedDiscoveryVersion(accept);
    const extra = [{ group: METRICS_GROUP, version: 'v1beta1', list: metricsResourceList() }];
    if (!version) return Response.json(legacy(), { headers: { vary: 'Accept' } });
    return new Response(JSON.stringify(aggregatedDiscovery(path, version, extra)), { headers: { 'content-type': aggregatedContentType(version), vary: 'Accept' } });
  };
  app.get('/api', (c) => discovery('/api', c.req.header('accept'), () => apiVersions(new URL(c.req.url).host)));
  app.get('/apis', (c) => discovery('/apis', c.req.header('accept'), () => {
    const list = apiGroupList() as { groups: unknown[] };
    return { ...list, groups: [...list.groups, metricsGroup] };
  }));
  // An agent's tunnel: only a node's own credential opens its node's session.
  app.get(TUNNEL_PATH, (c) => {
    const node = nodeNameOf(c.get('identity'));
    if (!node) throw new ApiError(403, 'Forbidden', `forbidden: User "${c.get('identity').user}" cannot get path "${TUNNEL_PATH}": only nodes open tunnels`);
    if (!opts.tunnels) throw new ApiError(404, 'NotFound', 'this server holds no node tunnels');
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw new ApiError(400, 'BadRequest', 'the tunnel is a WebSocket: send Upgrade: websocket');
    return opts.tunnels.accept(node, c.req.raw);
  });
  // A node carrying a pod's connection to a pod on a node it cannot reach (relay.ts).
  app.get(RELAY_PATH, (c) => relay({ store: opts.store, tunnels: opts.tunnels }, c.req.raw, c.get('identity')));
  app.put('/skiff/v1/nodes/:node/usage', (c) => usageReport(c.req.raw, c.req.param('node'), c.get('identity'), opts.store, opts.clock));
  app.get(`/apis/${METRICS_GROUP}/v1beta1`, (c) => c.json(metricsResourceList()));
  app.get(`/apis/${METRICS_GROUP}/v1beta1/*`, async (c) => {
    const segs = c.req.path.split('/').slice(4);
    const namespace = segs[0] === 'namespaces' ? segs[1] : undefined;
    const [resource = '', name] = namespace !== undefined ? segs.slice(2) : segs;
    const a = { verb: name ? 'get' : 'list', group: METRICS_GROUP, resource, namespace, name, fields: [] };
    const decision = await decide(c.get('identity'), { resource: a }, opts.store, rbac);
    if (!decision.allowed) throw forbidden(c.get('identity'), a, decision.reason || undefined);
    return metricsRequest({ store: opts.store, tunnels: opts.tunnels, clock: opts.clock }, c.req.path, new URL(c.req.url).searchParams);
  });
  // The ServiceAccount issuer's discovery, as kube-apiserver serves it (readable by system:serviceaccounts).
  app.get(OPENID_CONFIG_PATH, (c) => (authn ? openidConfiguration(authn, c.req.url) : Promise.reject(notFoundPath())));
  app.get(JWKS_PATH, (c) => (authn ? jwks(authn) : Promise.reject(notFoundPath())));
  app.get('/api/:version', (c) => c.json(found(apiResourceList('', c.req.param('version')))));
  app.get('/apis/:group/:version', (c) => c.json(found(apiResourceList(c.req.param('group'), c.req.param('version')))));
  // kubectl 1.27 and 1.28 read v2, as protobuf only, for apply, create -f and diff; every kubectl for explain --output=plaintext-openapiv2.
  app.get('/openapi/v2', (c) => openapiV2Response(c.req.header('accept')));
  app.get('/openapi/v3', (c) => c.json(openapiV3Index()));
  app.get('/openapi/v3/*', (c) => c.json(found(openapiV3Document(c.req.path.slice('/openapi/v3/'.length)))));

  app.all('*', async (c) => {
    const url = new URL(c.req.url);
    const rp = parseResourcePath(url.pathname);
    if (!rp) throw notFoundPath();
    const identity = c.get('identity');
    if (!identity) throw new ApiError(401, 'Unauthorized', 'Unauthorized'); // a public path is never a resource
    const access = await authorize(identity, c.req.method, rp, url.searchParams, opts.store, rbac);
    if (rp.def.stored === false) return review(c.req.raw, rp.def, rp.namespace, rp.name, identity);
    if (rp.def.conversion) return handleServedVersion({ store: opts.store, clock: opts.clock, resources }, c.req.raw, rp, url, access);
    return resources.handle(c.req.raw, rp, url, access);
  });
  /** The create-only review kinds: answered here, never stored. */
  async function review(req: Request, def: KindDef, namespace: string | undefined, name: string | undefined, identity: Identity): Promise<Response> {
    if (req.method !== 'POST' || name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', { kind: def.plural, group: def.group, ...(name ? { name } : {}) });
    const body = decodeObject(await readBody(req), mediaType(req));
    if (def.kind === 'SelfSubjectReview') return selfSubjectReview(identity, opts.clock.now(), body);
    if (def.kind === 'TokenReview') {
      if (!authn) throw notFoundPath();
      return tokenReview(authn, body);
    }
    return accessReview(def, identity, body, namespace, opts.store, rbac);
  }

  return app;
}

/** /api/v1/... and /apis/GROUP/VERSION/...: a resource (discovery documents are the paths above). */
const RESOURCE_PATH = /^\/(?:api\/[^/]+|apis\/[^/]+\/[^/]+)\/[^/]/;

function found<T>(doc: T | undefined): T {
  if (doc === undefined) throw notFoundPath();
  return doc;
}

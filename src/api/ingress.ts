import { DEFAULT_INGRESS_CLASS_SQL, INGRESS_CLASS_ANNOTATION, servedBySkiff } from '../kinds/ingress.js';
import type { KObject } from '../kinds/types.js';
import type { Store } from '../store/store.js';
import { ApiError } from './status.js';

// skiff as the ingress controller of its own Ingresses (class "skiff", or none while skiff's class is
// the default): a request whose Host names a rule's host, or that an Ingress without a host takes,
// goes to a ready endpoint of the Service the best matching path names, through the same Service
// forwarding as services/NAME/proxy. Matching follows the Ingress API's rules: a host matches exactly,
// or a wildcard "*.example.com" matches exactly one label more; Prefix paths match element by element;
// among several matches ingress-nginx's precedence holds: an exact host over a wildcard one, then the
// longest path, then Exact over Prefix, then the oldest Ingress.

/** The Service forwarding the control plane offers (src/api/proxy.ts's forwardToService). */
export type ForwardToService = (req: Request, namespace: string, service: string, port: string, pathAndQuery: string) => Promise<Response>;

export interface IngressDeps {
  store: Store;
  forward: ForwardToService;
}

interface ServiceBackend {
  name?: string;
  port?: { name?: string; number?: number };
}

export interface IngressBackend {
  service?: ServiceBackend;
  resource?: { apiGroup?: string; kind?: string; name?: string };
}

interface HTTPPath {
  path?: string;
  pathType?: string;
  backend?: IngressBackend;
}

interface IngressRule {
  host?: string;
  http?: { paths?: HTTPPath[] };
}

/** What routing reads of an Ingress. */
export interface RoutedIngress {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp: the older Ingress wins a tie. */
  created: string;
  spec: { rules?: IngressRule[]; defaultBackend?: IngressBackend };
}

export type IngressMatch =
  | { namespace: string; ingress: string; backend: IngressBackend }
  /** A rule's host matched, no path did and no defaultBackend takes the request: the default backend's 404. */
  | { namespace: string; ingress: string; backend?: undefined };

// ---- matching (pure) ----

/** The request's host as rules name hosts: lower case, without the port or a trailing dot. */
export function requestHost(req: Request): string {
  const raw = req.headers.get('host') ?? new URL(req.url).host;
  const host = raw.startsWith('[') ? raw.slice(0, raw.indexOf(']') + 1) : raw.replace(/:\d*$/, '');
  return host.replace(/\.$/, '').toLowerCase();
}

/** The wildcard host that would match `host` ("*.example.com" for "a.example.com"), or '' for a single label. */
export function wildcardOf(host: string): string {
  const dot = host.indexOf('.');
  return dot > 0 ? `*${host.slice(dot)}` : '';
}

/** The length a path competes with: a Prefix path's trailing slash does not count (it is ignored). */
const isPrefix = (pathType: string | undefined) => pathType !== 'Exact';
const prefixOf = (path: string) => (path.length > 1 ? path.replace(/\/+$/, '') : path);

/**
 * Whether a rule path matches the request path. Exact: the same string. Prefix (and
 * ImplementationSpecific, treated as Prefix here): element by element, a trailing slash ignored,
 * so "/foo" matches "/foo", "/foo/" and "/foo/bar" but not "/foobar".
 */
export function pathMatches(pathType: string | undefined, rulePath: string | undefined, requestPath: string): boolean {
  const path = rulePath || '/';
  if (!isPrefix(pathType)) return requestPath === path;
  const prefix = prefixOf(path);
  if (prefix === '/' || prefix === '') return true;
  return requestPath === prefix || requestPath.startsWith(`${prefix}/`);
}

interface Candidate {
  ing: RoutedIngress;
  order: number;
}

const olderFirst = (a: RoutedIngress, b: RoutedIngress) =>
  (a.created < b.created ? -1 : a.created > b.created ? 1 : 0) || (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The backend for a request among the Ingresses skiff serves; undefined when none takes it (no rule
 * host matches, and no rule without a host or defaultBackend does).
 */
export function matchIngress(ingresses: RoutedIngress[], host: string, path: string): IngressMatch | undefined {
  const sorted = [...ingresses].sort(olderFirst);
  const hostOf = (r: IngressRule) => (r.host ?? '').toLowerCase();
  const wildcard = wildcardOf(host);
  // The host decides first, as nginx picks a server: exact, else wildcard, else the rules without host.
  const tiers = [host && ((r: IngressRule) => hostOf(r) === host), wildcard && ((r: IngressRule) => hostOf(r) === wildcard)]
    .filter((t): t is (r: IngressRule) => boolean => !!t);
  for (const takes of tiers) {
    const owners = sorted.filter((ing) => (ing.spec.rules ?? []).some(takes));
    if (owners.length === 0) continue;
    const best = bestPath(owners, takes, path);
    if (best) return best;
    // No path: the defaultBackend of the oldest Ingress naming this host that has one, else a 404.
    const fallback = owners.find((ing) => ing.spec.defaultBackend);
    if (fallback) return { namespace: fallback.namespace, ingress: fallback.name, backend: fallback.spec.defaultBackend! };
    return { namespace: owners[0].namespace, ingress: owners[0].name };
  }
  const hostless = (r: IngressRule) => hostOf(r) === '';
  const best = bestPath(sorted.filter((ing) => (ing.spec.rules ?? []).some(hostless)), hostless, path);
  if (best) return best;
  // The catch-all: an Ingress with a defaultBackend that names no host.
  const catchAll = sorted.find((ing) => ing.spec.defaultBackend && !(ing.spec.rules ?? []).some((r) => !hostless(r)));
  return catchAll ? { namespace: catchAll.namespace, ingress: catchAll.name, backend: catchAll.spec.defaultBackend! } : undefined;
}

/** The best path of the rules `takes` accepts: longest, then Exact, then the oldest Ingress and first listed. */
function bestPath(owners: RoutedIngress[], takes: (r: IngressRule) => boolean, requestPath: string): IngressMatch | undefined {
  let best: { ing: RoutedIngress; backend: IngressBackend; length: number; exact: boolean } | undefined;
  for (const ing of owners) {
    for (const rule of ing.spec.rules ?? []) {
      if (!takes(rule)) continue;
      for (const p of rule.http?.paths ?? []) {
        if (!p.backend || !pathMatches(p.pathType, p.path, requestPath)) continue;
        const exact = !isPrefix(p.pathType);
        const length = exact ? (p.path ?? '').length : prefixOf(p.path || '/').length;
        // Strictly better only: the earlier (older Ingress, first listed) keeps a tie.
        if (!best || length > best.length || (length === best.length && exact && !best.exact)) best = { ing, backend: p.backend, length, exact };
      }
    }
  }
  return best && { namespace: best.ing.namespace, ingress: best.ing.name, backend: best.backend };
}

// ---- serving ----

/** Ingresses skiff serves that could take a request for `host`: one of its rules names the host, its wildcard or no host, or it has a defaultBackend. */
const CANDIDATES_SQL = `SELECT o.namespace, o.name, o.object ->> '$.metadata.creationTimestamp' AS created, o.object -> '$.spec' AS spec
  FROM objects o
  WHERE o.kind = 'Ingress'
    AND (o.object -> '$.spec.defaultBackend' IS NOT NULL
      OR EXISTS (SELECT 1 FROM json_each(o.object, '$.spec.rules') r WHERE lower(COALESCE(r.value ->> '$.host', '')) IN (:host, :wildcard, '')))
    AND ${servedBySkiff('o')}`;

/** Every host a served Ingress's rules name ('' for rules without one, and for a defaultBackend). */
const HOSTS_SQL = `WITH served AS MATERIALIZED (SELECT o.object FROM objects o WHERE o.kind = 'Ingress' AND ${servedBySkiff('o')})
  SELECT lower(COALESCE(r.value ->> '$.host', '')) AS host FROM served s, json_each(s.object, '$.spec.rules') r
  UNION SELECT '' FROM served s WHERE s.object -> '$.spec.defaultBackend' IS NOT NULL`;

const plain = (status: number, text: string) =>
  new Response(`${text}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });

/**
 * Serves a request through the Ingresses skiff serves, read in one query; undefined when none takes
 * it. 404 when a rule's host matched and none of its paths (nor a defaultBackend) did; 503 when the
 * Service has no ready endpoint (or does not exist).
 */
export async function serveIngress(deps: IngressDeps, req: Request): Promise<Response | undefined> {
  const url = new URL(req.url);
  const host = requestHost(req);
  const [rows] = await deps.store.rows([{ sql: CANDIDATES_SQL, args: { host, wildcard: wildcardOf(host) } }]);
  const ingresses = rows.map((r): RoutedIngress => ({
    namespace: String(r.namespace),
    name: String(r.name),
    created: String(r.created ?? ''),
    spec: JSON.parse(String(r.spec ?? '{}')) as RoutedIngress['spec'],
  }));
  const match = matchIngress(ingresses, host, url.pathname);
  if (!match) return undefined;
  if (!match.backend) return plain(404, 'default backend - 404');
  const service = match.backend.service;
  if (!service?.name) return plain(503, `Service Unavailable: ingress "${match.namespace}/${match.ingress}" names a resource backend; skiff serves Service backends only`);
  const port = service.port?.number ? String(service.port.number) : service.port?.name ?? '';
  // What the backend learns of the request it did not get first hand, as ingress controllers tell it.
  // The body is read here (the forwarding buffers it anyway, to retry another endpoint).
  const headers = new Headers(req.headers);
  headers.set('x-forwarded-host', req.headers.get('host') ?? url.host);
  headers.set('x-forwarded-proto', url.protocol.replace(/:$/, ''));
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
  const forwarded = new Request(req.url, { method: req.method, headers, body, signal: req.signal });
  try {
    return await deps.forward(forwarded, match.namespace, service.name, port, url.pathname + url.search);
  } catch (e) {
    // No ready endpoint, no such Service or port, none reachable: as ingress-nginx, a 503.
    if (e instanceof ApiError && e.code >= 400 && e.code < 600 && e.code !== 500) return plain(503, `Service Unavailable: ${e.message}`);
    throw e;
  }
}

/** How long the set of Ingress hosts is trusted, by default, for writes made elsewhere (another server on the database, another isolate). */
const HOSTS_TTL_MS = 1000;

/** The API paths: a request for one of these with a host no rule names is the API's, whatever hostless rules say. */
const API_PATHS = ['/api', '/apis', '/openapi', '/version', '/healthz', '/livez', '/readyz', '/metrics', '/cacerts', '/skiff', '/.well-known'];

export function isApiPath(path: string): boolean {
  return API_PATHS.some((p) => path === p || path.startsWith(`${p}/`));
}

/**
 * Decides, before authentication, whether a request is Ingress traffic: its Host names a rule host
 * (exactly or through a wildcard), or it is for a path that is not the API's while some rule has no
 * host. The hosts are kept in memory, read again after an Ingress or IngressClass write through this
 * process and at most a TTL after the last read otherwise, so an API request pays a set lookup.
 */
export class IngressRouter {
  private hosts?: { set: Set<string>; at: number };
  private generation = 0;

  constructor(
    private readonly deps: IngressDeps,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = HOSTS_TTL_MS,
  ) {}

  /** After a write through this process: Ingress hosts and classes are read afresh by the next request. */
  written(kind: string): void {
    if (kind !== 'Ingress' && kind !== 'IngressClass') return;
    this.generation++;
    this.hosts = undefined;
  }

  /** The Ingress's answer, or undefined for the API to handle the request. `path` is the request's path. */
  async handle(req: Request, path: string): Promise<Response | undefined> {
    const hosts = await this.hostSet();
    if (hosts.size === 0) return undefined;
    const host = requestHost(req);
    const named = host !== '' && (hosts.has(host) || hosts.has(wildcardOf(host)));
    if (!named && !(hosts.has('') && !isApiPath(path))) return undefined;
    return serveIngress(this.deps, req);
  }

  /**
   * Each request that finds the set stale reads it itself: a read shared between requests would make
   * one wait on another's database call, which workerd cancels.
   */
  private async hostSet(): Promise<Set<string>> {
    const cached = this.hosts;
    if (cached && this.now() - cached.at < this.ttlMs) return cached.set;
    const generation = this.generation;
    const at = this.now();
    const [rows] = await this.deps.store.rows([HOSTS_SQL]);
    const set = new Set(rows.map((r) => String(r.host)));
    // A write while this read was in flight may not be in it: kept only if none came.
    if (generation === this.generation) this.hosts = { set, at };
    return set;
  }
}

// ---- admission ----

/**
 * What kube-apiserver does to a new Ingress before storing it: its status starts empty (the
 * controller owns it), and one without a class gets the default IngressClass's name (the
 * DefaultIngressClass admission plugin: the newest class annotated as default; none, no class).
 */
export async function admitIngress(store: Store, ing: KObject): Promise<void> {
  ing.status = { loadBalancer: {} };
  const spec = ((ing.spec ??= {}) as { ingressClassName?: string });
  if (spec.ingressClassName != null || ing.metadata?.annotations?.[INGRESS_CLASS_ANNOTATION] !== undefined) return;
  const [rows] = await store.rows([{ sql: `SELECT ${DEFAULT_INGRESS_CLASS_SQL} AS name`, args: [] }]);
  if (rows[0]?.name != null) spec.ingressClassName = String(rows[0].name);
}

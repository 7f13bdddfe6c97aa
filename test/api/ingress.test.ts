// skiff as the ingress controller, through HTTP against a real server: requests by Host and path to
// real loopback backends listed as Endpoints (Exact, Prefix, ImplementationSpecific, wildcard hosts,
// defaultBackend, no endpoint), which requests stay the API's, the status's load balancer address,
// validation, the default IngressClass, and kubectl's tables, create ingress and apply.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { Agent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import type { ForwardToService } from '../../src/api/ingress.js';
import { ApiError, notFound } from '../../src/api/status.js';
import { defaultControlOptions } from '../../src/control/context.js';
import { reconcile } from '../../src/control/pass.js';
import type { KObject } from '../../src/kinds/types.js';
import { ensureCredentials } from '../../src/node/certs.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { migrate } from '../../src/node/migrate.js';
import { systemClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { fetchOver } from '../helpers/https.js';
import { jsonRequest } from '../helpers/json-request.js';
import { hasKubectl, httpsFetch, kubectl, type KubectlTarget } from '../helpers/skiff-server.js';

const NS = '/api/v1/namespaces/default';
const ING = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
const ADDRESS = '203.0.113.7';
const TOKEN = 'ingress-test-token';

interface ApiServer {
  /** https://127.0.0.1:PORT */
  url: string;
  store: Store;
  /** fetch-style, with the admin token. */
  request(path: string, init?: RequestInit): Promise<Response>;
  reconcile(): ReturnType<typeof reconcile>;
  stop(): Promise<void>;
}

/**
 * The API with skiff's ingress over HTTPS (kubectl sends no bearer token over plain HTTP), its own
 * database file and certificates, and passes only when the test runs one.
 */
async function startIngressApi(dir: string, forward: ForwardToService): Promise<ApiServer & { ca: string }> {
  const client = openClient(`file:${join(dir, 'skiff.db')}`);
  await migrate(client);
  const store = new Store(client, systemClock);
  await store.init();
  const control = { ...defaultControlOptions, ingressAddress: ADDRESS };
  const app = createApp({ store, clock: systemClock, authenticate: (t) => t === TOKEN, ingress: { forward } });
  const creds = ensureCredentials(dir, '127.0.0.1');
  const adapter = createNodeAdapter((req) => app.fetch(req));
  const server = createHttpsServer({ key: creds.serverKey, cert: creds.serverCert }, adapter.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new Agent({ ca: creds.caCert, keepAlive: true });
  return {
    url,
    store,
    ca: creds.caCert,
    request: fetchOver((path, init = {}) => httpsFetch(url + path, agent, { ...init, token: TOKEN })),
    reconcile: () => reconcile(store, systemClock, control),
    stop: async () => {
      adapter.endStreams();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      store.close();
    },
  };
}

interface Echo {
  id: string;
  method: string;
  url: string;
  body: string;
  headers: IncomingMessage['headers'];
}

interface Backend {
  id: string;
  port: number;
  server: Server;
}

/** A loopback HTTP server that answers with its id and what it received. */
async function startBackend(id: string): Promise<Backend> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (s: string) => (body += s));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': id });
      res.end(JSON.stringify({ id, method: req.method ?? '', url: req.url ?? '', body, headers: req.headers } satisfies Echo));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { id, port: (server.address() as AddressInfo).port, server };
}

/**
 * The Service forwarding the control plane provides, as the test's own: the Service's port by number
 * or name, the first ready address of its Endpoints, over fetch; Kubernetes' errors when there is none.
 */
function forwardByEndpoints(api: () => ApiServer, calls: string[]): ForwardToService {
  return async (req, namespace, service, port, pathAndQuery) => {
    calls.push(`${namespace}/${service}:${port}${pathAndQuery}`);
    const svc = await api().store.get('Service', namespace, service);
    if (!svc) throw notFound('services', '', service);
    const ports = ((svc.spec as { ports?: { name?: string; port: number }[] }).ports ?? []);
    const servicePort = /^\d+$/.test(port) ? ports.find((p) => p.port === Number(port)) : ports.find((p) => p.name === port);
    if (!servicePort) throw new ApiError(503, 'ServiceUnavailable', `no service port ${port} found for service "${service}"`);
    const eps = await api().store.get('Endpoints', namespace, service);
    const subsets = ((eps as KObject | undefined)?.subsets ?? []) as { addresses?: { ip: string }[]; ports?: { name?: string; port: number }[] }[];
    const targets = subsets.flatMap((ss) => {
      const p = (ss.ports ?? []).find((x) => (x.name ?? '') === (servicePort.name ?? ''));
      return p ? (ss.addresses ?? []).map((a) => `${a.ip}:${p.port}`) : [];
    });
    if (targets.length === 0) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${service}"`);
    const headers = new Headers(req.headers);
    for (const h of ['host', 'content-length', 'connection']) headers.delete(h);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
    const res = await fetch(`http://${targets[0]}${pathAndQuery}`, { method: req.method, headers, body });
    return new Response(await res.arrayBuffer(), { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? '', 'x-backend': res.headers.get('x-backend') ?? '' } });
  };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A request as the public sends it: a Host of its choosing, no credentials, the certificate not checked. */
function publicRequest(url: string, host: string, path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { method: init.method ?? 'GET', headers: { host, ...init.headers }, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const service = (name: string, ports: { name?: string; port: number }[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports } });
const endpoints = (name: string, port: number, portName?: string) => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name },
  subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ ...(portName ? { name: portName } : {}), port }] }],
});
const backend = (name: string, port: number | string) => ({ service: { name, port: typeof port === 'number' ? { number: port } : { name: port } } });
const rule = (host: string | undefined, paths: [string, string, ReturnType<typeof backend>][]) => ({
  ...(host ? { host } : {}),
  http: { paths: paths.map(([path, pathType, b]) => ({ path, pathType, backend: b })) },
});
const ingressObject = (name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, ...metadata }, spec });

describe('skiff as the ingress controller', () => {
  let api: ApiServer;
  const backends: Record<string, Backend> = {};
  const calls: string[] = [];
  let dir: string;
  let target: KubectlTarget;

  const send = async (path: string, init?: RequestInit, want = 201): Promise<any> => {
    const res = await api.request(path, init);
    const body = await res.json();
    if (res.status !== want) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const create = (path: string, obj: unknown) => send(path, jsonRequest('POST', obj));
  const via = (host: string, path: string, init?: Parameters<typeof publicRequest>[3]) => publicRequest(api.url, host, path, init);
  /** Which backend answered a public request (its id), or the status when none did. */
  const reached = async (host: string, path: string): Promise<string | number> => {
    const res = await via(host, path);
    return res.status === 200 && res.headers['x-backend'] ? String(res.headers['x-backend']) : res.status;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-ingress-'));
    const started = await startIngressApi(dir, forwardByEndpoints(() => api, calls));
    api = started;
    for (const id of ['a', 'b', 'c', 'd', 'e']) backends[id] = await startBackend(id);
    const { a, b, c, d, e } = backends;
    await create(`${NS}/services`, service('svc-a', [{ port: 80 }]));
    await create(`${NS}/endpoints`, endpoints('svc-a', a.port));
    await create(`${NS}/services`, service('svc-b', [{ name: 'http', port: 80 }]));
    await create(`${NS}/endpoints`, endpoints('svc-b', b.port, 'http'));
    await create(`${NS}/services`, service('svc-c', [{ port: 8080 }]));
    await create(`${NS}/endpoints`, endpoints('svc-c', c.port));
    await create(`${NS}/services`, service('svc-d', [{ port: 80 }]));
    await create(`${NS}/endpoints`, endpoints('svc-d', d.port));
    await create(`${NS}/services`, service('svc-e', [{ port: 80 }]));
    await create(`${NS}/endpoints`, endpoints('svc-e', e.port));
    await create(`${NS}/services`, service('empty', [{ port: 80 }]));

    await create(ING, ingressObject('hosts', {
      rules: [rule('a.example.com', [['/', 'Prefix', backend('svc-a', 80)]]), rule('b.example.com', [['/', 'Prefix', backend('svc-b', 'http')]])],
    }));
    await create(ING, ingressObject('paths', {
      rules: [rule('paths.example.com', [
        ['/', 'Prefix', backend('svc-a', 80)],
        ['/foo', 'Prefix', backend('svc-b', 'http')],
        ['/foo', 'Exact', backend('svc-c', 8080)],
        ['/impl', 'ImplementationSpecific', backend('svc-d', 80)],
      ])],
    }));
    await create(ING, ingressObject('wild', { rules: [rule('*.wild.example.com', [['/', 'Prefix', backend('svc-d', 80)]])] }));
    await create(ING, ingressObject('exact-wild', { rules: [rule('exact.wild.example.com', [['/x', 'Prefix', backend('svc-e', 80)]])] }));
    await create(ING, ingressObject('fallback', { defaultBackend: backend('svc-e', 80), rules: [rule('d.example.com', [['/only', 'Exact', backend('svc-a', 80)]])] }));
    await create(ING, ingressObject('nopath', { rules: [rule('n.example.com', [['/only', 'Exact', backend('svc-a', 80)]])] }));
    await create(ING, ingressObject('unavailable', { rules: [rule('empty.example.com', [['/', 'Prefix', backend('empty', 80)]])] }));

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'skiff',
      clusters: [{ name: 'skiff', cluster: { server: api.url, 'certificate-authority-data': btoa(started.ca) } }],
      users: [{ name: 'admin', user: { token: TOKEN } }],
      contexts: [{ name: 'skiff', context: { cluster: 'skiff', user: 'admin' } }],
    }));
    target = { kubeconfig, cacheDir: join(dir, 'cache') };
  });

  afterAll(async () => {
    for (const b of Object.values(backends)) b.server.closeAllConnections();
    await Promise.all(Object.values(backends).map((b) => new Promise((ok) => b.server.close(ok))));
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the default IngressClass skiff at startup', async () => {
    const ic = await send('/apis/networking.k8s.io/v1/ingressclasses/skiff', undefined, 200);
    expect(ic).toMatchObject({
      kind: 'IngressClass',
      metadata: { name: 'skiff', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
      spec: { controller: 'skiff.dev/ingress' },
    });
  });

  it('routes two hostnames to two Services, by port number and port name, without credentials', async () => {
    const res = await via('a.example.com', '/hello?x=1');
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.text) as Echo;
    expect(echo).toMatchObject({ id: 'a', url: '/hello?x=1' });
    expect(echo.headers).toMatchObject({ 'x-forwarded-host': 'a.example.com', 'x-forwarded-proto': 'https' });
    expect(await reached('B.Example.com:8080', '/')).toBe('b');
    expect(calls).toContain('default/svc-a:80/hello?x=1');
    expect(calls).toContain('default/svc-b:http/');
    // The body goes on too.
    const posted = await via('a.example.com', '/submit', { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(JSON.parse(posted.text)).toMatchObject({ id: 'a', method: 'POST', body: 'payload' });
  });

  it('matches Exact, Prefix and ImplementationSpecific paths, the longest first, Exact before Prefix', async () => {
    expect(await reached('paths.example.com', '/foo')).toBe('c');
    expect(await reached('paths.example.com', '/foo/')).toBe('b');
    expect(await reached('paths.example.com', '/foo/bar')).toBe('b');
    expect(await reached('paths.example.com', '/foobar')).toBe('a');
    expect(await reached('paths.example.com', '/impl/deep/path')).toBe('d');
    expect(await reached('paths.example.com', '/')).toBe('a');
  });

  it('matches a wildcard host for one label, an exact host first', async () => {
    expect(await reached('one.wild.example.com', '/')).toBe('d');
    expect(await reached('exact.wild.example.com', '/x/1')).toBe('e');
    // The exact host has no path for this: its default backend answers, not the wildcard's.
    expect(await reached('exact.wild.example.com', '/y')).toBe(404);
    // Two labels are not the wildcard's: no Ingress takes it, the API does (and wants a token).
    expect(await reached('two.labels.wild.example.com', '/')).toBe(401);
  });

  it("falls back to the Ingress's defaultBackend, or answers the default backend's 404", async () => {
    expect(await reached('d.example.com', '/only')).toBe('a');
    expect(await reached('d.example.com', '/other')).toBe('e');
    const res = await via('n.example.com', '/other');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe('default backend - 404\n');
  });

  it('answers 503 in plain text when the Service has no ready endpoint', async () => {
    const res = await via('empty.example.com', '/');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('no endpoints available for service "empty"');
  });

  it('sees a new Ingress at once, and leaves a deleted one to the API', async () => {
    expect(await reached('late.example.com', '/')).toBe(401);
    await create(ING, ingressObject('late', { rules: [rule('late.example.com', [['/', 'Prefix', backend('svc-b', 'http')]])] }));
    expect(await reached('late.example.com', '/')).toBe('b');
    await send(`${ING}/late`, { method: 'DELETE' }, 200);
    expect(await reached('late.example.com', '/')).toBe(401);
  });

  it("serves only its own class: an Ingress of another controller's class is left alone", async () => {
    await create('/apis/networking.k8s.io/v1/ingressclasses', { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } });
    await create(ING, ingressObject('foreign', { ingressClassName: 'nginx', rules: [rule('foreign.example.com', [['/', 'Prefix', backend('svc-a', 80)]])] }));
    await create(ING, ingressObject('annotated', { rules: [rule('annotated.example.com', [['/', 'Prefix', backend('svc-a', 80)]])] }, { annotations: { 'kubernetes.io/ingress.class': 'skiff' } }));
    expect(await reached('foreign.example.com', '/')).toBe(401);
    expect(await reached('annotated.example.com', '/')).toBe('a');
  });

  it('sets the default class on an Ingress created without one, and clears the status sent', async () => {
    const created = await create(ING, { ...ingressObject('defaulted', { defaultBackend: backend('svc-a', 80) }), status: { loadBalancer: { ingress: [{ ip: '10.9.9.9' }] } } });
    expect(created.spec.ingressClassName).toBe('skiff');
    expect(created.status).toEqual({ loadBalancer: {} });
    const annotated = await send(`${ING}/annotated`, undefined, 200);
    expect(annotated.spec.ingressClassName).toBeUndefined();
    await send(`${ING}/defaulted`, { method: 'DELETE' }, 200);
  });

  it('keeps the API paths for the API while a catch-all Ingress takes other paths of any host', async () => {
    await create(ING, ingressObject('catchall', { defaultBackend: backend('svc-c', 8080) }));
    try {
      expect(await reached('unknown.example.org', '/shop')).toBe('c');
      expect(await reached('127.0.0.1', '/')).toBe('c');
      for (const path of ['/api/v1/namespaces', '/apis', '/openapi/v2', '/metrics', '/skiff/v1/tunnel']) {
        expect(await reached('unknown.example.org', path), path).toBe(401);
      }
      expect(JSON.parse((await via('unknown.example.org', '/version')).text)).toMatchObject({ major: '1' });
      expect((await via('unknown.example.org', '/healthz')).text).toBe('ok');
      // The API's own requests still work, with their token.
      expect((await api.request(`${NS}/services/svc-a`)).status).toBe(200);
    } finally {
      await send(`${ING}/catchall`, { method: 'DELETE' }, 200);
    }
    expect(await reached('unknown.example.org', '/shop')).toBe(401);
  });

  it('publishes the ingress address in status.loadBalancer once a pass ran, writing only when it changes', async () => {
    await api.reconcile();
    const hosts = await send(`${ING}/hosts`, undefined, 200);
    expect(hosts.status).toEqual({ loadBalancer: { ingress: [{ ip: ADDRESS }] } });
    const foreign = await send(`${ING}/foreign`, undefined, 200);
    expect(foreign.status).toEqual({ loadBalancer: {} });
    await api.reconcile();
    expect((await send(`${ING}/hosts`, undefined, 200)).metadata.resourceVersion).toBe(hosts.metadata.resourceVersion);
    // The status is a subresource: a write of the main resource keeps it.
    const replaced = await send(`${ING}/hosts`, jsonRequest('PUT', { ...hosts, status: {} }), 200);
    expect(replaced.status).toEqual({ loadBalancer: { ingress: [{ ip: ADDRESS }] } });
  });

  it('refuses an invalid Ingress with 422 and the fields, in Kubernetes\' words', async () => {
    const res = await api.request(ING, jsonRequest('POST', ingressObject('bad', {
      rules: [
        { host: '10.0.0.1', http: { paths: [{ path: 'relative', pathType: 'Prefix', backend: backend('svc-a', 80) }] } },
        { host: 'ok.example.com', http: { paths: [{ path: '/x', backend: backend('svc-a', 80) }] } },
        { host: '*.example.com', http: { paths: [{ path: '/x', pathType: 'Exact', backend: { service: { name: 'svc-a' } } }] } },
      ],
    })));
    expect(res.status).toBe(422);
    const status = await res.json();
    expect(status).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, details: { name: 'bad', group: 'networking.k8s.io', kind: 'Ingress' } });
    expect(status.message).toMatch(/^Ingress\.networking\.k8s\.io "bad" is invalid: \[spec\.rules\[0\]\.host: Invalid value: "10\.0\.0\.1": must be a DNS name, not an IP address, /);
    expect(status.details.causes.map((c: { field: string }) => c.field)).toEqual([
      'spec.rules[0].host',
      'spec.rules[0].http.paths[0].path',
      'spec.rules[1].http.paths[0].pathType',
      'spec.rules[2].http.paths[0].backend',
    ]);
    const noRules = await api.request(ING, jsonRequest('POST', ingressObject('empty-spec', {})));
    expect(noRules.status).toBe(422);
    expect((await noRules.json()).message).toBe('Ingress.networking.k8s.io "empty-spec" is invalid: spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified');
    const badClass = await api.request('/apis/networking.k8s.io/v1/ingressclasses', jsonRequest('POST', { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'bad' }, spec: { controller: 'nginx' } }));
    expect(badClass.status).toBe(422);
    expect((await badClass.json()).details.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'spec.controller', message: 'Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")' }]);
  });

  describe.skipIf(!hasKubectl)('through kubectl', () => {
    const k = async (...args: string[]): Promise<string> => {
      const r = await kubectl(args, target, { timeoutMs: 30_000 });
      expect(r.code, `kubectl ${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const columns = (line: string) => line.trim().split(/\s{2,}/);

    it('prints ingresses and ingress classes as kubectl does', async () => {
      await api.reconcile();
      const lines = (await k('get', 'ingress')).trimEnd().split('\n');
      expect(columns(lines[0])).toEqual(['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS', 'AGE']);
      const hosts = lines.map(columns).find((c) => c[0] === 'hosts')!;
      expect(hosts.slice(0, 5)).toEqual(['hosts', 'skiff', 'a.example.com,b.example.com', ADDRESS, '80']);
      expect(lines.map(columns).find((c) => c[0] === 'foreign')!.slice(0, 4)).toEqual(['foreign', 'nginx', 'foreign.example.com', '80']);
      const classes = (await k('get', 'ingressclass')).trimEnd().split('\n').map(columns);
      expect(classes[0]).toEqual(['NAME', 'CONTROLLER', 'PARAMETERS', 'AGE']);
      expect(classes.find((c) => c[0] === 'skiff')!.slice(0, 3)).toEqual(['skiff', 'skiff.dev/ingress', '<none>']);
      expect(await k('get', 'ing', 'hosts', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}')).toBe(ADDRESS);
      const described = await k('describe', 'ingress', 'hosts');
      expect(described).toMatch(/Ingress Class:\s+skiff/);
      // The endpoints describe shows are EndpointSlices', which no pass wrote here.
      expect(described).toMatch(/a\.example\.com\s*\n\s+\/\s+svc-a:80 \(/);
    });

    it('creates an Ingress with kubectl create ingress, which skiff then serves', async () => {
      expect(await k('create', 'ingress', 'made', '--rule=made.example.com/hello=svc-a:80', '--rule=made.example.com/api/*=svc-b:http')).toBe('ingress.networking.k8s.io/made created\n');
      const made = await send(`${ING}/made`, undefined, 200);
      expect(made.spec).toEqual({
        ingressClassName: 'skiff',
        rules: [{ host: 'made.example.com', http: { paths: [
          { path: '/hello', pathType: 'Exact', backend: { service: { name: 'svc-a', port: { number: 80 } } } },
          { path: '/api/', pathType: 'Prefix', backend: { service: { name: 'svc-b', port: { name: 'http' } } } },
        ] } }],
      });
      expect(await reached('made.example.com', '/hello')).toBe('a');
      expect(await reached('made.example.com', '/hello/more')).toBe(404);
      // /api is an API path, but this host is the Ingress's.
      expect(await reached('made.example.com', '/api/v1')).toBe('b');
    });

    it('applies Ingresses client-side and server-side, and explains them', async () => {
      const manifest = (port: number) => JSON.stringify(ingressObject('applied', { rules: [rule('applied.example.com', [['/', 'Prefix', backend('svc-a', port)]])] }));
      const r1 = await kubectl(['apply', '-f', '-'], target, { stdin: manifest(80) });
      expect(r1.stdout, r1.stderr).toBe('ingress.networking.k8s.io/applied created\n');
      const r2 = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], target, { stdin: manifest(8080) });
      expect(r2.stdout, r2.stderr).toBe('ingress.networking.k8s.io/applied serverside-applied\n');
      expect((await send(`${ING}/applied`, undefined, 200)).spec.rules[0].http.paths[0].backend.service.port.number).toBe(8080);
      expect(await k('explain', 'ingress.spec.rules.http.paths.pathType')).toMatch(/Exact, Prefix or ImplementationSpecific/);
    });
  });
});

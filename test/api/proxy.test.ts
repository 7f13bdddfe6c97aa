// services/NAME[:PORT]/proxy and pods/NAME[:PORT]/proxy: forwarding to ready endpoints over
// loopback backends, rotation, skipping dead addresses, Kubernetes' errors, and kubectl proxy.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, TOKEN, type ApiServer } from '../helpers/api-server.js';
import { jsonRequest } from '../helpers/json-request.js';
import { hasKubectl, kubectlPath, startSkiff, type SkiffServer } from '../helpers/skiff-server.js';

const NS = '/api/v1/namespaces/default';

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
  /** Ends the response of a request to /stream, which sends its first chunk at once. */
  finishStream(): void;
}

/** A loopback HTTP server that answers with its id and what it received (as JSON). */
async function startBackend(id: string): Promise<Backend> {
  let finish = () => {};
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (s: string) => (body += s));
    req.on('end', () => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        finish = () => res.end('last\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': id, 'set-cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify({ id, method: req.method ?? '', url: req.url ?? '', body, headers: req.headers } satisfies Echo));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { id, port: (server.address() as AddressInfo).port, server, finishStream: () => finish() };
}

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

const service = (name: string, ports: { name?: string; port: number }[]) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { ports }, // no selector: the Endpoints below are kept as written
});

/** One subset per backend: a subset's addresses share its ports. */
const endpoints = (name: string, subsets: { port: number; portName?: string; extra?: { name: string; port: number }[] }[]) => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name },
  subsets: subsets.map((s) => ({
    addresses: [{ ip: '127.0.0.1' }],
    ports: [{ ...(s.portName ? { name: s.portName } : {}), port: s.port }, ...(s.extra ?? [])],
  })),
});

function rawRequest(url: string, method: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

type Send = (path: string, init?: RequestInit) => Promise<Response>;

async function create(send: Send, plural: string, obj: object): Promise<void> {
  const res = await send(`${NS}/${plural}`, jsonRequest('POST', obj));
  if (res.status !== 201) throw new Error(`creating ${plural}: ${res.status} ${await res.text()}`);
}

describe('proxy subresources', () => {
  let api: ApiServer;
  let a: Backend;
  let b: Backend;
  let c: Backend;
  let metrics: Backend;
  let dead: number;
  let dead2: number;

  const echo = async (path: string, init?: RequestInit): Promise<Echo> => {
    const res = await api.request(path, init);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Echo;
  };

  beforeAll(async () => {
    api = await startApi({ passes: false });
    [a, b, c, metrics] = await Promise.all(['a', 'b', 'c', 'metrics'].map(startBackend));
    [dead, dead2] = [await deadPort(), await deadPort()];
    const send: Send = (p, i) => api.request(p, i);
    await create(send, 'services', service('spread', [{ port: 80 }]));
    await create(send, 'endpoints', endpoints('spread', [a, b, c]));
    await create(send, 'services', service('flaky', [{ port: 80 }]));
    await create(send, 'endpoints', endpoints('flaky', [{ port: dead }, a]));
    await create(send, 'services', service('down', [{ port: 80 }]));
    await create(send, 'endpoints', endpoints('down', [{ port: dead }, { port: dead2 }]));
    await create(send, 'services', service('empty', [{ port: 80 }]));
    await create(send, 'endpoints', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'empty' } });
    await create(send, 'services', service('unwritten', [{ port: 80 }]));
    await create(send, 'services', service('web', [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090 }]));
    const metricsPort = { name: 'metrics', port: metrics.port };
    await create(send, 'endpoints', endpoints('web', [a, b].map((x) => ({ port: x.port, portName: 'http', extra: [metricsPort] }))));
  });

  afterAll(async () => {
    for (const x of [a, b, c, metrics]) x?.server.closeAllConnections();
    await Promise.all([a, b, c, metrics].map((x) => x && new Promise((ok) => x.server.close(ok))));
    await api?.stop();
  });

  it('spreads requests over the ready addresses', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await echo(`${NS}/services/spread/proxy/`)).id);
    expect(ids.filter((id) => id === 'a')).toHaveLength(2);
    expect(ids.filter((id) => id === 'b')).toHaveLength(2);
    expect(ids.filter((id) => id === 'c')).toHaveLength(2);
  });

  it('skips an address that refuses the connection', async () => {
    for (let i = 0; i < 4; i++) expect((await echo(`${NS}/services/flaky/proxy/x`)).id).toBe('a');
    // Rotation makes one of two requests start at the dead address: the body is sent again on the retry.
    for (let i = 0; i < 2; i++) expect(await echo(`${NS}/services/flaky/proxy/x`, { method: 'POST', body: `try ${i}` })).toMatchObject({ id: 'a', body: `try ${i}` });
  });

  it('answers 503 when no address can be reached', async () => {
    const res = await api.request(`${NS}/services/down/proxy/`);
    expect(res.status).toBe(503);
    const status = await res.json();
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503 });
    expect(status.message).toMatch(/^error trying to reach service: /);
  });

  it('answers 503 with Kubernetes\' message when there are no endpoints', async () => {
    for (const name of ['empty', 'unwritten']) {
      const res = await api.request(`${NS}/services/${name}/proxy/`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ reason: 'ServiceUnavailable', code: 503, message: `no endpoints available for service "${name}"` });
    }
  });

  it('resolves the service port by name or by number', async () => {
    expect((await echo(`${NS}/services/web:metrics/proxy/m`)).id).toBe('metrics');
    expect((await echo(`${NS}/services/web:9090/proxy/m`)).id).toBe('metrics');
    expect(['a', 'b']).toContain((await echo(`${NS}/services/web:http/proxy/`)).id);
    expect(['a', 'b']).toContain((await echo(`${NS}/services/web:80/proxy/`)).id);
    expect(['a', 'b']).toContain((await echo(`${NS}/services/http:web:http/proxy/`)).id);

    // As kube-apiserver: no port means the unnamed one, which "web" does not have.
    const unnamed = await api.request(`${NS}/services/web/proxy/`);
    expect(unnamed.status).toBe(503);
    expect((await unnamed.json()).message).toBe('no endpoints available for service "web"');
    const wrongNumber = await api.request(`${NS}/services/web:81/proxy/`);
    expect(wrongNumber.status).toBe(503);
    expect((await wrongNumber.json()).message).toBe('no service port 81 found for service "web"');
    const badScheme = await api.request(`${NS}/services/ftp:web:80/proxy/`);
    expect(badScheme.status).toBe(400);
    expect((await badScheme.json()).message).toBe('invalid service request "ftp:web:80"');
  });

  it('passes the path, query, body and headers through, less the credentials and hop-by-hop headers', async () => {
    // node:http, as fetch would not send a Connection header.
    const res = await rawRequest(`${api.url}${NS}/services/web:http/proxy/api/items%2F1/?q=a%20b&n=2`, 'POST', '{"hello":"world"}', {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'x-custom': 'yes',
      connection: 'keep-alive, x-hop, ',
      'x-hop': 'no',
    });
    expect(res.status).toBe(200);
    expect(['a', 'b']).toContain(res.headers['x-backend']);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    const got = JSON.parse(res.text) as Echo;
    expect(got).toMatchObject({ method: 'POST', url: '/api/items%2F1/?q=a%20b&n=2', body: '{"hello":"world"}' });
    expect(got.headers).toMatchObject({ 'content-type': 'application/json', 'x-custom': 'yes' });
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers['x-hop']).toBeUndefined();

    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      expect(await echo(`${NS}/services/web:http/proxy/m`, { method, body: method === 'DELETE' ? undefined : 'x' })).toMatchObject({ method, url: '/m' });
    }
  });

  it('streams the response while the backend is still writing it', async () => {
    const res = await api.request(`${NS}/services/web:metrics/proxy/stream`);
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toBe('first\n');
    metrics.finishStream();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
    expect(rest).toBe('last\n');
  });

  it('redirects .../proxy to .../proxy/ as kube-apiserver does', async () => {
    const res = await api.request(`${NS}/services/spread/proxy?x=1`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`${NS}/services/spread/proxy/?x=1`);
  });

  it('answers 404 for an unknown service or pod', async () => {
    for (const [path, message] of [
      [`${NS}/services/nope/proxy/`, 'services "nope" not found'],
      [`${NS}/pods/nope:80/proxy/`, 'pods "nope" not found'],
    ]) {
      const res = await api.request(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ reason: 'NotFound', message });
    }
  });

  it('reaches a pod at its IP on the given, named or first container port', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: a.port }, { name: 'alt', containerPort: b.port }] }] },
    };
    await create((p, i) => api.request(p, i), 'pods', pod);
    const noIP = await api.request(`${NS}/pods/p/proxy/`);
    expect(noIP.status).toBe(400);
    const patched = await api.request(`${NS}/pods/p/status`, {
      method: 'PATCH',
      body: JSON.stringify({ status: { podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(patched.status).toBe(200);
    expect(await echo(`${NS}/pods/p/proxy/x?y=1`)).toMatchObject({ id: 'a', url: '/x?y=1' });
    expect((await echo(`${NS}/pods/p:${c.port}/proxy/`)).id).toBe('c');
    expect((await echo(`${NS}/pods/p:alt/proxy/`)).id).toBe('b');
    const down = await api.request(`${NS}/pods/p:${dead}/proxy/`);
    expect(down.status).toBe(503);
    expect((await down.json()).message).toMatch(/^error trying to reach pod: /);
  });

  it('lists services/proxy and pods/proxy in discovery', async () => {
    const { resources } = (await (await api.request('/api/v1')).json()) as { resources: { name: string; kind: string; verbs: string[] }[] };
    const verbs = ['create', 'delete', 'get', 'patch', 'update'];
    expect(resources.find((r) => r.name === 'services/proxy')).toMatchObject({ kind: 'ServiceProxyOptions', verbs });
    expect(resources.find((r) => r.name === 'pods/proxy')).toMatchObject({ kind: 'PodProxyOptions', verbs });
  });
});

describe.skipIf(!hasKubectl)('kubectl proxy to a service', () => {
  let skiff: SkiffServer;
  let backend: Backend;
  let kubectlProxy: ChildProcess | undefined;

  beforeAll(async () => {
    [skiff, backend] = await Promise.all([startSkiff(), startBackend('edge')]);
  });

  afterAll(async () => {
    kubectlProxy?.kill();
    backend?.server.closeAllConnections();
    await new Promise((ok) => backend?.server.close(ok));
    await skiff?.stop();
  });

  it('reaches a backend through kubectl proxy and skiff serve', async () => {
    const send: Send = async (path, init) => {
      const res = await skiff.request(path, { method: init?.method, body: init?.body as string | undefined, headers: init?.headers as Record<string, string> });
      return new Response(res.text, { status: res.status });
    };
    await create(send, 'services', service('edge', [{ port: 80 }]));
    await create(send, 'endpoints', endpoints('edge', [backend]));

    kubectlProxy = spawn(kubectlPath, ['--cache-dir', skiff.cacheDir, 'proxy', '--port=0'], {
      env: { ...process.env, KUBECONFIG: skiff.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      const onData = (s: string) => {
        out += s;
        const m = /Starting to serve on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      };
      kubectlProxy!.stdout!.setEncoding('utf8').on('data', onData);
      kubectlProxy!.stderr!.setEncoding('utf8').on('data', onData);
      kubectlProxy!.once('exit', (code) => reject(new Error(`kubectl proxy exited (${code}): ${out}`)));
    });

    // Give the reconcile pass a turn: the hand-written Endpoints of a selector-less Service must stay.
    await new Promise((r) => setTimeout(r, 1500));
    const res = await fetch(`http://${address}/api/v1/namespaces/default/services/edge/proxy/hello?via=kubectl`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'edge', url: '/hello?via=kubectl' });
  });
});

// The node-local API endpoint (src/agent/api-proxy.ts) in front of a stand-in control plane: what a
// pod sends reaches the control plane with the pod's own token and nothing of the agent's, a watch's
// events come through as they are sent, large bodies go both ways whole and with bounded buffering,
// upgrades are relayed, an unreachable control plane is a 503 Status, and the port is kept.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProxy, type ApiProxy } from '../../src/agent/api-proxy.js';
import { ensureServingCert } from '../../src/agent/local-ca.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'skiff-api-proxy-'));
  dirs.push(d);
  return d;
};

let upstream: Server;
let upstreamUrl: string;
let upstreamCa: string;
let proxy: ApiProxy;
/** What the stand-in control plane saw of each request. */
const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
const watchClosed: Promise<void>[] = [];
let flood: { sent: number; closed: boolean } | undefined;

beforeAll(async () => {
  // The control plane's own certificate, for 127.0.0.1 only: the agent trusts its CA, pods never see it.
  const cert = ensureServingCert(tempDir(), ['127.0.0.1']);
  upstreamCa = cert.caCert;
  upstream = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const url = new URL(req.url!, 'https://x');
    if (url.pathname === '/api/v1/namespaces/default/pods' && url.searchParams.get('watch') === '1') {
      // A watch: one event now, one more each time the test asks (through /next), never ending by itself.
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n');
      nextEvent = (name) => res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name } } }) + '\n');
      watchClosed.push(new Promise((r) => res.once('close', () => r())));
      return;
    }
    if (url.pathname === '/echo') {
      // The body's hash and size in headers would need it whole first: stream it back as it comes.
      const hash = createHash('sha256');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-method': req.method! });
      req.on('data', (c: Buffer) => {
        hash.update(c);
        if (!res.write(c)) {
          req.pause();
          res.once('drain', () => req.resume());
        }
      });
      req.on('end', () => res.end());
      return;
    }
    if (url.pathname === '/flood') {
      // As much as the reader takes, counted: what the proxy lets pile up shows in `sent`.
      const state = { sent: 0, closed: false };
      flood = state;
      const block = Buffer.alloc(64 * 1024, 1);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.once('close', () => (state.closed = true));
      const more = () => {
        while (!state.closed && state.sent < 512 * 1024 * 1024) {
          state.sent += block.length;
          if (!res.write(block)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      return;
    }
    res.writeHead(418, { 'content-type': 'application/json', 'x-upstream': 'yes' });
    res.end(JSON.stringify({ kind: 'Status', code: 418, path: req.url }));
  });
  upstream.on('upgrade', (req, socket: Socket) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (req.url === '/refuse') {
      const body = '{"refused":true}';
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\nx-stream-protocol-version: v4.channel.k8s.io\r\n\r\n`);
    socket.pipe(socket); // echo
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = await startApiProxy({ upstream: upstreamUrl, upstreamCa, addresses: ['127.0.0.1'], port: 0, dir: tempDir(), nodeName: 'n1' });
});

afterAll(async () => {
  await proxy?.close();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let nextEvent: (name: string) => void = () => {};

/** A request to the proxy as a pod makes it: trusting only the proxy's CA, with its own token. */
function podRequest(path: string, opts: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: proxy.port, path, method: opts.method ?? 'GET', ca: proxy.caCert, headers: { authorization: 'Bearer pod-token', ...opts.headers }, agent: false },
      resolve,
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('the node-local API endpoint', () => {
  it('forwards method, path, query, headers and the pod\'s own token, and the answer as it came', async () => {
    const res = await podRequest('/api/v1/namespaces/x/configmaps?labelSelector=a%3Db&limit=5', { method: 'DELETE', headers: { 'x-custom': 'v', connection: 'keep-alive, x-hop', 'x-hop': 'dropped' } });
    expect(res.statusCode).toBe(418);
    expect(res.headers['x-upstream']).toBe('yes');
    expect(JSON.parse((await readAll(res)).toString())).toEqual({ kind: 'Status', code: 418, path: '/api/v1/namespaces/x/configmaps?labelSelector=a%3Db&limit=5' });
    const got = seen.at(-1)!;
    expect(got.method).toBe('DELETE');
    expect(got.headers.authorization).toBe('Bearer pod-token');
    expect(got.headers['x-custom']).toBe('v');
    expect(got.headers['x-hop']).toBeUndefined();
    expect(got.headers.host).toBe(new URL(upstreamUrl).host);
  });

  it('adds no credential of its own to a request without one', async () => {
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      request({ host: '127.0.0.1', port: proxy.port, path: '/version', ca: proxy.caCert, agent: false }, resolve).on('error', reject).end(),
    );
    await readAll(res);
    expect(seen.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('streams a watch: each event arrives while the stream is open, and closing it closes the control plane\'s', async () => {
    const res = await podRequest('/api/v1/namespaces/default/pods?watch=1&resourceVersion=5');
    expect(res.statusCode).toBe(200);
    const lines: string[] = [];
    let buf = '';
    let wake: () => void = () => {};
    res.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)).object.metadata.name);
        buf = buf.slice(nl + 1);
        wake();
      }
    });
    const waitFor = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${lines.length} events`)), 5000);
        wake = () => lines.length >= n && (clearTimeout(t), resolve());
        wake();
      });
    await waitFor(1);
    nextEvent('b');
    await waitFor(2);
    nextEvent('c');
    await waitFor(3);
    expect(lines).toEqual(['a', 'b', 'c']);
    const closed = watchClosed.at(-1)!;
    res.destroy();
    await expect(Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 5000))])).resolves.toBe('closed');
  });

  it('carries a large body both ways whole', async () => {
    const body = randomBytes(24 * 1024 * 1024);
    const res = await podRequest('/echo', { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-method']).toBe('PUT');
    const back = await readAll(res);
    expect(back.length).toBe(body.length);
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('holds back the control plane while the pod does not read (bounded buffering), and lets go when it leaves', async () => {
    const res = await podRequest('/flood');
    expect(res.statusCode).toBe(200);
    res.pause();
    await new Promise((r) => setTimeout(r, 1500));
    const sent = flood!.sent;
    // Socket and stream buffers on both hops, not the 512 MiB the control plane would send.
    expect(sent).toBeLessThan(32 * 1024 * 1024);
    res.destroy();
    const deadline = Date.now() + 5000;
    while (!flood!.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(flood!.closed).toBe(true);
  });

  it('relays an upgrade (exec from inside a pod) both ways, and a refused one as it came', async () => {
    const upgraded = await new Promise<{ res: IncomingMessage; socket: Socket }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: proxy.port,
        path: '/api/v1/namespaces/default/pods/p/exec?command=sh',
        ca: proxy.caCert,
        agent: false,
        headers: { connection: 'Upgrade', upgrade: 'websocket', authorization: 'Bearer pod-token', 'sec-websocket-protocol': 'v4.channel.k8s.io' },
      });
      req.on('upgrade', (res, socket) => resolve({ res, socket: socket as Socket }));
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(upgraded.res.statusCode).toBe(101);
    expect(upgraded.res.headers['x-stream-protocol-version']).toBe('v4.channel.k8s.io');
    const got = seen.at(-1)!;
    expect(got.headers.upgrade).toBe('websocket');
    expect(got.headers.authorization).toBe('Bearer pod-token');
    const echoed = new Promise<string>((resolve) => {
      let text = '';
      upgraded.socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.length >= 11) resolve(text);
      });
    });
    upgraded.socket.write('hello world');
    expect(await echoed).toBe('hello world');
    upgraded.socket.destroy();

    const refused = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxy.port, path: '/refuse', ca: proxy.caCert, agent: false, headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1' } });
      req.on('response', resolve);
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(refused.statusCode).toBe(403);
    expect(JSON.parse((await readAll(refused)).toString())).toEqual({ refused: true });
  });

  it('answers 503 with a Status while the control plane cannot be reached', async () => {
    const down = await startApiProxy({ upstream: 'https://127.0.0.1:1', upstreamCa, addresses: ['127.0.0.1'], port: 0, dir: tempDir(), nodeName: 'n1' });
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) =>
        request({ host: '127.0.0.1', port: down.port, path: '/api', ca: down.caCert, agent: false }, resolve).on('error', reject).end(),
      );
      expect(res.statusCode).toBe(503);
      const status = JSON.parse((await readAll(res)).toString());
      expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503 });
      expect(status.message).toMatch(/^the control plane cannot be reached from node n1: /);
    } finally {
      await down.close();
    }
  });

  it('keeps its port and CA across restarts, and refuses the ports in-cluster clients take for plain HTTP', async () => {
    const dir = tempDir();
    const first = await startApiProxy({ upstream: upstreamUrl, upstreamCa, addresses: ['127.0.0.1'], dir });
    const { port, caCert } = first;
    await first.close();
    expect(readFileSync(join(dir, 'port'), 'utf8').trim()).toBe(String(port));
    const again = await startApiProxy({ upstream: upstreamUrl, upstreamCa, addresses: ['127.0.0.1'], dir });
    expect(again.port).toBe(port);
    expect(again.caCert).toBe(caCert);
    // Taken now: a second endpoint (another agent on this machine) gets another port.
    const other = await startApiProxy({ upstream: upstreamUrl, upstreamCa, addresses: ['127.0.0.1'], dir });
    expect(other.port).not.toBe(port);
    await other.close();
    await again.close();
    await expect(startApiProxy({ upstream: upstreamUrl, addresses: ['127.0.0.1'], port: 8080, dir })).rejects.toThrow(/8080/);
  });
});

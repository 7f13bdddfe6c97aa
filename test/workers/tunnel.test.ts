// The node tunnels on Workers, inside workerd: each node's session in its Durable Object (NodeTunnel),
// reached from the Worker through workerTunnels(env). A fake agent is a WebSocket to the object that
// speaks the Mux; clients are requests the Worker forwards (an HTTP reply streamed, a WebSocket relayed).
import { evictDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { createClient } from '@libsql/client/web';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/status.js';
import { TUNNEL_PATH } from '../../src/api/tunnels.js';
import { systemClock } from '../../src/store/clock.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { Store } from '../../src/store/store.js';
import type { ExecHead, HttpHead, LogsHead, TunnelHead } from '../../src/tunnel/head.js';
import { Mux, WINDOW, type MuxStream } from '../../src/tunnel/mux.js';
import { CLIENT_BACKLOG, closeReason, KEEPALIVE_PING, KEEPALIVE_PONG, REPLACED_CLOSE_CODE, workerTunnels, type WorkersWebSocket } from '../../src/worker-tunnel.js';
import { createNamespace, expectStatus, send } from './api.js';
import { registerNode } from './cluster.js';

declare module 'cloudflare:test' {
  /** Drops the object from memory, as hibernation does; its hibernatable sockets stay open. */
  export function evictDurableObject(stub: unknown): Promise<void>;
}

const tunnels = () => workerTunnels(env);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (b: ArrayBuffer | Uint8Array | string) => (typeof b === 'string' ? b : decoder.decode(b));
const nodeName = (what: string) => `tunnel-${what}-${crypto.randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const socketOf = (res: Response) => (res as Response & { webSocket: WorkersWebSocket | null }).webSocket;

/** A WebSocket's events as promises, for the test's side of a socket. */
function watch(ws: WorkersWebSocket) {
  const messages: (ArrayBuffer | string)[] = [];
  let wake: (() => void) | undefined;
  const closed = new Promise<{ code: number; reason: string }>((ok) => ws.addEventListener('close', (e) => ok({ code: e.code, reason: e.reason })));
  ws.addEventListener('message', (e) => {
    messages.push(e.data);
    wake?.();
  });
  return {
    closed,
    /** The next message not yet taken. */
    async next(timeoutMs = 5_000): Promise<ArrayBuffer | string> {
      const deadline = Date.now() + timeoutMs;
      while (messages.length === 0) {
        if (Date.now() > deadline) throw new Error('no message came');
        await Promise.race([new Promise<void>((ok) => (wake = ok)), sleep(50)]);
      }
      return messages.shift()!;
    },
  };
}

interface FakeAgent {
  ws: WorkersWebSocket;
  mux: Mux;
  /** Each stream the control plane opened, in order. */
  opened: MuxStream[];
  texts: string[];
  closed: Promise<{ code: number; reason: string }>;
}

/** The agent's side: its socket (as workerd hands it back from the upgrade) speaking the Mux. */
function agentOn(res: Response, onStream: (s: MuxStream) => void): FakeAgent {
  expect(res.status).toBe(101);
  const ws = socketOf(res)!;
  ws.accept();
  ws.binaryType = 'arraybuffer';
  const opened: MuxStream[] = [];
  const texts: string[] = [];
  const mux = new Mux({
    send: (f) => ws.send(f),
    onStream: (s) => {
      opened.push(s);
      onStream(s);
    },
  });
  ws.addEventListener('message', (e) => {
    if (typeof e.data === 'string') texts.push(e.data);
    else mux.receive(new Uint8Array(e.data));
  });
  const closed = new Promise<{ code: number; reason: string }>((ok) =>
    ws.addEventListener('close', (e) => {
      mux.close('tunnel closed');
      ok({ code: e.code, reason: e.reason });
    }),
  );
  return { ws, mux, opened, texts, closed };
}

const upgradeRequest = (path: string, headers: Record<string, string> = {}) =>
  new Request(`https://skiff.test${path}`, { headers: { upgrade: 'websocket', connection: 'Upgrade', ...headers } });

/** An agent whose tunnel the Worker accepts through workerTunnels directly. */
async function connect(node: string, onStream: (s: MuxStream) => void): Promise<FakeAgent> {
  return agentOn(await tunnels().accept(node, upgradeRequest(TUNNEL_PATH)), onStream);
}

const logsHead = (container = 'app'): LogsHead => ({ op: 'logs', namespace: 'default', pod: 'p', uid: 'u', container, follow: true });
const execHead: ExecHead = {
  op: 'exec',
  namespace: 'default',
  pod: 'p',
  uid: 'u',
  container: 'app',
  command: ['sh'],
  stdin: true,
  stdout: true,
  stderr: false,
  tty: false,
  transport: 'websocket',
  protocol: 'v5.channel.k8s.io',
};
const clientRequest = (init: RequestInit = {}) => new Request('https://skiff.test/api/v1/namespaces/default/pods/p/log', init);

/** An agent that answers 101 and echoes every message back until the control plane ends. */
async function echo(s: MuxStream): Promise<void> {
  s.respond({ status: 101 });
  try {
    for await (const m of s.messages()) await s.write(m);
    s.end();
  } catch {
    // reset: nothing to do
  }
}

async function eventually(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('node tunnels on Workers', () => {
  it('answers 503 ServiceUnavailable while the node has no agent', async () => {
    const node = nodeName('absent');
    const err = await tunnels().exchange(node, logsHead(), clientRequest()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 503, reason: 'ServiceUnavailable' });
    expect((err as Error).message).toContain(`node "${node}" is not connected`);
  });

  it('answers the keepalive ping with pong without the object', async () => {
    const agent = await connect(nodeName('ping'), () => {});
    agent.ws.send(KEEPALIVE_PING);
    await eventually('pong', () => agent.texts.includes(KEEPALIVE_PONG));
    agent.ws.close(1000);
  });

  it('streams the node\'s reply to the client as the client reads it', async () => {
    let readFirst!: () => void;
    const firstRead = new Promise<void>((ok) => (readFirst = ok));
    const heads: TunnelHead[] = [];
    const node = nodeName('logs');
    const agent = await connect(node, async (s) => {
      heads.push(s.head);
      s.respond({ status: 200, headers: [['content-type', 'text/plain']] });
      await s.write(encoder.encode('line 1\n'));
      // The second line only once the client has the first: the reply is not held back whole.
      await firstRead;
      await s.write(encoder.encode('line 2\n'));
      s.end();
    });
    const res = await tunnels().exchange(node, logsHead(), clientRequest({ headers: { authorization: 'Bearer secret' } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    // Not gzipped by the front line, which would hold a stream back until it ended.
    expect(res.headers.get('content-encoding')).toBe('identity');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(text(first.value!)).toBe('line 1\n');
    readFirst();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += text(r.value);
    expect(rest).toBe('line 2\n');
    expect(heads).toEqual([logsHead()]);
    agent.ws.close(1000);
  });

  it('sends a request body to the node and carries more than a window each way', async () => {
    const node = nodeName('http');
    const size = 3 * WINDOW + 12345;
    const agent = await connect(node, async (s) => {
      let received = 0;
      for await (const m of s.messages()) received += m.byteLength;
      s.respond({ status: 201, headers: [['x-received', String(received)]] });
      for (let sent = 0; sent < size; sent += 32 * 1024) await s.write(new Uint8Array(Math.min(32 * 1024, size - sent)).fill(9));
      s.end();
    });
    const head: HttpHead = { op: 'http', scheme: 'http', host: '', method: 'POST', path: '/upload', headers: [] };
    const body = new Uint8Array(size).fill(3);
    const res = await tunnels().exchange(node, head, new Request('https://skiff.test/api/v1/nodes/x/proxy/upload', { method: 'POST', body }));
    expect(res.status).toBe(201);
    expect(res.headers.get('x-received')).toBe(String(size));
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got.byteLength).toBe(size);
    expect(got.every((b) => b === 9)).toBe(true);
    agent.ws.close(1000);
  });

  it('relays a client WebSocket to the node both ways, with the negotiated subprotocol', async () => {
    const node = nodeName('exec');
    const agent = await connect(node, (s) => void echo(s));
    const res = await tunnels().exchange(node, execHead, upgradeRequest('/api/v1/namespaces/default/pods/p/exec', { 'sec-websocket-protocol': 'v5.channel.k8s.io, v4.channel.k8s.io' }));
    expect(res.status).toBe(101);
    expect(res.headers.get('sec-websocket-protocol')).toBe('v5.channel.k8s.io');
    const client = socketOf(res)!;
    client.accept();
    client.binaryType = 'arraybuffer';
    const events = watch(client);
    client.send(new Uint8Array([0, 1, 2, 3]));
    expect([...new Uint8Array((await events.next()) as ArrayBuffer)]).toEqual([0, 1, 2, 3]);
    // Text messages reach the node as their UTF-8 bytes.
    client.send('\u0000ls -l\n');
    expect(text((await events.next()) as ArrayBuffer)).toBe('\u0000ls -l\n');
    expect(agent.opened[0].head).toEqual(execHead);

    // The client's close ends the node's input; the node ends too, and the stream is over.
    client.close(1000, 'done');
    expect(await agent.opened[0].closed).toBeUndefined();
    agent.ws.close(1000);
  });

  it('closes the client WebSocket with 1000 when the node ends the stream', async () => {
    const node = nodeName('exec-end');
    const agent = await connect(node, async (s) => {
      s.respond({ status: 101 });
      await s.write(new Uint8Array([3, 0x7b, 0x7d])); // status channel: {}
      s.end();
    });
    const res = await tunnels().exchange(node, execHead, upgradeRequest('/exec'));
    const client = socketOf(res)!;
    client.accept();
    client.binaryType = 'arraybuffer';
    const events = watch(client);
    expect([...new Uint8Array((await events.next()) as ArrayBuffer)]).toEqual([3, 0x7b, 0x7d]);
    expect((await events.closed).code).toBe(1000);
    agent.ws.close(1000);
  });

  it('answers the node\'s refusal of an upgrade as HTTP, with no switch', async () => {
    const node = nodeName('refused');
    const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'container app is not running', reason: 'BadRequest', code: 400 };
    const agent = await connect(node, async (s) => {
      s.respond({ status: 400, headers: [['content-type', 'application/json']] });
      await s.write(encoder.encode(JSON.stringify(status)));
      s.end();
    });
    const res = await tunnels().exchange(node, execHead, upgradeRequest('/exec'));
    expect(socketOf(res)).toBeNull();
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(status);
    agent.ws.close(1000);
  });

  it('refuses a raw SPDY upgrade with 400 BadRequest', async () => {
    const node = nodeName('spdy');
    const agent = await connect(node, () => {});
    const req = new Request('https://skiff.test/exec', { method: 'POST', headers: { upgrade: 'SPDY/3.1', connection: 'Upgrade', 'x-stream-protocol-version': 'v4.channel.k8s.io' } });
    const err = await tunnels().exchange(node, { ...execHead, transport: 'spdy', protocol: 'v4.channel.k8s.io' }, req).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect((err as Error).message).toMatch(/SPDY.*WebSockets/);
    expect(agent.opened).toHaveLength(0);
    agent.ws.close(1000);
  });

  it('resets the open streams when the agent disconnects, and then answers 503', async () => {
    const node = nodeName('gone');
    const agent = await connect(node, async (s) => {
      if (s.head.op === 'exec') return void s.respond({ status: 101 });
      s.respond({ status: 200, headers: [['content-type', 'text/plain']] });
      await s.write(encoder.encode('before\n'));
    });
    const logs = await tunnels().exchange(node, logsHead(), clientRequest());
    const reader = logs.body!.getReader();
    expect(text((await reader.read()).value!)).toBe('before\n');
    const exec = await tunnels().exchange(node, execHead, upgradeRequest('/exec'));
    const client = socketOf(exec)!;
    client.accept();
    client.binaryType = 'arraybuffer';
    const events = watch(client);
    await eventually('both streams open', () => agent.opened.length === 2);

    agent.ws.close(1001, 'agent stopping');
    // The streamed reply fails rather than hanging; the WebSocket is closed with the reason.
    await expect(reader.read()).rejects.toThrow();
    const closed = await events.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toBe(`node "${node}" disconnected`);
    await expect(tunnels().exchange(node, logsHead(), clientRequest())).rejects.toMatchObject({ code: 503 });
  });

  it('gives the node to its newest agent socket, closing the older one', async () => {
    const node = nodeName('restart');
    const first = await connect(node, async (s) => {
      s.respond({ status: 200 });
      await s.write(encoder.encode('from the first\n'));
    });
    const open = await tunnels().exchange(node, logsHead(), clientRequest());
    const reader = open.body!.getReader();
    expect(text((await reader.read()).value!)).toBe('from the first\n');

    const second = await connect(node, async (s) => {
      s.respond({ status: 200 });
      await s.write(encoder.encode('from the second\n'));
      s.end();
    });
    expect((await first.closed).code).toBe(REPLACED_CLOSE_CODE);
    // The stream on the replaced socket is over; new requests go to the new socket.
    await expect(reader.read()).rejects.toThrow();
    const res = await tunnels().exchange(node, logsHead(), clientRequest());
    expect(await res.text()).toBe('from the second\n');
    expect(first.opened).toHaveLength(1);
    expect(second.opened).toHaveLength(1);
    // The replaced socket's late close does not end the new session.
    await sleep(50);
    expect(await (await tunnels().exchange(node, logsHead(), clientRequest())).text()).toBe('from the second\n');
    second.ws.close(1000);
  });

  it('rebuilds the session from the agent\'s socket after the object was dropped from memory', async () => {
    const node = nodeName('hibernate');
    let served = 0;
    const agent = await connect(node, async (s) => {
      s.respond({ status: 200 });
      await s.write(encoder.encode(`answer ${++served}`));
      s.end();
    });
    expect(await (await tunnels().exchange(node, logsHead(), clientRequest())).text()).toBe('answer 1');
    await evictDurableObject(env.NODE_TUNNEL.get(env.NODE_TUNNEL.idFromName(node)));
    // The socket survived; the new instance finds it and opens streams on it.
    expect(await (await tunnels().exchange(node, logsHead(), clientRequest())).text()).toBe('answer 2');
    agent.ws.send(KEEPALIVE_PING);
    await eventually('pong', () => agent.texts.includes(KEEPALIVE_PONG));
    agent.ws.close(1000);
  });

  it('cuts off a client that sends more than its backlog ahead of the node', async () => {
    const node = nodeName('backlog');
    // The node takes the session and then reads nothing: its window fills, then the object's backlog.
    const agent = await connect(node, (s) => s.respond({ status: 101 }));
    const res = await tunnels().exchange(node, execHead, upgradeRequest('/exec'));
    const client = socketOf(res)!;
    client.accept();
    const events = watch(client);
    const chunk = new Uint8Array(256 * 1024);
    for (let sent = 0; sent <= CLIENT_BACKLOG + 2 * WINDOW; sent += chunk.byteLength) client.send(chunk);
    expect(await events.closed).toMatchObject({ code: 1009 });
    await expect(agent.opened[0].closed).resolves.toBe('the client sent faster than the node reads');
    agent.ws.close(1000);
  });

  it('cuts a WebSocket close reason to 123 bytes at a character boundary', () => {
    expect(closeReason('short')).toBe('short');
    const long = 'é'.repeat(100); // 200 bytes
    const cut = closeReason(long);
    expect(encoder.encode(cut).byteLength).toBeLessThanOrEqual(123);
    expect(long.startsWith(cut)).toBe(true);
  });
});

describe('node tunnels through the API', () => {
  /** A node credential, as `skiff agent` gets one by joining. */
  async function nodeCredential(node: string): Promise<string> {
    const store = new Store(createClient({ url: env.LIBSQL_URL }), systemClock);
    const { token } = await new CredentialStore(store).createJoinToken(new Date(), 60_000, 'tunnel test');
    return (await expectStatus(send('/skiff/v1/join', { token, body: { nodeName: node } }), 201)).token as string;
  }

  it('takes an agent\'s tunnel on TUNNEL_PATH with its node credential only', async () => {
    const node = nodeName('api');
    const token = await nodeCredential(node);
    await expectStatus(exports.default.fetch(upgradeRequest(TUNNEL_PATH)), 401);
    await expectStatus(exports.default.fetch(upgradeRequest(TUNNEL_PATH, { authorization: `Bearer ${env.SKIFF_ADMIN_TOKEN}` })), 403);
    const agent = agentOn(await exports.default.fetch(upgradeRequest(TUNNEL_PATH, { authorization: `Bearer ${token}` })), async (s) => {
      if (s.head.op === 'exec') return echo(s);
      s.respond({ status: 200, headers: [['content-type', 'text/plain']] });
      await s.write(encoder.encode(`logs of ${(s.head as LogsHead).pod}/${(s.head as LogsHead).container}\n`));
      s.end();
    });
    agent.ws.send(KEEPALIVE_PING);
    await eventually('pong', () => agent.texts.includes(KEEPALIVE_PONG));

    // pods/log through the API reaches the agent of the pod's node (registered, so no pass collects its pod).
    await registerNode(node, true);
    const ns = await createNamespace('tunnel');
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { nodeName: node, containers: [{ name: 'app', image: 'nginx' }] } };
    await expectStatus(send(`/api/v1/namespaces/${ns}/pods`, { body: pod }), 201);
    const res = await send(`/api/v1/namespaces/${ns}/pods/web/log?follow=true`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('logs of web/app\n');
    expect(agent.opened[0].head).toMatchObject({ op: 'logs', namespace: ns, pod: 'web', container: 'app', follow: true });

    // pods/exec over WebSocket (kubectl 1.30+): the Worker answers the switch the object made, and relays.
    const exec = await exports.default.fetch(
      upgradeRequest(`/api/v1/namespaces/${ns}/pods/web/exec?command=sh&stdin=true&stdout=true`, {
        authorization: `Bearer ${env.SKIFF_ADMIN_TOKEN}`,
        'sec-websocket-protocol': 'v5.channel.k8s.io, v4.channel.k8s.io',
      }),
    );
    expect(exec.status).toBe(101);
    expect(exec.headers.get('sec-websocket-protocol')).toBe('v5.channel.k8s.io');
    const client = socketOf(exec)!;
    client.accept();
    client.binaryType = 'arraybuffer';
    const events = watch(client);
    client.send(new Uint8Array([0, 0x68, 0x69]));
    expect([...new Uint8Array((await events.next()) as ArrayBuffer)]).toEqual([0, 0x68, 0x69]);
    expect(agent.opened[1].head).toMatchObject({ op: 'exec', namespace: ns, pod: 'web', command: ['sh'], transport: 'websocket', protocol: 'v5.channel.k8s.io' });
    client.close(1000);

    // Once the agent is gone, the API answers 503 in Kubernetes' form.
    agent.ws.close(1000);
    await eventually('the session to end', async () => {
      const r = await send(`/api/v1/namespaces/${ns}/pods/web/log`);
      const body = (await r.json()) as Record<string, unknown>;
      if (r.status !== 503) return false;
      expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503 });
      return true;
    });
    // The node goes; its pod is collected with it, leaving the other files' passes nothing of ours.
    await expectStatus(send(`/api/v1/nodes/${node}`, { method: 'DELETE' }), 200);
  });
});

// The relayed path between nodes, on loopback and without root: node A's relay listener (what the
// NAT rules send a pod's connection to), the control plane's relay endpoint and in-process tunnels
// (as `skiff serve` holds them), and node B's node server dialling the target. What the target sees,
// bytes both ways intact, half-closes in either direction, resets, and refusals.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeServer } from '../../src/agent/node-server.js';
import { RelayListeners, type RelayTarget } from '../../src/agent/relay-listeners.js';
import { TunnelClient } from '../../src/agent/tunnel.js';
import { createApp } from '../../src/api/app.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { migrate } from '../../src/node/migrate.js';
import { InProcessTunnels } from '../../src/node/tunnels.js';
import { systemClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/until.js';

const nodeIdentity = (name: string) => ({ user: `system:node:${name}`, groups: ['system:nodes', 'system:authenticated'] });

/** What the target "pod" does with a connection. */
type Behaviour = (socket: Socket) => void;

/** Reads a connection to its end (the peer's EOF); resolves with the bytes, or rejects with its error. */
function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => ok(Buffer.concat(chunks)));
    socket.once('error', fail);
    socket.once('close', () => ok(Buffer.concat(chunks)));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the relayed path through the control plane', () => {
  let dir: string;
  let store: Store;
  let http: HttpServer;
  let tunnels: InProcessTunnels;
  let nodeB: TunnelClient;
  let relays: RelayListeners;
  const targets: Server[] = [];
  const ports: Record<string, number> = {};
  /** Peer addresses the targets saw. */
  const peers: string[] = [];

  const target = async (name: string, behaviour: Behaviour) => {
    const server = createTcpServer({ allowHalfOpen: true }, (s) => {
      peers.push(s.remoteAddress ?? '');
      s.on('error', () => {});
      behaviour(s);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    targets.push(server);
    ports[name] = (server.address() as AddressInfo).port;
  };

  /** Connects to node A's listener for a target, as a pod's connection would arrive there. */
  const dial = (t: RelayTarget, from = '127.0.0.1'): Socket => {
    const at = relays.address(t.ip, t.port);
    if (!at) throw new Error(`no listener for ${t.ip}:${t.port}`);
    return connect({ host: at.host, port: at.port, localAddress: from, allowHalfOpen: true });
  };
  /** How a connection ended: ECONNRESET, or 'end'. */
  const outcome = (socket: Socket) =>
    new Promise<string>((ok) => {
      socket.once('error', (e: NodeJS.ErrnoException) => ok(e.code ?? e.message));
      socket.once('end', () => ok('end'));
    });
  const to = (port: string, pod = 'target', ip = '127.0.0.1'): RelayTarget => ({ ip, port: ports[port] ?? Number(port), namespace: 'demo', pod });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-relay-'));
    const client = openClient(`file:${join(dir, 'skiff.db')}`);
    await migrate(client);
    store = new Store(client, systemClock);
    await store.init();
    tunnels = new InProcessTunnels();
    const app = createApp({
      store,
      clock: systemClock,
      tunnels,
      authenticate: (t) => (t === 'admin' ? true : t?.startsWith('node:') ? nodeIdentity(t.slice(5)) : undefined),
    });
    const adapter = createNodeAdapter((req) => app.fetch(req));
    http = createServer(adapter.listener);
    http.on('upgrade', tunnels.upgradeListener(async (req) => app.fetch(req)));
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    // Targets: an echo that answers once the client has sent everything (its half-close), one that
    // speaks first and ends its side at once, and one that resets every connection.
    await target('echo', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => {
        const all = Buffer.concat(chunks);
        s.end(`${all.length} ${sha(all)}`);
      });
    });
    await target('banner', (s) => {
      s.end('hello\n');
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => {
        // The reply is gone; what arrived after it is logged in the peers list.
        peers.push(`banner got ${Buffer.concat(chunks).toString()}`);
      });
    });
    await target('reset', (s) => s.resetAndDestroy());

    const admin = { authorization: 'Bearer admin', 'content-type': 'application/json' };
    await fetch(`${url}/api/v1/namespaces`, { method: 'POST', headers: admin, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } }) });
    const created = await (
      await fetch(`${url}/api/v1/namespaces/demo/pods`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'target' }, spec: { nodeName: 'node-b', containers: [{ name: 'c', image: 'x' }] } }),
      })
    ).json();
    const pod = { ...created, status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } };
    const put = await fetch(`${url}/api/v1/namespaces/demo/pods/target/status`, { method: 'PUT', headers: admin, body: JSON.stringify(pod) });
    expect(put.status).toBe(200);

    // Node B: its node server behind its tunnel; its only pod is the target, at 127.0.0.1.
    // Its ingress check refuses one source; node A's egress check another.
    const server = new NodeServer({
      nodeName: 'node-b',
      runtime: {} as never,
      usage: {} as never,
      pods: () => [pod],
      admitRelay: (head) => (head.source === '127.0.0.2' ? `${head.source} on ${head.fromNode} may not reach ${head.pod}` : undefined),
    });
    nodeB = new TunnelClient({ server: url, token: 'node:node-b', onStream: (s) => server.handle(s) });
    nodeB.start();
    await until('node B holds a tunnel', async () => tunnels.connected('node-b'));

    // Node A: listeners for the targets.
    relays = new RelayListeners({ server: url, token: 'node:node-a', host: '127.0.0.1', admit: async (source) => source !== '127.0.0.3' });
    await relays.sync([to('echo'), to('banner'), to('reset'), to('1'), to('echo', 'target', '127.0.0.2')]);
  });

  afterAll(async () => {
    await relays?.close();
    nodeB?.stop();
    tunnels?.close();
    http?.closeAllConnections();
    await new Promise((ok) => http?.close(ok));
    for (const t of targets) t.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries a connection to the target pod, bytes intact both ways, the client half-closing first', async () => {
    const payload = randomBytes(5 * 1024 * 1024 + 17);
    const socket = dial(to('echo'));
    const answer = readAll(socket);
    socket.end(payload);
    expect((await answer).toString()).toBe(`${payload.length} ${sha(payload)}`);
    // Node B dialled the target: it sees node B's address, not node A's pod's.
    expect(peers).toContain('127.0.0.1');
    expect(relays.counts.connections).toBeGreaterThanOrEqual(1);
  });

  it('keeps the client sending after the target has ended its side', async () => {
    const socket = dial(to('banner'));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((ok) => socket.once('end', ok));
    expect(Buffer.concat(chunks).toString()).toBe('hello\n');
    socket.end('bye');
    await until('the target to get what was sent after its end', async () => peers.includes('banner got bye'));
    await new Promise<void>((ok) => (socket.closed ? ok() : socket.once('close', () => ok())));
  });

  it('resets the client when the target resets', async () => {
    const socket = dial(to('reset'));
    socket.write('x');
    const outcome = await new Promise<string>((ok) => {
      socket.once('error', (e: NodeJS.ErrnoException) => ok(e.code ?? e.message));
      socket.once('end', () => ok('end'));
    });
    expect(outcome).toBe('ECONNRESET');
  });

  it('resets the client when the target refuses, or the pod is no longer at that address', async () => {
    const failed = relays.counts.failed;
    for (const t of [to('1'), to('echo', 'target', '127.0.0.2')]) {
      const socket = dial(t);
      const outcome = await new Promise<string>((ok) => {
        socket.once('error', (e: NodeJS.ErrnoException) => ok(e.code ?? e.message));
        socket.once('end', () => ok('end'));
      });
      expect(outcome).toBe('ECONNRESET');
    }
    expect(relays.counts.failed).toBe(failed + 2);
  });

  it("resets connections that the target node's ingress check or this node's egress check refuses", async () => {
    const failed = relays.counts.failed;
    for (const from of ['127.0.0.2', '127.0.0.3']) {
      const socket = dial(to('echo'), from);
      socket.write('x');
      expect(await outcome(socket)).toBe('ECONNRESET');
    }
    // The egress refusal never reached the control plane.
    expect(relays.counts.failed).toBe(failed + 1);
    const socket = dial(to('echo'));
    const answer = readAll(socket);
    socket.end('ok');
    expect((await answer).toString()).toBe(`2 ${sha(Buffer.from('ok'))}`);
  });

  it('closes the listeners of targets no longer wanted', async () => {
    await relays.sync([to('echo')]);
    expect(relays.address('127.0.0.1', ports.banner)).toBeUndefined();
    expect(relays.address('127.0.0.1', ports.echo)).toMatchObject({ host: '127.0.0.1' });
  });
});

// The direct path to a node on another machine, with that machine played by a network namespace this
// file makes: a veth pair is the shared subnet, a bridge in the namespace holds the peer
// node's pod gateway. The agent's cross-node controller (real iptables, routes and probes, against an
// in-process API holding the Node objects) routes the peer's podCIDR via its InternalIP after a probe,
// leaves nodes that do not answer or sit elsewhere to the relay, keeps a pod's traffic to the peer
// unmasqueraded (the pod network masquerades what else leaves), and removes the route when the node
// goes. Needs Linux and root (skipped otherwise).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/agent/client.js';
import { CrossNode } from '../../src/agent/cross-node.js';
import { removeCrossNodeRules } from '../../src/agent/cross-node-rules.js';
import { iptablesUsable } from '../../src/agent/network-policy-iptables.js';
import { netnsName, PodNetwork } from '../../src/agent/runtimes/pod-network.js';
import { startApi, TOKEN, type ApiServer } from '../helpers/api-server.js';
import { testClusterCidr } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const canRun = (await iptablesUsable()) && (await PodNetwork.supported());
if (!canRun) console.warn('test/agent/cross-node-direct.test.ts skipped: it needs root on Linux with `ip netns` and iptables');

const hex = randomBytes(3).toString('hex');
const peerNs = `xnt-${hex}`;
const hostEnd = `xnh${hex}`;
const peerEnd = `xnp${hex}`;
const bridge = `skx${hex}`;
const subnet = `192.168.${200 + (randomBytes(1)[0] % 50)}`;
const hostIP = `${subnet}.1`;
const peerIP = `${subnet}.2`;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const inPeer = (...args: string[]) => ip('-n', peerNs, ...args);

describe.skipIf(!canRun)('the direct path to a node on a connected subnet', () => {
  let api: ApiServer;
  let net: PodNetwork;
  let cross: CrossNode;
  let server: ChildProcess;
  let dataDir: string;
  let cidr: (n: number) => string;
  /** Address h of podCIDR n. */
  let at: (n: number, h: number) => string;
  let podIP: string;
  const uid = randomUUID();
  const lines: string[] = [];

  const node = async (name: string, podCIDR: string, internalIP: string) => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const created = await (await api.request('/api/v1/nodes', { method: 'POST', headers, body: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR, podCIDRs: [podCIDR] } }) })).json();
    const res = await api.request(`/api/v1/nodes/${name}/status`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ ...created, status: { addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: name }] } }),
    });
    expect(res.status).toBe(200);
  };

  /** Connects from the pod to host:port; what the server answered (the address it saw), or ERR ... */
  const fromPod = (host: string, port: number) =>
    execFileSync('ip', ['netns', 'exec', netnsName(uid), process.execPath, '-e', `const s = require('node:net').connect(${port}, '${host}'); let o = ''; s.setTimeout(3000, () => { console.log('ERR timeout'); process.exit(); }); s.on('data', (d) => (o += d)); s.on('end', () => { console.log(o.trim()); process.exit(); }); s.on('error', (e) => { console.log('ERR ' + e.code); process.exit(); });`], { encoding: 'utf8' }).trim();

  beforeAll(async () => {
    const cluster = testClusterCidr(); // 10.N.0.0/16, this process's own
    const base = cluster.split('.').slice(0, 2).join('.');
    cidr = (n) => `${base}.${n}.0/24`;
    at = (n, h) => `${base}.${n}.${h}`;
    // The peer "machine": its end of the link, and its node's pod gateway on a bridge-like interface.
    ip('netns', 'add', peerNs);
    ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', peerEnd);
    ip('link', 'set', peerEnd, 'netns', peerNs);
    ip('addr', 'add', `${hostIP}/24`, 'dev', hostEnd);
    ip('link', 'set', hostEnd, 'up');
    inPeer('link', 'set', 'lo', 'up');
    inPeer('addr', 'add', `${peerIP}/24`, 'dev', peerEnd);
    inPeer('link', 'set', peerEnd, 'up');
    inPeer('link', 'add', 'pods0', 'type', 'bridge');
    inPeer('addr', 'add', `${at(9, 1)}/24`, 'dev', 'pods0');
    inPeer('link', 'set', 'pods0', 'up');
    // What the peer's agent would add: the route back to this node's pods.
    inPeer('route', 'add', cidr(8), 'via', hostIP);
    server = spawn('ip', ['netns', 'exec', peerNs, process.execPath, '-e', `require('node:net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, ''))).listen(8080, '${at(9, 1)}')`], { stdio: 'ignore' });

    // This node: a pod network that masquerades what leaves it, and one pod.
    dataDir = mkdtempSync(join(tmpdir(), 'skiff-xnd-'));
    net = new PodNetwork({ podCIDR: cidr(8), dataDir, bridge, masquerade: true });
    await net.setup();
    podIP = await net.addPod(uid);

    api = await startApi({ passes: false });
    await node('me', cidr(8), hostIP);
    await node('peer', cidr(9), peerIP);
    await node('ghost', cidr(10), `${subnet}.7`); // on the subnet, but no one answers there
    await node('far', cidr(11), '203.0.113.5'); // another site
    const client = new ApiClient({ server: api.url, token: TOKEN });
    cross = new CrossNode({ client, nodeName: 'me', podCIDR: cidr(8), bridge, server: api.url, token: TOKEN, log: (l) => lines.push(l) });
    cross.start();
  }, 60_000);

  afterAll(async () => {
    await cross?.stop();
    await removeCrossNodeRules(bridge, cidr(8));
    await net?.removePod(uid).catch(() => {});
    await net?.teardown().catch(() => {});
    server?.kill('SIGKILL');
    execFileSync('ip', ['netns', 'delete', peerNs], { stdio: 'ignore' });
    try {
      execFileSync('ip', ['link', 'del', hostEnd], { stdio: 'ignore' });
    } catch {
      // went with the namespace
    }
    await api?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("routes the peer's podCIDR via its InternalIP, and relays to nodes that do not answer or are elsewhere", async () => {
    await until('a path to every node', async () => ['peer', 'ghost', 'far'].every((n) => lines.some((l) => l.includes(`node ${n}'s pods`))), 30_000);
    expect(lines).toContain("pods reach node peer's pods directly (routed)");
    expect(lines).toContain("pods reach node ghost's pods through the control plane (relayed)");
    expect(lines).toContain("pods reach node far's pods through the control plane (relayed)");
    expect(ip('route', 'show', cidr(9))).toContain(`via ${peerIP} dev ${hostEnd}`);
    expect(ip('route', 'show', cidr(10))).toBe('');
    expect(ip('route', 'show', cidr(11))).toBe('');
    // An endpoint on a relayed node with no listener (nothing there is known to be reachable) is not relayed yet.
    expect(cross.relayAddress(at(9, 5), 80)).toBeUndefined();
    expect(cross.relayAddress(at(11, 5), 80)).toBeNull();
  });

  it("carries a pod's connection to the peer's pods unmasqueraded", async () => {
    const answer = await until('the peer to answer', async () => {
      const a = fromPod(at(9, 1), 8080);
      return a.startsWith('ERR') ? false : a;
    });
    expect(answer).toBe(podIP);
  });

  it('removes the route of a node that went away', async () => {
    const res = await api.request('/api/v1/nodes/peer', { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    await until('the route to go', async () => ip('route', 'show', cidr(9)) === '', 30_000);
  });
});

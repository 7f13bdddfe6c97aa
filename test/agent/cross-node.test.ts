// Pods reaching pods on other nodes, end to end: two real agents (process runtime, each pod in a
// network namespace of its own) on one real `skiff serve`, on this machine. A pod on node A connects to
// a pod on node B by its address: directly (the default: both pod networks are on this machine, so
// the kernel routes between the bridges, unmasqueraded), and with both agents forced onto the path
// relayed through the control plane (`--pod-network-path relay`), where the connection reaches the
// pod from its own node's gateway, for the pod's declared port and for a Service endpoint's port.
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeFor } from '../../src/agent/agent.js';
import { gatewayOf } from '../../src/agent/cross-node.js';
import { iptablesUsable } from '../../src/agent/network-policy-iptables.js';
import { netnsName, PodNetwork } from '../../src/agent/runtimes/pod-network.js';
import { caCertHash } from '../../src/node/certs.js';
import { cleanUpAgents, startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const canRun = (await iptablesUsable()) && (await PodNetwork.supported());
if (!canRun) console.warn('test/agent/cross-node.test.ts skipped: it needs root on Linux with `ip netns` and iptables');

const NS = 'default';
// The target pod: answers every connection with the address it came from, and the port.
const SERVER = `const net = require('node:net');
for (const port of [8080, 9090]) net.createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + ' ' + port + '\\n')).listen(port);`;
// Run in the client pod's network namespace: connects, prints what it read or the error.
const CLIENT = `const [host, port] = process.argv.slice(1);
const s = require('node:net').connect({ host, port: Number(port) });
let out = '';
s.setTimeout(5000, () => { console.log('ERR timeout'); process.exit(0); });
s.on('data', (d) => (out += d));
s.on('end', () => { console.log(out.trim()); process.exit(0); });
s.on('error', (e) => { console.log('ERR ' + (e.code || e.message)); process.exit(0); });`;

interface Cluster {
  server: SkiffServer;
  agents: AgentProcess[];
  api(path: string, init?: Parameters<SkiffServer['request']>[1]): Promise<any>;
  /** Connects from the client pod to host:port and says what came back (or ERR ...). */
  connectFrom(pod: any, host: string, port: number): Promise<string>;
}

async function startCluster(args: string[]): Promise<Cluster> {
  const server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
  const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
  const agents: AgentProcess[] = [];
  for (const name of ['xn-a', 'xn-b']) {
    const agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name, data: tempDir('skiff-xn-'), args });
    agents.push(agent);
    await agent.ready;
  }
  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const pod = (name: string, node: string, labels: Record<string, string>, container: any) =>
    api(`/api/v1/namespaces/${NS}/pods`, { method: 'POST', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { nodeName: node, containers: [container] } } });
  await pod('echo', 'xn-b', { app: 'echo' }, { name: 'echo', image: 'node', command: [process.execPath, '-e', SERVER], ports: [{ containerPort: 8080 }] });
  await pod('client', 'xn-a', { app: 'client' }, { name: 'client', image: 'sh', command: ['sleep', '3600'] });
  // Port 9090 is declared by no container: a Service endpoint's port only.
  await api(`/api/v1/namespaces/${NS}/services`, {
    method: 'POST',
    body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo' }, spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 9090 }] } },
  });
  await until('both pods running with addresses, and the Service endpoint', async () => {
    const pods = (await api(`/api/v1/namespaces/${NS}/pods`)).items;
    if (pods.filter((p: any) => p.status?.phase === 'Running' && p.status?.podIP).length < 2) return false;
    const slices = (await api(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Decho`)).items;
    return slices.some((s: any) => s.endpoints?.length);
  }, 90_000);
  return {
    server,
    agents,
    api,
    connectFrom: (client, host, port) =>
      new Promise((ok, fail) => {
        const child = spawn('ip', ['netns', 'exec', netnsName(client.metadata.uid), process.execPath, '-e', CLIENT, host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
        child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
        child.on('error', fail);
        child.on('close', (code) => (code === 0 ? ok(out.trim()) : fail(new Error(`client exited ${code}: ${err}`))));
      }),
  };
}

const get = (c: Cluster, kind: 'pods' | 'nodes', name: string) => c.api(kind === 'pods' ? `/api/v1/namespaces/${NS}/pods/${name}` : `/api/v1/nodes/${name}`);

/** Our chains still on the host for a bridge (iptables -S of both tables). */
function chainsOf(bridge: string): string[] {
  const lines = ['filter', 'nat'].flatMap((t) => execFileSync('iptables', ['-t', t, '-S'], { encoding: 'utf8' }).split('\n'));
  return lines.filter((l) => l.includes(`-${bridge}`) && /SKIFF-(XNODE|NOMASQ|RELAY)/.test(l));
}

describe.skipIf(!canRun)('a pod reaching a pod on another node', () => {
  const bridges: string[] = [];
  afterAll(async () => {
    // What the test helpers do after every agent test, here so that its outcome can be checked.
    await cleanUpAgents();
    for (const bridge of bridges) expect(chainsOf(bridge)).toEqual([]);
  });

  describe('directly (the default; both nodes on this machine)', () => {
    let c: Cluster;
    beforeAll(async () => {
      c = await startCluster([]);
    }, 180_000);
    afterAll(async () => {
      for (const a of c?.agents ?? []) await a.stop();
      await c?.server.stop();
    });

    it("connects by pod address, and the target sees the client pod's own address", async () => {
      const client = await get(c, 'pods', 'client');
      const echo = await get(c, 'pods', 'echo');
      bridges.push(bridgeFor((await get(c, 'nodes', 'xn-a')).spec.podCIDR));
      const answer = await until('the connection to answer', async () => {
        const a = await c.connectFrom(client, echo.status.podIP, 8080);
        return a.startsWith('ERR') ? false : a;
      });
      expect(answer).toBe(`${client.status.podIP} 8080`);
      expect(await c.connectFrom(client, echo.status.podIP, 9090)).toBe(`${client.status.podIP} 9090`);
      expect(c.agents[0].output()).toMatch(/pods reach node xn-b's pods directly \(same machine\)/);
    });
  });

  describe('relayed through the control plane (--pod-network-path relay)', () => {
    let c: Cluster;
    beforeAll(async () => {
      c = await startCluster(['--pod-network-path', 'relay']);
    }, 180_000);
    afterAll(async () => {
      for (const a of c?.agents ?? []) await a.stop();
      await c?.server.stop();
    });

    it("connects by pod address to its declared port and to a Service endpoint's port; the target sees its node's gateway", async () => {
      const client = await get(c, 'pods', 'client');
      const echo = await get(c, 'pods', 'echo');
      const nodeA = await get(c, 'nodes', 'xn-a');
      const gatewayB = gatewayOf((await get(c, 'nodes', 'xn-b')).spec.podCIDR);
      const bridgeA = bridgeFor(nodeA.spec.podCIDR);
      bridges.push(bridgeA);
      for (const port of [8080, 9090]) {
        const answer = await until(`the connection to port ${port} to answer`, async () => {
          const a = await c.connectFrom(client, echo.status.podIP, port);
          return a.startsWith('ERR') ? false : a;
        });
        // Node B's agent dialled the pod: the connection went through the control plane.
        expect(answer).toBe(`${gatewayB} ${port}`);
      }
      expect(c.agents[0].output()).toMatch(/pods reach node xn-b's pods through the control plane \(relayed\)/);
      // Node A's pods' connections to the target are sent to its relay listeners on its gateway.
      const dnat = chainsOf(bridgeA).filter((l) => l.includes(`-d ${echo.status.podIP}/32`));
      expect(dnat.map((l) => /--dport (\d+)/.exec(l)?.[1]).sort()).toEqual(['8080', '9090']);
      for (const l of dnat) expect(l).toContain(`--to-destination ${gatewayOf(nodeA.spec.podCIDR)}:`);
    });
  });
});

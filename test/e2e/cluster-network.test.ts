// The cluster network end to end: two real agents (process runtime, each pod in a network namespace
// of its own) joined to a real `skiff serve` on this machine. A client pod on node A resolves Services
// by name and reaches their endpoints on both nodes through the ClusterIP, directly and with both
// agents forced onto the path relayed through the control plane (`--pod-network-path relay`); a
// headless Service resolves to its pods; a NodePort answers on the nodes' address; a NetworkPolicy
// lets the client in and keeps another pod out; an endpoint that turns unready gets no new connections.
import { rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodNetwork } from '../../src/agent/runtimes/pod-network.js';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const WEB = join(repoRoot, 'test/fixtures/agent/web.mjs');
const CLIENT = join(repoRoot, 'test/fixtures/agent/net-client.mjs');
const NS = 'demo';
const canRun = await PodNetwork.supported();

interface Cluster {
  server: SkiffServer;
  agents: AgentProcess[];
  /** A path under which each web pod's readiness can be failed (FAIL_FILE). */
  shared: string;
  api(path: string, init?: Parameters<SkiffServer['request']>[1]): Promise<any>;
  /** GET on the client pod's helper (/resolve, /fetch), from the host over the pod network. */
  client(pod: string, path: string): Promise<any>;
  stop(): Promise<void>;
}

const pinned = (node: string) => ({ nodeSelector: { 'kubernetes.io/hostname': node } });

function webPod(name: string, node: string, shared: string) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: 'web' } },
    spec: {
      ...pinned(node),
      containers: [{
        name: 'web', image: 'node', command: [process.execPath, WEB], ports: [{ name: 'http', containerPort: 8080 }],
        env: [{ name: 'POD_NAME', value: name }, { name: 'FAIL_FILE', value: join(shared, `${name}.unready`) }],
        readinessProbe: { httpGet: { path: '/live', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
      }],
    },
  };
}

function clientPod(name: string, app: string, node: string) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app } },
    spec: { ...pinned(node), containers: [{ name: 'client', image: 'node', command: [process.execPath, CLIENT], env: [{ name: 'POD_NAME', value: name }] }] },
  };
}

const service = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...spec },
});

async function startCluster(agentArgs: string[]): Promise<Cluster> {
  const server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
  const shared = tempDir('skiff-net-');
  const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
  const agents: AgentProcess[] = [];
  for (const name of ['node-a', 'node-b']) {
    const agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name, data: tempDir('skiff-agent-'), args: agentArgs });
    agents.push(agent);
    await agent.ready;
  }
  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const podIP = async (pod: string) => (await api(`/api/v1/namespaces/${NS}/pods/${pod}`)).status.podIP as string;
  const cluster: Cluster = {
    server, agents, shared, api,
    async client(pod, path) {
      const res = await fetch(`http://${await podIP(pod)}:8080${path}`, { signal: AbortSignal.timeout(60_000) });
      return res.json();
    },
    async stop() {
      for (const a of agents) await a.stop();
      await server.stop();
      rmSync(shared, { recursive: true, force: true });
    },
  };

  await until('both nodes Ready', async () => {
    const nodes = (await api('/api/v1/nodes')).items;
    return nodes.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === 2;
  });
  await api('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  for (const pod of [webPod('web-a', 'node-a', shared), webPod('web-b', 'node-b', shared), clientPod('client', 'client', 'node-a'), clientPod('other', 'other', 'node-a')]) {
    await api(`/api/v1/namespaces/${NS}/pods`, { method: 'POST', body: pod });
  }
  await api(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: service('web', {}) });
  await api(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: service('web-headless', { clusterIP: 'None' }) });
  await api(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: service('web-np', { type: 'NodePort' }) });
  await until('every pod Ready, with both web pods behind the Service', async () => {
    const pods = (await api(`/api/v1/namespaces/${NS}/pods`)).items;
    const ready = pods.filter((p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    if (ready.length < 4) return false;
    const slices = (await api(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`)).items;
    return slices.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready).length === 2;
  }, 90_000);
  return cluster;
}

/** A GET on a connection of its own (fetch would keep one alive, and a Service picks per connection). */
function getOnNewConnection(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
  });
}

/** The pod names that answered `n` GETs of `url` made from inside the client pod, each on a new connection. */
async function answeredBy(c: Cluster, pod: string, url: string, n: number): Promise<{ names: Set<string>; errors: string[] }> {
  const { results } = await c.client(pod, `/fetch?url=${encodeURIComponent(url)}&n=${n}&timeoutMs=3000`);
  const names = new Set<string>(results.filter((r: any) => r.body).map((r: any) => r.body.split(' ')[0]));
  return { names, errors: results.filter((r: any) => r.error).map((r: any) => r.error) };
}

function clusterTests(name: string, agentArgs: string[], relayed: boolean) {
  describe.skipIf(!canRun)(name, () => {
    let c: Cluster;
    beforeAll(async () => {
      c = await startCluster(agentArgs);
    }, 180_000);
    afterAll(async () => {
      await c?.stop();
    });

    it('resolves a Service by name and reaches its endpoints on both nodes through the ClusterIP', async () => {
      const svc = await c.api(`/api/v1/namespaces/${NS}/services/web`);
      expect((await c.client('client', '/resolve?name=web.demo.svc.cluster.local')).addresses).toEqual([svc.spec.clusterIP]);
      // The search path: a short name resolves as well.
      expect((await c.client('client', '/resolve?name=web')).addresses).toEqual([svc.spec.clusterIP]);
      // The agent's rules follow the EndpointSlice a moment later (a relayed endpoint needs its
      // listener first), as kube-proxy's do, and a pod without a readiness probe is Ready before
      // its server listens (ECONNREFUSED meanwhile): both endpoints answer, with no error, soon after.
      let last = { names: new Set<string>(), errors: [] as string[] };
      await until('both endpoints answering through the ClusterIP', async () => {
        last = await answeredBy(c, 'client', 'http://web.demo.svc.cluster.local/', 30);
        return !last.errors.length && last.names.size === 2;
      }, 30_000).catch(() => undefined);
      expect(last.errors).toEqual([]);
      expect([...last.names].sort()).toEqual(['web-a', 'web-b']);
    }, 90_000);

    it(relayed ? "reaches a pod on the other node through the control plane, which it sees come from its node's gateway" : 'reaches a pod on the other node by address, which sees the client pod\'s own address', async () => {
      const pod = async (n: string) => c.api(`/api/v1/namespaces/${NS}/pods/${n}`);
      const [client, webB] = [await pod('client'), await pod('web-b')];
      const node = await c.api(`/api/v1/nodes/node-b`);
      const gatewayB = node.spec.podCIDR.replace(/\.0\/\d+$/, '.1');
      const { results } = await c.client('client', `/fetch?url=${encodeURIComponent(`http://${webB.status.podIP}:8080/peer`)}&n=1`);
      expect(results[0].body?.trim()).toBe(relayed ? gatewayB : client.status.podIP);
    }, 60_000);

    it('resolves a headless Service to its pods, and its named port by SRV', async () => {
      const pods = (await c.api(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dweb`)).items;
      const ips = pods.map((p: any) => p.status.podIP).sort();
      expect((await c.client('client', '/resolve?name=web-headless.demo.svc.cluster.local')).addresses.sort()).toEqual(ips);
      const srv = (await c.client('client', '/resolve?name=_http._tcp.web.demo.svc.cluster.local&type=SRV')).records;
      expect(srv).toEqual([expect.objectContaining({ name: 'web.demo.svc.cluster.local', port: 80 })]);
    }, 60_000);

    it("answers a NodePort on the nodes' address", async () => {
      const svc = await c.api(`/api/v1/namespaces/${NS}/services/web-np`);
      const nodePort = svc.spec.ports[0].nodePort;
      for (const node of ['node-a', 'node-b']) {
        const address = (await c.api(`/api/v1/nodes/${node}`)).status.addresses.find((a: any) => a.type === 'InternalIP').address;
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) seen.add((await getOnNewConnection(`http://${address}:${nodePort}/`)).split(' ')[0]);
        expect([...seen].sort()).toEqual(['web-a', 'web-b']);
      }
    }, 90_000);

    it('lets in what a NetworkPolicy allows and keeps out the rest', async () => {
      await c.api(`/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`, {
        method: 'POST',
        body: {
          apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web-from-client' },
          spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }] },
        },
      });
      await until('the policy to keep "other" out', async () => (await answeredBy(c, 'other', 'http://web.demo.svc.cluster.local/', 4)).names.size === 0, 30_000);
      const client = await answeredBy(c, 'client', 'http://web.demo.svc.cluster.local/', 20);
      expect(client.errors).toEqual([]);
      expect([...client.names].sort()).toEqual(['web-a', 'web-b']);
      const other = await answeredBy(c, 'other', 'http://web.demo.svc.cluster.local/', 4);
      expect(other.names.size).toBe(0);
      expect(other.errors).toHaveLength(4);

      await c.api(`/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/web-from-client`, { method: 'DELETE' });
      await until('"other" to get in again', async () => (await answeredBy(c, 'other', 'http://web.demo.svc.cluster.local/', 10)).names.size === 2, 30_000);
    }, 120_000);

    it('gives an endpoint that turned unready no new connections', async () => {
      writeFileSync(join(c.shared, 'web-b.unready'), '');
      try {
        await until('web-b to leave the ready endpoints', async () => {
          const slices = (await c.api(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`)).items;
          return slices.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready).length === 1;
        }, 30_000);
        // The agent rewrites its rules once its watch has the change.
        await until('connections to go to web-a alone', async () => {
          const { names } = await answeredBy(c, 'client', 'http://web.demo.svc.cluster.local/', 10);
          return names.size === 1 && names.has('web-a');
        }, 30_000);
        const { names, errors } = await answeredBy(c, 'client', 'http://web.demo.svc.cluster.local/', 30);
        expect(errors).toEqual([]);
        expect([...names]).toEqual(['web-a']);
      } finally {
        rmSync(join(c.shared, 'web-b.unready'), { force: true });
      }
    }, 90_000);
  });
}

clusterTests('the cluster network, nodes reaching each other directly', [], false);
clusterTests('the cluster network, relayed through the control plane', ['--pod-network-path', 'relay'], true);

// NetworkPolicy enforced for real: a `skiff serve`, a `skiff agent` with the process runtime (each pod
// in a network namespace of its own on the node's bridge) and the agent's iptables rules. In namespace
// demo, pods web (app=web), client (app=client) and other (app=other): a policy letting only app=client
// into web (on its named port) lets the client in and keeps `other` out, and removing it lets `other`
// in again; a default-deny egress policy stops the namespace's pods' connections; the node itself
// always reaches its pods; the rules hold while the agent is away and a restarted agent takes them
// over; with no pod isolated, and with its pod network, the agent's chains are gone. With two agents
// (the direct path between nodes), a client on the other node gets into web and `other` there does not. Needs Linux, root, `ip netns`
// and iptables (skipped otherwise). Traffic goes only to the namespaces the test's agent made.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeFor } from '../../src/agent/agent.js';
import { chainNames, iptablesUsable } from '../../src/agent/network-policy-iptables.js';
import { netnsName, PodNetwork } from '../../src/agent/runtimes/pod-network.js';
import { caCertHash } from '../../src/node/certs.js';
import { cleanUpAgents, startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const why = !(await iptablesUsable())
  ? 'iptables is not usable (Linux, root and iptables/iptables-restore needed)'
  : (await PodNetwork.supported()) ? undefined : 'no network namespaces (`ip netns`)';
if (why) console.warn(`network-policy tests skipped: ${why}`);

const WEB = join(repoRoot, 'test/fixtures/agent/web.mjs');
const NODE = 'netpol-node';
const NS = 'demo';

// One new HTTP connection with a short timeout: the answering pod's name, or what went wrong (a
// policy's DROP shows as TIMEOUT).
const CLIENT = `
const http = require('node:http');
const req = http.get(process.argv[1], { agent: false, timeout: 1500 }, (res) => {
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => console.log(body.split(' ')[0]));
});
req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
req.on('error', (e) => console.log('ERR:' + (e.code || e.message)));
`;

function saved(): string {
  return execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

type Api = (path: string, init?: Parameters<SkiffServer['request']>[1]) => Promise<any>;
interface Pods {
  ips: Record<string, string>;
  uids: Record<string, string>;
}

/** web.mjs pods (label app=NAME), on the node given (else where the scheduler puts them), once each is Running with an address. */
async function runWebPods(api: Api, pods: [name: string, node?: string][], into: Pods): Promise<void> {
  for (const [name, node] of pods) {
    await api(`/api/v1/namespaces/${NS}/pods`, {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app: name } },
        spec: {
          ...(node ? { nodeName: node } : {}),
          containers: [{
            name: 'web',
            image: 'node',
            command: [process.execPath, WEB],
            ports: [{ containerPort: 8080, name: 'http' }],
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          }],
        },
      },
    });
  }
  for (const [name] of pods) {
    const p = await until(`pod ${name} running with an address`, async () => {
      const got = await api(`/api/v1/namespaces/${NS}/pods/${name}`);
      return got.status?.phase === 'Running' && got.status.podIP && got;
    }, 60_000);
    into.ips[name] = p.status.podIP;
    into.uids[name] = p.metadata.uid;
  }
}

/** What a new connection from inside a pod's network namespace (or from the host) to a pod's web port got. */
function connectIn(pods: Pods, from: string | 'host', to: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = `http://${pods.ips[to]}:8080/`;
    const [file, args] = from === 'host'
      ? [process.execPath, ['-e', CLIENT, url]]
      : ['ip', ['netns', 'exec', netnsName(pods.uids[from]!), process.execPath, '-e', CLIENT, url]];
    execFile(file, args as string[], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim())));
  });
}

describe.skipIf(!!why)('the agent enforces NetworkPolicy with iptables', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let bridge: string;
  let data: string;
  const pods: Pods = { ips: {}, uids: {} };
  const { ips } = pods;

  const api: Api = async (path, init) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const POLICIES = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`;
  const createPolicy = (name: string, spec: any) =>
    api(POLICIES, { method: 'POST', body: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec } });
  const deletePolicy = (name: string) => api(`${POLICIES}/${name}`, { method: 'DELETE' });

  const connect = (from: string | 'host', to: string) => connectIn(pods, from, to);

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    data = tempDir('skiff-agent-');
    agent = startAgentProcess({ server: server.url, token: created.stdout.trim(), caHash: caCertHash(server.ca), name: NODE, data });
    await agent.ready;
    const node = await until('the node to be Ready with a podCIDR', async () => {
      const n = await api(`/api/v1/nodes/${NODE}`);
      return n.spec?.podCIDR && n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && n;
    });
    bridge = bridgeFor(node.spec.podCIDR);

    await api('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
    await runWebPods(api, [['web'], ['client'], ['other']], pods);
    for (const [from, to] of [['client', 'web'], ['other', 'web'], ['client', 'other'], ['host', 'web']]) {
      await until(`${from} reaching ${to} before any policy`, async () => (await connect(from!, to!)) === to);
    }
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    // The pods and the pod network go, and the agent's NetworkPolicy chains with them.
    await cleanUpAgents();
    if (bridge) {
      const names = chainNames(bridge);
      const rules = saved();
      expect(rules).not.toContain(names.main);
      expect(rules).not.toContain(names.comment);
    }
  });

  it('lets app=client into web and keeps other out; without the policy other gets in again', async () => {
    await createPolicy('web-from-client', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }],
    });
    await until('other kept out of web', async () => (await connect('other', 'web')) === 'ERR:TIMEOUT');
    expect(await connect('client', 'web')).toBe('web');
    // The node itself (kubelet's probes, port-forward) still reaches the pod; web's own traffic out is not isolated.
    expect(await connect('host', 'web')).toBe('web');
    expect(await connect('web', 'other')).toBe('other');
    expect(await connect('other', 'client')).toBe('client');

    const names = chainNames(bridge);
    const rules = saved();
    expect(rules).toContain(`-A FORWARD -m comment --comment "${names.comment}" -j ${names.main}`);
    expect(rules).toContain(`-A ${names.main} -d ${ips.web}/32 -m comment --comment "${NS}/web ingress"`);
    expect(rules).toContain(`-s ${ips.client}/32 -p tcp -m tcp --dport 8080 -j RETURN`);
    // Its jump comes before any rule that accepts the bridge's traffic.
    const forward = rules.split('\n').filter((l) => l.startsWith('-A FORWARD '));
    expect(forward.findIndex((l) => l.endsWith(`-j ${names.main}`))).toBeLessThan(forward.findIndex((l) => l.includes(`skiff ${bridge}"`)));

    // A rule another program puts first (here a no-op of the test's own) does not stay ahead of it.
    const mark = ['FORWARD', '-m', 'comment', '--comment', `skiff-test ${process.pid} first`];
    execFileSync('iptables', ['-w', '5', '-I', ...mark.slice(0, 1), '1', ...mark.slice(1)]);
    try {
      await until('the NetworkPolicy jump first again', async () => {
        const top = saved().split('\n').filter((l) => l.startsWith('-A FORWARD '));
        return top.findIndex((l) => l.endsWith(`-j ${names.main}`)) < top.findIndex((l) => l.includes(`skiff-test ${process.pid} first`));
      }, 20_000);
      expect(saved().split('\n').filter((l) => l.endsWith(`-j ${names.main}`))).toHaveLength(1);
    } finally {
      execFileSync('iptables', ['-w', '5', '-D', ...mark]);
    }

    await deletePolicy('web-from-client');
    await until('other reaching web again', async () => (await connect('other', 'web')) === 'web');
    // No pod isolated: nothing of the agent's stays in the filter table.
    await until('the agent\'s chains gone', async () => !saved().includes(names.main));
    expect(saved()).not.toContain(names.comment);
    expect(agent.output()).not.toMatch(/NetworkPolicy rules not written|for NetworkPolicy/);
  });

  it('default-deny egress stops the namespace\'s pods connecting, and lifts when removed', async () => {
    await createPolicy('deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
    await until('client kept from connecting out', async () => (await connect('client', 'web')) === 'ERR:TIMEOUT');
    expect(await connect('other', 'web')).toBe('ERR:TIMEOUT');
    // Ingress is not isolated, and the node is always allowed.
    expect(await connect('host', 'client')).toBe('client');

    await deletePolicy('deny-egress');
    await until('client connecting out again', async () => (await connect('client', 'web')) === 'web');
  });

  it('keeps its rules while the agent is away, and a restarted agent takes them over', async () => {
    await createPolicy('web-from-client', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
    });
    await until('other kept out of web', async () => (await connect('other', 'web')) === 'ERR:TIMEOUT');
    await agent.kill('SIGKILL');
    expect(await connect('other', 'web')).toBe('ERR:TIMEOUT');
    expect(await connect('client', 'web')).toBe('web');

    agent = startAgentProcess({ server: server.url, name: NODE, data });
    await agent.ready;
    await deletePolicy('web-from-client');
    await until('other reaching web again', async () => (await connect('other', 'web')) === 'web');
    await until('the agent\'s chains gone', async () => !saved().includes(chainNames(bridge).main));
    expect(agent.output()).not.toMatch(/NetworkPolicy rules not written|for NetworkPolicy/);
  });
});

describe.skipIf(!!why)('NetworkPolicy across two nodes (the direct path)', () => {
  let server: SkiffServer;
  const agents: AgentProcess[] = [];
  const bridges: string[] = [];
  const pods: Pods = { ips: {}, uids: {} };
  const NODES = ['netpol-a', 'netpol-b'];

  const api: Api = async (path, init) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const connect = (from: string, to: string) => connectIn(pods, from, to);

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    for (const name of NODES) {
      const agent = startAgentProcess({ server: server.url, token: created.stdout.trim(), caHash: caCertHash(server.ca), name, data: tempDir('skiff-agent-') });
      agents.push(agent);
      await agent.ready;
      const node = await until(`node ${name} Ready with a podCIDR`, async () => {
        const n = await api(`/api/v1/nodes/${name}`);
        return n.spec?.podCIDR && n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && n;
      });
      bridges.push(bridgeFor(node.spec.podCIDR));
    }
    await api('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
    // web on the first node; client and other on the second.
    await runWebPods(api, [['web', NODES[0]], ['client', NODES[1]], ['other', NODES[1]]], pods);
    for (const from of ['client', 'other']) await until(`${from} reaching web on the other node`, async () => (await connect(from, 'web')) === 'web');
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
    await cleanUpAgents();
    const rules = saved();
    for (const b of bridges) expect(rules).not.toContain(chainNames(b).main);
  });

  it('lets app=client on another node into web and keeps other out', async () => {
    await api(`/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`, {
      method: 'POST',
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'web-from-client' },
        spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }] },
      },
    });
    await until('other kept out of web', async () => (await connect('other', 'web')) === 'ERR:TIMEOUT');
    expect(await connect('client', 'web')).toBe('web');
    // Only the node of the isolated pod has rules.
    const rules = saved();
    expect(rules).toContain(chainNames(bridges[0]!).main);
    expect(rules).not.toContain(chainNames(bridges[1]!).main);
  });
});

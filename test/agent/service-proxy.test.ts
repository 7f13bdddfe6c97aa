// Services from inside pods, for real: a `skiff serve`, a `skiff agent` with the process runtime
// (each pod in a network namespace of its own on the node's bridge), and the agent's iptables rules.
// A client pod's connections to a ClusterIP reach both endpoints, stick to one with sessionAffinity
// ClientIP, a pod reaches itself through its Service, a NodePort answers on the node's address (from
// a pod and from the host), a Service without endpoints refuses at once, an endpoint made unready
// stops getting new connections; the agent replaces what an earlier run left, and its chains go with
// its pod network. Needs Linux, root, `ip netns` and iptables (skipped otherwise). Traffic goes only
// to the namespaces the test's agent made and to this machine's own address.
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeFor } from '../../src/agent/agent.js';
import { iptablesUnusable } from '../../src/agent/service-proxy.js';
import { chainNames, hooks, specText } from '../../src/agent/service-rules.js';
import { netnsName, PodNetwork } from '../../src/agent/runtimes/pod-network.js';
import { caCertHash } from '../../src/node/certs.js';
import { cleanUpAgents, startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const why = (await iptablesUnusable()) ?? ((await PodNetwork.supported()) ? undefined : 'no network namespaces (`ip netns`)');
if (why) console.warn(`service-proxy tests skipped: they need Linux, root, ip netns and iptables: ${why}`);

const WEB = join(repoRoot, 'test/fixtures/agent/web.mjs');
const NODE = 'svc-node';

// Makes `count` connections, one after another and each new, and prints what each answered (the
// web fixture's first word: its pod's name) or the error's code.
const CLIENT = `
const http = require('node:http');
const [url, count] = process.argv.slice(1);
(async () => {
  const out = [];
  for (let i = 0; i < Number(count); i++) {
    out.push(await new Promise((resolve) => {
      const req = http.get(url, { agent: false, timeout: 3000 }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body.split(' ')[0]));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (e) => resolve('ERR:' + (e.code || e.message)));
    }));
    if (out[out.length - 1].startsWith('ERR:') && out.length >= 3) break; // not there yet: the caller tries again
  }
  console.log(JSON.stringify(out));
})();
`;

function saved(): string {
  return execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

describe.skipIf(!!why)('the agent proxies Services with iptables (kube-proxy iptables mode)', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let token: string;
  let data: string;
  let shared: string;
  let bridge: string;
  let nodeIP: string;
  const ips: Record<string, string> = {};
  const uids: Record<string, string> = {};

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const create = (path: string, body: any) => api(path, { method: 'POST', body });
  const service = (name: string, spec: any) =>
    create('/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...spec } });

  /** What `count` new connections from inside a pod's network namespace got. */
  const fromPod = (pod: string, url: string, count: number): Promise<string[]> =>
    new Promise((resolve, reject) => {
      execFile('ip', ['netns', 'exec', netnsName(uids[pod]!), process.execPath, '-e', CLIENT, url, String(count)], { timeout: 120_000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout));
      });
    });
  const fromHost = (url: string, count: number): Promise<string[]> =>
    new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', CLIENT, url, String(count)], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
    });
  const clusterIP = async (name: string) => (await api(`/api/v1/namespaces/default/services/${name}`)).spec.clusterIP as string;
  const ready = (p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
    data = tempDir('skiff-agent-');
    shared = tempDir('skiff-shared-');
    agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name: NODE, data });
    await agent.ready;
    const node = await until('the node to be Ready with a podCIDR', async () => {
      const n = await api(`/api/v1/nodes/${NODE}`);
      return n.spec?.podCIDR && n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && n;
    });
    bridge = bridgeFor(node.spec.podCIDR);
    nodeIP = node.status.addresses.find((a: any) => a.type === 'InternalIP').address;

    const pod = (name: string, app: string, probe: boolean) =>
      create('/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app } },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'node',
              command: [process.execPath, WEB],
              ports: [{ containerPort: 8080, name: 'http' }],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'FAIL_FILE', value: join(shared, `${name}.fail`) },
              ],
              ...(probe ? { readinessProbe: { httpGet: { path: '/live', port: 8080 }, periodSeconds: 1, failureThreshold: 1 } } : {}),
            },
          ],
        },
      });
    await Promise.all([pod('web-a', 'web', true), pod('web-b', 'web', true), pod('client', 'client', false)]);
    for (const name of ['web-a', 'web-b', 'client']) {
      const p = await until(`pod ${name} ready with an address`, async () => {
        const p = await api(`/api/v1/namespaces/default/pods/${name}`);
        return ready(p) && p.status.podIP && p;
      });
      ips[name] = p.status.podIP;
      uids[name] = p.metadata.uid;
    }
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    // The agent leaves its pods and rules on purpose; tearing the pod network down removes its chains.
    await cleanUpAgents();
    if (bridge) expect(saved()).not.toContain(`skiff ${bridge}`);
  }, 60_000);

  it('spreads a pod\'s connections to a ClusterIP over the ready endpoints', async () => {
    await service('web', {});
    const ip = await clusterIP('web');
    const seen = await until('answers from both endpoints through the ClusterIP', async () => {
      const got = await fromPod('client', `http://${ip}/`, 40);
      return got.includes('web-a') && got.includes('web-b') && got;
    });
    expect(seen.every((s) => s === 'web-a' || s === 'web-b')).toBe(true);
    // From the node itself too (nat OUTPUT), masqueraded to the bridge's address.
    const host = await fromHost(`http://${ip}/`, 40);
    expect(host).toContain('web-a');
    expect(host).toContain('web-b');
  }, 90_000);

  it('keeps a client on one endpoint with sessionAffinity ClientIP', async () => {
    await service('sticky', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } });
    const ip = await clusterIP('sticky');
    await until('an answer through the sticky ClusterIP', async () => (await fromPod('client', `http://${ip}/`, 1))[0]?.startsWith('web-'));
    const got = await fromPod('client', `http://${ip}/`, 30);
    expect(new Set(got).size).toBe(1);
    expect(got[0]).toMatch(/^web-[ab]$/);
    // The affinity is the client's: the endpoint itself (another source address) may land elsewhere,
    // but sticks as well.
    const own = await fromPod('web-a', `http://${ip}/`, 20);
    expect(new Set(own).size).toBe(1);
  }, 90_000);

  it('lets a pod reach itself through its Service (hairpin)', async () => {
    const ip = await clusterIP('web');
    const got = await until('web-a answering web-a through the ClusterIP', async () => {
      const got = await fromPod('web-a', `http://${ip}/`, 40);
      return got.includes('web-a') && got;
    });
    expect(got.every((s) => s === 'web-a' || s === 'web-b')).toBe(true);
  }, 90_000);

  it('answers a NodePort on the node\'s address, from a pod and from the host', async () => {
    const svc = await service('web-np', { type: 'NodePort' });
    const port = svc.spec.ports[0].nodePort;
    expect(port).toBeGreaterThan(0);
    const fromClient = await until('answers from both endpoints through the NodePort, from a pod', async () => {
      const got = await fromPod('client', `http://${nodeIP}:${port}/`, 40);
      return got.includes('web-a') && got.includes('web-b') && got;
    });
    expect(fromClient.every((s) => s === 'web-a' || s === 'web-b')).toBe(true);
    const host = await fromHost(`http://${nodeIP}:${port}/`, 40);
    expect(host).toContain('web-a');
    expect(host).toContain('web-b');
  }, 90_000);

  it('refuses a connection to a Service without endpoints at once, as kube-proxy does', async () => {
    await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'empty' },
      spec: { selector: { app: 'nothing' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    const ip = await clusterIP('empty');
    const rule = await until('the REJECT rule', async () => saved().split('\n').find((l) => l.includes(`-d ${ip}/32`) && l.includes('has no endpoints')));
    expect(rule).toContain('-j REJECT');
    expect(await fromPod('client', `http://${ip}/`, 3)).toEqual(['ERR:ECONNREFUSED', 'ERR:ECONNREFUSED', 'ERR:ECONNREFUSED']);
  }, 60_000);

  it('stops sending new connections to an endpoint that turns unready, and sends them again once ready', async () => {
    const ip = await clusterIP('web');
    writeFileSync(join(shared, 'web-b.fail'), '');
    try {
      await until('web-b unready in its EndpointSlice', async () => {
        const list = await api('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb');
        const eps = list.items.flatMap((s: any) => s.endpoints ?? []);
        return eps.some((e: any) => e.addresses.includes(ips['web-b']) && e.conditions.ready === false);
      });
      const got = await until('only web-a answering', async () => {
        const got = await fromPod('client', `http://${ip}/`, 30);
        return got.every((s) => s === 'web-a') && got;
      });
      expect(got).toHaveLength(30);
    } finally {
      rmSync(join(shared, 'web-b.fail'), { force: true });
    }
    await until('web-b answering again', async () => (await fromPod('client', `http://${ip}/`, 30)).includes('web-b'));
  }, 90_000);

  it('lays its rules out in chains of its own, tagged with its bridge, and replaces what an earlier run left', async () => {
    const names = chainNames(bridge);
    const text = saved();
    for (const h of hooks(bridge)) expect(text).toContain(`-A ${h.chain} ${specText(h.spec)}`);
    expect(text).toContain(`:${names.natServices} `);
    expect(text).toMatch(new RegExp(`-A ${names.natServices} -d [0-9.]+/32 -p tcp -m tcp --dport 80 -m comment --comment "skiff ${bridge} default/web:http cluster IP" -j SKIFF-C-${names.sfx}-`));

    // A chain and a jump an earlier run could have left, and a hook someone deleted.
    await agent.kill('SIGKILL');
    const leftover = `SKIFF-E-${names.sfx}-AAAAAAAAAAA`;
    execFileSync('iptables', ['-t', 'nat', '-N', leftover]);
    execFileSync('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-d', '192.0.2.254/32', '-m', 'comment', '--comment', `skiff ${bridge}`, '-j', leftover]);
    const post = hooks(bridge).find((h) => h.table === 'nat' && h.chain === 'POSTROUTING')!;
    execFileSync('iptables', ['-t', 'nat', '-D', 'POSTROUTING', ...post.spec]);
    agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name: NODE, data });
    await agent.ready;
    await until('the leftover chain gone and the hooks back', async () => {
      const t = saved();
      return !t.includes(leftover) && hooks(bridge).every((h) => t.includes(`-A ${h.chain} ${specText(h.spec)}`)) && true;
    });
    const t = saved();
    // Each hook once: nothing doubled by the restart.
    for (const h of hooks(bridge)) expect(t.split(`-A ${h.chain} ${specText(h.spec)}\n`).length - 1).toBe(1);
    const ip = await clusterIP('web');
    const got = await fromPod('client', `http://${ip}/`, 20);
    expect(got.every((s) => s === 'web-a' || s === 'web-b')).toBe(true);
  }, 90_000);
});

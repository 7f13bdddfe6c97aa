// DNS for pods, end to end: a real `skiff serve`, a real `skiff agent` (process runtime, each pod in a
// network namespace of its own) whose DNS server listens on the pods' gateway, and programs in pods
// reading their /etc/resolv.conf and resolving Service names with stock resolvers (Node's c-ares and
// glibc's getent). Only names the cluster answers are looked up, so nothing leaves the machine.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodNetwork, netnsName, parseCIDR, podKey } from '../../src/agent/runtimes/pod-network.js';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODE = 'dns-1';
const NS = 'demo';
const supported = await PodNetwork.supported();
if (!supported) console.warn('skipping the pod DNS test: it needs root on Linux with `ip netns` (pods in network namespaces of their own)');

// Prints the pod's resolv.conf, then every second what each name resolves to: `a` and `srv` ask the
// nameserver the name as given (c-ares' queries, no search path), `lookup` (getaddrinfo) and `getent`
// (glibc) go through the search path as applications do.
const RESOLVER = `
const fs = require('node:fs');
const dns = require('node:dns').promises;
const { execFileSync } = require('node:child_process');
console.log('RESOLV ' + JSON.stringify(fs.readFileSync('/etc/resolv.conf', 'utf8')));
const names = JSON.parse(process.env.NAMES || '[]');
const tick = async () => {
  for (const [how, name] of names) {
    let out;
    try {
      if (how === 'a') out = (await dns.resolve4(name)).sort();
      else if (how === 'srv') out = (await dns.resolveSrv(name)).map((s) => s.name + ':' + s.port).sort();
      else if (how === 'lookup') out = (await dns.lookup(name, { family: 4, all: true })).map((a) => a.address).sort();
      else out = [...new Set(execFileSync('getent', ['ahostsv4', name], { encoding: 'utf8' }).split('\\n').filter(Boolean).map((l) => l.split(/\\s+/)[0]))].sort();
    } catch (e) {
      out = 'error ' + (e.code || e.status || e.message);
    }
    console.log('RESOLVED ' + JSON.stringify([how, name, out]));
  }
};
tick().then(() => setInterval(tick, 1000));
`;

describe.skipIf(!supported)('DNS for pods of a process-runtime agent', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let gateway: string;
  const uids: string[] = [];
  const resolvConf = join(tempDir('skiff-dns-'), 'resolv.conf');

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const logLines = async (pod: string) => {
    const r = await server.request(`/api/v1/namespaces/${NS}/pods/${pod}/log`);
    return r.status === 200 ? r.text.split('\n').filter(Boolean) : [];
  };
  const resolvOf = (pod: string) =>
    until(`${pod} to print its resolv.conf`, async () => {
      const line = (await logLines(pod)).find((l) => l.startsWith('RESOLV '));
      return line && (JSON.parse(line.slice('RESOLV '.length)) as string);
    }, 45_000);
  /** Waits until the pod's latest answer for the name is what `want` accepts; returns it. */
  const resolved = (pod: string, how: string, name: string, want: (out: unknown) => boolean) => {
    let seen: unknown;
    return until(`${pod} to resolve ${name} (${how})`, async () => {
      const lines = (await logLines(pod)).filter((l) => l.startsWith('RESOLVED ')).map((l) => JSON.parse(l.slice('RESOLVED '.length)) as [string, string, unknown]);
      const last = lines.filter(([h, n]) => h === how && n === name).pop();
      seen = last?.[2];
      return last && want(last[2]) ? { out: last[2] } : undefined;
    }, 45_000).catch((err: Error) => {
      throw new Error(`${err.message}; its last answer: ${JSON.stringify(seen)}`);
    });
  };
  const createPod = async (name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}) => {
    const pod = await api(`/api/v1/namespaces/${NS}/pods`, { method: 'POST', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec } });
    uids.push(pod.metadata.uid);
    return pod;
  };
  const resolverPod = (name: string, names: [string, string][], spec: Record<string, unknown> = {}) =>
    createPod(name, { containers: [{ name: 'resolver', image: 'node', command: [process.execPath, '-e', RESOLVER], env: [{ name: 'NAMES', value: JSON.stringify(names) }] }], ...spec });

  beforeAll(async () => {
    // The node's resolver settings as pods with dnsPolicy Default get them (kubelet's --resolv-conf).
    writeFileSync(resolvConf, '# the node\nnameserver 192.0.2.53\noptions timeout:1 attempts:1\n');
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    agent = startAgentProcess({
      server: server.url,
      token: created.stdout.trim(),
      caHash: caCertHash(server.ca),
      name: NODE,
      data: tempDir('skiff-dns-agent-'),
      args: ['--resolv-conf', resolvConf],
    });
    await agent.ready;
    const node = await until('the node to be Ready with a podCIDR', async () => {
      const n = await api(`/api/v1/nodes/${NODE}`);
      return n.spec?.podCIDR && n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && n;
    });
    gateway = parseCIDR(node.spec.podCIDR).gateway;

    await api('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: NS } } });
    const ports = [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }];
    await api(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports } } });
    await api(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: { metadata: { name: 'web-headless' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports } } });
    const idle = [{ name: 'web', image: 'node', command: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'] }];
    for (const name of ['web-1', 'web-2']) await createPod(name, { containers: idle }, { app: 'web' });
  });

  afterAll(async () => {
    // Deleted through the API, so the agent removes the sandboxes (and their resolv.conf) itself.
    if (server && agent) {
      await server.request(`/api/v1/namespaces/${NS}`, { method: 'DELETE' }).catch(() => undefined);
      await until('the pods to be gone', async () => (await api(`/api/v1/namespaces/${NS}/pods`)).items.length === 0, 60_000).catch(() => undefined);
    }
    await agent?.stop();
    await server?.stop();
    for (const uid of uids) {
      rmSync(join('/etc/netns', netnsName(uid)), { recursive: true, force: true });
      const host = `skiffhost-${podKey(uid)}`;
      if (existsSync(join('/run/netns', host))) execFileSync('ip', ['netns', 'delete', host]);
      rmSync(join('/etc/netns', host), { recursive: true, force: true });
    }
  });

  it('serves DNS on the pods\' gateway, port 53', () => {
    expect(agent.output()).toContain(`cluster DNS for cluster.local on ${gateway}:53 (UDP and TCP)`);
  });

  it('resolves Service names from a pod: the ClusterIP, a headless Service\'s pods, named-port SRV, and short names through the search path', async () => {
    const web = await api(`/api/v1/namespaces/${NS}/services/web`);
    const kubernetes = await api('/api/v1/namespaces/default/services/kubernetes');
    await resolverPod('client', [
      ['a', 'web.demo.svc.cluster.local'],
      ['getent', 'web.demo.svc.cluster.local'],
      ['a', 'web-headless.demo.svc.cluster.local'],
      ['lookup', 'kubernetes.default'],
      ['getent', 'kubernetes.default'],
      ['lookup', 'web'],
      ['srv', '_http._tcp.web.demo.svc.cluster.local'],
    ]);
    const backends = await until('both web pods to have addresses', async () => {
      const ips = (await api(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dweb`)).items.map((p: any) => p.status?.podIP).filter(Boolean);
      return ips.length === 2 && (ips as string[]).sort();
    });
    const is = (want: unknown) => (out: unknown) => JSON.stringify(out) === JSON.stringify(want);

    expect((await resolved('client', 'a', 'web.demo.svc.cluster.local', is([web.spec.clusterIP]))).out).toEqual([web.spec.clusterIP]);
    expect((await resolved('client', 'getent', 'web.demo.svc.cluster.local', is([web.spec.clusterIP]))).out).toEqual([web.spec.clusterIP]);
    expect((await resolved('client', 'a', 'web-headless.demo.svc.cluster.local', is(backends))).out).toEqual(backends);
    expect((await resolved('client', 'lookup', 'kubernetes.default', is([kubernetes.spec.clusterIP]))).out).toEqual([kubernetes.spec.clusterIP]);
    expect((await resolved('client', 'getent', 'kubernetes.default', is([kubernetes.spec.clusterIP]))).out).toEqual([kubernetes.spec.clusterIP]);
    expect((await resolved('client', 'lookup', 'web', is([web.spec.clusterIP]))).out).toEqual([web.spec.clusterIP]);
    expect((await resolved('client', 'srv', '_http._tcp.web.demo.svc.cluster.local', is(['web.demo.svc.cluster.local:80']))).out).toEqual(['web.demo.svc.cluster.local:80']);
  });

  it('writes the pod\'s resolv.conf as kubelet does for ClusterFirst: the namespace search path, the node\'s DNS, ndots:5', async () => {
    expect(await resolvOf('client')).toBe(`search demo.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${gateway}\noptions ndots:5\n`);
    const pod = await api(`/api/v1/namespaces/${NS}/pods/client`);
    expect(existsSync(join('/etc/netns', netnsName(pod.metadata.uid), 'resolv.conf'))).toBe(true);
  });

  it('gives dnsPolicy Default the node\'s resolver settings, and None only the pod\'s dnsConfig', async () => {
    await resolverPod('default-policy', [], { dnsPolicy: 'Default' });
    await resolverPod('none-policy', [], {
      dnsPolicy: 'None',
      dnsConfig: { nameservers: ['192.0.2.1'], searches: ['my.dns.search.suffix'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
    });
    expect(await resolvOf('default-policy')).toBe('nameserver 192.0.2.53\noptions timeout:1 attempts:1\n');
    expect(await resolvOf('none-policy')).toBe('search my.dns.search.suffix\nnameserver 192.0.2.1\noptions ndots:2 edns0\n');
  });

  it('gives a host-network pod with ClusterFirstWithHostNet the cluster\'s settings, and it resolves Services', async () => {
    const web = await api(`/api/v1/namespaces/${NS}/services/web`);
    await resolverPod('hostnet', [['a', 'web.demo.svc.cluster.local']], { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' });
    expect(await resolvOf('hostnet')).toBe(`search demo.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${gateway}\noptions ndots:5\n`);
    expect((await resolved('hostnet', 'a', 'web.demo.svc.cluster.local', (o) => JSON.stringify(o) === JSON.stringify([web.spec.clusterIP]))).out).toEqual([web.spec.clusterIP]);
  });

  it('removes a pod\'s resolv.conf with its sandbox', async () => {
    const pod = await api(`/api/v1/namespaces/${NS}/pods/none-policy`);
    const file = join('/etc/netns', netnsName(pod.metadata.uid), 'resolv.conf');
    expect(existsSync(file)).toBe(true);
    await api(`/api/v1/namespaces/${NS}/pods/none-policy?gracePeriodSeconds=0`, { method: 'DELETE' });
    await until('the pod\'s resolv.conf to be removed', async () => !existsSync(file));
  });
});

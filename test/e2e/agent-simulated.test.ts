// `skiff agent --simulate N`: N nodes from one process, each with its own credential, Lease and
// status, whose pods go Running and Ready with addresses from their node's podCIDR.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { hasKubectl, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODES = 20;

describe('skiff agent --simulate', () => {
  let server: SkiffServer;
  let agent: AgentProcess;

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };

  beforeAll(async () => {
    server = await startSkiff();
    const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
    agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name: 'sim', data: tempDir('skiff-sim-'), args: ['--simulate', String(NODES), '--simulate-start-delay', '200ms'] });
    await agent.ready;
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('joins N nodes, each Ready with a credential and a podCIDR of its own', async () => {
    const nodes = await until('every node Ready with a podCIDR', async () => {
      const items = (await api('/api/v1/nodes')).items;
      const ready = items.filter((n: any) => n.spec.podCIDR && n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === NODES && ready;
    });
    expect(nodes.map((n: any) => n.metadata.name).sort()).toEqual(Array.from({ length: NODES }, (_, i) => `sim-${i}`).sort());
    expect(new Set(nodes.map((n: any) => n.spec.podCIDR)).size).toBe(NODES);
    const list = await runSkiff(['token', 'list', '--data', server.data]);
    for (let i = 0; i < NODES; i++) expect(list.stdout).toContain(`node/sim-${i}`);
    const leases = (await api('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases')).items;
    expect(leases.filter((l: any) => l.metadata.name.startsWith('sim-'))).toHaveLength(NODES);
  });

  it('runs a Deployment across them, each pod Running and Ready at an address of its node', async () => {
    await api('/apis/apps/v1/namespaces/default/deployments', {
      method: 'POST',
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'fleet' },
        spec: { replicas: 2 * NODES, selector: { matchLabels: { app: 'fleet' } }, template: { metadata: { labels: { app: 'fleet' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
      },
    });
    const pods = await until('every replica Ready', async () => {
      const items = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dfleet')).items;
      const ready = items.filter((p: any) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === 2 * NODES && ready;
    });
    const cidrs = new Map((await api('/api/v1/nodes')).items.map((n: any) => [n.metadata.name, n.spec.podCIDR]));
    for (const p of pods) {
      const prefix = String(cidrs.get(p.spec.nodeName)).split('.').slice(0, 3).join('.') + '.';
      expect(p.status.podIP.startsWith(prefix), `${p.status.podIP} in ${cidrs.get(p.spec.nodeName)}`).toBe(true);
    }

    // Each simulated node has its tunnel: logs, exec and usage reach the simulator through it.
    const pod = pods[0];
    const logs = await until('the logs through the tunnel', async () => {
      const r = await server.request(`/api/v1/namespaces/default/pods/${pod.metadata.name}/log`);
      return r.status === 200 && r.text;
    });
    expect(logs).toBe('simulated container c started\n');
    if (hasKubectl) {
      const echo = await server.kubectl(['exec', pod.metadata.name, '--', 'echo', 'hello']);
      expect(echo).toMatchObject({ code: 0, stdout: 'hello\n' });
      const exit = await server.kubectl(['exec', pod.metadata.name, '--', 'sh', '-c', 'exit 3']);
      expect(exit.code).toBe(3);
      const refused = await server.kubectl(['exec', pod.metadata.name, '--', 'ls']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('simulated runtime: cannot run "ls"');
      const top = await until('kubectl top pods', async () => {
        const r = await server.kubectl(['top', 'pods', '-l', 'app=fleet']);
        return r.code === 0 && r.stdout.split('\n').filter((l) => l.startsWith('fleet-')).length === 2 * NODES && r.stdout;
      });
      expect(top).toMatch(/^fleet-\S+\s+1m\s+4Mi/m);
    }
    await api('/apis/apps/v1/namespaces/default/deployments/fleet', { method: 'DELETE' });
    await until('the pods gone', async () => (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dfleet')).items.length === 0);
  });
});

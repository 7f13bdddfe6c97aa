// `skiff serve` without --no-agent, as `npm start` runs it: the control plane and this machine as
// a node in one command, with pods that really run.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, trackAgentData } from '../helpers/agent.js';
import { hasKubectl, repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';


describe('skiff serve with its local node', () => {
  let server: SkiffServer;

  beforeAll(async () => {
    server = await startSkiff({ agent: true, args: ['--name', 'laptop', '--runtime', 'process'] });
    trackAgentData(join(server.data, 'agent'));
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('registers this machine as a node, joined with a token that is gone once used', async () => {
    const node = await until('the local node Ready', async () => {
      const r = await server.request('/api/v1/nodes/laptop');
      const node = r.status === 200 && r.json();
      return node?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && node;
    });
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^process:\/\//);
    const list = await runSkiff(['token', 'list', '--data', server.data]);
    expect(list.stdout).toContain('node/laptop');
    expect(list.stdout).not.toMatch(/^[a-z0-9]{6}\s/m); // no join token left behind
  });

  it('reports a node whose container runtime does not answer as not Ready', async () => {
    const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
    const agent = startAgentProcess({
      server: server.url,
      token,
      caHash: caCertHash(server.ca),
      name: 'no-docker',
      data: tempDir('skiff-no-docker-'),
      runtime: 'docker',
      env: { DOCKER_HOST: `unix://${join(tempDir('skiff-no-docker-sock-'), 'docker.sock')}` },
    });
    try {
      await agent.ready;
      const ready = await until('Ready=False', async () => {
        const r = await server.request('/api/v1/nodes/no-docker');
        const c = r.status === 200 && r.json().status?.conditions?.find((c: any) => c.type === 'Ready');
        return c?.status === 'False' && c;
      });
      expect(ready.reason).toBe('KubeletNotReady');
      expect(ready.message).toMatch(/^container runtime is down/);
    } finally {
      await agent.stop();
      await server.request('/api/v1/nodes/no-docker', { method: 'DELETE' }); // no pod of the next test goes there
    }
  });

  it('runs a Deployment whose command is an HTTP server, reached through its Service', async () => {
    const web = join(repoRoot, 'test/fixtures/agent/web.mjs');
    const create = hasKubectl
      ? await server.kubectl(['create', 'deployment', 'hello', '--image=node', '--replicas=2', '--port=8080', '--', process.execPath, web])
      : await server.request('/apis/apps/v1/namespaces/default/deployments', {
          method: 'POST',
          body: {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'hello' },
            spec: { replicas: 2, selector: { matchLabels: { app: 'hello' } }, template: { metadata: { labels: { app: 'hello' } }, spec: { containers: [{ name: 'node', image: 'node', command: [process.execPath, web], ports: [{ containerPort: 8080 }] }] } } },
          },
        });
    expect('code' in create ? create.code === 0 : create.status < 300).toBe(true);
    await server.request('/api/v1/namespaces/default/services', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'hello' }, spec: { selector: { app: 'hello' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    await until('two running pods in the Endpoints', async () => {
      const ep = (await server.request('/api/v1/namespaces/default/endpoints/hello')).json();
      return (ep.subsets?.[0]?.addresses ?? []).length === 2;
    });
    const res = await until('the Service answering', async () => {
      const r = await server.request('/api/v1/namespaces/default/services/hello:80/proxy/');
      return r.status === 200 && r;
    });
    expect(res.text).toMatch(/ pid \d+/);
    // Deleted through the API, so the node stops them before the server goes.
    await server.request('/apis/apps/v1/namespaces/default/deployments/hello', { method: 'DELETE' });
    await until('the pods gone', async () => (await server.request('/api/v1/namespaces/default/pods?labelSelector=app%3Dhello')).json().items.length === 0);
  });

  it('keeps the local node when served at another address next time', async () => {
    const data = server.data;
    const before = (await server.request('/api/v1/nodes/laptop')).json().metadata.uid;
    await server.stop();
    server = await startSkiff({ data, agent: true, args: ['--name', 'laptop', '--runtime', 'process'] });
    const after = await until('the lease renewed through the new address', async () => {
      const lease = (await server.request('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/laptop')).json();
      return Date.now() - Date.parse(lease.spec.renewTime) < 5_000 && lease;
    });
    expect(after.spec.holderIdentity).toBe('laptop');
    expect((await server.request('/api/v1/nodes/laptop')).json().metadata.uid).toBe(before);
    expect(server.output()).not.toContain('did not start');
  });
});

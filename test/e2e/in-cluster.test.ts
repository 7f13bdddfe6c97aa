// Programs in pods talk to the API with no configuration: a real `skiff serve`, a real `skiff agent`
// (process runtime) and pods running a Node.js program that uses @kubernetes/client-node's
// KubeConfig.loadFromCluster(). The agent serves the node-local API endpoint on the pods' gateway and
// on 127.0.0.1, mounts each pod's ServiceAccount token with that endpoint's CA, and points
// KUBERNETES_SERVICE_HOST/PORT at it; the pod's own token is what the control plane sees.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCIDR } from '../../src/agent/runtimes/pod-network.js';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const FIXTURE = join(repoRoot, 'test/fixtures/agent/in-cluster.mjs');
const NODE = 'incluster-1';
const NS = 'incluster';

describe('in-cluster clients in pods of a process-runtime agent', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let data: string;
  let gateway: string | undefined;
  /** RoleBinding of `lister` to ClusterRole view created (the RBAC kinds are served). */
  let bound = false;

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const logLines = async (pod: string) => {
    const r = await server.request(`/api/v1/namespaces/${NS}/pods/${pod}/log`);
    return r.status === 200 ? r.text.split('\n').filter(Boolean) : [];
  };
  /** The pod's first line (where it talks to) and its latest answer from the API. */
  const clientOutput = (pod: string) =>
    until(`${pod} to talk to the API`, async () => {
      const lines = await logLines(pod);
      const first = lines.find((l) => l.startsWith('in-cluster '));
      const last = [...lines].reverse().find((l) => /^(pods|status) /.test(l));
      return first !== undefined && last !== undefined ? { first, last, lines } : undefined;
    }, 45_000);
  const clientPod = (name: string, spec: Record<string, unknown> = {}) =>
    api(`/api/v1/namespaces/${NS}/pods`, {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'client', image: 'node', command: [process.execPath, FIXTURE] }], ...spec } },
    });

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    data = tempDir('skiff-incluster-');
    agent = startAgentProcess({ server: server.url, token: created.stdout.trim(), caHash: caCertHash(server.ca), name: NODE, data });
    await agent.ready;
    const node = await until('the node to be Ready', async () => {
      const n = await api(`/api/v1/nodes/${NODE}`);
      return n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && n;
    });
    const cidr: string | undefined = node.spec?.podCIDR;
    const podNetwork = node.metadata.labels?.['node.skiff.dev/pod-network'] !== 'host';
    if (cidr && podNetwork) gateway = parseCIDR(cidr).gateway;

    await api('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: NS } } });
    for (const sa of ['lister', 'nobody']) await api(`/api/v1/namespaces/${NS}/serviceaccounts`, { method: 'POST', body: { metadata: { name: sa } } });
    const binding = await server.request(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
      method: 'POST',
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'lister-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'lister', namespace: NS }],
      },
    });
    bound = binding.status === 201;
    await clientPod('lister', { serviceAccountName: 'lister' });
    await clientPod('nobody', { serviceAccountName: 'nobody' });
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('serves the node-local endpoint on the pods\' gateway and on 127.0.0.1 with a CA of the agent\'s', async () => {
    const out = agent.output();
    const m = /in-cluster API endpoint on (\S+) and (\S+)|in-cluster API endpoint on (\S+)/.exec(out);
    expect(m, out).toBeTruthy();
    const served = [m![1], m![2], m![3]].filter(Boolean);
    expect(served.some((a) => a!.startsWith('127.0.0.1:'))).toBe(true);
    if (gateway) expect(served.some((a) => a!.startsWith(`${gateway}:`))).toBe(true);
    expect(existsSync(join(data, 'agent', 'api-proxy', 'ca.crt'))).toBe(true);
  });

  it('mounts the pod\'s ServiceAccount token, bound to the pod, with the endpoint\'s CA and the namespace', async () => {
    const { first } = await clientOutput('lister');
    const pod = await api(`/api/v1/namespaces/${NS}/pods/lister`);
    const folder = join(data, 'agent', 'pods', pod.metadata.uid, 'serviceaccount');
    expect(readFileSync(join(folder, 'namespace'), 'utf8')).toBe(NS);
    expect(readFileSync(join(folder, 'ca.crt'), 'utf8')).toBe(readFileSync(join(data, 'agent', 'api-proxy', 'ca.crt'), 'utf8'));
    const token = readFileSync(join(folder, 'token'), 'utf8');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims.sub).toBe(`system:serviceaccount:${NS}:lister`);
    expect(claims['kubernetes.io'].pod).toEqual({ name: 'lister', uid: pod.metadata.uid });
    expect(claims['kubernetes.io'].node?.name).toBe(NODE);
    expect(claims.exp - claims.iat).toBe(3607);
    // KUBERNETES_SERVICE_HOST/PORT: the gateway of the pod's own network (or loopback where pods share the host's).
    const server_ = /server=https:\/\/([^:]+):(\d+)/.exec(first)!;
    expect(server_[1]).toBe(gateway ?? '127.0.0.1');
    expect(first).toContain(`namespace=${NS}`);
  });

  it('reaches the control plane with the pod\'s own token: the same answer it gets there directly', async () => {
    const pod = await api(`/api/v1/namespaces/${NS}/pods/lister`);
    const token = readFileSync(join(data, 'agent', 'pods', pod.metadata.uid, 'serviceaccount', 'token'), 'utf8');
    const direct = await server.request(`/api/v1/namespaces/${NS}/pods`, { token });
    // 401 would mean the token did not authenticate: the whole token path is broken.
    expect([200, 403]).toContain(direct.status);
    // Authorization by RBAC (kube-apiserver's Node,RBAC modes) is in force where RBAC's kinds are served.
    expect(direct.status).toBe(bound ? 200 : 403);
    if (direct.status === 200) {
      // RBAC in force: the RoleBinding to view lets it list the pods of its namespace.
      expect(bound).toBe(true);
      const { last } = await until('lister to list pods', async () => {
        const o = await clientOutput('lister');
        return /^pods \d+$/.test(o.last) && o;
      });
      expect(Number(last.split(' ')[1])).toBeGreaterThanOrEqual(2);
    } else {
      // Until authorization serves RBAC, every identity but the admin's and nodes' is refused: the
      // refusal names the ServiceAccount, so the token authenticated through the endpoint.
      const { last } = await clientOutput('lister');
      expect(last).toMatch(/^status 403 /);
      expect(last).toContain(`system:serviceaccount:${NS}:lister`);
    }
  });

  it('is refused (403) for a ServiceAccount that no binding allows', async () => {
    const { last } = await until('nobody to be refused', async () => {
      const o = await clientOutput('nobody');
      return /^status 403 /.test(o.last) && o;
    });
    expect(last).toContain(`system:serviceaccount:${NS}:nobody`);
  });

  it('gives host-network pods the endpoint on 127.0.0.1', async () => {
    await clientPod('hostnet', { serviceAccountName: 'lister', hostNetwork: true });
    const { first, last } = await clientOutput('hostnet');
    expect(first).toMatch(/server=https:\/\/127\.0\.0\.1:\d+ /);
    expect(last).toMatch(/^(pods \d+|status 403 .*system:serviceaccount:incluster:lister)/);
  });

  it('mounts nothing for a pod with automountServiceAccountToken: false', async () => {
    await api(`/api/v1/namespaces/${NS}/pods`, {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'optout' },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: 'c', image: 'sh', command: ['sh', '-c', 'echo "sa=${SKIFF_SERVICEACCOUNT_DIR:-none} host=$KUBERNETES_SERVICE_HOST"; sleep 3600'] }],
        },
      },
    });
    const line = await until('optout to start', async () => (await logLines('optout')).find((l) => l.startsWith('sa=')));
    expect(line).toMatch(/^sa=none host=\S+/);
    const pod = await api(`/api/v1/namespaces/${NS}/pods/optout`);
    expect(existsSync(join(data, 'agent', 'pods', pod.metadata.uid, 'serviceaccount'))).toBe(false);
  });
});

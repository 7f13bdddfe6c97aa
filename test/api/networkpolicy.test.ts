// NetworkPolicy through the API: @kubernetes/client-node's NetworkingV1Api (create with defaults,
// validation errors, strategic merge replacing the atomic lists, lists across namespaces, discovery,
// the aggregated view/edit roles), and kubectl against a real `skiff serve` (apply, get's table,
// describe as Kubernetes prints it, explain).
import { NetworkingV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type V1NetworkPolicy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ClientApi } from '../helpers/api-server.js';
import { hasKubectl, startSkiff, type SkiffServer } from '../helpers/skiff-server.js';
import { failure } from '../helpers/status.js';

const policy = (name: string, spec: any): V1NetworkPolicy => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec });

describe('NetworkPolicy through client-node', () => {
  let c: ClientApi;
  let net: NetworkingV1Api;

  beforeAll(async () => {
    c = await startClientApi(['demo', 'other']);
    net = c.api.kubeConfig.makeApiClient(NetworkingV1Api);
  });
  afterAll(() => c.api.stop());

  /** A create over plain HTTP, so the body is exactly this JSON (client-node's models name `from` `_from`). */
  const create = async (namespace: string, body: V1NetworkPolicy) => {
    const res = await c.api.request(`/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { code: res.status, body: await res.json() };
  };

  it('creates with the defaults kube-apiserver sets and lists across namespaces', async () => {
    const created = await create('demo', policy('web', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }],
    }));
    expect(created.code).toBe(201);
    expect(created.body.spec).toEqual({
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080, protocol: 'TCP' }] }],
      policyTypes: ['Ingress'],
    });
    expect(created.body.metadata.generation).toBe(1);
    const denyOut = await create('other', policy('deny', { egress: [{}] }));
    expect(denyOut.body.spec).toEqual({ podSelector: {}, egress: [{}], policyTypes: ['Ingress', 'Egress'] });
    const all = await net.listNetworkPolicyForAllNamespaces();
    expect(all.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).sort()).toEqual(['demo/web', 'other/deny']);
    expect(all.items.find((p) => p.metadata?.name === 'web')?.spec?.ingress?.[0]?._from?.[0]?.podSelector?.matchLabels).toEqual({ app: 'client' });
  });

  it('refuses an invalid policy with the causes kube-apiserver gives', async () => {
    const bad = await create('demo', policy('bad', {
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }, podSelector: {} }], ports: [{ port: 80, endPort: 79 }] }],
    }));
    expect(bad.code).toBe(422);
    expect(bad.body.message).toBe(
      'NetworkPolicy.networking.k8s.io "bad" is invalid: [spec.ingress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal to `port`, '
      + 'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`, '
      + 'spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer]',
    );
    expect(bad.body.details.causes.map((x: any) => x.field)).toEqual(['spec.ingress[0].ports[0].endPort', 'spec.ingress[0].from[0].ipBlock.except[0]', 'spec.ingress[0].from[0]']);
    const typed = await failure(net.createNamespacedNetworkPolicy({ namespace: 'demo', body: policy('bad2', { podSelector: {}, policyTypes: ['Sideways'] }) }));
    expect(typed.code).toBe(422);
    expect(typed.status.message).toBe('NetworkPolicy.networking.k8s.io "bad2" is invalid: spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"');
  });

  it('replaces the atomic rule lists on a strategic merge patch, bumping the generation', async () => {
    const patched = await net.patchNamespacedNetworkPolicy(
      { namespace: 'demo', name: 'web', body: { spec: { ingress: [{ ports: [{ port: 'http' }] }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(patched.spec?.ingress).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
    expect(patched.metadata?.generation).toBe(2);
  });

  it('is discoverable as netpol, and the view and edit roles cover it as Kubernetes\' do', async () => {
    const res = await c.api.request('/apis/networking.k8s.io/v1');
    const resources = (await res.json()).resources as any[];
    expect(resources.find((r) => r.name === 'networkpolicies')).toMatchObject({ kind: 'NetworkPolicy', namespaced: true, shortNames: ['netpol'] });
    const rbac = c.api.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const rules = async (name: string) => (await rbac.readClusterRole({ name })).rules ?? [];
    expect((await rules('system:aggregate-to-view')).some((r) => r.apiGroups?.includes('networking.k8s.io') && r.resources?.includes('networkpolicies') && r.verbs.includes('list'))).toBe(true);
    expect((await rules('system:aggregate-to-edit')).some((r) => r.apiGroups?.includes('networking.k8s.io') && r.resources?.includes('networkpolicies') && r.verbs.includes('create'))).toBe(true);
  });
});

describe.skipIf(!hasKubectl)('NetworkPolicy through kubectl', () => {
  let server: SkiffServer;
  const MANIFEST = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except: [172.17.1.0/24]
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - port: 5978
      protocol: TCP
`;

  beforeAll(async () => {
    server = await startSkiff();
  });
  afterAll(() => server?.stop());

  const ok = async (args: string[], stdin?: string) => {
    const r = await server.kubectl(args, { stdin });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  it('applies, prints NAME POD-SELECTOR AGE, and describes as Kubernetes does', async () => {
    expect(await ok(['apply', '-f', '-'], MANIFEST)).toBe('networkpolicy.networking.k8s.io/test-network-policy created\n');
    expect(await ok(['apply', '-f', '-'], MANIFEST)).toBe('networkpolicy.networking.k8s.io/test-network-policy unchanged\n');
    expect((await ok(['get', 'netpol'])).split('\n')[1]).toMatch(/^test-network-policy\s+role=db\s+\d+s$/);
    const described = await ok(['describe', 'networkpolicy', 'test-network-policy']);
    expect(described).toMatch(/^Name:\s+test-network-policy\nNamespace:\s+default\nCreated on:/);
    expect(described).toContain([
      'Spec:',
      '  PodSelector:     role=db',
      '  Allowing ingress traffic:',
      '    To Port: 6379/TCP',
      '    From:',
      '      IPBlock:',
      '        CIDR: 172.17.0.0/16',
      '        Except: 172.17.1.0/24',
      '    From:',
      '      NamespaceSelector: project=myproject',
      '    From:',
      '      PodSelector: role=frontend',
      '  Allowing egress traffic:',
      '    To Port: 5978/TCP',
      '    To:',
      '      IPBlock:',
      '        CIDR: 10.0.0.0/24',
    ].join('\n'));
    expect(described).toContain('  Policy Types: Ingress, Egress');
  });

  it('explains the fields', async () => {
    const out = await ok(['explain', 'networkpolicy.spec.ingress.from.ipBlock']);
    expect(out).toMatch(/cidr\s+<string> -required-/);
    expect(out).toMatch(/except\s+<\[\]string>/);
  });
});

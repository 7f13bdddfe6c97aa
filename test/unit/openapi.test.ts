import { describe, expect, it, vi } from 'vitest';
import { openapiV2, openapiV3Document, openapiV3Index, unknownFields } from '../../src/api/openapi/index';

type Json = any;

type KindRow = [docPath: string, schema: string, gvk: { group: string; version: string; kind: string }];
const KINDS: KindRow[] = [
  ...['Namespace', 'Node', 'Pod', 'Service', 'Endpoints', 'Event', 'ConfigMap', 'Secret'].flatMap((kind): KindRow[] => [
    ['api/v1', `io.k8s.api.core.v1.${kind}`, { group: '', version: 'v1', kind }],
    ['api/v1', `io.k8s.api.core.v1.${kind}List`, { group: '', version: 'v1', kind: `${kind}List` }],
  ]),
  ['api/v1', 'io.k8s.api.policy.v1.Eviction', { group: 'policy', version: 'v1', kind: 'Eviction' }],
  ['apis/apps/v1', 'io.k8s.api.apps.v1.Deployment', { group: 'apps', version: 'v1', kind: 'Deployment' }],
  ['apis/apps/v1', 'io.k8s.api.apps.v1.ReplicaSet', { group: 'apps', version: 'v1', kind: 'ReplicaSet' }],
  ['apis/apps/v1', 'io.k8s.api.autoscaling.v1.Scale', { group: 'autoscaling', version: 'v1', kind: 'Scale' }],
  ['apis/coordination.k8s.io/v1', 'io.k8s.api.coordination.v1.Lease', { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease' }],
  ['apis/discovery.k8s.io/v1', 'io.k8s.api.discovery.v1.EndpointSlice', { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice' }],
];
const DOC_PATHS = ['api/v1', 'apis/apps/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1', 'apis/networking.k8s.io/v1', 'apis/rbac.authorization.k8s.io/v1'];

function doc(path: string): Json {
  const d = openapiV3Document(path);
  if (!d) throw new Error(`no document for ${path}`);
  return d;
}

/** Every "$ref" value anywhere in `x`. */
function refsIn(x: unknown, out: string[] = []): string[] {
  if (Array.isArray(x)) x.forEach((v) => refsIn(v, out));
  else if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) {
      if (k === '$ref') out.push(v as string);
      else refsIn(v, out);
    }
  }
  return out;
}

/** Follows $ref from a property to the schema it names. */
const resolve = (d: Json, s: Json): Json => (s.$ref ? d.components.schemas[s.$ref.split('/').pop()] : s);

describe('OpenAPI v3 index', () => {
  it('lists one document per served group/version, at its own URL with a hash', () => {
    const index = openapiV3Index();
    expect(Object.keys(index.paths).sort()).toEqual(DOC_PATHS);
    for (const [path, { serverRelativeURL }] of Object.entries(index.paths)) {
      expect(serverRelativeURL).toMatch(new RegExp(`^/openapi/v3/${path.replace(/\./g, '\\.')}\\?hash=[0-9A-F]{16}$`));
    }
  });

  it('gives each document a distinct hash that is the same when built afresh', async () => {
    const first = openapiV3Index();
    const hashes = Object.values(first.paths).map((p) => p.serverRelativeURL.split('hash=')[1]);
    expect(new Set(hashes).size).toBe(hashes.length);
    vi.resetModules();
    const fresh = await import('../../src/api/openapi/index');
    expect(fresh.openapiV3Index()).toEqual(first);
  });
});

describe('OpenAPI v3 documents', () => {
  it('are OpenAPI 3.0 documents; unknown group/versions have none', () => {
    for (const path of DOC_PATHS) expect(doc(path).openapi).toBe('3.0.0');
    expect(openapiV3Document('/apis/apps/v1')).toBe(openapiV3Document('apis/apps/v1'));
    expect(openapiV3Document('apis/batch/v1')).toBeUndefined();
  });

  it.each(KINDS)('%s has %s with its group-version-kind', (path, name, gvk) => {
    const schema = doc(path).components.schemas[name];
    expect(schema, name).toBeDefined();
    expect(schema['x-kubernetes-group-version-kind']).toContainEqual(gvk);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'metadata']));
  });

  it('resolves every $ref inside the same document, and carries no schema it does not use', () => {
    for (const path of DOC_PATHS) {
      const d = doc(path);
      const refs = new Set(refsIn(d));
      for (const ref of refs) {
        expect(ref.startsWith('#/components/schemas/'), ref).toBe(true);
        expect(d.components.schemas[ref.slice('#/components/schemas/'.length)], `${path}: ${ref}`).toBeDefined();
      }
      for (const name of Object.keys(d.components.schemas)) expect(refs.has(`#/components/schemas/${name}`), name).toBe(true);
    }
  });

  it('serves kube-apiserver paths, namespaced and cluster-scoped, with subresources', () => {
    const core = Object.keys(doc('api/v1').paths);
    expect(core).toEqual(expect.arrayContaining([
      '/api/v1/namespaces/{namespace}/pods', '/api/v1/namespaces/{namespace}/pods/{name}', '/api/v1/pods',
      '/api/v1/namespaces/{namespace}/pods/{name}/status', '/api/v1/namespaces/{namespace}/pods/{name}/eviction',
      '/api/v1/namespaces/{namespace}/pods/{name}/binding', '/api/v1/nodes', '/api/v1/nodes/{name}', '/api/v1/nodes/{name}/status',
      '/api/v1/namespaces', '/api/v1/namespaces/{name}', '/api/v1/namespaces/{namespace}/configmaps/{name}',
      '/api/v1/namespaces/{namespace}/services/{name}/status', '/api/v1/namespaces/{namespace}/events',
    ]));
    expect(core).not.toContain('/api/v1/namespaces/{namespace}/nodes');
    expect(Object.keys(doc('apis/apps/v1').paths)).toEqual(expect.arrayContaining([
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}', '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale',
      '/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/scale', '/apis/apps/v1/deployments',
    ]));
  });

  it('gives every PATCH a group-version-kind and a fieldValidation parameter (what kubectl checks)', () => {
    let patches = 0;
    for (const path of DOC_PATHS) {
      for (const [p, item] of Object.entries<Json>(doc(path).paths)) {
        if (!item.patch) continue;
        patches++;
        expect(item.patch['x-kubernetes-group-version-kind'], p).toMatchObject({ kind: expect.any(String), version: 'v1' });
        expect(item.patch.parameters.map((x: Json) => x.name), p).toEqual(expect.arrayContaining(['fieldValidation', 'dryRun', 'fieldManager', 'force']));
        expect(Object.keys(item.patch.requestBody.content), p).toContain('application/strategic-merge-patch+json');
      }
    }
    expect(patches).toBe(15 + 4 + 7 + 2); // every kind (four of them RBAC's), seven status subresources, two scale subresources
    const scale = doc('apis/apps/v1').paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'];
    expect(scale.patch['x-kubernetes-group-version-kind']).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    expect(scale.get.responses[200].content['application/json'].schema.$ref).toBe('#/components/schemas/io.k8s.api.autoscaling.v1.Scale');
  });

  it('describes the fields kubectl explain is asked about', () => {
    const apps = doc('apis/apps/v1');
    const spec = resolve(apps, apps.components.schemas['io.k8s.api.apps.v1.Deployment'].properties.spec);
    expect(spec.properties.replicas).toMatchObject({ type: 'integer', format: 'int32', description: expect.any(String) });
    expect(spec.required).toEqual(['selector', 'template']);
    const core = doc('api/v1');
    const container = core.components.schemas['io.k8s.api.core.v1.Container'];
    expect(container.properties.image).toMatchObject({ type: 'string' });
    expect(Object.keys(container.properties)).toEqual(expect.arrayContaining(
      ['name', 'image', 'command', 'args', 'env', 'envFrom', 'ports', 'resources', 'volumeMounts', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'securityContext']));
    const podSpec = core.components.schemas['io.k8s.api.core.v1.PodSpec'];
    expect(Object.keys(podSpec.properties)).toEqual(expect.arrayContaining(
      ['containers', 'initContainers', 'volumes', 'tolerations', 'affinity', 'nodeSelector', 'nodeName', 'restartPolicy', 'securityContext', 'topologySpreadConstraints']));
  });

  it('carries the merge keys strategic merge patch needs', () => {
    const core = doc('api/v1').components.schemas;
    expect(core['io.k8s.api.core.v1.PodSpec'].properties.containers).toMatchObject({ 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge' });
    expect(core['io.k8s.api.core.v1.PodSpec'].properties.volumes['x-kubernetes-patch-strategy']).toBe('merge,retainKeys');
    expect(core['io.k8s.api.core.v1.Container'].properties.ports).toMatchObject({ 'x-kubernetes-patch-merge-key': 'containerPort', 'x-kubernetes-list-map-keys': ['containerPort', 'protocol'] });
    expect(core['io.k8s.api.core.v1.ServiceSpec'].properties.ports['x-kubernetes-patch-merge-key']).toBe('port');
    const apps = doc('apis/apps/v1').components.schemas;
    expect(apps['io.k8s.api.apps.v1.DeploymentSpec'].properties.strategy['x-kubernetes-patch-strategy']).toBe('retainKeys');
  });
});

describe('OpenAPI v2', () => {
  const v2: Json = openapiV2();

  it('is Swagger 2.0 with every definition and path of the v3 documents', () => {
    expect(v2.swagger).toBe('2.0');
    for (const [, name] of KINDS) expect(v2.definitions[name], name).toBeDefined();
    for (const path of DOC_PATHS) expect(Object.keys(v2.paths)).toEqual(expect.arrayContaining(Object.keys(doc(path).paths)));
  });

  it('refers only into #/definitions/, and every reference resolves', () => {
    for (const ref of refsIn(v2)) {
      expect(ref.startsWith('#/definitions/'), ref).toBe(true);
      expect(v2.definitions[ref.slice('#/definitions/'.length)], ref).toBeDefined();
    }
  });

  it('uses Swagger 2.0 forms: body parameters, inline parameter types, string Quantity and IntOrString', () => {
    const patch = v2.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    expect(patch.parameters[0]).toEqual({ in: 'body', name: 'body', required: true, schema: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' } });
    expect(patch.parameters.find((p: Json) => p.name === 'fieldValidation')).toMatchObject({ in: 'query', type: 'string' });
    expect(patch.consumes).toContain('application/apply-patch+yaml');
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(patch.responses[200].schema.$ref).toBe('#/definitions/io.k8s.api.apps.v1.Deployment');
    expect(v2.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).toMatchObject({ type: 'string', format: 'int-or-string' });
    expect(v2.definitions['io.k8s.apimachinery.pkg.api.resource.Quantity']).toMatchObject({ type: 'string' });
    expect(JSON.stringify(v2)).not.toContain('"oneOf"');
  });
});

describe('unknownFields', () => {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' }, creationTimestamp: null, annotations: { 'a/b': 'c' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{
            name: 'web',
            image: 'nginx',
            ports: [{ containerPort: 80, name: 'http' }],
            env: [{ name: 'A', value: '1' }, { name: 'B', valueFrom: { configMapKeyRef: { name: 'cm', key: 'b' } } }],
            resources: { requests: { cpu: '100m' }, limits: { memory: '1Gi' } },
            readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 5 },
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          }],
          volumes: [{ name: 'data', emptyDir: {} }, { name: 'repo', gitRepo: { repository: 'x', anything: true } }],
          tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 }],
        },
      },
    },
    status: { replicas: 2, conditions: [{ type: 'Available', status: 'True', lastUpdateTime: '2024-01-01T00:00:00Z' }] },
  };

  it('finds nothing in an ordinary manifest (free-form parts included)', () => {
    expect(unknownFields('apps/v1', 'Deployment', deployment)).toEqual([]);
  });

  it('reports unknown fields with the paths kube-apiserver prints', () => {
    const bad = structuredClone(deployment) as Json;
    bad.spec.replica = 3;
    bad.spec.template.spec.containers[0].imagePolicy = 'Always';
    bad.spec.template.spec.containers[0].env[1].valueFrom.configMapKeyRef.optinal = true;
    bad.metadata.labelz = {};
    expect(unknownFields('apps/v1', 'Deployment', bad).sort()).toEqual([
      'metadata.labelz',
      'spec.replica',
      'spec.template.spec.containers[0].env[1].valueFrom.configMapKeyRef.optinal',
      'spec.template.spec.containers[0].imagePolicy',
    ]);
  });

  it('knows the other kinds: Service, ConfigMap, Secret, Node, Lease, EndpointSlice, Event, Scale', () => {
    const ok: [string, string, Json][] = [
      ['v1', 'Service', { metadata: { name: 's' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080, protocol: 'TCP' }] } }],
      ['v1', 'ConfigMap', { metadata: { name: 'c' }, data: { 'a.conf': 'x' }, binaryData: { b: 'AA==' }, immutable: true }],
      ['v1', 'Secret', { metadata: { name: 's' }, type: 'Opaque', stringData: { p: 'x' }, data: { q: 'eA==' } }],
      ['v1', 'Node', { metadata: { name: 'n' }, spec: { unschedulable: true, taints: [{ key: 'k', effect: 'NoSchedule' }] },
        status: { capacity: { cpu: '4' }, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2024-01-01T00:00:00Z' }], addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], nodeInfo: { kubeletVersion: 'v1.32.0' } } }],
      ['coordination.k8s.io/v1', 'Lease', { metadata: { name: 'l' }, spec: { holderIdentity: 'n', leaseDurationSeconds: 40, renewTime: '2024-01-01T00:00:00.000000Z' } }],
      ['discovery.k8s.io/v1', 'EndpointSlice', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.2'], conditions: { ready: true }, nodeName: 'n' }], ports: [{ port: 80 }] }],
      ['v1', 'Event', { metadata: { name: 'e' }, involvedObject: { kind: 'Pod', name: 'p' }, reason: 'Scheduled', source: { component: 'scheduler' }, count: 1, type: 'Normal' }],
      ['autoscaling/v1', 'Scale', { metadata: { name: 'web' }, spec: { replicas: 3 }, status: { replicas: 2, selector: 'app=web' } }],
    ];
    for (const [apiVersion, kind, obj] of ok) expect(unknownFields(apiVersion, kind, obj), kind).toEqual([]);
    expect(unknownFields('v1', 'Service', { spec: { ports: [{ port: 80, targetport: 8080 }] } })).toEqual(['spec.ports[0].targetport']);
  });

  it('checks nothing for a kind it has no schema for', () => {
    expect(unknownFields('batch/v1', 'Job', { spec: { whatever: 1 } })).toEqual([]);
  });
});

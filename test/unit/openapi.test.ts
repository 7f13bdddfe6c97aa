import { describe, expect, it, vi } from 'vitest';
import { mistypedFields, openapiV2, openapiV3Document, openapiV3Index, unknownFields } from '../../src/api/openapi/index';

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
  ...(['DaemonSet', 'ControllerRevision'].flatMap((kind): KindRow[] => [
    ['apis/apps/v1', `io.k8s.api.apps.v1.${kind}`, { group: 'apps', version: 'v1', kind }],
    ['apis/apps/v1', `io.k8s.api.apps.v1.${kind}List`, { group: 'apps', version: 'v1', kind: `${kind}List` }],
  ])),
  ['apis/batch/v1', 'io.k8s.api.batch.v1.Job', { group: 'batch', version: 'v1', kind: 'Job' }],
  ['apis/batch/v1', 'io.k8s.api.batch.v1.JobList', { group: 'batch', version: 'v1', kind: 'JobList' }],
  ['apis/batch/v1', 'io.k8s.api.batch.v1.CronJob', { group: 'batch', version: 'v1', kind: 'CronJob' }],
  ['apis/batch/v1', 'io.k8s.api.batch.v1.CronJobList', { group: 'batch', version: 'v1', kind: 'CronJobList' }],
  ['apis/policy/v1', 'io.k8s.api.policy.v1.PodDisruptionBudget', { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget' }],
  ['apis/policy/v1', 'io.k8s.api.policy.v1.PodDisruptionBudgetList', { group: 'policy', version: 'v1', kind: 'PodDisruptionBudgetList' }],
  ['apis/autoscaling/v2', 'io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler', { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler' }],
  ['apis/autoscaling/v2', 'io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerList', { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscalerList' }],
  ['apis/autoscaling/v1', 'io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler', { group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscaler' }],
  ['apis/autoscaling/v1', 'io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerList', { group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscalerList' }],
];
const DOC_PATHS = [
  'api/v1', 'apis/apps/v1', 'apis/autoscaling/v1', 'apis/autoscaling/v2', 'apis/batch/v1', 'apis/coordination.k8s.io/v1',
  'apis/discovery.k8s.io/v1', 'apis/networking.k8s.io/v1', 'apis/policy/v1', 'apis/rbac.authorization.k8s.io/v1',
];

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
    expect(openapiV3Document('apis/batch/v2')).toBeUndefined();
    expect(openapiV3Document('apis/storage.k8s.io/v1')).toBeUndefined();
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
        expect(item.patch['x-kubernetes-group-version-kind'], p).toMatchObject({ kind: expect.any(String), version: path.split('/').pop() });
        expect(item.patch.parameters.map((x: Json) => x.name), p).toEqual(expect.arrayContaining(['fieldValidation', 'dryRun', 'fieldManager', 'force']));
        expect(Object.keys(item.patch.requestBody.content), p).toContain('application/strategic-merge-patch+json');
      }
    }
    // Every kind (four of them RBAC's, two HorizontalPodAutoscaler versions), thirteen status subresources, two scale subresources.
    expect(patches).toBe(23 + 4 + 13 + 2);
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
    expect(unknownFields('apps/v1', 'StatefulSet', { spec: { whatever: 1 } })).toEqual([]);
    expect(unknownFields('batch/v2', 'Job', { spec: { whatever: 1 } })).toEqual([]);
  });
});

describe('the workload kinds', () => {
  const schemas = (path: string): Json => doc(path).components.schemas;
  const apps = schemas('apis/apps/v1');
  const batch = schemas('apis/batch/v1');
  const policy = schemas('apis/policy/v1');
  const v2 = schemas('apis/autoscaling/v2');
  const v1 = schemas('apis/autoscaling/v1');
  const lookup = (ref: string): Json => {
    const name = ref.split('/').pop()!;
    for (const d of [apps, batch, policy, v2, v1]) if (d[name]) return d[name];
    throw new Error(`no schema ${name}`);
  };
  /** The schema of a list's items or a reference, followed to what it names. */
  const deref = (s: Json): Json => (s.type === 'array' ? deref(s.items) : s.$ref ? lookup(s.$ref) : s);
  /** The property at a dotted path, through references and lists, as `kubectl explain` walks it. */
  const field = (s: Json, path: string): Json => path.split('.').reduce((at: Json, name) => deref(at).properties[name], s);

  it('serves each kind with a status subresource (ControllerRevision has none), under Kubernetes operation ids', () => {
    const paths = (p: string) => Object.keys(doc(p).paths);
    expect(paths('apis/apps/v1')).toEqual(expect.arrayContaining([
      '/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/status', '/apis/apps/v1/daemonsets',
      '/apis/apps/v1/namespaces/{namespace}/controllerrevisions/{name}', '/apis/apps/v1/controllerrevisions',
    ]));
    expect(paths('apis/apps/v1')).not.toContain('/apis/apps/v1/namespaces/{namespace}/controllerrevisions/{name}/status');
    expect(paths('apis/apps/v1')).not.toContain('/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale');
    expect(paths('apis/batch/v1')).toEqual(expect.arrayContaining([
      '/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status', '/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}/status',
      '/apis/batch/v1/jobs', '/apis/batch/v1/watch/namespaces/{namespace}/cronjobs/{name}',
    ]));
    expect(paths('apis/policy/v1')).toContain('/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}/status');
    const hpa = (v: string) => doc(`apis/autoscaling/${v}`).paths[`/apis/autoscaling/${v}/namespaces/{namespace}/horizontalpodautoscalers/{name}`];
    expect(hpa('v2').patch.operationId).toBe('patchAutoscalingV2NamespacedHorizontalPodAutoscaler');
    expect(hpa('v2').patch['x-kubernetes-group-version-kind']).toEqual({ group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler' });
    expect(hpa('v2').get.responses[200].content['application/json'].schema.$ref).toBe('#/components/schemas/io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler');
    expect(hpa('v1').get.responses[200].content['application/json'].schema.$ref).toBe('#/components/schemas/io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler');
    expect(hpa('v1').get.tags).toEqual(['autoscaling_v1']);
    // Each version's document carries its own schemas only.
    expect(Object.keys(v1).filter((n) => n.includes('.autoscaling.v2.'))).toEqual([]);
    expect(Object.keys(v2).filter((n) => n.includes('.autoscaling.v1.'))).toEqual([]);
  });

  it('describes what kubectl explain is asked about: updateStrategy, podFailurePolicy, behavior, jobTemplate', () => {
    const ds = apps['io.k8s.api.apps.v1.DaemonSet'];
    const strategy = deref(field(ds, 'spec.updateStrategy'));
    expect(Object.keys(strategy.properties).sort()).toEqual(['rollingUpdate', 'type']);
    const rolling = deref(strategy.properties.rollingUpdate);
    expect(rolling.properties.maxUnavailable.$ref).toBe('#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString');
    expect(rolling.properties.maxSurge.$ref).toBe('#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString');
    expect(deref(field(ds, 'spec')).required).toEqual(['selector', 'template']);

    const job = batch['io.k8s.api.batch.v1.Job'];
    const rule = deref(field(job, 'spec.podFailurePolicy.rules'));
    expect(rule.required).toEqual(['action']);
    expect(deref(rule.properties.onExitCodes).required).toEqual(['operator', 'values']);
    expect(Object.keys(deref(field(job, 'spec')).properties)).toEqual(expect.arrayContaining([
      'parallelism', 'completions', 'backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished', 'completionMode',
      'suspend', 'podFailurePolicy', 'successPolicy', 'template', 'selector', 'manualSelector', 'backoffLimitPerIndex']));
    expect(field(job, 'spec.activeDeadlineSeconds')).toMatchObject({ type: 'integer', format: 'int64' });

    const cron = batch['io.k8s.api.batch.v1.CronJob'];
    expect(deref(field(cron, 'spec')).required).toEqual(['schedule', 'jobTemplate']);
    expect(field(cron, 'spec.jobTemplate.spec.template').$ref).toBe('#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec');
    expect(batch['io.k8s.api.core.v1.PodSpec']).toBeDefined();

    const hpa = v2['io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler'];
    const scaling = deref(field(hpa, 'spec.behavior.scaleDown'));
    expect(Object.keys(scaling.properties).sort()).toEqual(['policies', 'selectPolicy', 'stabilizationWindowSeconds', 'tolerance']);
    expect(deref(scaling.properties.policies).required).toEqual(['type', 'value', 'periodSeconds']);
    expect(deref(field(hpa, 'spec')).required).toEqual(['scaleTargetRef', 'maxReplicas']);
    expect(deref(field(hpa, 'spec.metrics')).required).toEqual(['type']);
    expect(Object.keys(deref(field(hpa, 'spec.metrics.resource.target')).properties).sort()).toEqual(['averageUtilization', 'averageValue', 'type', 'value']);
    expect(Object.keys(deref(field(v1['io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler'], 'spec')).properties).sort())
      .toEqual(['maxReplicas', 'minReplicas', 'scaleTargetRef', 'targetCPUUtilizationPercentage']);

    const pdb = policy['io.k8s.api.policy.v1.PodDisruptionBudget'];
    expect(deref(field(pdb, 'status')).required).toEqual(['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods']);
    expect(field(pdb, 'status.disruptedPods')).toMatchObject({ type: 'object', additionalProperties: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time' } });

    const revision = apps['io.k8s.api.apps.v1.ControllerRevision'];
    expect(revision.required).toEqual(['revision']);
    expect(deref(revision.properties.data)['x-kubernetes-preserve-unknown-fields']).toBe(true);
  });

  it('carries the list semantics and patch strategies of k8s.io/api', () => {
    expect(field(batch['io.k8s.api.batch.v1.Job'], 'status.conditions')).toMatchObject(
      { 'x-kubernetes-list-type': 'atomic', 'x-kubernetes-patch-merge-key': 'type', 'x-kubernetes-patch-strategy': 'merge' });
    expect(field(batch['io.k8s.api.batch.v1.Job'], 'spec.podFailurePolicy.rules')['x-kubernetes-list-type']).toBe('atomic');
    expect(field(batch['io.k8s.api.batch.v1.Job'], 'spec.podFailurePolicy.rules.onExitCodes.values')['x-kubernetes-list-type']).toBe('set');
    expect(field(batch['io.k8s.api.batch.v1.Job'], 'status.uncountedTerminatedPods.failed')['x-kubernetes-list-type']).toBe('set');
    expect(field(batch['io.k8s.api.batch.v1.CronJob'], 'status.active')['x-kubernetes-list-type']).toBe('atomic');
    expect(field(apps['io.k8s.api.apps.v1.DaemonSet'], 'status.conditions')).toMatchObject(
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'], 'x-kubernetes-patch-merge-key': 'type' });
    expect(field(apps['io.k8s.api.apps.v1.DaemonSet'], 'spec.updateStrategy')['x-kubernetes-patch-strategy']).toBeUndefined();
    expect(field(policy['io.k8s.api.policy.v1.PodDisruptionBudget'], 'spec.selector')['x-kubernetes-patch-strategy']).toBe('replace');
    expect(field(policy['io.k8s.api.policy.v1.PodDisruptionBudget'], 'status.conditions')['x-kubernetes-list-map-keys']).toEqual(['type']);
    const hpa = v2['io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler'];
    expect(field(hpa, 'spec.metrics')['x-kubernetes-list-type']).toBe('atomic');
    expect(field(hpa, 'spec.behavior.scaleUp.policies')['x-kubernetes-list-type']).toBe('atomic');
    expect(field(hpa, 'status.currentMetrics')['x-kubernetes-list-type']).toBe('atomic');
    expect(field(hpa, 'status.conditions')).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-patch-merge-key': 'type' });
    // autoscaling/v1's reference is +structType=atomic, v2's is not.
    expect(v1['io.k8s.api.autoscaling.v1.CrossVersionObjectReference']['x-kubernetes-map-type']).toBe('atomic');
    expect(v2['io.k8s.api.autoscaling.v2.CrossVersionObjectReference']['x-kubernetes-map-type']).toBeUndefined();
  });

  const podTemplate = { metadata: { labels: { app: 'w' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } };
  const manifests: [string, string, Json][] = [
    ['apps/v1', 'DaemonSet', {
      metadata: { name: 'd' },
      spec: { selector: { matchLabels: { app: 'w' } }, template: podTemplate, minReadySeconds: 5, revisionHistoryLimit: 3,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%', maxSurge: 1 } } },
      status: { currentNumberScheduled: 1, numberMisscheduled: 0, desiredNumberScheduled: 1, numberReady: 1, updatedNumberScheduled: 1,
        numberAvailable: 1, observedGeneration: 2, conditions: [{ type: 'X', status: 'True' }] },
    }],
    ['apps/v1', 'ControllerRevision', { metadata: { name: 'd-1' }, revision: 1, data: { spec: { template: { $patch: 'replace', anything: [1] } } } }],
    ['batch/v1', 'Job', {
      metadata: { name: 'j' },
      spec: { completions: 5, parallelism: 2, completionMode: 'Indexed', backoffLimit: 3, backoffLimitPerIndex: 1, maxFailedIndexes: 2,
        activeDeadlineSeconds: 60, ttlSecondsAfterFinished: 10, suspend: false, manualSelector: false, podReplacementPolicy: 'Failed',
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u' } }, template: podTemplate,
        podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'c', operator: 'In', values: [1, 2] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }] },
        successPolicy: { rules: [{ succeededIndexes: '0-2', succeededCount: 1 }] } },
      status: { active: 1, succeeded: 2, failed: 0, ready: 1, terminating: 0, completedIndexes: '0,1', startTime: '2024-01-01T00:00:00Z',
        uncountedTerminatedPods: { succeeded: ['a'], failed: [] }, conditions: [{ type: 'Complete', status: 'True', lastProbeTime: '2024-01-01T00:00:00Z' }] },
    }],
    ['batch/v1', 'CronJob', {
      metadata: { name: 'c' },
      spec: { schedule: '@hourly', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 30, suspend: false,
        successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, jobTemplate: { metadata: { labels: { a: 'b' } }, spec: { template: podTemplate } } },
      status: { active: [{ kind: 'Job', name: 'c-1', namespace: 'default', uid: 'u' }], lastScheduleTime: '2024-01-01T00:00:00Z' },
    }],
    ['policy/v1', 'PodDisruptionBudget', {
      metadata: { name: 'p' },
      spec: { minAvailable: '50%', selector: { matchLabels: { app: 'w' } }, unhealthyPodEvictionPolicy: 'IfHealthyBudget' },
      status: { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1, expectedPods: 2, observedGeneration: 1,
        disruptedPods: { 'w-1': '2024-01-01T00:00:00Z' }, conditions: [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '', lastTransitionTime: '2024-01-01T00:00:00Z' }] },
    }],
    ['autoscaling/v2', 'HorizontalPodAutoscaler', {
      metadata: { name: 'h' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
          { type: 'ContainerResource', containerResource: { name: 'memory', container: 'c', target: { type: 'AverageValue', averageValue: '100Mi' } } },
          { type: 'Pods', pods: { metric: { name: 'qps', selector: { matchLabels: { a: 'b' } } }, target: { type: 'AverageValue', averageValue: 10 } } }],
        behavior: { scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] },
          scaleDown: { tolerance: '0.05', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } } },
      status: { currentReplicas: 2, desiredReplicas: 3, lastScaleTime: '2024-01-01T00:00:00Z',
        currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 90, averageValue: '450m' } } }],
        conditions: [{ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }] },
    }],
    ['autoscaling/v1', 'HorizontalPodAutoscaler', {
      metadata: { name: 'h', annotations: { 'autoscaling.alpha.kubernetes.io/conditions': '[]' } },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5, targetCPUUtilizationPercentage: 50 },
      status: { currentReplicas: 2, desiredReplicas: 3, currentCPUUtilizationPercentage: 90, lastScaleTime: '2024-01-01T00:00:00Z' },
    }],
  ];

  it.each(manifests)('%s %s: an ordinary manifest has no unknown or mistyped field', (apiVersion, kind, obj) => {
    expect(unknownFields(apiVersion, kind, obj)).toEqual([]);
    expect(mistypedFields(apiVersion, kind, obj)).toEqual([]);
  });

  it('reports unknown and mistyped fields of the new kinds with the paths kube-apiserver prints', () => {
    expect(unknownFields('batch/v1', 'Job', { spec: { backofLimit: 1, template: { spec: { containers: [{ name: 'c', imag: 'x' }] } } } }).sort())
      .toEqual(['spec.backofLimit', 'spec.template.spec.containers[0].imag']);
    expect(unknownFields('batch/v1', 'CronJob', { spec: { jobTemplate: { spec: { podFailurePolicy: { rules: [{ action: 'Ignore', onExitCode: {} }] } } } } }))
      .toEqual(['spec.jobTemplate.spec.podFailurePolicy.rules[0].onExitCode']);
    expect(unknownFields('autoscaling/v2', 'HorizontalPodAutoscaler', { spec: { targetCPUUtilizationPercentage: 50 } }))
      .toEqual(['spec.targetCPUUtilizationPercentage']);
    expect(unknownFields('autoscaling/v1', 'HorizontalPodAutoscaler', { spec: { metrics: [] } })).toEqual(['spec.metrics']);
    expect(unknownFields('apps/v1', 'DaemonSet', { spec: { strategy: {} } })).toEqual(['spec.strategy']);
    expect(unknownFields('policy/v1', 'PodDisruptionBudget', { spec: { minAvailable: 1, maxUnavailible: 1 } })).toEqual(['spec.maxUnavailible']);
    expect(mistypedFields('batch/v1', 'Job', { spec: { parallelism: '2', podFailurePolicy: { rules: [{ action: 'Count', onExitCodes: { operator: 'In', values: ['1'] } }] } } }))
      .toEqual([
        { path: 'spec.parallelism', expected: 'integer', got: 'string' },
        { path: 'spec.podFailurePolicy.rules[0].onExitCodes.values[0]', expected: 'integer', got: 'string' },
      ]);
    expect(mistypedFields('autoscaling/v2', 'HorizontalPodAutoscaler', { spec: { maxReplicas: 2.5, metrics: {} } }))
      .toEqual([{ path: 'spec.maxReplicas', expected: 'integer', got: 'number' }, { path: 'spec.metrics', expected: 'array', got: 'object' }]);
  });

  it('reaches Swagger 2.0 too, under the same names', () => {
    const v2doc: Json = openapiV2();
    for (const name of ['io.k8s.api.apps.v1.DaemonSetSpec', 'io.k8s.api.batch.v1.PodFailurePolicyRule', 'io.k8s.api.batch.v1.JobTemplateSpec',
      'io.k8s.api.policy.v1.PodDisruptionBudgetStatus', 'io.k8s.api.autoscaling.v2.HPAScalingRules', 'io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec']) {
      expect(v2doc.definitions[name], name).toBeDefined();
    }
    expect(v2doc.definitions['io.k8s.api.batch.v1.CronJobSpec'].properties.jobTemplate.$ref).toBe('#/definitions/io.k8s.api.batch.v1.JobTemplateSpec');
    expect(v2doc.paths['/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}/status'].patch['x-kubernetes-group-version-kind'])
      .toEqual({ group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler' });
  });
});

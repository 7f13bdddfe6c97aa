// Status and scale subresources, generation, pods/binding, pods/eviction and namespace termination.
import {
  PatchStrategy, setHeaderOptions, type AppsV1Api, type CoreV1Api, type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';
import { jsonRequest } from '../helpers/json-request.js';
import { failure } from '../helpers/status.js';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const NS = 'sub';
const rv = (o: { metadata?: { resourceVersion?: string } }) => Number(o.metadata?.resourceVersion);

const deployment = (name: string, replicas = 2): V1Deployment => ({
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } },
  },
});

const pod = (name: string, nodeName?: string) => ({
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
});

describe('subresources', () => {
  let api: ApiServer, core: CoreV1Api, apps: AppsV1Api;

  beforeAll(async () => {
    ({ api, core, apps } = await startClientApi([NS]));
  });
  afterAll(() => api.stop());

  describe('generation and status', () => {
    it('generation moves with spec changes only; resourceVersion with every write', async () => {
      const created = await apps.createNamespacedDeployment({ namespace: NS, body: deployment('gen') });
      expect(created.metadata?.generation).toBe(1);

      const labelled = await apps.patchNamespacedDeployment({ namespace: NS, name: 'gen', body: { metadata: { labels: { extra: 'yes' } } } }, merge);
      expect(labelled.metadata?.generation).toBe(1);
      expect(rv(labelled)).toBeGreaterThan(rv(created));

      const withStatus = await apps.patchNamespacedDeploymentStatus({ namespace: NS, name: 'gen', body: { status: { replicas: 2, observedGeneration: 1 } } }, merge);
      expect(withStatus.metadata?.generation).toBe(1);
      expect(withStatus.status?.replicas).toBe(2);
      expect(rv(withStatus)).toBeGreaterThan(rv(labelled));

      const scaled = await apps.patchNamespacedDeployment({ namespace: NS, name: 'gen', body: { spec: { replicas: 3 } } }, merge);
      expect(scaled.metadata?.generation).toBe(2);
      const image = await apps.patchNamespacedDeployment(
        { namespace: NS, name: 'gen', body: { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:2' }] } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      expect(image.metadata?.generation).toBe(3);
      expect(rv(image)).toBeGreaterThan(rv(scaled));
    });

    it('a status update changes status alone', async () => {
      const current = await apps.readNamespacedDeployment({ namespace: NS, name: 'gen' });
      const body = structuredClone(current);
      body.spec!.replicas = 9;
      body.metadata!.labels = { hijacked: 'yes' };
      body.status = { ...body.status, readyReplicas: 1 };
      const res = await apps.replaceNamespacedDeploymentStatus({ namespace: NS, name: 'gen', body });
      expect(res.status?.readyReplicas).toBe(1);
      expect(res.spec?.replicas).toBe(3);
      expect(res.metadata?.labels).toEqual(current.metadata?.labels);
      expect(res.metadata?.generation).toBe(current.metadata?.generation);
    });

    it('a main-resource update cannot change status', async () => {
      const current = await apps.readNamespacedDeployment({ namespace: NS, name: 'gen' });
      const body = structuredClone(current);
      body.status = { replicas: 42, readyReplicas: 42 };
      body.metadata!.annotations = { touched: 'yes' };
      const res = await apps.replaceNamespacedDeployment({ namespace: NS, name: 'gen', body });
      expect(res.metadata?.annotations).toEqual({ touched: 'yes' });
      expect(res.status?.replicas).toBe(2);
      expect(res.status?.readyReplicas).toBe(1);
      const patched = await apps.patchNamespacedDeployment({ namespace: NS, name: 'gen', body: { status: { replicas: 7 } } }, merge);
      expect(patched.status?.replicas).toBe(2);
    });

    it('a create does not take status from the client for workloads', async () => {
      const body = { ...deployment('fresh'), status: { replicas: 5, readyReplicas: 5 } };
      const res = await apps.createNamespacedDeployment({ namespace: NS, body });
      expect(res.status?.replicas).toBeUndefined();
    });

    it('pod status through the status subresource, read back by GET /status', async () => {
      await core.createNamespacedPod({ namespace: NS, body: pod('st') });
      await core.patchNamespacedPodStatus({ namespace: NS, name: 'st', body: { status: { phase: 'Running', podIP: '10.0.0.5' } } }, merge);
      const read = await core.readNamespacedPodStatus({ namespace: NS, name: 'st' });
      expect(read.status?.phase).toBe('Running');
      expect(read.status?.podIP).toBe('10.0.0.5');
    });
  });

  describe('scale', () => {
    it('reads a Deployment as an autoscaling/v1 Scale and scales it by patch', async () => {
      await apps.createNamespacedDeployment({ namespace: NS, body: deployment('web', 2) });
      const scale = await apps.readNamespacedDeploymentScale({ namespace: NS, name: 'web' });
      expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 2 }, status: { selector: 'app=web' } });
      expect(scale.metadata?.name).toBe('web');

      const patched = await apps.patchNamespacedDeploymentScale({ namespace: NS, name: 'web', body: { spec: { replicas: 5 } } }, merge);
      expect(patched.kind).toBe('Scale');
      expect(patched.spec?.replicas).toBe(5);
      const dep = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
      expect(dep.spec?.replicas).toBe(5);
      expect(dep.metadata?.generation).toBe(2);
      expect(patched.metadata?.resourceVersion).toBe(dep.metadata?.resourceVersion);
    });

    it('replaces the Scale of a ReplicaSet, honouring its resourceVersion', async () => {
      await apps.createNamespacedReplicaSet({
        namespace: NS,
        body: { metadata: { name: 'rs' }, spec: deployment('rs', 1).spec as any },
      });
      const scale = await apps.readNamespacedReplicaSetScale({ namespace: NS, name: 'rs' });
      expect(scale.spec?.replicas).toBe(1);
      const replaced = await apps.replaceNamespacedReplicaSetScale({ namespace: NS, name: 'rs', body: { ...scale, spec: { replicas: 4 } } });
      expect(replaced.spec?.replicas).toBe(4);
      expect((await apps.readNamespacedReplicaSet({ namespace: NS, name: 'rs' })).spec?.replicas).toBe(4);

      const stale = await failure(apps.replaceNamespacedReplicaSetScale({ namespace: NS, name: 'rs', body: { ...scale, spec: { replicas: 6 } } }));
      expect(stale.code).toBe(409);
      const negative = await failure(apps.patchNamespacedReplicaSetScale({ namespace: NS, name: 'rs', body: { spec: { replicas: -1 } } }, merge));
      expect(negative.code).toBe(422);
      expect(negative.status.details?.causes?.[0].field).toBe('spec.replicas');
      expect((await failure(apps.readNamespacedDeploymentScale({ namespace: NS, name: 'nope' }))).code).toBe(404);
    });
  });

  describe('pods/binding', () => {
    it('binds a pod to a node once', async () => {
      await core.createNamespacedPod({ namespace: NS, body: pod('to-bind') });
      await core.createNamespacedPodBinding({
        namespace: NS,
        name: 'to-bind',
        body: { metadata: { name: 'to-bind' }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } },
      });
      const bound = await core.readNamespacedPod({ namespace: NS, name: 'to-bind' });
      expect(bound.spec?.nodeName).toBe('node-a');
      expect(bound.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');

      const again = await failure(core.createNamespacedPodBinding({
        namespace: NS,
        name: 'to-bind',
        body: { metadata: { name: 'to-bind' }, target: { kind: 'Node', name: 'node-b' } },
      }));
      expect(again.code).toBe(409);
      expect(again.status.reason).toBe('Conflict');
      expect((await core.readNamespacedPod({ namespace: NS, name: 'to-bind' })).spec?.nodeName).toBe('node-a');
    });

    it('a binding without a target is 422; for a missing pod 404', async () => {
      await core.createNamespacedPod({ namespace: NS, body: pod('no-target') });
      const res = await api.request(
        `/api/v1/namespaces/${NS}/pods/no-target/binding`,
        jsonRequest('POST', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'no-target' }, target: {} }),
      );
      expect(res.status).toBe(422);
      const missing = await failure(core.createNamespacedPodBinding({ namespace: NS, name: 'ghost', body: { metadata: { name: 'ghost' }, target: { name: 'n' } } }));
      expect(missing.code).toBe(404);
    });
  });

  describe('pods/eviction', () => {
    it('evicting an unscheduled pod is 201 and the pod is gone', async () => {
      await core.createNamespacedPod({ namespace: NS, body: pod('evict-me') });
      const res = await core.createNamespacedPodEvictionWithHttpInfo({
        namespace: NS,
        name: 'evict-me',
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'evict-me', namespace: NS } },
      });
      expect(res.httpStatusCode).toBe(201);
      expect((await failure(core.readNamespacedPod({ namespace: NS, name: 'evict-me' }))).code).toBe(404);
    });

    it('evicting a pod on a node starts its graceful deletion', async () => {
      await core.createNamespacedPod({ namespace: NS, body: pod('evict-running', 'node-a') });
      await core.createNamespacedPodEviction({
        namespace: NS,
        name: 'evict-running',
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'evict-running', namespace: NS } },
      });
      const terminating = await core.readNamespacedPod({ namespace: NS, name: 'evict-running' });
      expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
      expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
    });

    it('evicting a missing pod is 404', async () => {
      const res = await failure(core.createNamespacedPodEviction({ namespace: NS, name: 'ghost', body: { metadata: { name: 'ghost', namespace: NS } } }));
      expect(res.code).toBe(404);
    });
  });

  describe('namespace termination', () => {
    it('a deleted namespace is Terminating, refuses new content, and goes with its content after a pass', async () => {
      await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
      await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'cm' } } });
      await core.createNamespacedPod({ namespace: 'doomed', body: pod('p') });
      await apps.createNamespacedDeployment({ namespace: 'doomed', body: deployment('d') });

      const deleted = await core.deleteNamespace({ name: 'doomed' });
      expect(deleted).toMatchObject({ kind: 'Namespace', status: { phase: 'Terminating' } });
      const terminating = await core.readNamespace({ name: 'doomed' });
      expect(terminating.status?.phase).toBe('Terminating');
      expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
      // Still there with its content until a pass runs.
      expect((await core.listNamespacedConfigMap({ namespace: 'doomed' })).items).toHaveLength(1);

      const refused = await failure(core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }));
      expect(refused.code).toBe(403);
      expect(refused.status.reason).toBe('Forbidden');
      expect(refused.status.message).toContain('being terminated');

      await api.reconcile();
      await api.reconcile();
      expect((await failure(core.readNamespace({ name: 'doomed' }))).code).toBe(404);
      expect((await core.listNamespacedConfigMap({ namespace: 'doomed' })).items).toEqual([]);
      expect((await core.listNamespacedPod({ namespace: 'doomed' })).items).toEqual([]);
      expect((await apps.listNamespacedDeployment({ namespace: 'doomed' })).items).toEqual([]);
    });

    it('a namespace waits for a pod in its grace period', async () => {
      await core.createNamespace({ body: { metadata: { name: 'slow' } } });
      // The node must exist: pods bound to a missing node are collected at once (as PodGC does).
      await core.createNode({ body: { metadata: { name: 'node-slow' } } });
      await core.createNamespacedPod({ namespace: 'slow', body: pod('running', 'node-slow') });
      await core.deleteNamespace({ name: 'slow' });
      await api.reconcile();
      const pod1 = await core.readNamespacedPod({ namespace: 'slow', name: 'running' });
      expect(pod1.metadata?.deletionTimestamp).toBeInstanceOf(Date);
      expect((await core.readNamespace({ name: 'slow' })).status?.phase).toBe('Terminating');
      // What the node does when the pod has stopped.
      await core.deleteNamespacedPod({ namespace: 'slow', name: 'running', gracePeriodSeconds: 0 });
      await api.reconcile();
      expect((await failure(core.readNamespace({ name: 'slow' }))).code).toBe(404);
    });
  });
});

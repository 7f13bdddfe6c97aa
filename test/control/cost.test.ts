// What a reconcile pass costs at the edge: database round trips per controller. Each controller runs
// once, in CONTROLLERS order, on a cluster of 10 pods and on one of 1,000 (more nodes, ReplicaSets and
// Services too), once with work for every controller and once idle. The counts must not grow with
// the cluster: set-based reads and one batched write, never a query per object.
import { afterAll, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { CONTROLLERS } from '../../src/control/pass.js';
import type { KObject } from '../../src/kinds/types.js';
import type { ManualClock } from '../../src/store/clock.js';
import type { WriteOp } from '../../src/store/store.js';
import { jsonRequest } from '../helpers/json-request.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const NS = 'default';
const LEASES = 'kube-node-lease';
const stamp = (clock: ManualClock) => clock.now().toISOString().replace(/\.\d+Z$/, 'Z');

interface Cluster extends Pick<TempStore, 'store' | 'clock' | 'remove'> {
  request: (path: string, method: string, body?: unknown, type?: string) => Promise<void>;
  nodes: string[];
  /** Nodes whose leases the kubelet no longer renews. */
  lost: Set<string>;
}

/** Per controller: round trips and writes (events included) of one pass. */
type Costs = Map<string, { roundTrips: number; writes: number }>;

/** One pass, each controller called in order with the pass's context, its round trips counted. */
async function measuredPass(c: Cluster): Promise<Costs> {
  const ctx = new PassContext(c.store, c.clock, { ...defaultControlOptions, ingressAddress: '203.0.113.7' });
  const costs: Costs = new Map();
  for (const [name, controller] of CONTROLLERS) {
    const [trips, writes] = [c.store.roundTrips, ctx.writes];
    await controller(ctx);
    costs.set(name, { roundTrips: c.store.roundTrips - trips, writes: ctx.writes - writes });
  }
  return costs;
}

const total = (costs: Costs, field: 'roundTrips' | 'writes') => [...costs.values()].reduce((s, x) => s + x[field], 0);

/**
 * The kubelets of every node at once, in one batch: renew the leases (but of lost nodes), run bound
 * pods (Running, Ready, a pod IP) and finish the deletion of terminating ones. Returns the pod writes.
 */
async function kubelets(c: Cluster): Promise<number> {
  const [pods, leases] = await Promise.all([c.store.list('Pod'), c.store.list('Lease', { namespace: LEASES })]);
  const now = stamp(c.clock);
  const ops: WriteOp[] = [];
  for (const lease of leases.items) {
    if (c.lost.has(lease.metadata!.name!)) continue;
    ops.push({ op: 'update', object: { ...lease, spec: { ...(lease.spec as object), renewTime: c.clock.now().toISOString() } }, rv: Number(lease.metadata!.resourceVersion) });
  }
  let podWrites = 0;
  pods.items.forEach((pod, i) => {
    const node = (pod.spec as { nodeName?: string }).nodeName;
    if (!node || c.lost.has(node)) return;
    const rv = Number(pod.metadata!.resourceVersion);
    if (pod.metadata!.deletionTimestamp) {
      ops.push({ op: 'delete', kind: 'Pod', namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, rv });
      podWrites++;
      return;
    }
    const status = (pod.status ?? {}) as { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
    if (status.phase === 'Running' && status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')) return;
    const condition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
    const podIP = status.podIP ?? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 1}`;
    const next = { ...pod, status: { ...status, phase: 'Running', podIP, startTime: now, conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition) } };
    ops.push({ op: 'update', object: next, rv });
    podWrites++;
  });
  const results = await c.store.commit(ops);
  expect(results.every((r) => r.ok)).toBe(true);
  return podWrites;
}

/** Passes and kubelets until a pass writes nothing and the kubelets have nothing to do. */
async function settle(c: Cluster): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const writes = total(await measuredPass(c), 'writes');
    if ((await kubelets(c)) === 0 && writes === 0) return;
  }
  throw new Error('the cluster did not settle');
}

const template = (app: string, image: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '10m' } } }] },
});

/** A Node and its Lease, as a kubelet registers them: Ready, with no podCIDR yet. */
function joining(clock: ManualClock, name: string): WriteOp[] {
  const now = stamp(clock);
  const allocatable = { cpu: '64', memory: '256Gi', pods: '110' };
  return [
    {
      op: 'create',
      object: {
        apiVersion: 'v1', kind: 'Node',
        metadata: { name, uid: crypto.randomUUID(), creationTimestamp: now, labels: { 'kubernetes.io/hostname': name } },
        spec: {},
        status: { capacity: allocatable, allocatable, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] },
      },
    },
    {
      op: 'create',
      object: {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name, namespace: LEASES, uid: crypto.randomUUID(), creationTimestamp: now },
        spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: clock.now().toISOString() },
      },
    },
  ];
}

/**
 * A settled cluster of `pods` pods: one Deployment with half of them and ReplicaSets of 10 (of 5 for
 * the smallest) with the rest, a Service for each, and a node per 50 pods (at least two).
 */
async function openCluster(pods: number): Promise<Cluster> {
  const { clock, store, remove } = await openTempStore('skiff-cost-', 'skiff.db');
  const app = createApp({ store, clock, authenticate: () => true });
  const request = async (path: string, method: string, body?: unknown, type = 'application/json') => {
    const res = await app.fetch(new Request(`http://skiff${path}`, jsonRequest(method, body, type)));
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  const nodes = Array.from({ length: Math.max(2, pods / 50) }, (_, i) => `node-${i}`);
  const c: Cluster = { store, clock, remove, request, nodes, lost: new Set() };

  expect((await store.commit(nodes.flatMap((name) => joining(clock, name)))).every((r) => r.ok)).toBe(true);

  const service = (app: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: app }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } });
  await request(`/apis/apps/v1/namespaces/${NS}/deployments`, 'POST', {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: { replicas: pods / 2, selector: { matchLabels: { app: 'web' } }, template: template('web', 'img:1') },
  });
  await request(`/api/v1/namespaces/${NS}/services`, 'POST', service('web'));
  const size = pods >= 20 ? 10 : pods / 2;
  for (let i = 0; i < pods / 2 / size; i++) {
    await request(`/apis/apps/v1/namespaces/${NS}/replicasets`, 'POST', {
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: `rs-${i}` },
      spec: { replicas: size, selector: { matchLabels: { app: `rs-${i}` } }, template: template(`rs-${i}`, 'img:1') },
    });
    await request(`/api/v1/namespaces/${NS}/services`, 'POST', service(`rs-${i}`));
  }
  // Issue 12's kinds, as many of each as pods (1,000 at the larger size): a DaemonSet over every
  // node; CronJobs, a tenth every minute (each with its Job running once due) and the rest yearly;
  // budgets over the ReplicaSets, and autoscalers on them that find no metrics.
  await request(`/apis/apps/v1/namespaces/${NS}/daemonsets`, 'POST', {
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'collector' },
    spec: { selector: { matchLabels: { app: 'collector' } }, template: template('collector', 'img:1') },
  });
  const sets = Math.max(1, pods / 2 / size);
  for (let i = 0; i < pods; i++) {
    await request(`/apis/batch/v1/namespaces/${NS}/cronjobs`, 'POST', {
      apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: `report-${i}` },
      spec: {
        schedule: i % 10 === 0 ? '*/1 * * * *' : '0 0 1 1 *',
        concurrencyPolicy: 'Forbid',
        jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: template('x', 'img:1').spec.containers } } } },
      },
    });
    await request(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`, 'POST', {
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: `budget-${i}` }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: `rs-${i % sets}` } } },
    });
    await request(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`, 'POST', {
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: `scaler-${i}` },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${i % sets}` }, minReplicas: 1, maxReplicas: 1000, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] },
    });
  }
  await settle(c);
  return c;
}

/**
 * Work for every controller at once: a node stops renewing its lease (node lifecycle), another joins
 * without a podCIDR (node IPAM), a ReplicaSet
 * vanishes without its pods (garbage collector), a namespace with something in it is deleted
 * (namespace), another is made (serviceaccount), the Deployment gets a new image (deployment), ReplicaSets are scaled up and down
 * (replicaset), new pods wait for nodes (scheduler) and pods' readiness changes (endpoints), and
 * issue 12's controllers each get theirs (below).
 */
async function giveWork(c: Cluster): Promise<void> {
  await c.request('/api/v1/namespaces', 'POST', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'scratch' } });
  await c.request('/api/v1/namespaces/scratch/configmaps', 'POST', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' } });
  await c.request('/api/v1/namespaces/scratch', 'DELETE');
  // A new namespace, without its default ServiceAccount yet (serviceaccount).
  await c.request('/api/v1/namespaces', 'POST', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });

  const gone = (await c.store.get('ReplicaSet', NS, 'rs-0'))!;
  expect((await c.store.commit([{ op: 'delete', kind: 'ReplicaSet', namespace: NS, name: 'rs-0', rv: Number(gone.metadata!.resourceVersion) }]))[0].ok).toBe(true);

  const merge = 'application/merge-patch+json';
  await c.request(`/apis/apps/v1/namespaces/${NS}/deployments/web`, 'PATCH', { spec: { template: template('web', 'img:2') } }, merge);
  const sets = (await c.store.list('ReplicaSet', { namespace: NS })).items.filter((rs) => rs.metadata!.name!.startsWith('rs-'));
  const replicas = (rs: KObject) => (rs.spec as { replicas: number }).replicas;
  for (const [i, rs] of sets.entries()) {
    const delta = i % 2 === 0 ? 5 : -Math.ceil(replicas(rs) / 2);
    await c.request(`/apis/apps/v1/namespaces/${NS}/replicasets/${rs.metadata!.name}/scale`, 'PATCH', { spec: { replicas: replicas(rs) + delta } }, merge);
  }

  // An Ingress whose status wants the control plane's address (ingress-status).
  const rule = { host: 'shop.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } };
  await c.request(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`, 'POST', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'shop' }, spec: { rules: [rule] } });

  // A ClusterRole labelled to aggregate into view (clusterrole-aggregation: view, edit and admin gain its rules).
  await c.request('/apis/rbac.authorization.k8s.io/v1/clusterroles', 'POST', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
    metadata: { name: 'widget-viewer', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
    rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] }],
  });

  const joined = `node-${c.nodes.length}`;
  expect((await c.store.commit(joining(c.clock, joined))).every((r) => r.ok)).toBe(true);
  c.nodes.push(joined);

  // A budget and an autoscaler for the Deployment (disruption and horizontal-pod-autoscaler write their status).
  await c.request(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`, 'POST', {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { minAvailable: '50%', selector: { matchLabels: { app: 'web' } } },
  });
  await c.request(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`, 'POST', {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 1000 },
  });

  // node-0 goes quiet: past node-monitor-grace-period, the others having renewed their leases. The
  // clock then stops one second past a minute: every CronJob is due (cronjob), and their Jobs make
  // pods (job); the node that joined gets the DaemonSet's pod (daemonset).
  c.lost.add(c.nodes[0]);
  c.clock.advance((defaultControlOptions.nodeMonitorGracePeriodSeconds + 10) * 1000);
  c.clock.advance(60_000 - (c.clock.now().getTime() % 60_000) + 1000);
  await kubelets(c);
}

const SIZES = [10, 1000];
const work = new Map<number, Costs>();
const idle = new Map<number, Costs>();
const opened: Cluster[] = [];

afterAll(() => {
  for (const c of opened) c.remove();
});

it.each(SIZES)('a pass over %i pods, with work and idle', async (pods) => {
  const c = await openCluster(pods);
  opened.push(c);
  await giveWork(c);
  const busy = await measuredPass(c);
  for (const [name, cost] of busy) expect(cost.writes, `${name} had work to do`).toBeGreaterThan(0);
  work.set(pods, busy);

  // Back to rest: the node returns, the new pods run; then a pass that finds nothing to do.
  c.lost.clear();
  await settle(c);
  const quiet = await measuredPass(c);
  expect(total(quiet, 'writes')).toBe(0);
  idle.set(pods, quiet);
}, 120_000);

it('costs the same small number of round trips per controller at every size', () => {
  const [small, large] = SIZES;
  expect([...work.keys(), ...idle.keys()].sort()).toEqual([...SIZES, ...SIZES].sort());
  const rows = CONTROLLERS.map(([name]) => ({
    controller: name,
    ...Object.fromEntries(SIZES.flatMap((n) => [[`work@${n}`, work.get(n)!.get(name)!.roundTrips], [`idle@${n}`, idle.get(n)!.get(name)!.roundTrips]])),
  }));
  const sums = (field: 'roundTrips' | 'writes') =>
    Object.fromEntries(SIZES.flatMap((n) => [[`work@${n}`, total(work.get(n)!, field)], [`idle@${n}`, total(idle.get(n)!, field)]]));
  console.log('round trips per controller in one pass (writes: objects and events written)');
  console.table([...rows, { controller: 'total', ...sums('roundTrips') }, { controller: 'writes', ...sums('writes') }]);

  for (const [name] of CONTROLLERS) {
    const [w, i] = [work.get(large)!.get(name)!.roundTrips, idle.get(large)!.get(name)!.roundTrips];
    expect(w, `${name} with work, ${small} vs ${large} pods`).toBe(work.get(small)!.get(name)!.roundTrips);
    expect(i, `${name} idle, ${small} vs ${large} pods`).toBe(idle.get(small)!.get(name)!.roundTrips);
    expect(w, `${name} with work`).toBeLessThanOrEqual(3);
    expect(i, `${name} idle`).toBeLessThanOrEqual(2);
  }
  expect(total(idle.get(large)!, 'roundTrips')).toBe(total(idle.get(small)!, 'roundTrips'));
  expect(total(idle.get(large)!, 'roundTrips')).toBeLessThanOrEqual(CONTROLLERS.length + 1);
  // The work grew with the cluster; the round trips did not.
  expect(total(work.get(large)!, 'writes')).toBeGreaterThan(20 * total(work.get(small)!, 'writes'));
});

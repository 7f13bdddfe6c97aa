// Cluster objects the pass tests start from: a ready node with its heartbeat, and Deployments.
import { env } from 'cloudflare:workers';
import { createClient } from '@libsql/client/web';
import { createApp } from '../../src/api/app.js';
import { systemClock } from '../../src/store/clock.js';
import { Store } from '../../src/store/store.js';
import { expectStatus, requestFor, sendAndSettle } from './api.js';

/**
 * The files share one database, and so the nodes: a file's own node is tainted with this, so that
 * only pods that tolerate it (and select the node) land there.
 */
export const OWN_NODE_TAINT = 'skiff.test/own-node';

/** Registers a Node as its kubelet would (allocatable, Ready) and its heartbeat Lease; `own`: for the pods of `ownPodSpec` only. */
export async function registerNode(name: string, own = false): Promise<void> {
  const taints = own ? [{ key: OWN_NODE_TAINT, value: name, effect: 'NoSchedule' }] : undefined;
  await expectStatus(sendAndSettle('/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } }, spec: { taints } } }), 201);
  const current = await expectStatus(sendAndSettle(`/api/v1/nodes/${name}`), 200);
  const now = new Date().toISOString();
  current.status = {
    capacity: { cpu: '4', memory: '8Gi', pods: '110' },
    allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }],
    addresses: [{ type: 'InternalIP', address: '192.168.0.10' }],
  };
  await expectStatus(sendAndSettle(`/api/v1/nodes/${name}/status`, { method: 'PUT', body: current }), 200);
  const renewTime = now.replace(/Z$/, '000Z'); // a MicroTime
  const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime } };
  await expectStatus(sendAndSettle('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { body: lease }), 201);
}

/** A pod spec's additions that place it on `node`, registered as `own`. */
export function onOwnNode(node: string): Record<string, unknown> {
  return {
    nodeSelector: { 'kubernetes.io/hostname': node },
    tolerations: [{ key: OWN_NODE_TAINT, operator: 'Equal', value: node, effect: 'NoSchedule' }],
  };
}

export function deployment(name: string, replicas: number, podSpec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { ...podSpec, containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m' } } }] } },
    },
  };
}

/**
 * A write through another API server on the same database (as `skiff serve` or another isolate
 * would be): it kicks no pass in this isolate, so only a scheduled pass can act on it.
 */
export async function createElsewhere(path: string, body: unknown): Promise<void> {
  const other = createApp({ store: new Store(createClient({ url: env.LIBSQL_URL }), systemClock), clock: systemClock, authenticate: () => true });
  await expectStatus(other.fetch(requestFor(path, { body })), 201);
}

// What the benchmarks share: nodes and leases created directly in the store, kubelets played by one
// UPDATE, and a client that samples the heap around each database call.
import type { Client } from '@libsql/client';
import { kindNamed } from '../src/kinds/registry.js';
import type { KObject } from '../src/kinds/types.js';

export const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
export const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export function nodeObject(name: string, podsPerNode: number, now: Date): KObject {
  const resources = { cpu: '64', memory: '256Gi', pods: String(podsPerNode), 'ephemeral-storage': '500Gi' };
  const node: KObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: crypto.randomUUID(), creationTimestamp: stamp(now), labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: {},
    status: {
      capacity: resources,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: stamp(now), lastTransitionTime: stamp(now) }],
      addresses: [{ type: 'Hostname', address: name }],
      nodeInfo: { kubeletVersion: 'v1.32.0-skiff', operatingSystem: 'linux', architecture: 'amd64' },
    },
  };
  kindNamed('Node')!.defaults!(node);
  return node;
}

export function leaseObject(name: string, now: Date): KObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease', uid: crypto.randomUUID(), creationTimestamp: stamp(now) },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(now) },
  };
}

/** The client, sampling the heap around each call (a store's round trip is one call). */
export function sampledClient(client: Client, heap: { sample(): void }): Client {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'execute' && prop !== 'batch') return value.bind(target);
      return async (...args: unknown[]) => {
        heap.sample();
        try {
          return await value.apply(target, args);
        } finally {
          heap.sample();
        }
      };
    },
  });
}

/** Every node's kubelet at once: bound pending pods become Running and Ready with a pod IP (nodes in `down` do nothing). */
export async function runKubelets(client: Client, now: Date, down: string[] = []): Promise<void> {
  const at = stamp(now);
  const condition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: at });
  const conditions = JSON.stringify(['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition));
  const ip = "('10.' || ((rowid >> 16) & 127) || '.' || ((rowid >> 8) & 255) || '.' || (rowid & 255))";
  await client.execute({
    sql: `UPDATE objects SET
        object = json_set(object, '$.status.phase', 'Running', '$.status.hostIP', '192.168.0.1', '$.status.podIP', ${ip},
          '$.status.startTime', ?, '$.status.conditions', json(?)),
        summary = json_set(summary, '$.ready', json('true'), '$.readySince', ?, '$.podIP', ${ip})
      WHERE kind = 'Pod' AND node_name IS NOT NULL AND node_name != '' AND COALESCE(phase, 'Pending') = 'Pending'
        AND json_extract(object, '$.metadata.deletionTimestamp') IS NULL
        AND node_name NOT IN (SELECT value FROM json_each(?))`,
    args: [at, conditions, at, JSON.stringify(down)],
  });
}

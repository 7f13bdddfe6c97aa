// Objects the benchmarks create directly in the store: nodes with room for their pods, and their leases.
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

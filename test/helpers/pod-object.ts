// A Pod object for scheduler tests. Only the essentials are filled in by default (namespace
// 'default', a random uid, a creation time, one container requesting nothing); every other field
// appears only when asked for, so each test file states its own defaults.
import type { KObject } from '../../src/kinds/types.js';

export interface PodOpts {
  namespace?: string;
  uid?: string;
  created?: string;
  labels?: Record<string, string>;
  /** The uid of a controlling ReplicaSet, also its name unless `ownerName` is given. */
  owner?: string;
  ownerName?: string;
  requests?: Record<string, string>;
  /** Shorthand for `ports: [{ containerPort: 80, hostPort, protocol: 'TCP' }]`. */
  hostPort?: number;
  /** The container's ports; containerPort defaults to the hostPort. */
  ports?: { hostPort: number; containerPort?: number; protocol?: string; hostIP?: string }[];
  priority?: number;
  nodeName?: string;
  tolerations?: unknown[];
  schedulerName?: string;
  /** Merged into the spec last. */
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export function podObject(name: string, o: PodOpts = {}): KObject {
  const ports =
    o.ports?.map((p) => ({ containerPort: p.containerPort ?? p.hostPort, ...p })) ??
    (o.hostPort ? [{ containerPort: 80, hostPort: o.hostPort, protocol: 'TCP' }] : undefined);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      uid: o.uid ?? crypto.randomUUID(),
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.ownerName ?? o.owner, uid: o.owner, controller: true }] } : {}),
    },
    spec: {
      containers: [{ name: 'c', image: 'nginx', resources: { requests: o.requests ?? {} }, ...(ports ? { ports } : {}) }],
      ...(o.schedulerName ? { schedulerName: o.schedulerName } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...o.spec,
    },
    ...(o.status ? { status: o.status } : {}),
  };
}

import type { PodRow } from './pod-rows.js';

// What the endpoints controller writes for one Service, from the Service's spec and its selected pods:
// Endpoints subsets and EndpointSlice endpoints and ports, as kube-controller-manager builds them.

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface ServiceSpec {
  selector?: Record<string, string>;
  ports?: ServicePort[];
  publishNotReadyAddresses?: boolean;
  type?: string;
}

/** The pod port a Service port targets: a number, or a named container port ("NAME/PROTOCOL" -> number). */
export function targetPort(p: ServicePort, namedPorts: Record<string, number>): number | undefined {
  const t = p.targetPort ?? p.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  return namedPorts[`${t}/${p.protocol ?? 'TCP'}`];
}

/** Endpoints list a pod only if it resolves one of the Service's ports (or the Service has none). */
export function servesPorts(spec: ServiceSpec, namedPorts: Record<string, number>): boolean {
  const ports = spec.ports ?? [];
  return ports.length === 0 || ports.some((p) => targetPort(p, namedPorts) !== undefined);
}

const address = (p: PodRow) => ({
  ip: p.summary.podIP!,
  ...(p.nodeName ? { nodeName: p.nodeName } : {}),
  targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid },
});

/** Endpoints subsets: pods grouped by the ports they resolve to, as the endpoints controller repacks them. */
export function subsets(spec: ServiceSpec, pods: PodRow[]): unknown[] {
  const groups = new Map<string, { ports: unknown[]; addresses: unknown[]; notReadyAddresses: unknown[] }>();
  for (const pod of pods) {
    const ports = (spec.ports ?? []).flatMap((p) => {
      const port = targetPort(p, pod.summary.namedPorts);
      return port === undefined ? [] : [{ ...(p.name ? { name: p.name } : {}), port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }];
    });
    if (ports.length === 0 && (spec.ports ?? []).length > 0) continue;
    const key = JSON.stringify(ports);
    const g = groups.get(key) ?? { ports, addresses: [], notReadyAddresses: [] };
    groups.set(key, g);
    (pod.summary.ready || spec.publishNotReadyAddresses ? g.addresses : g.notReadyAddresses).push(address(pod));
  }
  return [...groups.values()].map((g) => ({
    ...(g.addresses.length ? { addresses: g.addresses } : {}),
    ...(g.notReadyAddresses.length ? { notReadyAddresses: g.notReadyAddresses } : {}),
    ...(g.ports.length ? { ports: g.ports } : {}),
  }));
}

export function sliceEndpoints(spec: ServiceSpec, pods: PodRow[]) {
  return pods.map((p) => ({
    addresses: [p.summary.podIP!],
    conditions: { ready: p.summary.ready || !!spec.publishNotReadyAddresses, serving: p.summary.ready, terminating: false },
    ...(p.nodeName ? { nodeName: p.nodeName } : {}),
    targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid },
  }));
}

export function slicePorts(spec: ServiceSpec, pods: PodRow[]) {
  return (spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: pods.length ? targetPort(p, pods[0].summary.namedPorts) ?? null : null,
    protocol: p.protocol ?? 'TCP',
  }));
}

/** Pods in the order addresses are listed: by IP, then name. */
export const sorted = (pods: PodRow[]) => [...pods].sort((a, b) => (a.summary.podIP ?? '').localeCompare(b.summary.podIP ?? '') || a.name.localeCompare(b.name));

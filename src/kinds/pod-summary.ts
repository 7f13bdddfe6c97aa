import { milliValue, wholeValue } from './quantity.js';
import type { KObject } from './types.js';
import { uidNumber } from './uid-digest.js';

/**
 * What controllers need of a pod, kept in its own column so a pass over many pods reads
 * small rows instead of whole objects. Computed by the store on every write.
 */
export interface PodSummary {
  /** Effective requests: cpu in millicores, other resources in units (bytes for memory). */
  requests: Record<string, number>;
  /** Host ports in use, as "PROTOCOL/HOSTIP/PORT" (HOSTIP 0.0.0.0 when unset). */
  hostPorts: string[];
  labels: Record<string, string>;
  ready: boolean;
  /** When the Ready condition last became true. */
  readySince?: string;
  podIP?: string;
  /** Named container ports (for Services' named targetPorts), "NAME/PROTOCOL" -> number. */
  namedPorts: Record<string, number>;
  created: string;
  deleting: boolean;
  /** The uid's number in the endpoints controller's digests (uid-digest.ts). */
  uidNumber: number;
}

type Resources = { requests?: Record<string, unknown> };
type Container = { resources?: Resources; ports?: { name?: string; containerPort?: number; hostPort?: number; hostIP?: string; protocol?: string }[] };

function requestsOf(c: Container): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, q] of Object.entries(c.resources?.requests ?? {})) {
    const v = name === 'cpu' ? milliValue(q) : wholeValue(q);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Kubernetes' pod request: the larger of the containers' sum and any one init container, plus overhead. */
export function podRequests(spec: { containers?: Container[]; initContainers?: Container[]; overhead?: Record<string, unknown> }): Record<string, number> {
  const total: Record<string, number> = {};
  for (const c of spec.containers ?? []) for (const [k, v] of Object.entries(requestsOf(c))) total[k] = (total[k] ?? 0) + v;
  for (const c of spec.initContainers ?? []) for (const [k, v] of Object.entries(requestsOf(c))) total[k] = Math.max(total[k] ?? 0, v);
  for (const [k, q] of Object.entries(spec.overhead ?? {})) {
    const v = k === 'cpu' ? milliValue(q) : wholeValue(q);
    if (v !== undefined) total[k] = (total[k] ?? 0) + v;
  }
  total.pods = 1;
  return total;
}

export function podSummary(pod: KObject): PodSummary {
  const spec = (pod.spec ?? {}) as { containers?: Container[]; initContainers?: Container[] };
  const status = (pod.status ?? {}) as { podIP?: string; conditions?: { type?: string; status?: string; lastTransitionTime?: string }[] };
  const ready = status.conditions?.find((c) => c?.type === 'Ready');
  const hostPorts: string[] = [];
  const namedPorts: Record<string, number> = {};
  for (const c of [...(spec.containers ?? [])]) {
    for (const p of c?.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      if (p.hostPort) hostPorts.push(`${protocol}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
      if (p.name && p.containerPort) namedPorts[`${p.name}/${protocol}`] = p.containerPort;
    }
  }
  return {
    requests: podRequests(spec),
    hostPorts,
    labels: pod.metadata?.labels ?? {},
    ready: ready?.status === 'True',
    readySince: ready?.status === 'True' ? ready.lastTransitionTime : undefined,
    podIP: status.podIP,
    namedPorts,
    created: String(pod.metadata?.creationTimestamp ?? ''),
    deleting: !!pod.metadata?.deletionTimestamp,
    uidNumber: uidNumber(String(pod.metadata?.uid ?? '')),
  };
}

import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { podRowsSql, toPodRow, type PodRow } from './pod-rows.js';

// Endpoints and EndpointSlices, kept equal to the pods each Service's selector matches: ready pods as
// addresses, unready ones as notReadyAddresses (ready=false in slices), with nodeName and targetRef,
// target ports resolved by name or number. Round trips: one read, one write.

const MANAGED_BY = 'endpointslice-controller.k8s.io';
const SERVICE_NAME = 'kubernetes.io/service-name';
/** Marks Endpoints this controller keeps, so it may delete them when their Service goes. */
const TRIGGER = 'endpoints.kubernetes.io/last-change-trigger-time';

interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  appProtocol?: string;
}

interface ServiceSpec {
  selector?: Record<string, string>;
  ports?: ServicePort[];
  publishNotReadyAddresses?: boolean;
  type?: string;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function targetPort(p: ServicePort, pod: PodRow): number | undefined {
  const t = p.targetPort ?? p.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  return pod.summary.namedPorts[`${t}/${p.protocol ?? 'TCP'}`];
}

const address = (p: PodRow) => ({
  ip: p.summary.podIP!,
  ...(p.nodeName ? { nodeName: p.nodeName } : {}),
  targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid },
});

/** Endpoints subsets: pods grouped by the ports they resolve to, as the endpoints controller repacks them. */
function subsets(spec: ServiceSpec, pods: PodRow[]): unknown[] {
  const groups = new Map<string, { ports: unknown[]; addresses: unknown[]; notReadyAddresses: unknown[] }>();
  for (const pod of pods) {
    const ports = (spec.ports ?? []).flatMap((p) => {
      const port = targetPort(p, pod);
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

function sliceEndpoints(spec: ServiceSpec, pods: PodRow[]) {
  return pods.map((p) => ({
    addresses: [p.summary.podIP!],
    conditions: { ready: p.summary.ready || !!spec.publishNotReadyAddresses, serving: p.summary.ready, terminating: false },
    ...(p.nodeName ? { nodeName: p.nodeName } : {}),
    targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid },
  }));
}

function slicePorts(spec: ServiceSpec, pods: PodRow[]) {
  return (spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: pods.length ? targetPort(p, pods[0]) ?? null : null,
    protocol: p.protocol ?? 'TCP',
  }));
}

const sorted = (pods: PodRow[]) => [...pods].sort((a, b) => (a.summary.podIP ?? '').localeCompare(b.summary.podIP ?? '') || a.name.localeCompare(b.name));

export async function endpoints(ctx: PassContext): Promise<void> {
  const [serviceRows, endpointRows, sliceRows, podRows] = await ctx.store.rows([
    `SELECT rv, object FROM objects WHERE kind = 'Service'`,
    `SELECT rv, object FROM objects WHERE kind = 'Endpoints'`,
    `SELECT rv, object FROM objects WHERE kind = 'EndpointSlice' AND json_extract(object, '$.metadata.labels."endpointslice.kubernetes.io/managed-by"') = '${MANAGED_BY}'`,
    podRowsSql(`namespace IN (SELECT namespace FROM objects WHERE kind = 'Service') AND json_extract(summary, '$.podIP') IS NOT NULL AND json_extract(summary, '$.deleting') = 0`),
  ]);
  const key = (o: KObject) => `${o.metadata!.namespace}/${o.metadata!.name}`;
  const services = serviceRows.map(objectOf);
  const serviceKeys = new Set(services.map(key));
  const existing = new Map(endpointRows.map(objectOf).map((e) => [key(e), e]));
  // One slice per Service is kept; any other (left by racing passes before slices had stable names) goes.
  const slices = new Map<string, KObject>();
  const extraSlices: KObject[] = [];
  for (const s of sliceRows.map(objectOf)) {
    const k = `${s.metadata!.namespace}/${s.metadata!.labels?.[SERVICE_NAME]}`;
    if (slices.has(k)) extraSlices.push(s);
    else slices.set(k, s);
  }
  const pods = podRows.map(toPodRow).filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed');
  // Pods by namespace and one label, so each Service looks only at pods that carry its first selector label.
  const podsByLabel = new Map<string, PodRow[]>();
  for (const p of pods) {
    for (const [k, v] of Object.entries(p.summary.labels)) {
      const key = `${p.namespace}\n${k}=${v}`;
      const list = podsByLabel.get(key);
      if (list) list.push(p);
      else podsByLabel.set(key, [p]);
    }
  }
  const stamp = ctx.timestamp();
  const ops: WriteOp[] = [];
  const live = new Set<string>();

  for (const svc of services) {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    if (!spec.selector || spec.type === 'ExternalName' || svc.metadata!.deletionTimestamp) continue;
    const k = key(svc);
    live.add(k);
    const [first] = Object.entries(spec.selector);
    const candidates = first
      ? podsByLabel.get(`${svc.metadata!.namespace}\n${first[0]}=${first[1]}`) ?? []
      : pods.filter((p) => p.namespace === svc.metadata!.namespace); // an empty selector selects every pod
    const selected = sorted(candidates.filter((p) => matches(spec.selector!, p.summary.labels)));

    const ep = existing.get(k);
    const wantSubsets = subsets(spec, selected);
    if (!ep || JSON.stringify(ep.subsets ?? []) !== JSON.stringify(wantSubsets)) {
      const labels = { ...(svc.metadata!.labels ?? {}) };
      const metadata = { ...(ep?.metadata ?? {}), name: svc.metadata!.name, namespace: svc.metadata!.namespace, labels, annotations: { ...(ep?.metadata?.annotations ?? {}), [TRIGGER]: stamp } };
      const object: KObject = { apiVersion: 'v1', kind: 'Endpoints', metadata, ...(wantSubsets.length ? { subsets: wantSubsets } : {}) };
      if (ep) ops.push({ op: 'update', object, rv: Number(ep.metadata!.resourceVersion) });
      else ops.push({ op: 'create', object: { ...object, metadata: { ...metadata, uid: crypto.randomUUID(), creationTimestamp: stamp } }, requireNamespace: true });
    }

    const slice = slices.get(k);
    const want = { addressType: 'IPv4', endpoints: sliceEndpoints(spec, selected), ports: slicePorts(spec, selected) };
    if (!slice || JSON.stringify([slice.endpoints ?? [], slice.ports ?? []]) !== JSON.stringify([want.endpoints, want.ports])) {
      const metadata = slice?.metadata ?? {
        // Named after the Service's uid, so passes racing to create it make one slice, not two.
        name: `${svc.metadata!.name}-${svc.metadata!.uid!.slice(0, 5)}`,
        namespace: svc.metadata!.namespace,
        uid: crypto.randomUUID(),
        creationTimestamp: stamp,
        generation: 1,
        labels: { ...(svc.metadata!.labels ?? {}), [SERVICE_NAME]: svc.metadata!.name!, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata!.name!, uid: svc.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
      };
      const object: KObject = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { ...metadata, generation: (slice?.metadata?.generation ?? 0) + 1 }, ...want };
      if (slice) ops.push({ op: 'update', object, rv: Number(slice.metadata!.resourceVersion) });
      else ops.push({ op: 'create', object, requireNamespace: true });
    }
  }
  for (const s of extraSlices) {
    ops.push({ op: 'delete', kind: 'EndpointSlice', namespace: s.metadata!.namespace!, name: s.metadata!.name!, rv: Number(s.metadata!.resourceVersion) });
  }
  // Endpoints this controller made for Services that are gone (slices go by garbage collection).
  for (const [k, ep] of existing) {
    if (!live.has(k) && ep.metadata?.annotations?.[TRIGGER] && !serviceKeys.has(k)) {
      ops.push({ op: 'delete', kind: 'Endpoints', namespace: ep.metadata!.namespace!, name: ep.metadata!.name!, rv: Number(ep.metadata!.resourceVersion) });
    }
  }
  await ctx.commit(ops);
}

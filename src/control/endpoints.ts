import { TRIGGER_ANNOTATION } from '../kinds/endpoints.js';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from '../kinds/endpointslice.js';
import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import {
  DIGEST_QUERIES,
  ELIGIBLE_POD,
  freshness,
  MANAGED_BY,
  toEndpointsDigest,
  toPodGroup,
  toSliceDigest,
  type EndpointsDigest,
  type PodGroup,
  type SliceDigest,
} from './endpoints-digest.js';
import { sliceEndpoints, slicePorts, sorted, subsets, type ServiceSpec } from './endpoints-output.js';
import { groupBy, podRowsSql, toPodRow } from './pod-rows.js';

// Endpoints and EndpointSlices, kept equal to the pods each Service's selector matches: ready pods as
// addresses, unready ones as notReadyAddresses (ready=false in slices), with nodeName and targetRef,
// target ports resolved by name or number.
//
// Round trip 1 (all an idle pass does): every Service whole; for every Endpoints and managed slice its
// key, rv, address count and pod digests; eligible pods grouped in SQL by (namespace, labels, named
// ports) with counts and digests (endpoints-digest.ts). A Service is stale when its Endpoints or slice
// is missing, lists other pods (or other ready pods) than its selector matches now, or is older than
// the Service itself. Round trip 2, for a bounded batch of stale Services: their Endpoints and slices
// whole and their selected pod rows (stale Services in order until their pods pass 10 x batchSize, and
// at most batchSize / 2 Services, each reading and writing two objects; at least one). Round trip 3:
// the writes, and deletions of Endpoints whose Service is gone and of duplicate slices.
// Pod writes that change no address (annotations, ownerReferences) leave a Service fresh. Endpoints and
// slices older than their Service are rewritten even when their addresses are the same (labels are
// copied from the Service), so an edited Service is fresh again after one pass.

/** A Service whose Endpoints or slice needs recomputing. */
interface Stale {
  svc: KObject;
  key: string;
  ep?: EndpointsDigest;
  slice?: SliceDigest;
  /** Pod rows its recomputation reads. */
  selected: number;
  /** 0: the stored pods differ; 1: only the Service is newer than its Endpoints or slice. */
  rank: number;
  /** The older rv of its Endpoints and slice (0 when one is missing): the longest waiting go first. */
  since: number;
}

const keyOf = (o: KObject) => `${o.metadata!.namespace}/${o.metadata!.name}`;

/** Stale Services, most certain work first, then the longest waiting (a rewritten one moves to the back). */
function staleServices(services: KObject[], eps: Map<string, EndpointsDigest>, slices: Map<string, SliceDigest>, groups: Map<string, PodGroup[]>): Stale[] {
  const stale: Stale[] = [];
  for (const svc of services) {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    if (!spec.selector || spec.type === 'ExternalName' || svc.metadata!.deletionTimestamp) continue;
    const key = keyOf(svc);
    const [ep, slice] = [eps.get(key), slices.get(key)];
    const { selected, contentFresh } = freshness(spec, groups.get(svc.metadata!.namespace!) ?? [], ep, slice);
    const since = Math.min(ep?.rv ?? 0, slice?.rv ?? 0);
    if (contentFresh && Number(svc.metadata!.resourceVersion) < since) continue;
    stale.push({ svc, key, ep, slice, selected, rank: contentFresh ? 1 : 0, since });
  }
  return stale.sort((a, b) => a.rank - b.rank || a.since - b.since || a.key.localeCompare(b.key));
}

/** The first stale Services whose pods fit in `podBudget` rows, at most `count` of them, at least one. */
function batch(stale: Stale[], podBudget: number, count: number): Stale[] {
  const taken: Stale[] = [];
  let pods = 0;
  for (const s of stale) {
    if (taken.length >= count || (taken.length > 0 && pods + s.selected > podBudget)) break;
    taken.push(s);
    pods += s.selected;
  }
  return taken;
}

/** The labels that tie a slice to its Service and to this controller. */
const sliceLabels = (svc: KObject) => ({ [SERVICE_NAME_LABEL]: svc.metadata!.name!, [MANAGED_BY_LABEL]: MANAGED_BY });

/** SELECT of the objects of `kind` named by [namespace, name] pairs, in one statement. */
const byKeys = (kind: string, keys: [string, string][]) => ({
  sql: 'SELECT o.rv, o.object FROM json_each(?) k JOIN objects o ON o.kind = ? AND o.namespace = k.value ->> 0 AND o.name = k.value ->> 1',
  args: [JSON.stringify(keys), kind],
});

/** SELECT of the eligible pods a Service's selector matches (label keys quoted in the JSON path). */
function selectedPods(svc: KObject) {
  const selector = Object.entries((svc.spec as ServiceSpec).selector ?? {});
  const where = [`namespace = ?`, ELIGIBLE_POD, ...selector.map(() => 'summary ->> ? = ?')].join(' AND ');
  return { sql: podRowsSql(where), args: [svc.metadata!.namespace!, ...selector.flatMap(([k, v]) => [`$.labels."${k}"`, v])] };
}

export async function endpoints(ctx: PassContext): Promise<void> {
  const [serviceRows, endpointRows, sliceRows, groupRows] = await ctx.store.rows([`SELECT rv, object FROM objects WHERE kind = 'Service'`, ...DIGEST_QUERIES]);
  const services = serviceRows.map(objectOf);
  const serviceKeys = new Set(services.map(keyOf));
  const eps = new Map(endpointRows.map(toEndpointsDigest).map((e) => [`${e.namespace}/${e.name}`, e]));
  // One slice per Service is kept; any other (left by racing passes before slices had stable names) goes.
  const slices = new Map<string, SliceDigest>();
  const extraSlices: SliceDigest[] = [];
  for (const s of sliceRows.map(toSliceDigest)) {
    const k = `${s.namespace}/${s.service}`;
    if (slices.has(k)) extraSlices.push(s);
    else slices.set(k, s);
  }
  const groups = groupBy(groupRows.map(toPodGroup), (g) => g.namespace);

  const { batchSize } = ctx.opts;
  const deletions: WriteOp[] = [
    ...extraSlices.map((s): WriteOp => ({ op: 'delete', kind: 'EndpointSlice', namespace: s.namespace, name: s.name, rv: s.rv })),
    // Endpoints this controller made for Services that are gone (slices go by garbage collection).
    ...[...eps].filter(([k, e]) => e.managed && !serviceKeys.has(k)).map(([, e]): WriteOp => ({ op: 'delete', kind: 'Endpoints', namespace: e.namespace, name: e.name, rv: e.rv })),
  ].slice(0, batchSize);
  // Each Service reads and writes up to two objects (its Endpoints and its slice).
  const serviceBudget = deletions.length >= batchSize ? 0 : Math.max(1, Math.floor((batchSize - deletions.length) / 2));
  const work = batch(staleServices(services, eps, slices, groups), 10 * batchSize, serviceBudget);
  if (work.length === 0) {
    await ctx.commit(deletions);
    return;
  }

  const epKeys = work.filter((s) => s.ep).map((s): [string, string] => [s.ep!.namespace, s.ep!.name]);
  const sliceKeys = work.filter((s) => s.slice).map((s): [string, string] => [s.slice!.namespace, s.slice!.name]);
  const [epObjects, sliceObjects, ...podSets] = await ctx.store.rows([byKeys('Endpoints', epKeys), byKeys('EndpointSlice', sliceKeys), ...work.map((s) => selectedPods(s.svc))]);
  const existing = new Map(epObjects.map(objectOf).map((e) => [keyOf(e), e]));
  const storedSlices = new Map(sliceObjects.map(objectOf).map((s) => [`${s.metadata!.namespace}/${s.metadata!.labels?.[SERVICE_NAME_LABEL]}`, s]));

  const stamp = ctx.timestamp();
  const ops: WriteOp[] = [...deletions];
  work.forEach(({ svc, key: k }, i) => {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    const selected = sorted(podSets[i].map(toPodRow));
    const newerThan = (o: KObject) => Number(svc.metadata!.resourceVersion) > Number(o.metadata!.resourceVersion);

    const ep = existing.get(k);
    const wantSubsets = subsets(spec, selected);
    if (!ep || newerThan(ep) || JSON.stringify(ep.subsets ?? []) !== JSON.stringify(wantSubsets)) {
      const labels = { ...(svc.metadata!.labels ?? {}) };
      const metadata = { ...(ep?.metadata ?? {}), name: svc.metadata!.name, namespace: svc.metadata!.namespace, labels, annotations: { ...(ep?.metadata?.annotations ?? {}), [TRIGGER_ANNOTATION]: stamp } };
      const object: KObject = { apiVersion: 'v1', kind: 'Endpoints', metadata, ...(wantSubsets.length ? { subsets: wantSubsets } : {}) };
      if (ep) ops.push({ op: 'update', object, rv: Number(ep.metadata!.resourceVersion) });
      else ops.push({ op: 'create', object: { ...object, metadata: { ...metadata, uid: crypto.randomUUID(), creationTimestamp: stamp } }, requireNamespace: true });
    }

    const slice = storedSlices.get(k);
    const want = { addressType: 'IPv4', endpoints: sliceEndpoints(spec, selected), ports: slicePorts(spec, selected) };
    if (!slice || newerThan(slice) || JSON.stringify([slice.endpoints ?? [], slice.ports ?? []]) !== JSON.stringify([want.endpoints, want.ports])) {
      const metadata = slice ? { ...slice.metadata, labels: { ...(svc.metadata!.labels ?? {}), ...sliceLabels(svc) } } : {
        // Named after the Service's uid, so passes racing to create it make one slice, not two.
        name: `${svc.metadata!.name}-${svc.metadata!.uid!.slice(0, 5)}`,
        namespace: svc.metadata!.namespace,
        uid: crypto.randomUUID(),
        creationTimestamp: stamp,
        generation: 1,
        labels: { ...(svc.metadata!.labels ?? {}), ...sliceLabels(svc) },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata!.name!, uid: svc.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
      };
      const object: KObject = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { ...metadata, generation: (slice?.metadata?.generation ?? 0) + 1 }, ...want };
      if (slice) ops.push({ op: 'update', object, rv: Number(slice.metadata!.resourceVersion) });
      else ops.push({ op: 'create', object, requireNamespace: true });
    }
  });
  await ctx.commit(ops);
}

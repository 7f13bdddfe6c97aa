import { DIGEST_MODULUS } from '../kinds/uid-digest.js';
import { servesPorts, type ServiceSpec } from './endpoints-output.js';

// What the endpoints controller reads on every pass, so that an idle pass reads no row per pod and no
// whole Endpoints or slice: pods grouped by (namespace, labels, named ports) with counts and digests of
// their uids, summed in SQL from the pods' summaries, and for each Endpoints and managed EndpointSlice
// its key, rv and the count and digests kept in its summary (src/kinds/uid-digest.ts). Equal digests
// tell that a stored object lists exactly the pods (and the ready ones) that the Service selects now,
// whatever else was written to those pods in between. (A pod keeps its IP and node once it has an IP,
// so its uid stands for its address.)

export const MANAGED_BY = 'endpointslice-controller.k8s.io';

const add = (a: number, b: number) => (a + b) % DIGEST_MODULUS;

/** Pods an Endpoints may list: with an IP, not being deleted, not finished. */
export const ELIGIBLE_POD = "summary ->> '$.podIP' IS NOT NULL AND summary ->> '$.deleting' = 0 AND COALESCE(phase, '') NOT IN ('Succeeded', 'Failed')";

/** Round trip 1, after the Services: Endpoints, managed slices and pod groups, each as counts and digests. */
export const DIGEST_QUERIES = [
  `SELECT namespace, name, rv, summary ->> '$.managed' AS managed, summary ->> '$.count' AS count,
     summary ->> '$.all' AS all_pods, summary ->> '$.addresses' AS addresses
   FROM objects WHERE kind = 'Endpoints'`,
  `SELECT namespace, name, rv, summary ->> '$.service' AS service, summary ->> '$.count' AS count,
     summary ->> '$.all' AS all_pods, summary ->> '$.serving' AS serving
   FROM objects WHERE kind = 'EndpointSlice' AND summary ->> '$.managedBy' = '${MANAGED_BY}'
   ORDER BY namespace, name`,
  `SELECT namespace, summary -> '$.labels' AS labels, summary -> '$.namedPorts' AS named_ports, COUNT(*) AS count,
     SUM(summary ->> '$.uidNumber') % ${DIGEST_MODULUS} AS all_pods,
     COALESCE(SUM(CASE WHEN summary ->> '$.ready' THEN summary ->> '$.uidNumber' END), 0) % ${DIGEST_MODULUS} AS ready
   FROM objects
   WHERE kind = 'Pod' AND namespace IN (SELECT namespace FROM objects WHERE kind = 'Service') AND ${ELIGIBLE_POD}
   GROUP BY 1, 2, 3`,
];

/** Pods counted, and digests of them all and of the ready ones. */
interface Tally {
  count: number;
  all: number;
  ready: number;
}

export interface EndpointsDigest {
  namespace: string;
  name: string;
  rv: number;
  /** Written by this controller (carries the trigger-time annotation). */
  managed: boolean;
  count: number;
  all: number;
  /** Digest of the pods under `addresses` (the rest are under notReadyAddresses). */
  addresses: number;
}

export interface SliceDigest {
  namespace: string;
  name: string;
  rv: number;
  service: string;
  count: number;
  all: number;
  serving: number;
}

export interface PodGroup extends Tally {
  namespace: string;
  labels: Record<string, string>;
  namedPorts: Record<string, number>;
}

export const toEndpointsDigest = (r: Record<string, unknown>): EndpointsDigest => ({
  namespace: String(r.namespace),
  name: String(r.name),
  rv: Number(r.rv),
  managed: !!r.managed,
  count: Number(r.count),
  all: Number(r.all_pods),
  addresses: Number(r.addresses),
});

export const toSliceDigest = (r: Record<string, unknown>): SliceDigest => ({
  namespace: String(r.namespace),
  name: String(r.name),
  rv: Number(r.rv),
  service: String(r.service),
  count: Number(r.count),
  all: Number(r.all_pods),
  serving: Number(r.serving),
});

export const toPodGroup = (r: Record<string, unknown>): PodGroup => ({
  namespace: String(r.namespace),
  labels: JSON.parse(String(r.labels ?? '{}')) as Record<string, string>,
  namedPorts: JSON.parse(String(r.named_ports ?? '{}')) as Record<string, number>,
  count: Number(r.count),
  all: Number(r.all_pods),
  ready: Number(r.ready),
});

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

function tally(groups: PodGroup[]): Tally {
  return groups.reduce((t, g) => ({ count: t.count + g.count, all: add(t.all, g.all), ready: add(t.ready, g.ready) }), { count: 0, all: 0, ready: 0 });
}

export interface Freshness {
  /** Pods the selector matches now: the rows a recomputation reads. */
  selected: number;
  /** The stored Endpoints and slice list exactly the pods they should, ready ones as ready. */
  contentFresh: boolean;
}

/** What a Service's Endpoints and slice should list, from the pod groups in its namespace, against what they list. */
export function freshness(spec: ServiceSpec, groups: PodGroup[], ep: EndpointsDigest | undefined, slice: SliceDigest | undefined): Freshness {
  const selected = groups.filter((g) => matches(spec.selector ?? {}, g.labels));
  const inSlice = tally(selected);
  const inEndpoints = tally(selected.filter((g) => servesPorts(spec, g.namedPorts)));
  const listed = spec.publishNotReadyAddresses ? inEndpoints.all : inEndpoints.ready;
  const epFresh = !!ep && ep.count === inEndpoints.count && ep.all === inEndpoints.all && ep.addresses === listed;
  const sliceFresh = !!slice && slice.count === inSlice.count && slice.all === inSlice.all && slice.serving === inSlice.ready;
  return { selected: inSlice.count, contentFresh: epFresh && sliceFresh };
}

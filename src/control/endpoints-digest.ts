import { servesPorts, type ServiceSpec } from './endpoints-output.js';

// What the endpoints controller reads on every pass, computed in SQL so that an idle pass reads no row
// per pod and no whole Endpoints or slice: pods grouped by (namespace, labels, named ports), and for
// each Endpoints and managed EndpointSlice its key, rv, the number of addresses it lists and digests
// of the pods it lists. A digest is the sum, modulo 2^52, of a 41-bit number read from each pod's uid,
// so comparing digests tells whether the stored object lists exactly the pods (and the ready ones) that
// the Service selects now, whatever else was written to those pods in between. (A pod keeps its IP and
// node once it has an IP, so its uid stands for its address.)

export const MANAGED_BY = 'endpointslice-controller.k8s.io';
export const SERVICE_NAME = 'kubernetes.io/service-name';
/** Marks Endpoints this controller keeps, so it may delete them when their Service goes. */
export const TRIGGER = 'endpoints.kubernetes.io/last-change-trigger-time';

const MOD = 2 ** 52;
const add = (a: number, b: number) => (a + b) % MOD;

/** SQL for a uid's number: ten of its hex digits (the dash skipped) in base 17, under 2^41. */
function uidNumber(expr: string): string {
  return [1, 2, 3, 4, 5, 6, 7, 8, 10, 11].map((pos, i) => `instr('0123456789abcdef', substr(${expr}, ${pos}, 1)) * ${17 ** (9 - i)}`).join(' + ');
}
/** SQL summing uid numbers, modulo 2^52 (under 2^61 before the modulo up to a million pods: no overflow). */
const digest = (uid: string, when = '1') => `COALESCE(SUM(CASE WHEN ${when} THEN ${uidNumber(uid)} END), 0) % ${MOD}`;

/** Pods an Endpoints may list: with an IP, not being deleted, not finished. */
export const ELIGIBLE_POD = "summary ->> '$.podIP' IS NOT NULL AND summary ->> '$.deleting' = 0 AND COALESCE(phase, '') NOT IN ('Succeeded', 'Failed')";

/** Round trip 1, after the Services: Endpoints, managed slices and pod groups, each as digests. */
export const DIGEST_QUERIES = [
  `SELECT e.namespace, e.name, e.rv, (e.object -> '$.metadata.annotations."${TRIGGER}"') IS NOT NULL AS managed,
     COUNT(a.value) AS count, ${digest("a.value ->> '$.targetRef.uid'")} AS all_pods,
     ${digest("a.value ->> '$.targetRef.uid'", "l.key = 'addresses'")} AS addresses
   FROM objects e
   LEFT JOIN json_each(e.object, '$.subsets') s
   LEFT JOIN json_each(s.value) l ON l.key IN ('addresses', 'notReadyAddresses')
   LEFT JOIN json_each(l.value) a
   WHERE e.kind = 'Endpoints' GROUP BY e.namespace, e.name`,
  `SELECT o.namespace, o.name, o.rv, o.object ->> '$.metadata.labels."${SERVICE_NAME}"' AS service,
     COUNT(p.value) AS count, ${digest("p.value ->> '$.targetRef.uid'")} AS all_pods,
     ${digest("p.value ->> '$.targetRef.uid'", "p.value ->> '$.conditions.serving'")} AS serving
   FROM objects o LEFT JOIN json_each(o.object, '$.endpoints') p
   WHERE o.kind = 'EndpointSlice' AND o.object ->> '$.metadata.labels."endpointslice.kubernetes.io/managed-by"' = '${MANAGED_BY}'
   GROUP BY o.namespace, o.name ORDER BY o.namespace, o.name`,
  `SELECT namespace, summary -> '$.labels' AS labels, summary -> '$.namedPorts' AS named_ports,
     COUNT(*) AS count, ${digest('uid')} AS all_pods, ${digest('uid', "summary ->> '$.ready'")} AS ready
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

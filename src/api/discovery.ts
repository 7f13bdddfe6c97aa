import { groupVersions, servedKinds } from '../kinds/registry.js';
import type { KindDef } from '../kinds/types.js';
import { admits, parseAccept } from './accept.js';

// Discovery: the legacy documents (/api, /apis, /api/v1, /apis/GROUP/VERSION), always served and
// what a plain application/json asks for, and below, aggregated discovery for clients that ask for it.

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const SUBRESOURCES: Record<string, (def: KindDef) => Record<string, unknown>> = {
  status: (def) => ({ kind: def.kind, verbs: ['get', 'patch', 'update'] }),
  scale: () => ({ group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] }),
  binding: () => ({ kind: 'Binding', verbs: ['create'] }),
  eviction: () => ({ group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] }),
  proxy: (def) => ({ kind: `${def.kind}ProxyOptions`, verbs: ['create', 'delete', 'get', 'patch', 'update'] }),
  log: () => ({ kind: 'Pod', verbs: ['get'] }),
  exec: () => ({ kind: 'PodExecOptions', verbs: ['create', 'get'] }),
  attach: () => ({ kind: 'PodAttachOptions', verbs: ['create', 'get'] }),
  portforward: () => ({ kind: 'PodPortForwardOptions', verbs: ['create', 'get'] }),
  token: () => ({ group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] }),
};

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-skiff',
  gitCommit: '',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'n/a',
  compiler: 'skiff',
  platform: 'edge',
};

export function apiVersions(host: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] };
}

export function apiGroupList(): Record<string, unknown> {
  // One entry per group, its versions in preference order (the stored version first).
  const groups = new Map<string, { name: string; versions: { groupVersion: string; version: string }[]; preferredVersion: { groupVersion: string; version: string } }>();
  for (const { group, version } of groupVersions().filter((gv) => gv.group !== '')) {
    const gv = { groupVersion: `${group}/${version}`, version };
    const entry = groups.get(group);
    if (entry) entry.versions.push(gv);
    else groups.set(group, { name: group, versions: [gv], preferredVersion: gv });
  }
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups.values()] };
}

export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const defs = servedKinds.filter((k) => k.group === group && k.version === version);
  if (defs.length === 0) return undefined;
  const resources = defs.flatMap((def) => [
    {
      name: def.plural,
      singularName: def.singular,
      namespaced: def.namespaced,
      kind: def.kind,
      verbs: def.verbs ?? ALL_VERBS,
      ...(def.shortNames ? { shortNames: def.shortNames } : {}),
      ...(def.categories ? { categories: def.categories } : {}),
    },
    ...(def.subresources ?? []).map((sub) => ({
      name: `${def.plural}/${sub}`,
      singularName: '',
      namespaced: def.namespaced,
      ...SUBRESOURCES[sub](def),
    })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

// ---- aggregated discovery (apidiscovery.k8s.io) ----
//
// One document for /api and one for /apis with every group, version and resource, so a client
// discovers in two round trips instead of one per group/version. kubectl 1.27-1.29 ask for v2beta1
// only, 1.30+ for v2 then v2beta1; the two carry the same fields. Built from the legacy documents,
// so both always agree.

export type DiscoveryVersion = 'v2' | 'v2beta1';

const DISCOVERY_GROUP = 'apidiscovery.k8s.io';

/** The aggregated discovery version `accept` asks for before anything skiff serves, or undefined for the legacy documents. */
export function aggregatedDiscoveryVersion(accept: string | null | undefined): DiscoveryVersion | undefined {
  for (const r of parseAccept(accept)) {
    const { g, v, as } = r.params;
    if (as !== undefined || g !== undefined) {
      // JSON only: a protobuf aggregated document is not served, so a client's next choice is taken.
      if (r.type === 'application' && r.subtype === 'json' && as === 'APIGroupDiscoveryList' && g === DISCOVERY_GROUP && (v === 'v2' || v === 'v2beta1')) return v;
      continue;
    }
    if (admits(r, 'application', 'json')) return undefined;
  }
  return undefined;
}

interface LegacyResource {
  name: string;
  singularName?: string;
  namespaced: boolean;
  kind: string;
  group?: string;
  version?: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

/** One group/version of an APIGroupDiscovery, from its APIResourceList. */
function versionDiscovery(group: string, version: string, list: Record<string, unknown>): Record<string, unknown> {
  const byName = new Map<string, Record<string, unknown> & { subresources?: unknown[] }>();
  const resources = list.resources as LegacyResource[];
  const responseKind = (r: LegacyResource) => ({ group: r.group ?? group, version: r.version ?? version, kind: r.kind });
  for (const r of resources.filter((r) => !r.name.includes('/'))) {
    byName.set(r.name, {
      resource: r.name,
      responseKind: responseKind(r),
      scope: r.namespaced ? 'Namespaced' : 'Cluster',
      singularResource: r.singularName ?? '',
      verbs: r.verbs,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    });
  }
  for (const r of resources.filter((r) => r.name.includes('/'))) {
    const [parent, subresource] = r.name.split('/');
    const entry = byName.get(parent);
    if (entry) (entry.subresources ??= []).push({ subresource, responseKind: responseKind(r), verbs: r.verbs });
  }
  return { version, resources: [...byName.values()], freshness: 'Current' };
}

/** A group/version with its legacy APIResourceList, as an extra group of /apis (metrics.k8s.io) gives it. */
export interface DiscoveredVersion {
  group: string;
  version: string;
  list: Record<string, unknown>;
}

/** GET /api or /apis as an APIGroupDiscoveryList; `extra` groups follow the kinds' own. */
export function aggregatedDiscovery(path: '/api' | '/apis', version: DiscoveryVersion, extra: DiscoveredVersion[] = []): Record<string, unknown> {
  const all: DiscoveredVersion[] = [
    ...groupVersions().map(({ group, version: v }) => ({ group, version: v, list: apiResourceList(group, v)! })),
    ...extra,
  ].filter((gv) => (path === '/api') === (gv.group === ''));
  const groups = new Map<string, unknown[]>();
  for (const gv of all) {
    const versions = groups.get(gv.group) ?? [];
    versions.push(versionDiscovery(gv.group, gv.version, gv.list));
    groups.set(gv.group, versions);
  }
  const items = [...groups].map(([name, versions]) => ({ metadata: { ...(name ? { name } : {}), creationTimestamp: null }, versions }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `${DISCOVERY_GROUP}/${version}`, metadata: {}, items };
}

/** The Content-Type kube-apiserver answers aggregated discovery with: client-go reads the format from it. */
export function aggregatedContentType(version: DiscoveryVersion): string {
  return `application/json;g=${DISCOVERY_GROUP};v=${version};as=APIGroupDiscoveryList`;
}

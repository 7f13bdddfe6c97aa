// discovery.k8s.io/v1 EndpointSlice: port defaults, validation
// (ValidateEndpointSlice, addressType immutable) and printEndpointSlice.
import type { Cause, KindDef } from './types.js';
import { age, listWithMore } from './format.js';
import { validateProtocol } from './podspec.js';
import { digestOf } from './uid-digest.js';
import {
  duplicate, each, invalid, isDNS1123Label, isDNS1123Subdomain, isIPv4, isIPv6, isValidPortNum, notSupported,
  required, validateImmutable, validateLabels, validateMetadata,
} from './validation.js';

const ADDRESS_TYPES = ['IPv4', 'IPv6', 'FQDN'];
const MAX_ADDRESSES = 100;
const MAX_PORTS = 20000;
const MAX_ENDPOINTS = 1000;

function defaultEndpointSlice(slice: any): void {
  for (const p of slice.ports ?? []) {
    p.name ??= '';
    p.protocol ||= 'TCP';
  }
}

function validateAddress(addressType: string, address: string, at: string): Cause[] {
  if (addressType === 'IPv4') return isIPv4(address) ? [] : [invalid(at, address, 'must be a valid IPv4 address')];
  if (addressType === 'IPv6') return isIPv6(address) ? [] : [invalid(at, address, 'must be a valid IPv6 address')];
  return each(at, address, isDNS1123Subdomain(address));
}

function validateEndpointSlice(slice: any, old?: any): Cause[] {
  const causes = validateMetadata(slice);
  const addressType = slice.addressType;
  if (!addressType) causes.push(required('addressType'));
  else if (!ADDRESS_TYPES.includes(addressType)) causes.push(notSupported('addressType', addressType, ADDRESS_TYPES));

  const endpoints: any[] = slice.endpoints ?? [];
  if (endpoints.length > MAX_ENDPOINTS) causes.push({ reason: 'FieldValueInvalid', field: 'endpoints', message: `Too many: ${endpoints.length}: must have at most ${MAX_ENDPOINTS} items` });
  endpoints.forEach((ep, i) => {
    const at = `endpoints[${i}]`;
    const addresses: string[] = ep?.addresses ?? [];
    if (addresses.length === 0) causes.push(required(`${at}.addresses`, 'must contain at least 1 address'));
    else if (addresses.length > MAX_ADDRESSES) causes.push({ reason: 'FieldValueInvalid', field: `${at}.addresses`, message: `Too many: ${addresses.length}: must have at most ${MAX_ADDRESSES} items` });
    if (ADDRESS_TYPES.includes(addressType)) addresses.forEach((a, j) => causes.push(...validateAddress(addressType, a, `${at}.addresses[${j}]`)));
    if (ep?.nodeName) causes.push(...each(`${at}.nodeName`, ep.nodeName, isDNS1123Subdomain(ep.nodeName)));
    if (ep?.hostname) causes.push(...each(`${at}.hostname`, ep.hostname, isDNS1123Label(ep.hostname)));
    causes.push(...validateLabels(ep?.deprecatedTopology, `${at}.deprecatedTopology`));
  });

  const ports: any[] = slice.ports ?? [];
  if (ports.length > MAX_PORTS) causes.push({ reason: 'FieldValueInvalid', field: 'ports', message: `Too many: ${ports.length}: must have at most ${MAX_PORTS} items` });
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = `ports[${i}]`;
    const name = p?.name ?? '';
    if (name) causes.push(...each(`${at}.name`, name, isDNS1123Label(name)));
    if (names.has(name)) causes.push(duplicate(`${at}.name`, name));
    else names.add(name);
    causes.push(...validateProtocol(p?.protocol, `${at}.protocol`));
    if (p?.port !== undefined && p?.port !== null) causes.push(...isValidPortNum(p.port).map((m) => invalid(`${at}.port`, p.port, m)));
  });

  if (old) causes.push(...validateImmutable(addressType, old.addressType, 'addressType'));
  return causes;
}

/** formatDiscoveryPorts: port numbers (or names, or "*"), three shown. */
function portsCell(ports: any[] | undefined): string {
  return listWithMore((ports ?? []).map((p) => (typeof p?.port === 'number' ? String(p.port) : p?.name || '*')));
}

/** formatDiscoveryEndpoints: every address of every endpoint, three shown. */
function endpointsCell(endpoints: any[] | undefined): string {
  return listWithMore((endpoints ?? []).flatMap((e) => e?.addresses ?? []));
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';

/** What the endpoints controller compares on every pass: the pods listed, counted and digested, and whose slice it is. */
function sliceSummary(slice: any) {
  const endpoints: any[] = slice?.endpoints ?? [];
  const uid = (e: any) => e?.targetRef?.uid;
  return {
    count: endpoints.length,
    all: digestOf(endpoints.map(uid)),
    serving: digestOf(endpoints.filter((e) => e?.conditions?.serving).map(uid)),
    service: slice?.metadata?.labels?.[SERVICE_NAME_LABEL] ?? null,
    managedBy: slice?.metadata?.labels?.[MANAGED_BY_LABEL] ?? null,
  };
}

export const endpointSlice: KindDef = {
  kind: 'EndpointSlice',
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  singular: 'endpointslice',
  namespaced: true,
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultEndpointSlice,
  validate: validateEndpointSlice,
  summary: sliceSummary,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'AddressType', type: 'string', description: 'addressType specifies the type of address carried by this EndpointSlice.', priority: 0 },
    { name: 'Ports', type: 'string', description: 'ports specifies the list of network ports exposed by each endpoint in this slice.', priority: 0 },
    { name: 'Endpoints', type: 'string', description: 'endpoints is a list of unique endpoints in this slice.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (s, now) => [
    s?.metadata?.name ?? '',
    s?.addressType ?? '',
    portsCell(s?.ports),
    endpointsCell(s?.endpoints),
    age(s?.metadata?.creationTimestamp, now),
  ],
};

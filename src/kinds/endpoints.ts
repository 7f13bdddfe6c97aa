// core/v1 Endpoints: port protocol default, validation (validateEndpointSubsets)
// and printEndpoints with its "+ N more..." truncation.
import type { Cause, KindDef } from './types.js';
import { age, listWithMore } from './format.js';
import { validateProtocol } from './podspec.js';
import { digestOf } from './uid-digest.js';
import { each, invalid, isDNS1123Label, isDNS1123Subdomain, isValidIP, isValidPortNum, required, validateMetadata } from './validation.js';

function defaultEndpoints(ep: any): void {
  for (const subset of ep.subsets ?? []) for (const p of subset?.ports ?? []) p.protocol ||= 'TCP';
}

function validateAddress(addr: any, at: string): Cause[] {
  const causes = each(`${at}.ip`, addr?.ip ?? '', isValidIP(addr?.ip ?? ''));
  if (addr?.hostname) causes.push(...each(`${at}.hostname`, addr.hostname, isDNS1123Label(addr.hostname)));
  if (addr?.nodeName) causes.push(...each(`${at}.nodeName`, addr.nodeName, isDNS1123Subdomain(addr.nodeName)));
  return causes;
}

function validateEndpoints(ep: any): Cause[] {
  const causes = validateMetadata(ep);
  (ep.subsets ?? []).forEach((subset: any, i: number) => {
    const at = `subsets[${i}]`;
    const addresses: any[] = subset?.addresses ?? [];
    const notReady: any[] = subset?.notReadyAddresses ?? [];
    if (addresses.length === 0 && notReady.length === 0) causes.push(required(at, 'must specify `addresses` or `notReadyAddresses`'));
    addresses.forEach((a, j) => causes.push(...validateAddress(a, `${at}.addresses[${j}]`)));
    notReady.forEach((a, j) => causes.push(...validateAddress(a, `${at}.notReadyAddresses[${j}]`)));
    const ports: any[] = subset?.ports ?? [];
    ports.forEach((p, j) => {
      const pat = `${at}.ports[${j}]`;
      if (ports.length > 1 && !p?.name) causes.push(required(`${pat}.name`));
      else if (p?.name) causes.push(...each(`${pat}.name`, p.name, isDNS1123Label(p.name)));
      causes.push(...isValidPortNum(p?.port).map((m) => invalid(`${pat}.port`, p?.port ?? 0, m)));
      causes.push(...validateProtocol(p?.protocol, `${pat}.protocol`));
    });
  });
  return causes;
}

/** "ip:port" for every ready address and port ("ip" alone for port-less subsets), three shown. */
export function formatEndpoints(ep: any): string {
  const subsets: any[] = ep?.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const hostPort = (ip: string, port: unknown) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  const items: string[] = [];
  for (const subset of subsets) {
    const addresses: any[] = subset?.addresses ?? [];
    const ports: any[] = subset?.ports ?? [];
    if (ports.length === 0) items.push(...addresses.map((a) => a?.ip ?? ''));
    else for (const p of ports) items.push(...addresses.map((a) => hostPort(a?.ip ?? '', p?.port ?? 0)));
  }
  return listWithMore(items, 3, '');
}

/** Set by the endpoints controller on the Endpoints it keeps, so it may delete them when their Service goes. */
export const TRIGGER_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/** What the endpoints controller compares on every pass: the pods listed, counted and digested, and whether it keeps them. */
function endpointsSummary(ep: any) {
  const listed = (key: string): any[] => (ep?.subsets ?? []).flatMap((s: any) => s?.[key] ?? []);
  const [ready, notReady] = [listed('addresses'), listed('notReadyAddresses')];
  const uid = (a: any) => a?.targetRef?.uid;
  return {
    count: ready.length + notReady.length,
    all: digestOf([...ready, ...notReady].map(uid)),
    addresses: digestOf(ready.map(uid)),
    managed: ep?.metadata?.annotations?.[TRIGGER_ANNOTATION] !== undefined,
  };
}

export const endpoints: KindDef = {
  kind: 'Endpoints',
  group: '',
  version: 'v1',
  plural: 'endpoints',
  singular: 'endpoints',
  namespaced: true,
  shortNames: ['ep'],
  nameRule: 'subdomain',
  defaults: defaultEndpoints,
  validate: validateEndpoints,
  summary: endpointsSummary,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Endpoints', type: 'string', description: 'The set of all endpoints is the union of all subsets.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (ep, now) => [ep?.metadata?.name ?? '', formatEndpoints(ep), age(ep?.metadata?.creationTimestamp, now)],
};

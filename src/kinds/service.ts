// core/v1 Service: defaults (SetDefaults_Service and the IP-family fields the
// registry fills), validation (ValidateService, clusterIP immutable once set),
// the allocated values an update may omit, and printService.
// Cluster IPs and node ports are allocated by a controller, not here.
import type { Cause, KindDef } from './types.js';
import { age, formatLabels } from './format.js';
import { validatePortNumOrName, validateProtocol } from './podspec.js';
import {
  duplicate, each, forbidden, invalid, isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName,
  isValidIP, isValidPortNum, notSupported, required, validateLabels, validateMetadata, goValue,
} from './validation.js';

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS = 10800;

const externallyAccessible = (spec: any) =>
  spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && spec.externalIPs?.length > 0);

function defaultService(svc: any): void {
  svc.spec ??= {};
  const spec = svc.spec;
  spec.sessionAffinity ||= 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds == null) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DEFAULT_CLIENT_IP_TIMEOUT_SECONDS } };
  }
  spec.type ||= 'ClusterIP';
  for (const p of spec.ports ?? []) {
    p.protocol ||= 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (externallyAccessible(spec)) spec.externalTrafficPolicy ||= 'Cluster';
  if (['ClusterIP', 'NodePort', 'LoadBalancer'].includes(spec.type)) spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (spec.type !== 'ExternalName') {
    spec.ipFamilyPolicy ||= 'SingleStack';
    spec.ipFamilies ??= ['IPv4'];
  }
  svc.status ??= {};
  svc.status.loadBalancer ??= {};
}

const needsClusterIP = (spec: any) => spec?.type !== 'ExternalName';
const needsNodePort = (spec: any) =>
  spec?.type === 'NodePort' || (spec?.type === 'LoadBalancer' && spec?.allocateLoadBalancerNodePorts !== false);

/** patchAllocatedValues: an update that omits the cluster IPs or node ports keeps the allocated ones. */
function keepAllocatedValues(svc: any, old: any): void {
  const spec = (svc.spec ??= {});
  const oldSpec = old.spec ?? {};
  if (needsClusterIP(oldSpec) && needsClusterIP(spec)) {
    if (!spec.clusterIP && oldSpec.clusterIP) spec.clusterIP = oldSpec.clusterIP;
    if (!spec.clusterIPs?.length && oldSpec.clusterIPs?.length) spec.clusterIPs = [...oldSpec.clusterIPs];
  }
  if (needsNodePort(oldSpec) && needsNodePort(spec)) {
    const usedByBoth = new Set((spec.ports ?? []).map((p: any) => p?.nodePort).filter((n: unknown) =>
      n && (oldSpec.ports ?? []).some((o: any) => o?.nodePort === n)));
    const byName = new Map<string, number>((oldSpec.ports ?? []).map((p: any) => [p?.name ?? '', p?.nodePort]));
    for (const p of spec.ports ?? []) {
      const previous = byName.get(p?.name ?? '');
      if (!p.nodePort && previous && !usedByBoth.has(previous)) p.nodePort = previous;
    }
  }
  if (needsNodePort(oldSpec) && needsNodePort(spec) && !spec.healthCheckNodePort && oldSpec.healthCheckNodePort) {
    spec.healthCheckNodePort = oldSpec.healthCheckNodePort;
  }
}

const clusterIPsOf = (spec: any): string[] =>
  spec?.clusterIPs?.length ? spec.clusterIPs : spec?.clusterIP ? [spec.clusterIP] : [];
const isHeadless = (spec: any) => spec?.type === 'ClusterIP' && clusterIPsOf(spec)[0] === 'None';

function validateService(svc: any, old?: any): Cause[] {
  const spec = svc.spec ?? {};
  const causes = validateMetadata(svc);
  // Service names are DNS-1035 labels; the generic layer checked the DNS-1123 label rule already.
  const name = svc.metadata?.name;
  if (name && isDNS1123Label(name).length === 0) causes.push(...each('metadata.name', name, isDNS1035Label(name)));

  if (!SERVICE_TYPES.includes(spec.type)) causes.push(notSupported('spec.type', spec.type ?? '', SERVICE_TYPES));
  if (spec.type === 'ExternalName') {
    const cname = String(spec.externalName ?? '').replace(/\.$/, '');
    if (cname) causes.push(...each('spec.externalName', cname, isDNS1123Subdomain(cname)));
    else causes.push(required('spec.externalName'));
  }
  const ports: any[] = spec.ports ?? [];
  if (ports.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName') causes.push(required('spec.ports'));
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !p?.name) causes.push(required(`${at}.name`));
    else if (p?.name) {
      causes.push(...each(`${at}.name`, p.name, isDNS1123Label(p.name)));
      if (names.has(p.name)) causes.push(duplicate(`${at}.name`, p.name));
      else names.add(p.name);
    }
    causes.push(...isValidPortNum(p?.port).map((m) => invalid(`${at}.port`, p?.port ?? 0, m)));
    causes.push(...validateProtocol(p?.protocol, `${at}.protocol`));
    causes.push(...validatePortNumOrName(p?.targetPort, `${at}.targetPort`));
    if (p?.appProtocol) causes.push(...each(`${at}.appProtocol`, p.appProtocol, isQualifiedName(p.appProtocol)));
  });
  if (!['ClientIP', 'None'].includes(spec.sessionAffinity)) {
    causes.push(notSupported('spec.sessionAffinity', spec.sessionAffinity ?? '', ['ClientIP', 'None']));
  }
  causes.push(...validateLabels(spec.selector, 'spec.selector'));
  clusterIPsOf(spec).forEach((ip, i) => {
    if (ip !== 'None' && ip !== '') causes.push(...each(`spec.clusterIPs[${i}]`, ip, isValidIP(ip)));
  });

  const seenPorts = new Set<string>();
  const seenNodePorts = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    const key = `${p?.port}/${p?.protocol}`;
    if (seenPorts.has(key)) {
      causes.push({ reason: 'FieldValueDuplicate', field: at, message: `Duplicate value: core.ServicePort{Name:"", Protocol:${goValue(p?.protocol ?? '')}, AppProtocol:(*string)(nil), Port:${p?.port ?? 0}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}` });
    }
    seenPorts.add(key);
    if (!p?.nodePort) return;
    if (spec.type === 'ClusterIP') causes.push(forbidden(`${at}.nodePort`, "may not be used when `type` is 'ClusterIP'"));
    causes.push(...isValidPortNum(p.nodePort).map((m) => invalid(`${at}.nodePort`, p.nodePort, m)));
    const nodeKey = `${p.nodePort}/${p.protocol}`;
    if (seenNodePorts.has(nodeKey)) causes.push(duplicate(`${at}.nodePort`, p.nodePort));
    seenNodePorts.add(nodeKey);
  });

  if (old) causes.push(...validateClusterIPUpdate(spec, old.spec ?? {}));
  return causes;
}

/** validateUpgradeDowngradeClusterIPs: an allocated cluster IP may not change or be removed. */
function validateClusterIPUpdate(spec: any, oldSpec: any): Cause[] {
  if (spec.type === 'ExternalName' || oldSpec.type === 'ExternalName') return [];
  if (isHeadless(spec) && isHeadless(oldSpec)) return [];
  const now = clusterIPsOf(spec);
  const before = clusterIPsOf(oldSpec);
  if (now.length === before.length) {
    return before.flatMap((ip, i) => (ip !== now[i] ? [invalid(`spec.clusterIPs[${i}]`, now, 'may not change once set')] : []));
  }
  if (now.length < before.length && now.length === 0) return [invalid('spec.clusterIPs[0]', now, 'primary clusterIP can not be unset')];
  return now[0] !== before[0] && now.length > 0 && before.length > 0 ? [invalid('spec.clusterIPs[0]', now, 'may not change once set')] : [];
}

/** getServiceExternalIP (wide): external IPs, load balancer ingress, or the external name. */
function externalIP(svc: any): string {
  const spec = svc?.spec ?? {};
  const external: string[] = spec.externalIPs ?? [];
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return external.length ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress: any[] = svc?.status?.loadBalancer?.ingress ?? [];
      const lb = [...new Set(ingress.map((i) => i?.ip || i?.hostname).filter(Boolean))];
      if (external.length) return [...lb, ...external].join(',');
      return lb.length ? lb.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

function portsCell(ports: any[] | undefined): string {
  const text = (ports ?? []).map((p) =>
    (p?.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? ''}` : `${p?.port ?? 0}/${p?.protocol ?? ''}`)).join(',');
  return text || '<none>';
}

export const service: KindDef = {
  kind: 'Service',
  group: '',
  version: 'v1',
  plural: 'services',
  singular: 'service',
  namespaced: true,
  shortNames: ['svc'],
  categories: ['all'],
  subresources: ['status', 'proxy'],
  nameRule: 'label',
  defaults: defaultService,
  prepareUpdate: keepAllocatedValues,
  validate: validateService,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Type', type: 'string', description: 'type determines how the Service is exposed.', priority: 0 },
    { name: 'Cluster-IP', type: 'string', description: 'clusterIP is the IP address of the service and is usually assigned randomly.', priority: 0 },
    { name: 'External-IP', type: 'string', description: 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.', priority: 0 },
    { name: 'Port(s)', type: 'string', description: 'The list of ports that are exposed by this service.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Selector', type: 'string', description: 'Route service traffic to pods with label keys and values matching this selector.', priority: 1 },
  ],
  row: (svc, now) => [
    svc?.metadata?.name ?? '',
    svc?.spec?.type ?? '',
    clusterIPsOf(svc?.spec)[0] || '<none>',
    externalIP(svc),
    portsCell(svc?.spec?.ports),
    age(svc?.metadata?.creationTimestamp, now),
    formatLabels(svc?.spec?.selector),
  ],
};

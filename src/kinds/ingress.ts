// networking.k8s.io/v1 Ingress: defaults, validation (ValidateIngressCreate/Update and the
// status's ValidateIngressLoadBalancerStatus), printIngress, and which Ingresses skiff's own
// ingress controller serves (SQL shared by the API's router and the status controller).
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { DEFAULT_CLASS_ANNOTATION, SKIFF_INGRESS_CLASS, SKIFF_INGRESS_CONTROLLER, validateTypedReference } from './ingressclass.js';
import {
  each, invalid, isDNS1035Label, isDNS1123Subdomain, isValidIP, isValidPortName, isValidPortNum, notSupported, required,
  validateMetadata,
} from './validation.js';

/** The deprecated annotation that named an Ingress's class before spec.ingressClassName. */
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const WILDCARD_FMT = `\\*\\.${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const WILDCARD = new RegExp(`^${WILDCARD_FMT}$`);

/** IsWildcardDNS1123Subdomain: "*.example.com". */
export function isWildcardDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (new TextEncoder().encode(value).length > 253) errs.push('must be no more than 253 characters');
  if (!WILDCARD.test(value)) {
    errs.push(`a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '${WILDCARD_FMT}')`);
  }
  return errs;
}

/** A rule host or TLS host: a DNS name, or a wildcard one. */
function validateHost(host: string, at: string): Cause[] {
  return host.includes('*') ? each(at, host, isWildcardDNS1123Subdomain(host)) : each(at, host, isDNS1123Subdomain(host));
}

function validateBackend(backend: any, at: string): Cause[] {
  const hasResource = backend?.resource != null;
  const hasService = backend?.service != null;
  if (hasResource && hasService) return [invalid(at, '', 'cannot set both resource and service backends')];
  if (hasResource) return validateTypedReference(backend.resource, `${at}.resource`);
  if (!hasService) return [invalid(at, '', 'resource or service backend is required')];
  const causes: Cause[] = [];
  const service = backend.service;
  if (!service.name) causes.push(required(`${at}.service.name`));
  else causes.push(...each(`${at}.service.name`, service.name, isDNS1035Label(String(service.name))));
  const portName = service.port?.name ?? '';
  const portNumber = service.port?.number ?? 0;
  if (portName && portNumber) causes.push(invalid(at, '', 'cannot set both port name & port number'));
  else if (portName) causes.push(...each(`${at}.service.port.name`, portName, isValidPortName(String(portName))));
  else if (portNumber) causes.push(...isValidPortNum(portNumber).map((m) => invalid(`${at}.service.port.number`, portNumber, m)));
  else causes.push(required(at, 'port name or number is required'));
  return causes;
}

function validatePath(p: any, at: string): Cause[] {
  const causes: Cause[] = [];
  const pathType = p?.pathType;
  if (pathType == null) return [required(`${at}.pathType`, 'pathType must be specified')];
  const path = String(p?.path ?? '');
  if (pathType === 'Exact' || pathType === 'Prefix') {
    if (!path.startsWith('/')) causes.push(invalid(`${at}.path`, path, 'must be an absolute path'));
    if (path) {
      for (const seq of INVALID_PATH_SEQUENCES) if (path.includes(seq)) causes.push(invalid(`${at}.path`, path, `must not contain '${seq}'`));
      for (const suffix of INVALID_PATH_SUFFIXES) if (path.endsWith(suffix)) causes.push(invalid(`${at}.path`, path, `cannot end with '${suffix}'`));
    }
  } else if (pathType === 'ImplementationSpecific') {
    if (path && !path.startsWith('/')) causes.push(invalid(`${at}.path`, path, 'must be an absolute path'));
  } else {
    causes.push(notSupported(`${at}.pathType`, pathType, PATH_TYPES));
  }
  causes.push(...validateBackend(p?.backend, `${at}.backend`));
  return causes;
}

function validateRules(rules: any[]): Cause[] {
  const causes: Cause[] = [];
  rules.forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    const host = String(rule?.host ?? '');
    if (host) {
      if (isValidIP(host).length === 0) causes.push(invalid(`${at}.host`, host, 'must be a DNS name, not an IP address'));
      causes.push(...validateHost(host, `${at}.host`));
    }
    if (rule?.http == null) return;
    const paths: any[] = rule.http.paths ?? [];
    if (paths.length === 0) causes.push(required(`${at}.http.paths`));
    paths.forEach((p, j) => causes.push(...validatePath(p, `${at}.http.paths[${j}]`)));
  });
  return causes;
}

function validateTLS(tls: any[]): Cause[] {
  const causes: Cause[] = [];
  tls.forEach((t, i) => {
    (t?.hosts ?? []).forEach((host: string, j: number) => causes.push(...validateHost(String(host), `spec.tls[${i}].hosts[${j}]`)));
    if (t?.secretName) causes.push(...each(`spec.tls[${i}].secretName`, t.secretName, isDNS1123Subdomain(String(t.secretName))));
  });
  return causes;
}

function validateLoadBalancerStatus(status: any): Cause[] {
  const causes: Cause[] = [];
  (status?.loadBalancer?.ingress ?? []).forEach((lb: any, i: number) => {
    const at = `status.loadBalancer.ingress[${i}]`;
    if (lb?.ip && isValidIP(String(lb.ip)).length) causes.push(invalid(`${at}.ip`, lb.ip, 'must be a valid IP address'));
    if (lb?.hostname) {
      causes.push(...each(`${at}.hostname`, lb.hostname, isDNS1123Subdomain(String(lb.hostname))));
      if (isValidIP(String(lb.hostname)).length === 0) causes.push(invalid(`${at}.hostname`, lb.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return causes;
}

function validateIngress(ing: any): Cause[] {
  const spec = ing.spec ?? {};
  const causes = validateMetadata(ing);
  const rules: any[] | undefined = spec.rules;
  if (!rules?.length && spec.defaultBackend == null) {
    // The value as Go's %#v prints the empty slice.
    const shown = rules ? '[]networking.IngressRule{}' : '[]networking.IngressRule(nil)';
    causes.push({ reason: 'FieldValueInvalid', field: 'spec', message: `Invalid value: ${shown}: either \`defaultBackend\` or \`rules\` must be specified` });
  }
  if (spec.defaultBackend != null) causes.push(...validateBackend(spec.defaultBackend, 'spec.defaultBackend'));
  if (rules?.length) causes.push(...validateRules(rules));
  if (spec.tls?.length) causes.push(...validateTLS(spec.tls));
  if (spec.ingressClassName != null) {
    causes.push(...each('spec.ingressClassName', spec.ingressClassName, isDNS1123Subdomain(String(spec.ingressClassName))));
  }
  causes.push(...validateLoadBalancerStatus(ing.status));
  return causes;
}

function defaultIngress(ing: any): void {
  ing.spec ??= {};
  ing.status ??= {};
  ing.status.loadBalancer ??= {};
}

/** formatHosts: up to three hosts, "*" when none has one. */
function hostsCell(rules: any[] | undefined): string {
  const list: string[] = [];
  const all = rules ?? [];
  let more = false;
  for (const rule of all) {
    if (list.length === 3) more = true;
    if (!more && rule?.host) list.push(rule.host);
  }
  if (list.length === 0) return '*';
  return more ? `${list.join(',')} + ${all.length - 3} more...` : list.join(',');
}

/** ingressLoadBalancerStatusStringer (wide, as server-side printing is): IPs or hostnames, sorted, unique. */
function addressCell(status: any): string {
  const found = new Set<string>();
  for (const lb of status?.loadBalancer?.ingress ?? []) {
    if (lb?.ip) found.add(lb.ip);
    else if (lb?.hostname) found.add(lb.hostname);
  }
  return [...found].sort().join(',');
}

// ---- which Ingresses skiff serves (SQL over the `objects` table) ----

/** The default IngressClass's name, as an SQL scalar subquery: the newest class annotated as default (DefaultIngressClass's pick). */
export const DEFAULT_INGRESS_CLASS_SQL = `(SELECT c.name FROM objects c WHERE c.kind = 'IngressClass' AND c.namespace = ''
    AND c.object ->> '$.metadata.annotations."${DEFAULT_CLASS_ANNOTATION}"' = 'true'
    ORDER BY c.object ->> '$.metadata.creationTimestamp' DESC, c.name LIMIT 1)`;

/** The class of the Ingress row `alias`: spec.ingressClassName, else the deprecated annotation, else the default class. */
const classOf = (alias: string) => `COALESCE(${alias}.object ->> '$.spec.ingressClassName',
  ${alias}.object ->> '$.metadata.annotations."${INGRESS_CLASS_ANNOTATION}"', ${DEFAULT_INGRESS_CLASS_SQL})`;

/**
 * An SQL condition true for the Ingress row `alias` (kind = 'Ingress') that skiff serves: of class
 * "skiff", or of an IngressClass whose controller is skiff's.
 */
export const servedBySkiff = (alias: string) => `(${classOf(alias)} IN (SELECT '${SKIFF_INGRESS_CLASS}' UNION ALL
  SELECT c.name FROM objects c WHERE c.kind = 'IngressClass' AND c.namespace = '' AND c.object ->> '$.spec.controller' = '${SKIFF_INGRESS_CONTROLLER}'))`;

export const ingress: KindDef = {
  kind: 'Ingress',
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'ingresses',
  singular: 'ingress',
  namespaced: true,
  shortNames: ['ing'],
  subresources: ['status'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultIngress,
  validate: validateIngress,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Class', type: 'string', description: 'The name of the IngressClass resource that should be used for the Ingress', priority: 0 },
    { name: 'Hosts', type: 'string', description: 'Hosts that incoming requests are matched against before the ingress rule', priority: 0 },
    { name: 'Address', type: 'string', description: 'Address is a list containing ingress points for the load-balancer', priority: 0 },
    { name: 'Ports', type: 'string', description: 'Ports of TLS configurations that open', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (ing, now) => [
    ing?.metadata?.name ?? '',
    ing?.spec?.ingressClassName ?? '<none>',
    hostsCell(ing?.spec?.rules),
    addressCell(ing?.status),
    ing?.spec?.tls?.length ? '80, 443' : '80',
    age(ing?.metadata?.creationTimestamp, now),
  ],
};

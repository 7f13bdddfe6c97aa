// A container's environment as kubelet builds it (makeEnvironmentVariables): the Service variables
// first, then envFrom, then env, later ones winning; $(VAR) references expanded; a missing
// ConfigMap, Secret or key that is not optional is CreateContainerConfigError with kubelet's message.
import { parseQuantity } from '../kinds/quantity.js';
import { RuntimeError } from './runtime.js';
import type { Sources } from './sources.js';

export interface EnvContext {
  pod: any;
  podIP: string;
  hostIP: string;
  /** The node's allocatable, for resourceFieldRef of a limit the container does not set. */
  allocatable: Record<string, string>;
  sources: Sources;
  /** Where the pod reaches the API (the node-local endpoint, api-proxy.ts): the `kubernetes` Service's variables point there. */
  apiEndpoint?: { host: string; port: number };
}

const configError = (message: string) => new RuntimeError('CreateContainerConfigError', message);
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

export async function containerEnv(container: any, ctx: EnvContext): Promise<{ name: string; value: string }[]> {
  const { pod, sources } = ctx;
  const ns = pod.metadata.namespace;
  const vars = new Map<string, string>();
  if (pod.spec.enableServiceLinks !== false) for (const [k, v] of serviceEnv(await sources.services(ns).catch(() => []))) vars.set(k, v);
  // kubelet gives every pod the `kubernetes` Service's variables, enableServiceLinks or not.
  if (ctx.apiEndpoint) for (const [k, v] of kubernetesEnv(ctx.apiEndpoint)) vars.set(k, v);

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = await sources.configMap(ns, from.configMapRef.name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw configError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) vars.set(prefix + k, String(v));
    } else if (from.secretRef) {
      const secret = await sources.secret(ns, from.secretRef.name);
      if (!secret) {
        if (from.secretRef.optional) continue;
        throw configError(`secret "${from.secretRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(secret.data ?? {})) vars.set(prefix + k, decode(String(v)));
    }
  }

  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      vars.set(e.name, expand(String(e.value ?? ''), vars));
      continue;
    }
    const value = await valueFrom(e.valueFrom, container, ctx);
    if (value !== undefined) vars.set(e.name, value);
  }
  return [...vars].map(([name, value]) => ({ name, value }));
}

async function valueFrom(from: any, container: any, ctx: EnvContext): Promise<string | undefined> {
  const { pod, sources } = ctx;
  const ns = pod.metadata.namespace;
  if (from.fieldRef) return fieldValue(String(from.fieldRef.fieldPath), ctx);
  if (from.resourceFieldRef) return resourceValue(from.resourceFieldRef, container, ctx.allocatable);
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const cm = await sources.configMap(ns, ref.name);
    if (!cm) {
      if (ref.optional) return undefined;
      throw configError(`configmap "${ref.name}" not found`);
    }
    const value = cm.data?.[ref.key] ?? (cm.binaryData?.[ref.key] !== undefined ? decode(cm.binaryData[ref.key]) : undefined);
    if (value === undefined && !ref.optional) throw configError(`couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}`);
    return value;
  }
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const secret = await sources.secret(ns, ref.name);
    if (!secret) {
      if (ref.optional) return undefined;
      throw configError(`secret "${ref.name}" not found`);
    }
    const raw = secret.data?.[ref.key];
    if (raw === undefined && !ref.optional) throw configError(`couldn't find key ${ref.key} in Secret ${ns}/${ref.name}`);
    return raw === undefined ? undefined : decode(raw);
  }
  return undefined;
}

/** The downward API's field paths (env fieldRef and downwardAPI volume items). */
export function fieldValue(path: string, ctx: { pod: any; podIP: string; hostIP: string }): string {
  const { pod } = ctx;
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return pod.metadata[m[1]!]?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace;
    case 'metadata.uid': return pod.metadata.uid;
    case 'metadata.labels': return formatMap(pod.metadata.labels);
    case 'metadata.annotations': return formatMap(pod.metadata.annotations);
    case 'spec.nodeName': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? '';
    case 'status.podIP': case 'status.podIPs': return ctx.podIP;
    case 'status.hostIP': case 'status.hostIPs': return ctx.hostIP;
    default: throw configError(`unsupported fieldPath: ${path}`);
  }
}

/** key="value" lines, sorted, as the downward API writes labels and annotations. */
export function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {}).sort().map((k) => `${k}=${JSON.stringify(map![k])}`).join('\n');
}

/** resourceFieldRef: limits fall back to the node's allocatable; values rounded up in divisor units. */
export function resourceValue(ref: any, container: any, allocatable: Record<string, string>): string {
  const [kind, resource] = String(ref.resource).split('.') as [string, string];
  const set = container.resources?.[kind]?.[resource];
  const fallback = kind === 'limits' ? allocatable[resource] : set === undefined ? '0' : undefined;
  const amount = parseQuantity(set ?? fallback ?? '0') ?? 0;
  const divisor = parseQuantity(ref.divisor ?? '1') || 1;
  return String(Math.ceil(amount / divisor));
}

/** $(VAR) references to variables defined before; $$ escapes a $. Unknown references stay as written. */
export function expand(value: string, vars: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return vars.has(name!) ? vars.get(name!)! : whole;
  });
}

/** The variables kubelet injects for each Service of the namespace (and the docker-link style ones). */
export function serviceEnv(services: any[]): [string, string][] {
  const out: [string, string][] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None' || !(svc.spec?.ports ?? []).length) continue;
    const name = String(svc.metadata.name).toUpperCase().replace(/-/g, '_');
    const ports: any[] = svc.spec.ports;
    out.push([`${name}_SERVICE_HOST`, ip], [`${name}_SERVICE_PORT`, String(ports[0].port)]);
    for (const p of ports) if (p.name) out.push([`${name}_SERVICE_PORT_${String(p.name).toUpperCase().replace(/-/g, '_')}`, String(p.port)]);
    const proto = (p: any) => String(p.protocol ?? 'TCP').toLowerCase();
    out.push([`${name}_PORT`, `${proto(ports[0])}://${ip}:${ports[0].port}`]);
    for (const p of ports) {
      const prefix = `${name}_PORT_${p.port}_${proto(p).toUpperCase()}`;
      out.push([prefix, `${proto(p)}://${ip}:${p.port}`], [`${prefix}_PROTO`, proto(p)], [`${prefix}_PORT`, String(p.port)], [`${prefix}_ADDR`, ip]);
    }
  }
  return out;
}

/**
 * The `kubernetes` Service's variables as kubelet writes them (named after the Service's port 443), but
 * with the address and port pods actually reach the API at: the node-local endpoint. In-cluster
 * clients read KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
 */
export function kubernetesEnv(at: { host: string; port: number }): [string, string][] {
  const port = String(at.port);
  const url = `tcp://${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}`;
  return [
    ['KUBERNETES_SERVICE_HOST', at.host],
    ['KUBERNETES_SERVICE_PORT', port],
    ['KUBERNETES_SERVICE_PORT_HTTPS', port],
    ['KUBERNETES_PORT', url],
    ['KUBERNETES_PORT_443_TCP', url],
    ['KUBERNETES_PORT_443_TCP_PROTO', 'tcp'],
    ['KUBERNETES_PORT_443_TCP_PORT', port],
    ['KUBERNETES_PORT_443_TCP_ADDR', at.host],
  ];
}

// core/v1 Node (cluster-scoped): allocatable defaults to capacity, taint
// validation, printNode (STATUS, ROLES, wide columns) and the cordon field selector.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { validateTaintEffect } from './podspec.js';
import { duplicate, each, forbidden, invalid, isIPv4, isIPv6, isQualifiedName, isValidLabelValue, validateMetadata } from './validation.js';

const ROLE_LABEL_PREFIX = 'node-role.kubernetes.io/';
const LEGACY_ROLE_LABEL = 'kubernetes.io/role';

/**
 * Annotation (value "true") on a Node whose pods stay put while it is unreachable: the node
 * lifecycle controller still marks it Ready=Unknown, its pods not ready, and taints it
 * unreachable:NoSchedule, but not unreachable:NoExecute, so nothing is evicted (edge sites on flaky links).
 */
export const ANNOTATION_NODE_AUTONOMY = 'node.skiff.dev/autonomy';

/**
 * Label the agent puts on its Node saying how its pods are networked. POD_NETWORK_HOST: they share
 * the host's network namespace (a runtime that cannot give them their own), so every containerPort
 * is a host port and the scheduler keeps two pods listening on one port apart.
 */
export const LABEL_POD_NETWORK = 'node.skiff.dev/pod-network';
export const POD_NETWORK_HOST = 'host';

function defaultNode(node: any): void {
  // SetDefaults_NodeStatus: a node reporting capacity but no allocatable can allocate it all.
  if (node.status?.capacity && !node.status.allocatable) node.status.allocatable = { ...node.status.capacity };
  // v1 conversion keeps podCIDR and podCIDRs[0] the same, whichever a client set.
  const spec = node.spec;
  if (spec && typeof spec === 'object') {
    if (spec.podCIDR && !(Array.isArray(spec.podCIDRs) && spec.podCIDRs.length)) spec.podCIDRs = [spec.podCIDR];
    else if (!spec.podCIDR && Array.isArray(spec.podCIDRs) && typeof spec.podCIDRs[0] === 'string' && spec.podCIDRs[0]) spec.podCIDR = spec.podCIDRs[0];
  }
}

function isCidr(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
  if (!m) return false;
  const bits = Number(m[2]);
  return (isIPv4(m[1]) && bits <= 32) || (isIPv6(m[1]) && bits <= 128);
}

/** podCIDRs (ValidateNode, ValidateNodeUpdate): CIDRs, at most one per family, set once and then fixed. */
function validatePodCidrs(node: any, old: any): Cause[] {
  const causes: Cause[] = [];
  const cidrs: unknown[] = Array.isArray(node.spec?.podCIDRs) ? node.spec.podCIDRs : [];
  cidrs.forEach((c, i) => {
    if (!isCidr(c)) causes.push(invalid(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
  });
  const dualStack = cidrs.length === 2 && isCidr(cidrs[0]) && isCidr(cidrs[1]) && String(cidrs[0]).includes(':') !== String(cidrs[1]).includes(':');
  if (cidrs.length > 1 && !dualStack) {
    causes.push(invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'));
  }
  if (node.spec?.podCIDR && cidrs.length && node.spec.podCIDR !== cidrs[0]) causes.push(invalid('spec.podCIDR', node.spec.podCIDR, 'must match the first entry of spec.podCIDRs'));
  // Only the node IPAM controller's first assignment may change them: "" to valid.
  const before: unknown[] = Array.isArray(old?.spec?.podCIDRs) ? old.spec.podCIDRs : old?.spec?.podCIDR ? [old.spec.podCIDR] : [];
  if (before.length && (before.length !== cidrs.length || before.some((c, i) => c !== cidrs[i]))) {
    causes.push(forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  }
  return causes;
}

function validateNode(node: any, old?: any): Cause[] {
  const causes = [...validateMetadata(node), ...validatePodCidrs(node, old)];
  const seen = new Set<string>();
  (node.spec?.taints ?? []).forEach((t: any, i: number) => {
    const at = `spec.taints[${i}]`;
    causes.push(...each(`${at}.key`, t?.key ?? '', isQualifiedName(t?.key ?? '')));
    const valueErrs = isValidLabelValue(t?.value ?? '');
    if (valueErrs.length) causes.push(invalid(`${at}.value`, t?.value ?? '', valueErrs.join(';')));
    causes.push(...validateTaintEffect(t?.effect, false, `${at}.effect`));
    const key = `${t?.key}\u0000${t?.effect}`;
    if (seen.has(key)) causes.push(duplicate(at, t, 'taints must be unique by key and effect pair'));
    seen.add(key);
  });
  return causes;
}

/** "Ready", "NotReady" or "Unknown" from the Ready condition, then ",SchedulingDisabled" when cordoned. */
export function nodeStatus(node: any): string {
  const ready = (node?.status?.conditions ?? []).find((c: any) => c?.type === 'Ready');
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (node?.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

/** Roles from node-role.kubernetes.io/<role> labels and the legacy kubernetes.io/role label, sorted. */
export function nodeRoles(node: any): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries<string>(node?.metadata?.labels ?? {})) {
    if (k.startsWith(ROLE_LABEL_PREFIX) && k.length > ROLE_LABEL_PREFIX.length) roles.add(k.slice(ROLE_LABEL_PREFIX.length));
    else if (k === LEGACY_ROLE_LABEL && v) roles.add(v);
  }
  return [...roles].sort().join(',') || '<none>';
}

const address = (node: any, type: string) =>
  (node?.status?.addresses ?? []).find((a: any) => a?.type === type)?.address ?? '<none>';

export const node: KindDef = {
  kind: 'Node',
  group: '',
  version: 'v1',
  plural: 'nodes',
  singular: 'node',
  namespaced: false,
  shortNames: ['no'],
  subresources: ['status', 'proxy'],
  nameRule: 'subdomain',
  defaults: defaultNode,
  validate: validateNode,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Status', type: 'string', description: 'The status of the node', priority: 0 },
    { name: 'Roles', type: 'string', description: 'The roles of the node', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Version', type: 'string', description: 'Kubelet Version reported by the node.', priority: 0 },
    { name: 'Internal-IP', type: 'string', description: 'List of addresses reachable to the node.', priority: 1 },
    { name: 'External-IP', type: 'string', description: 'List of addresses reachable to the node.', priority: 1 },
    { name: 'OS-Image', type: 'string', description: 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', priority: 1 },
    { name: 'Kernel-Version', type: 'string', description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority: 1 },
    { name: 'Container-Runtime', type: 'string', description: 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', priority: 1 },
  ],
  row: (n, now) => {
    const info = n?.status?.nodeInfo ?? {};
    return [
      n?.metadata?.name ?? '',
      nodeStatus(n),
      nodeRoles(n),
      age(n?.metadata?.creationTimestamp, now),
      info.kubeletVersion ?? '',
      address(n, 'InternalIP'),
      address(n, 'ExternalIP'),
      info.osImage || '<unknown>',
      info.kernelVersion || '<unknown>',
      info.containerRuntimeVersion || '<unknown>',
    ];
  },
  fields: {
    'spec.unschedulable': (n) => String(n?.spec?.unschedulable === true),
  },
};

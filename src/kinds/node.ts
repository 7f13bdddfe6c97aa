// core/v1 Node (cluster-scoped): allocatable defaults to capacity, taint
// validation, printNode (STATUS, ROLES, wide columns) and the cordon field selector.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { validateTaintEffect } from './podspec.js';
import { duplicate, each, invalid, isQualifiedName, isValidLabelValue, validateMetadata } from './validation.js';

const ROLE_LABEL_PREFIX = 'node-role.kubernetes.io/';
const LEGACY_ROLE_LABEL = 'kubernetes.io/role';

function defaultNode(node: any): void {
  // SetDefaults_NodeStatus: a node reporting capacity but no allocatable can allocate it all.
  if (node.status?.capacity && !node.status.allocatable) node.status.allocatable = { ...node.status.capacity };
}

function validateNode(node: any): Cause[] {
  const causes = validateMetadata(node);
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
  subresources: ['status'],
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

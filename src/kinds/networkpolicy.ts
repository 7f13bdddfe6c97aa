// networking.k8s.io/v1 NetworkPolicy: defaults (SetDefaults_NetworkPolicy and
// SetDefaults_NetworkPolicyPort), validation (ValidateNetworkPolicy, ValidateNetworkPolicyUpdate)
// and printNetworkPolicy. The agents enforce the policies (src/agent/network-policy*.ts).
import type { Cause, KindDef } from './types.js';
import { age, formatLabelSelector } from './format.js';
import { cidrContains, parseCidr } from './networkpolicy-cidr.js';
import {
  each, forbidden, invalid, isValidPortName, isValidPortNum, notSupported, required, validateLabelSelector, validateMetadata,
  type LabelSelector,
} from './validation.js';

export const POLICY_TYPES = ['Ingress', 'Egress'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

export interface NetworkPolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicySpec {
  podSelector?: LabelSelector;
  ingress?: { ports?: NetworkPolicyPort[]; from?: NetworkPolicyPeer[] }[];
  egress?: { ports?: NetworkPolicyPort[]; to?: NetworkPolicyPeer[] }[];
  policyTypes?: string[];
}

function defaultNetworkPolicy(np: any): void {
  np.spec ??= {};
  const spec = np.spec;
  // podSelector is not omitempty in the v1 type: an absent one reads back as {}.
  spec.podSelector ??= {};
  for (const rule of [...(spec.ingress ?? []), ...(spec.egress ?? [])]) {
    for (const port of rule?.ports ?? []) if (port && port.protocol == null) port.protocol = 'TCP';
  }
  // Every policy affects ingress; one with egress rules affects egress too.
  if (!spec.policyTypes?.length) spec.policyTypes = spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
}

function validatePort(port: NetworkPolicyPort, at: string): Cause[] {
  const causes: Cause[] = [];
  if (port?.protocol != null && !PROTOCOLS.includes(port.protocol)) causes.push(notSupported(`${at}.protocol`, port.protocol, PROTOCOLS));
  const endPort = port?.endPort;
  if (port?.port != null) {
    if (typeof port.port === 'number') {
      causes.push(...isValidPortNum(port.port).map((m) => invalid(`${at}.port`, port.port, m)));
      if (endPort != null) {
        if (endPort < port.port) causes.push(invalid(`${at}.endPort`, endPort, 'must be greater than or equal to `port`'));
        causes.push(...isValidPortNum(endPort).map((m) => invalid(`${at}.endPort`, endPort, m)));
      }
    } else {
      if (endPort != null) causes.push(invalid(`${at}.endPort`, endPort, 'may not be specified when `port` is non-numeric'));
      causes.push(...each(`${at}.port`, String(port.port), isValidPortName(String(port.port))));
    }
  } else if (endPort != null) {
    causes.push(invalid(`${at}.endPort`, endPort, 'may not be specified when `port` is not specified'));
  }
  return causes;
}

const CIDR_ERROR = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

/** ValidateIPBlock; CIDRs the stored policy already had pass as they are (ValidateNetworkPolicyUpdate). */
function validateIPBlock(block: IPBlock, at: string, existing: Set<string>): Cause[] {
  const cidrText = block?.cidr ?? '';
  if (!cidrText) return [required(`${at}.cidr`)];
  const causes: Cause[] = [];
  const cidr = parseCidr(String(cidrText));
  if (!cidr) {
    if (!existing.has(cidrText)) causes.push(invalid(`${at}.cidr`, cidrText, CIDR_ERROR));
    return causes;
  }
  (block.except ?? []).forEach((text, i) => {
    const field = `${at}.except[${i}]`;
    const except = parseCidr(String(text));
    if (!except) {
      if (!existing.has(text)) causes.push(invalid(field, text, CIDR_ERROR));
      return;
    }
    if (!cidrContains(cidr, { v6: except.v6, value: except.network }) || cidr.prefix >= except.prefix) causes.push(invalid(field, text, 'must be a strict subset of `cidr`'));
  });
  return causes;
}

function validatePeer(peer: NetworkPolicyPeer, at: string, existing: Set<string>): Cause[] {
  const causes: Cause[] = [];
  let peers = 0;
  if (peer?.podSelector != null) {
    peers++;
    causes.push(...validateLabelSelector(peer.podSelector, `${at}.podSelector`));
  }
  if (peer?.namespaceSelector != null) {
    peers++;
    causes.push(...validateLabelSelector(peer.namespaceSelector, `${at}.namespaceSelector`));
  }
  if (peer?.ipBlock != null) {
    peers++;
    causes.push(...validateIPBlock(peer.ipBlock, `${at}.ipBlock`, existing));
  }
  if (peers === 0) causes.push(required(at, 'must specify a peer'));
  else if (peers > 1 && peer.ipBlock != null) causes.push(forbidden(at, 'may not specify both ipBlock and another peer'));
  return causes;
}

/** The CIDRs of a policy's ipBlocks (cidr and except). */
function cidrsOf(spec: NetworkPolicySpec | undefined): Set<string> {
  const found = new Set<string>();
  const peers = [...(spec?.ingress ?? []).flatMap((r) => r?.from ?? []), ...(spec?.egress ?? []).flatMap((r) => r?.to ?? [])];
  for (const p of peers) {
    if (!p?.ipBlock) continue;
    found.add(p.ipBlock.cidr);
    for (const e of p.ipBlock.except ?? []) found.add(e);
  }
  return found;
}

function validateNetworkPolicy(np: any, old?: any): Cause[] {
  const spec: NetworkPolicySpec = np.spec ?? {};
  const existing = old ? cidrsOf(old.spec) : new Set<string>();
  const causes = validateMetadata(np);
  causes.push(...validateLabelSelector(spec.podSelector, 'spec.podSelector'));
  (spec.ingress ?? []).forEach((rule, i) => {
    (rule?.ports ?? []).forEach((p, j) => causes.push(...validatePort(p, `spec.ingress[${i}].ports[${j}]`)));
    (rule?.from ?? []).forEach((p, j) => causes.push(...validatePeer(p, `spec.ingress[${i}].from[${j}]`, existing)));
  });
  (spec.egress ?? []).forEach((rule, i) => {
    (rule?.ports ?? []).forEach((p, j) => causes.push(...validatePort(p, `spec.egress[${i}].ports[${j}]`)));
    (rule?.to ?? []).forEach((p, j) => causes.push(...validatePeer(p, `spec.egress[${i}].to[${j}]`, existing)));
  });
  const types = spec.policyTypes ?? [];
  if (types.length > POLICY_TYPES.length) {
    // field.Invalid prints the list with %#v.
    const shown = `[]networking.PolicyType{${types.map((t) => JSON.stringify(t)).join(', ')}}`;
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.policyTypes', message: `Invalid value: ${shown}: may not specify more than two policyTypes` });
    return causes;
  }
  types.forEach((t, i) => {
    if (!(POLICY_TYPES as readonly string[]).includes(t)) causes.push(notSupported(`spec.policyTypes[${i}]`, t, POLICY_TYPES));
  });
  return causes;
}

export const networkPolicy: KindDef = {
  kind: 'NetworkPolicy',
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'networkpolicies',
  singular: 'networkpolicy',
  namespaced: true,
  shortNames: ['netpol'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultNetworkPolicy,
  validate: validateNetworkPolicy,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    {
      name: 'Pod-Selector',
      type: 'string',
      description: 'Selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.',
      priority: 0,
    },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (np, now) => [np?.metadata?.name ?? '', formatLabelSelector(np?.spec?.podSelector ?? {}), age(np?.metadata?.creationTimestamp, now)],
};

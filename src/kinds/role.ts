// rbac.authorization.k8s.io/v1 Role: the PolicyRule type, its validation (ValidateRole,
// ValidatePolicyRule) and printRole, shared with ClusterRole, and how rules compare (Covers), which
// the escalation checks and the default policy's reconciliation both need. What a rule allows is the
// evaluator's (src/api/auth/rbac.ts).
import type { Cause, KindDef } from './types.js';
import { invalid, required, validateMetadata } from './validation.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** rbacv1.PolicyRule. Absent lists and empty ones mean the same. */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** The wildcard of verbs, API groups, resources and non-resource URLs. */
export const ALL = '*';

const count = (list: unknown): number => (Array.isArray(list) ? list.length : 0);

/** ValidatePolicyRule: a rule grants resources or non-resource URLs, never both; the latter only cluster-wide. */
export function validatePolicyRule(rule: any, namespaced: boolean, at: string): Cause[] {
  const causes: Cause[] = [];
  if (count(rule?.verbs) === 0) causes.push(required(`${at}.verbs`, 'verbs must contain at least one value'));
  if (count(rule?.nonResourceURLs) > 0) {
    const urls = rule.nonResourceURLs;
    if (namespaced) causes.push(invalid(`${at}.nonResourceURLs`, urls, 'namespaced rules cannot apply to non-resource URLs'));
    if (count(rule.apiGroups) > 0 || count(rule.resources) > 0 || count(rule.resourceNames) > 0) {
      causes.push(invalid(`${at}.nonResourceURLs`, urls, 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return causes;
  }
  if (count(rule?.apiGroups) === 0) causes.push(required(`${at}.apiGroups`, 'resource rules must supply at least one api group'));
  if (count(rule?.resources) === 0) causes.push(required(`${at}.resources`, 'resource rules must supply at least one resource'));
  return causes;
}

/** A rule's empty optional lists dropped, as the Go types omit them (omitempty) on the way back out. */
export function defaultRules(obj: any): void {
  for (const rule of Array.isArray(obj.rules) ? obj.rules : []) {
    if (!rule || typeof rule !== 'object') continue;
    for (const key of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) {
      if (Array.isArray(rule[key]) && rule[key].length === 0) delete rule[key];
    }
  }
}

export function validateRules(rules: unknown, namespaced: boolean): Cause[] {
  return (Array.isArray(rules) ? rules : []).flatMap((rule, i) => validatePolicyRule(rule, namespaced, `rules[${i}]`));
}

const has = (list: readonly string[] | undefined, value: string): boolean => (list ?? []).includes(value);

// ---- covering rules (Covers, BreakdownRule): whether some rules grant all that others do ----

/** A rule broken into rules of one API group, resource, verb and resource name each (non-resource URLs: one URL and verb). */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs ?? []) {
        const names = rule.resourceNames ?? [];
        if (names.length) for (const name of names) out.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
        else out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? []) for (const verb of rule.verbs ?? []) out.push({ nonResourceURLs: [url], verbs: [verb] });
  return out;
}

const hasAll = (set: readonly string[] | undefined, wanted: readonly string[] | undefined) => (wanted ?? []).every((w) => has(set, w));

function resourcesCover(owned: readonly string[] | undefined, wanted: readonly string[] | undefined): boolean {
  if (has(owned, ALL) || hasAll(owned, wanted)) return true;
  return (wanted ?? []).every((path) => {
    if (has(owned, path)) return true;
    const slash = path.indexOf('/');
    return slash >= 0 && has(owned, `*/${path.slice(slash + 1)}`);
  });
}

function nonResourceURLCovers(owner: string, wanted: string): boolean {
  return owner === wanted || (owner.endsWith('*') && wanted.startsWith(owner.replace(/\*+$/, '')));
}

/** Whether an owner rule covers a broken-down rule (syntactically, as Kubernetes compares them). */
function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = has(owner.verbs, ALL) || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, ALL) || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourcesCover(owner.resources, sub.resources);
  const urls = (sub.nonResourceURLs ?? []).every((u) => (owner.nonResourceURLs ?? []).some((o) => nonResourceURLCovers(o, u)));
  const ownerNames = owner.resourceNames ?? [];
  const names = (sub.resourceNames ?? []).length === 0 ? ownerNames.length === 0 : ownerNames.length === 0 || hasAll(ownerNames, sub.resourceNames);
  return verbs && groups && resources && urls && names;
}

/** Covers: the pieces of `requested` (broken down) that no rule of `owned` covers; none when owned covers all. */
export function covers(owned: readonly PolicyRule[], requested: readonly PolicyRule[]): PolicyRule[] {
  return requested.flatMap(breakdownRule).filter((sub) => !owned.some((o) => ruleCovers(o, sub)));
}

/** printRole / printClusterRole: CREATED AT is the creation time in RFC 3339 (Go's zero time when unset). */
export const createdAtColumns: KindDef['columns'] = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Created At', type: 'date', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
];

export const createdAtRow: KindDef['row'] = (obj) => [obj?.metadata?.name ?? '', obj?.metadata?.creationTimestamp || '0001-01-01T00:00:00Z'];

export const role: KindDef = {
  kind: 'Role',
  group: RBAC_GROUP,
  version: 'v1',
  plural: 'roles',
  singular: 'role',
  namespaced: true,
  // ValidateRBACName: any path segment, so names such as system:controller:x are valid.
  nameRule: 'path',
  defaults: defaultRules,
  validate: (obj: any) => [...validateMetadata(obj), ...validateRules(obj.rules, true)],
  columns: createdAtColumns,
  row: createdAtRow,
};

// rbac.authorization.k8s.io/v1 ClusterRole: validation (ValidateClusterRole: rules, which may name
// non-resource URLs, and the aggregationRule's selectors) and printClusterRole. The rules of a role
// with an aggregationRule are written by the aggregation controller (src/control/clusterrole-aggregation.ts).
import type { Cause, KindDef } from './types.js';
import { createdAtColumns, createdAtRow, defaultRules, RBAC_GROUP, validateRules, type PolicyRule } from './role.js';
import { deepEqual, invalid, required, selectorMatches, validateLabelSelector, validateMetadata, type LabelSelector } from './validation.js';

export interface AggregationRule {
  clusterRoleSelectors?: LabelSelector[];
}

export interface ClusterRoleObject {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  rules?: PolicyRule[] | null;
  aggregationRule?: AggregationRule | null;
}

function validateAggregationRule(rule: AggregationRule | null | undefined): Cause[] {
  if (rule == null) return [];
  const selectors = rule.clusterRoleSelectors ?? [];
  const at = 'aggregationRule.clusterRoleSelectors';
  const causes: Cause[] = [];
  if (selectors.length === 0) causes.push(required(at, 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
  selectors.forEach((sel, i) => {
    const errors = validateLabelSelector(sel, `${at}[${i}]`);
    causes.push(...errors);
    // What LabelSelectorAsSelector refuses, kube-apiserver reports once more for the whole selector.
    if (errors.length) causes.push(invalid(`${at}[${i}]`, 'null', 'invalid label selector.'));
  });
  return causes;
}

/**
 * The rules an aggregating ClusterRole gets (the aggregation controller's syncClusterRole): those of
 * every other ClusterRole some selector matches, selector by selector, roles by name, each rule once.
 * Undefined for a role without an aggregationRule.
 */
export function aggregatedRules(target: ClusterRoleObject, all: readonly ClusterRoleObject[]): PolicyRule[] | undefined {
  const selectors = target.aggregationRule?.clusterRoleSelectors;
  if (!target.aggregationRule || !selectors) return target.aggregationRule ? [] : undefined;
  const name = target.metadata?.name;
  const sorted = [...all].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  const rules: PolicyRule[] = [];
  for (const selector of selectors) {
    for (const role of sorted) {
      if (role.metadata?.name === name || !selectorMatches(selector, role.metadata?.labels)) continue;
      for (const rule of role.rules ?? []) if (!rules.some((r) => deepEqual(r, rule))) rules.push(rule);
    }
  }
  return rules;
}

export const clusterRole: KindDef = {
  kind: 'ClusterRole',
  group: RBAC_GROUP,
  version: 'v1',
  plural: 'clusterroles',
  singular: 'clusterrole',
  namespaced: false,
  nameRule: 'path',
  defaults: defaultRules,
  validate: (obj: any) => [...validateMetadata(obj), ...validateRules(obj.rules, false), ...validateAggregationRule(obj.aggregationRule)],
  columns: createdAtColumns,
  row: createdAtRow,
};

import { aggregatedRules, type ClusterRoleObject } from '../kinds/clusterrole.js';
import type { KObject } from '../kinds/types.js';
import { deepEqual } from '../kinds/validation.js';
import { objectOf } from '../store/store.js';
import type { PassContext } from './context.js';

// kube-controller-manager's clusterrole-aggregation controller: a ClusterRole with an aggregationRule
// holds the union of the rules of the ClusterRoles its selectors match. Aggregations nest (admin takes
// edit's rules, which are view's and more), so the pass works them out to a fixed point in memory
// rather than one level per pass as the event-driven controller does.
// Round trip 1 (all an idle pass does): every ClusterRole (a few dozen small objects). Round trip 2,
// only when some role's rules are stale: their updates, each conditional on the resourceVersion read.

const CLUSTER_ROLES_SQL = `SELECT rv, object FROM objects WHERE kind = 'ClusterRole' AND namespace = ''`;

export async function clusterRoleAggregation(ctx: PassContext): Promise<void> {
  const [rows] = await ctx.store.rows([CLUSTER_ROLES_SQL]);
  const roles = rows.map(objectOf) as (KObject & ClusterRoleObject)[];
  const aggregating = roles.filter((r) => r.aggregationRule);
  if (aggregating.length === 0) return;
  const stored = new Map(aggregating.map((r) => [r, r.rules ?? []]));
  // Each round settles at least one more level of nesting; a cycle of aggregations stops at the bound.
  for (let round = 0; round <= aggregating.length; round++) {
    let changed = false;
    for (const role of aggregating) {
      const rules = aggregatedRules(role, roles) ?? [];
      if (!deepEqual(rules, role.rules)) {
        role.rules = rules;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const items = aggregating
    .filter((role) => !deepEqual(role.rules, stored.get(role)))
    .map((role) => ({ object: role as KObject, rv: Number(role.metadata?.resourceVersion) }));
  if (items.length) await ctx.commit([{ op: 'updates', items }]);
}

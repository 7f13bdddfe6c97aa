// The default RBAC policy (kube-apiserver's bootstrappolicy), adapted to the resources skiff serves,
// and its reconciliation at start (the rbac/bootstrap-roles post-start hook): missing roles and
// bindings are created; existing ones annotated rbac.authorization.kubernetes.io/autoupdate other than
// "false" get the labels, annotations, rules, aggregation selectors and subjects they lack, never
// losing what an operator added. Store.init runs it.
import { aggregatedRules, type ClusterRoleObject } from './clusterrole.js';
import { covers, RBAC_GROUP, type PolicyRule } from './role.js';
import type { BindingObject, Subject } from './rolebinding.js';
import { clone } from './clone.js';
import type { KObject } from './types.js';
import { deepEqual, type LabelSelector } from './validation.js';

export const AUTOUPDATE_ANNOTATION = 'rbac.authorization.kubernetes.io/autoupdate';
export const BOOTSTRAP_LABELS: Readonly<Record<string, string>> = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
export const aggregateTo = (role: 'admin' | 'edit' | 'view') => `rbac.authorization.k8s.io/aggregate-to-${role}`;

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const READ_WRITE = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** A resource rule, its lists sorted as rbacv1helpers.PolicyRuleBuilder sorts them. */
function rule(verbs: string[], groups: string[], resources: string[]): PolicyRule {
  return { apiGroups: [...groups].sort(), resources: [...resources].sort(), verbs: [...verbs].sort() };
}

const urls = (verbs: string[], paths: string[]): PolicyRule => ({ nonResourceURLs: [...paths].sort(), verbs: [...verbs].sort() });

interface Expected {
  name: string;
  labels?: Record<string, string>;
  rules?: PolicyRule[];
  aggregationRule?: { clusterRoleSelectors: LabelSelector[] };
}

const aggregating = (role: 'admin' | 'edit' | 'view'): Expected['aggregationRule'] => ({ clusterRoleSelectors: [{ matchLabels: { [aggregateTo(role)]: 'true' } }] });

/** The ClusterRoles, as bootstrappolicy.ClusterRoles() writes them, minus what skiff does not serve. */
const CLUSTER_ROLES: Expected[] = [
  // The root role: anything at all.
  { name: 'cluster-admin', rules: [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])] },
  // Just enough to tell the server is up and discover what it serves.
  {
    name: 'system:discovery',
    rules: [urls(['get'], ['/livez', '/readyz', '/healthz', '/version', '/version/', '/openapi', '/openapi/*', '/api', '/api/*', '/apis', '/apis/*'])],
  },
  // What a signed-in user needs to learn about themselves.
  {
    name: 'system:basic-user',
    rules: [
      rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
      rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
    ],
  },
  // What monitoring reads: the metrics and health checks (Prometheus' scrapes, bound to the system:monitoring group).
  {
    name: 'system:monitoring',
    rules: [urls(['get'], ['/metrics', '/metrics/slis', '/livez', '/readyz', '/healthz', '/livez/*', '/readyz/*', '/healthz/*'])],
  },
  // What anyone, signed in or not, may read.
  { name: 'system:public-info-viewer', rules: [urls(['get'], ['/livez', '/readyz', '/healthz', '/version', '/version/'])] },
  // The ServiceAccount issuer's discovery documents, for workloads that verify tokens.
  {
    name: 'system:service-account-issuer-discovery',
    rules: [urls(['get'], ['/.well-known/openid-configuration', '/.well-known/openid-configuration/', '/openid/v1/jwks', '/openid/v1/jwks/'])],
  },
  // The user-facing roles are aggregated: their rules come from the roles labelled for them, so
  // other roles (and CRDs' installers) extend them. admin takes edit's, edit takes view's.
  { name: 'admin', aggregationRule: aggregating('admin') },
  { name: 'edit', labels: { [aggregateTo('admin')]: 'true' }, aggregationRule: aggregating('edit') },
  { name: 'view', labels: { [aggregateTo('edit')]: 'true' }, aggregationRule: aggregating('view') },
  {
    name: 'system:aggregate-to-admin',
    labels: { [aggregateTo('admin')]: 'true' },
    rules: [
      rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
      // The power to grant (within what the granter holds: see the escalation checks).
      rule(READ_WRITE, [RBAC_GROUP], ['roles', 'rolebindings']),
    ],
  },
  {
    name: 'system:aggregate-to-edit',
    labels: { [aggregateTo('edit')]: 'true' },
    rules: [
      // Read on what escalates: running code in pods, secrets, proxies.
      rule(READ, [''], ['pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward', 'secrets', 'services/proxy']),
      rule(['impersonate'], [''], ['serviceaccounts']),
      rule(WRITE, [''], ['pods', 'pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward']),
      rule(['create'], [''], ['pods/eviction']),
      rule(WRITE, [''], ['configmaps', 'events', 'secrets', 'serviceaccounts', 'services', 'services/proxy']),
      rule(['create'], [''], ['serviceaccounts/token']),
      rule(WRITE, ['apps'], ['daemonsets', 'deployments', 'deployments/scale', 'replicasets', 'replicasets/scale']),
      rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
      rule(WRITE, ['batch'], ['jobs', 'cronjobs']),
      rule(WRITE, ['policy'], ['poddisruptionbudgets']),
      rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
      rule(READ_WRITE, ['coordination.k8s.io'], ['leases']),
    ],
  },
  {
    name: 'system:aggregate-to-view',
    labels: { [aggregateTo('view')]: 'true' },
    rules: [
      // Not secrets: reading one may mean acting as whoever it belongs to.
      rule(READ, [''], ['configmaps', 'endpoints', 'pods', 'serviceaccounts', 'services', 'services/status']),
      rule(READ, [''], ['events', 'namespaces/status', 'pods/log', 'pods/status']),
      // Reading namespaces at namespace scope reads this one: a hint of where a user has access.
      rule(READ, [''], ['namespaces']),
      rule(READ, ['discovery.k8s.io'], ['endpointslices']),
      rule(READ, ['apps'], [
        'controllerrevisions', 'daemonsets', 'daemonsets/status',
        'deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status',
      ]),
      rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
      rule(READ, ['batch'], ['jobs', 'cronjobs', 'cronjobs/status', 'jobs/status']),
      rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
      rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
    ],
  },
  // The metrics API skiff serves (what metrics-server's system:aggregated-metrics-reader grants).
  {
    name: 'system:aggregated-metrics-reader',
    labels: { [aggregateTo('view')]: 'true', [aggregateTo('edit')]: 'true', [aggregateTo('admin')]: 'true' },
    rules: [rule(READ, ['metrics.k8s.io'], ['pods', 'nodes'])],
  },
];

/** The ClusterRoleBindings kube-apiserver makes to these roles. */
const CLUSTER_ROLE_BINDINGS: { name: string; groups: string[] }[] = [
  { name: 'cluster-admin', groups: ['system:masters'] },
  { name: 'system:discovery', groups: ['system:authenticated'] },
  { name: 'system:basic-user', groups: ['system:authenticated'] },
  { name: 'system:public-info-viewer', groups: ['system:authenticated', 'system:unauthenticated'] },
  { name: 'system:monitoring', groups: ['system:monitoring'] },
  { name: 'system:service-account-issuer-discovery', groups: ['system:serviceaccounts'] },
];

const defaultMetadata = (name: string, labels: Record<string, string> = {}) => ({
  name,
  labels: { ...labels, ...BOOTSTRAP_LABELS },
  annotations: { [AUTOUPDATE_ANNOTATION]: 'true' },
});

/** The default ClusterRoles, as expected: no uid or timestamps, aggregated roles without rules. */
export function bootstrapClusterRoles(): KObject[] {
  return CLUSTER_ROLES.map((r) => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: defaultMetadata(r.name, r.labels),
    ...(r.aggregationRule ? { aggregationRule: clone(r.aggregationRule) } : {}),
    rules: clone(r.rules ?? []),
  }));
}

export function bootstrapClusterRoleBindings(): KObject[] {
  return CLUSTER_ROLE_BINDINGS.map((b) => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: defaultMetadata(b.name),
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: b.name },
    subjects: b.groups.map((name): Subject => ({ kind: 'Group', apiGroup: RBAC_GROUP, name })),
  }));
}

const created = (obj: KObject, now: string): KObject => ({ ...obj, metadata: { ...obj.metadata, uid: crypto.randomUUID(), creationTimestamp: now } });

/**
 * The default policy as created when absent, `now` its creation time. The aggregated roles are
 * created with their aggregated rules already, so users bound to them have them from the first
 * request rather than from the first reconcile pass (which then finds nothing to change).
 */
export function bootstrapPolicy(now: string): KObject[] {
  const roles = bootstrapClusterRoles();
  for (let round = 0; round < roles.length; round++) {
    let changed = false;
    for (const role of roles) {
      const rules = aggregatedRules(role as ClusterRoleObject, roles as ClusterRoleObject[]);
      if (rules && !deepEqual(rules, role.rules)) {
        role.rules = rules;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return [...roles, ...bootstrapClusterRoleBindings()].map((o) => created(o, now));
}

/** Maps merged, the existing values winning (reconciliation's merge). */
const merge = (expected: Record<string, string> | undefined, existing: Record<string, string> | undefined) => ({ ...expected, ...existing });

const isProtected = (obj: KObject) => obj.metadata?.annotations?.[AUTOUPDATE_ANNOTATION] === 'false';

/** Labels and annotations merged into `next`; whether that changed anything. */
function mergeMetadata(next: KObject, existing: KObject, expected: KObject): boolean {
  const labels = merge(expected.metadata?.labels, existing.metadata?.labels);
  const annotations = merge(expected.metadata?.annotations, existing.metadata?.annotations);
  next.metadata = { ...next.metadata, labels, annotations };
  return !deepEqual(labels, existing.metadata?.labels) || !deepEqual(annotations, existing.metadata?.annotations);
}

/**
 * computeReconciledRole, in the union case: `existing` with what `expected` adds (metadata, the
 * rules it does not cover, missing aggregation selectors; an aggregation the default lacks is
 * dropped), or undefined when nothing changes or the role opted out (autoupdate "false").
 */
export function reconcileClusterRole(existing: KObject, expected: KObject): KObject | undefined {
  if (isProtected(existing)) return undefined;
  const next: KObject = clone(existing);
  let changed = mergeMetadata(next, existing, expected);
  const have = existing as ClusterRoleObject;
  const want = expected as ClusterRoleObject;
  const missing = covers(have.rules ?? [], want.rules ?? []);
  if (missing.length) {
    next.rules = [...(have.rules ?? []), ...missing];
    changed = true;
  }
  const haveSelectors = have.aggregationRule?.clusterRoleSelectors ?? [];
  const missingSelectors = (want.aggregationRule?.clusterRoleSelectors ?? []).filter((s) => !haveSelectors.some((h) => deepEqual(h, s)));
  if (!want.aggregationRule && have.aggregationRule) {
    delete next.aggregationRule;
    changed = true;
  } else if (missingSelectors.length) {
    next.aggregationRule = { clusterRoleSelectors: [...haveSelectors, ...missingSelectors] };
    changed = true;
  }
  return changed ? next : undefined;
}

/**
 * computeReconciledRoleBinding, in the union case: `existing` with the expected metadata and the
 * subjects it lacks; a binding of another role is replaced by the expected one (kube-apiserver deletes
 * and recreates it: here a new uid in place). Undefined when nothing changes or the binding opted out.
 */
export function reconcileClusterRoleBinding(existing: KObject, expected: KObject, now: string): KObject | undefined {
  if (isProtected(existing)) return undefined;
  const have = existing as BindingObject;
  const want = expected as BindingObject;
  if (!deepEqual(have.roleRef, want.roleRef)) return created(clone(expected), now);
  const next: KObject = clone(existing);
  let changed = mergeMetadata(next, existing, expected);
  const subjects = have.subjects ?? [];
  const missing = (want.subjects ?? []).filter((s) => !subjects.some((h) => deepEqual(h, s)));
  if (missing.length) {
    next.subjects = [...subjects, ...missing];
    changed = true;
  }
  return changed ? next : undefined;
}

/**
 * The updates that reconcile the existing default objects (as read: with their resourceVersions)
 * with the expected ones, each to be written conditional on the resourceVersion read.
 */
export function reconcileBootstrap(existing: readonly KObject[], now: string): { object: KObject; rv: number }[] {
  const expected = [...bootstrapClusterRoles(), ...bootstrapClusterRoleBindings()];
  const byKey = new Map(existing.map((o) => [`${o.kind}/${o.metadata?.name}`, o]));
  const updates: { object: KObject; rv: number }[] = [];
  for (const want of expected) {
    const have = byKey.get(`${want.kind}/${want.metadata?.name}`);
    if (!have) continue;
    const next = want.kind === 'ClusterRole' ? reconcileClusterRole(have, want) : reconcileClusterRoleBinding(have, want, now);
    if (next) updates.push({ object: next, rv: Number(have.metadata?.resourceVersion) });
  }
  return updates;
}

/** The names Store.init looks for, by kind. */
export const BOOTSTRAP_NAMES = {
  ClusterRole: CLUSTER_ROLES.map((r) => r.name),
  ClusterRoleBinding: CLUSTER_ROLE_BINDINGS.map((b) => b.name),
};

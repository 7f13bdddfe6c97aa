// The RBAC evaluator against a plain reading of the rules, for random policies and requests, and the
// escalation checks against the one thing they are for: whatever sequence of role and binding writes
// they let a user make, the user ends up holding nothing they did not hold before.
//
// The plain reading is set-based: over a small universe of requests, each rule stands for the set of
// concrete requests it names (a wildcard names every value of the universe), a binding grants its
// subjects the union of its role's sets, and a request is allowed when it is in some granted set.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  authorizeWith, checkBindingEscalation, checkRoleEscalation, covers, policyOf, RbacAuthorizer, rulesFor,
  type Attrs, type PolicyRule, type Subject, type UserInfo,
} from '../../src/api/auth/rbac.js';
import { ApiError } from '../../src/api/status.js';
import { aggregatedRules, type ClusterRoleObject } from '../../src/kinds/clusterrole.js';
import type { KObject } from '../../src/kinds/types.js';
import type { Store } from '../../src/store/store.js';

const RBAC = 'rbac.authorization.k8s.io';

// ---- the universe ----

const NAMESPACES = ['ns1', 'ns2'];
const VERBS = ['get', 'list', 'create', 'delete', 'escalate', 'bind'];
const GROUPS = ['', 'apps', RBAC];
const RESOURCES = ['pods', 'deployments', 'roles', 'clusterroles'];
const SUBRESOURCES = ['', 'log', 'scale'];
const NAMES = ['', 'a', 'b', 'r1', 'r2'];
const PATHS = ['/healthz', '/api', '/api/v1', '/apis', '/apis/v1', '/apiz'];
const USERS = ['alice', 'bob', 'system:serviceaccount:ns1:sa', 'system:serviceaccount:ns2:sa'];
const USER_GROUPS = ['g1', 'g2', 'system:authenticated'];
const ROLE_NAMES = ['r1', 'r2', 'r3'];

/** A concrete request, as a key: namespace|verb|group|resource[/sub]|name, or namespace|verb|path for a URL. */
type Key = string;
const resourceKey = (ns: string, verb: string, group: string, combined: string, name: string): Key => `${ns}|${verb}|${group}|${combined}|${name}`;
const urlKey = (verb: string, path: string): Key => `|${verb}|${path}`;
const combinedOf = (resource: string, sub: string) => (sub ? `${resource}/${sub}` : resource);

/** Every request of the universe, with its key. */
const UNIVERSE: { key: Key; namespace: string; attrs: Attrs }[] = [];
for (const ns of ['', ...NAMESPACES]) {
  for (const verb of VERBS) {
    for (const group of GROUPS) {
      for (const resource of RESOURCES) {
        for (const sub of SUBRESOURCES) {
          for (const name of NAMES) {
            UNIVERSE.push({
              key: resourceKey(ns, verb, group, combinedOf(resource, sub), name),
              namespace: ns,
              attrs: { verb, apiGroup: group, resource, ...(sub ? { subresource: sub } : {}), ...(name ? { name } : {}), ...(ns ? { namespace: ns } : {}), resourceRequest: true },
            });
          }
        }
      }
    }
  }
}
for (const verb of VERBS) for (const path of PATHS) UNIVERSE.push({ key: urlKey(verb, path), namespace: '', attrs: { verb, apiGroup: '', resource: '', path, resourceRequest: false } });

// ---- the plain reading ----

const orAll = (values: string[] | undefined, all: string[]) => ((values ?? []).includes('*') ? all : (values ?? []));

/** The requests of namespace `ns` a rule names, as keys. */
function ruleSet(rule: PolicyRule, ns: string): Set<Key> {
  const out = new Set<Key>();
  const verbs = orAll(rule.verbs, VERBS);
  for (const verb of verbs) {
    for (const group of orAll(rule.apiGroups, GROUPS)) {
      for (const resource of RESOURCES) {
        for (const sub of SUBRESOURCES) {
          const combined = combinedOf(resource, sub);
          const named = (rule.resources ?? []).some((r) => r === '*' || r === combined || (sub !== '' && r === `*/${sub}`));
          if (!named) continue;
          const names = (rule.resourceNames ?? []).length ? rule.resourceNames! : NAMES;
          for (const name of names) out.add(resourceKey(ns, verb, group, combined, name));
        }
      }
    }
    if (ns === '') {
      for (const path of PATHS) {
        const named = (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
        if (named) out.add(urlKey(verb, path));
      }
    }
  }
  return out;
}

function subjectIs(s: Subject, u: UserInfo, bindingNs: string): boolean {
  if (s.kind === 'User') return s.name === u.user;
  if (s.kind === 'Group') return u.groups.includes(s.name);
  const ns = s.namespace || bindingNs;
  return s.kind === 'ServiceAccount' && ns !== '' && u.user === `system:serviceaccount:${ns}:${s.name}`;
}

interface World {
  roles: KObject[];
  clusterRoles: KObject[];
  roleBindings: KObject[];
  clusterRoleBindings: KObject[];
}
const all = (w: World): KObject[] => [...w.roles, ...w.clusterRoles, ...w.roleBindings, ...w.clusterRoleBindings];

/** What `u` may do, as the set of allowed keys, and whether some binding naming `u` points at a missing role (per namespace). */
function plainGrants(w: World, u: UserInfo): { allowed: Set<Key>; missing: Set<string> } {
  const allowed = new Set<Key>();
  const missing = new Set<string>();
  const rulesOf = (ref: any, ns: string): PolicyRule[] | undefined => {
    const found = ref.kind === 'Role'
      ? w.roles.find((r) => r.metadata!.namespace === ns && r.metadata!.name === ref.name)
      : w.clusterRoles.find((r) => r.metadata!.name === ref.name);
    return found ? ((found.rules as PolicyRule[]) ?? []) : undefined;
  };
  const grant = (b: KObject, bindingNs: string, scopes: string[]) => {
    if (!((b.subjects as Subject[]) ?? []).some((s) => subjectIs(s, u, bindingNs))) return;
    const rules = rulesOf(b.roleRef, bindingNs);
    if (!rules) {
      for (const ns of scopes) missing.add(ns);
      return;
    }
    for (const ns of scopes) for (const rule of rules) for (const k of ruleSet(rule, ns)) allowed.add(k);
  };
  // A ClusterRoleBinding grants in every namespace and cluster-wide; a RoleBinding in its namespace.
  for (const b of w.clusterRoleBindings) grant(b, '', ['', ...NAMESPACES]);
  for (const b of w.roleBindings) grant(b, b.metadata!.namespace!, [b.metadata!.namespace!]);
  return { allowed, missing };
}

// ---- generators ----

const someOf = <T>(values: T[], max = 2) => fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: max });

const resourceRuleArb = (verbs: string[]): fc.Arbitrary<PolicyRule> => fc.record({
  verbs: someOf(verbs),
  apiGroups: someOf(['', 'apps', RBAC, '*']),
  resources: someOf(['pods', 'deployments', 'pods/log', 'deployments/scale', 'roles', 'clusterroles', '*', '*/log', '*/scale']),
  resourceNames: fc.oneof({ weight: 3, arbitrary: fc.constant([] as string[]) }, { weight: 1, arbitrary: someOf(['a', 'b', 'r1']) }),
});
const urlRuleArb = (verbs: string[]): fc.Arbitrary<PolicyRule> => fc.record({
  verbs: someOf(verbs),
  nonResourceURLs: someOf(['/healthz', '/api', '/api/*', '/api*', '*', '/apis/v1', '/apis/**']),
});
const rulesArb = (verbs: string[], urls: boolean) => fc.array(urls ? fc.oneof({ weight: 3, arbitrary: resourceRuleArb(verbs) }, { weight: 1, arbitrary: urlRuleArb(verbs) }) : resourceRuleArb(verbs), { maxLength: 3 });

const subjectArb: fc.Arbitrary<Subject> = fc.oneof(
  fc.constantFrom('alice', 'bob').map((name) => ({ kind: 'User', apiGroup: RBAC, name })),
  fc.constantFrom(...USER_GROUPS).map((name) => ({ kind: 'Group', apiGroup: RBAC, name })),
  fc.constantFrom('', ...NAMESPACES).map((ns) => ({ kind: 'ServiceAccount', apiGroup: '', name: 'sa', ...(ns ? { namespace: ns } : {}) })),
);
const roleRefArb = (kinds: ('Role' | 'ClusterRole')[]) => fc.record({ apiGroup: fc.constant(RBAC), kind: fc.constantFrom(...kinds), name: fc.constantFrom(...ROLE_NAMES) });

const ALL_VERBS = ['get', 'list', 'create', 'delete', 'escalate', 'bind', '*'];

const worldArb: fc.Arbitrary<World> = fc.record({
  roles: fc.uniqueArray(fc.record({ ns: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...ROLE_NAMES), rules: rulesArb(ALL_VERBS, false) }), { selector: (r) => `${r.ns}/${r.name}`, maxLength: 4 })
    .map((rs) => rs.map((r) => ({ kind: 'Role', metadata: { namespace: r.ns, name: r.name }, rules: r.rules }))),
  clusterRoles: fc.uniqueArray(fc.record({ name: fc.constantFrom(...ROLE_NAMES), rules: rulesArb(ALL_VERBS, true) }), { selector: (r) => r.name, maxLength: 3 })
    .map((rs) => rs.map((r) => ({ kind: 'ClusterRole', metadata: { name: r.name }, rules: r.rules }))),
  roleBindings: fc.array(fc.record({ ns: fc.constantFrom(...NAMESPACES), roleRef: roleRefArb(['Role', 'ClusterRole']), subjects: fc.array(subjectArb, { maxLength: 3 }) }), { maxLength: 4 })
    .map((bs) => bs.map((b, i) => ({ kind: 'RoleBinding', metadata: { namespace: b.ns, name: `rb${i}` }, roleRef: b.roleRef, subjects: b.subjects }))),
  clusterRoleBindings: fc.array(fc.record({ roleRef: roleRefArb(['ClusterRole']), subjects: fc.array(subjectArb, { maxLength: 3 }) }), { maxLength: 3 })
    .map((bs) => bs.map((b, i) => ({ kind: 'ClusterRoleBinding', metadata: { name: `crb${i}` }, roleRef: b.roleRef, subjects: b.subjects }))),
});

const userArb: fc.Arbitrary<UserInfo> = fc.record({ user: fc.constantFrom(...USERS), groups: fc.subarray(USER_GROUPS) });

describe('authorize equals the plain reading of the rules', () => {
  it('for random policies, users and every request of the universe', () => {
    fc.assert(
      fc.property(worldArb, userArb, (world, u) => {
        const policy = policyOf(all(world));
        const plain = plainGrants(world, u);
        for (const { key, namespace, attrs } of UNIVERSE) {
          const decision = authorizeWith(policy, { ...attrs, user: u });
          if (decision.allowed !== plain.allowed.has(key)) {
            throw new Error(`${key}: authorize says ${decision.allowed}, the rules say ${plain.allowed.has(key)} (${JSON.stringify({ u, world })})`);
          }
          // Allowed says by what; denied names the missing roles it met, and only then says anything.
          if (decision.allowed) expect(decision.reason).toMatch(/^RBAC: allowed by (Cluster)?RoleBinding "/);
          else expect(decision.reason !== '', key).toBe(plain.missing.has(namespace) || (namespace !== '' && plain.missing.has('')));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('covers', () => {
  it('reports nothing uncovered only when the owned rules grant every request the requested ones do', () => {
    fc.assert(
      fc.property(rulesArb(ALL_VERBS, true), rulesArb(ALL_VERBS, true), (owned, requested) => {
        const uncovered = covers(owned, requested);
        const grants = (rules: PolicyRule[]) => new Set(rules.flatMap((r) => [...ruleSet(r, 'ns1'), ...ruleSet(r, '')]));
        const have = grants(owned);
        if (uncovered.length === 0) {
          for (const k of grants(requested)) expect(have.has(k), k).toBe(true);
        }
        // What is reported uncovered is part of what was requested, and covering it too covers everything.
        const requestedSet = grants(requested);
        for (const k of grants(uncovered)) expect(requestedSet.has(k), k).toBe(true);
        expect(covers([...owned, ...uncovered], requested)).toEqual([]);
        // Rules cover themselves.
        expect(covers(requested, requested)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---- the escalation model ----

type Action =
  | { op: 'role'; ns: string; name: string; rules: PolicyRule[] }
  | { op: 'clusterrole'; name: string; rules: PolicyRule[]; aggregated: boolean }
  | { op: 'rolebinding'; ns: string; roleRef: { apiGroup: string; kind: string; name: string } }
  | { op: 'clusterrolebinding'; roleRef: { apiGroup: string; kind: string; name: string } };

/**
 * Near misses of a rule: what someone holding it might try to grant (the rule itself, narrower, or
 * a little wider: without its resourceNames, with another verb, any group, any resource, a subresource).
 */
function variants(rule: PolicyRule): fc.Arbitrary<PolicyRule> {
  const widen: ((r: PolicyRule) => PolicyRule)[] = [
    (r) => r,
    (r) => ({ ...r, resourceNames: [] }),
    (r) => ({ ...r, resourceNames: ['a'] }),
    (r) => ({ ...r, verbs: [...r.verbs, 'list'] }),
    (r) => ({ ...r, verbs: r.verbs.slice(0, 1) }),
    (r) => (r.apiGroups ? { ...r, apiGroups: ['*'] } : r),
    (r) => (r.resources ? { ...r, resources: ['*'] } : r),
    (r) => (r.resources ? { ...r, resources: [...r.resources, 'pods/log', '*/scale'] } : r),
    (r) => (r.nonResourceURLs ? { ...r, nonResourceURLs: ['/api*'] } : r),
  ];
  return fc.array(fc.constantFrom(...widen), { maxLength: 2 }).map((fs) => fs.reduce((r, f) => f(r), rule));
}

function actionArb(world: World, u: UserInfo): fc.Arbitrary<Action> {
  // What the user holds somewhere, else any rule of the world.
  const policy = policyOf(all(world));
  const held = ['', ...NAMESPACES].flatMap((ns) => rulesFor(policy, u, ns).rules);
  const seen = held.length ? held : [...world.roles, ...world.clusterRoles].flatMap((r) => (r.rules as PolicyRule[]) ?? []);
  const ruleArb = seen.length
    ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...seen).chain(variants) }, { weight: 1, arbitrary: resourceRuleArb(ALL_VERBS) })
    : resourceRuleArb(ALL_VERBS);
  const rules = fc.array(ruleArb, { minLength: 1, maxLength: 2 });
  const name = fc.constantFrom(...ROLE_NAMES, 'n1');
  return fc.oneof(
    fc.record({ op: fc.constant('role' as const), ns: fc.constantFrom(...NAMESPACES), name, rules: rules.map((rs) => rs.filter((r) => !r.nonResourceURLs)) }),
    fc.record({ op: fc.constant('clusterrole' as const), name, rules, aggregated: fc.boolean() }),
    fc.record({ op: fc.constant('rolebinding' as const), ns: fc.constantFrom(...NAMESPACES), roleRef: fc.record({ apiGroup: fc.constant(RBAC), kind: fc.constantFrom('Role', 'ClusterRole'), name }) }),
    fc.record({ op: fc.constant('clusterrolebinding' as const), roleRef: fc.record({ apiGroup: fc.constant(RBAC), kind: fc.constant('ClusterRole'), name }) }),
  );
}

const subjectFor = (u: UserInfo): Subject => (u.user.startsWith('system:serviceaccount:')
  ? { kind: 'ServiceAccount', apiGroup: '', name: 'sa', namespace: u.user.split(':')[2] }
  : { kind: 'User', apiGroup: RBAC, name: u.user });

/** The world with a binding or two of the user's own, so that most users hold something. */
function withBindingsOf(world: World, u: UserInfo): fc.Arbitrary<World> {
  const binding = fc.record({ ns: fc.constantFrom('', ...NAMESPACES), kind: fc.constantFrom('Role', 'ClusterRole'), name: fc.constantFrom(...ROLE_NAMES) });
  return fc.array(binding, { maxLength: 2 }).map((bs) => {
    const w: World = structuredClone(world);
    bs.forEach((b, i) => {
      const roleRef = { apiGroup: RBAC, kind: b.ns ? b.kind : 'ClusterRole', name: b.name };
      if (b.ns) w.roleBindings.push({ kind: 'RoleBinding', metadata: { namespace: b.ns, name: `own${i}` }, roleRef, subjects: [subjectFor(u)] });
      else w.clusterRoleBindings.push({ kind: 'ClusterRoleBinding', metadata: { name: `own${i}` }, roleRef, subjects: [subjectFor(u)] });
    });
    return w;
  });
}

/**
 * Worlds for the escalation model: every role name exists (as a ClusterRole, and as a Role in some
 * namespaces), with rules mostly of plain verbs, so most users hold something and few may escalate.
 */
const PLAIN_VERBS = ['get', 'list', 'create', 'delete'];
const modelRulesArb = fc.array(fc.oneof(
  { weight: 6, arbitrary: resourceRuleArb(PLAIN_VERBS) },
  { weight: 1, arbitrary: urlRuleArb(PLAIN_VERBS) },
  { weight: 1, arbitrary: resourceRuleArb(ALL_VERBS) },
), { minLength: 1, maxLength: 3 });
const modelWorldArb: fc.Arbitrary<World> = fc.record({
  clusterRoles: fc.tuple(...ROLE_NAMES.map(() => modelRulesArb))
    .map((rs) => rs.map((rules, i) => ({ kind: 'ClusterRole', metadata: { name: ROLE_NAMES[i] }, rules }))),
  roles: fc.array(fc.record({ ns: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...ROLE_NAMES), rules: modelRulesArb.map((rs) => rs.filter((r) => !r.nonResourceURLs)) }), { maxLength: 4 })
    .map((rs) => rs.filter((r, i) => rs.findIndex((x) => x.ns === r.ns && x.name === r.name) === i)
      .map((r) => ({ kind: 'Role', metadata: { namespace: r.ns, name: r.name }, rules: r.rules }))),
  roleBindings: worldArb.map((w) => w.roleBindings),
  clusterRoleBindings: worldArb.map((w) => w.clusterRoleBindings),
});

/** A world, a user, and writes the user tries: mostly near misses of rules already in the world. */
const scenarioArb = fc.tuple(modelWorldArb, userArb)
  .chain(([world, u]) => fc.tuple(withBindingsOf(world, u), fc.constant(u)))
  .chain(([world, u]) => fc.tuple(fc.constant(world), fc.constant(u), fc.array(actionArb(world, u), { minLength: 1, maxLength: 8 })));

/** An authorizer over an in-memory world, read afresh on every call (ttlMs 0). */
function authorizerOf(world: () => World): RbacAuthorizer {
  // A stamp that never repeats: the policy is read afresh every time.
  let stamp = 0;
  const store = { clock: { now: () => new Date(0) }, query: async () => [all(world())], rows: async () => [[{ n: stamp++, rv: 0 }]] } as unknown as Store;
  return new RbacAuthorizer(store, { ttlMs: 0 });
}

/** The aggregation controller's fixed point, over the world's ClusterRoles. */
function aggregate(w: World): void {
  const roles = w.clusterRoles as (KObject & ClusterRoleObject)[];
  for (let round = 0; round <= roles.length; round++) {
    for (const r of roles) {
      const rules = aggregatedRules(r, roles);
      if (rules) r.rules = rules;
    }
  }
}

const upsert = (list: KObject[], obj: KObject) => {
  const i = list.findIndex((o) => o.metadata!.name === obj.metadata!.name && o.metadata!.namespace === obj.metadata!.namespace);
  const old = i >= 0 ? list[i] : undefined;
  if (i >= 0) list[i] = obj;
  else list.push(obj);
  return old;
};

describe('the escalation checks', () => {
  it('let no sequence of writes they accept give a user more than they held', async () => {
    // The world starts with an aggregated ClusterRole (as admin/edit/view are), gathering roles labelled x=y.
    let meaningful = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ([initial, u, actions]) => {
        const world: World = structuredClone(initial);
        upsert(world.clusterRoles, { kind: 'ClusterRole', metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] }, rules: [] });
        aggregate(world);
        const authorizer = authorizerOf(() => world);
        // A user who may escalate or bind roles somewhere may grant more than they hold: by design.
        const policy = policyOf(all(world));
        const privileged = UNIVERSE.some(({ attrs }) => attrs.resourceRequest && attrs.apiGroup === RBAC && (attrs.verb === 'escalate' || attrs.verb === 'bind') &&
          (attrs.resource === 'roles' || attrs.resource === 'clusterroles') && authorizeWith(policy, { ...attrs, user: u }).allowed);
        if (privileged) return;
        meaningful++;
        const before = plainGrants(world, u).allowed;
        for (const a of actions) {
          const me = subjectFor(u);
          let obj: KObject;
          let list: KObject[];
          switch (a.op) {
            case 'role': obj = { kind: 'Role', metadata: { namespace: a.ns, name: a.name }, rules: a.rules }; list = world.roles; break;
            case 'clusterrole': obj = { kind: 'ClusterRole', metadata: { name: a.name, ...(a.aggregated ? { labels: { x: 'y' } } : {}) }, rules: a.rules }; list = world.clusterRoles; break;
            case 'rolebinding': obj = { kind: 'RoleBinding', metadata: { namespace: a.ns, name: `mine-${a.roleRef.kind}-${a.roleRef.name}` }, roleRef: a.roleRef, subjects: [me] }; list = world.roleBindings; break;
            default: obj = { kind: 'ClusterRoleBinding', metadata: { name: `mine-${a.roleRef.name}` }, roleRef: a.roleRef, subjects: [me] }; list = world.clusterRoleBindings;
          }
          const old = list.find((o) => o.metadata!.name === obj.metadata!.name && o.metadata!.namespace === obj.metadata!.namespace);
          if (old && (a.op === 'rolebinding' || a.op === 'clusterrolebinding')) continue; // roleRef is immutable: one binding per role
          try {
            if (a.op === 'role' || a.op === 'clusterrole') await checkRoleEscalation(authorizer, u, obj, old);
            else await checkBindingEscalation(authorizer, u, obj, old);
          } catch (e) {
            if (!(e instanceof ApiError) || (e.code !== 403 && e.code !== 404)) throw e;
            continue;
          }
          upsert(list, obj);
          accepted++;
          aggregate(world);
        }
        const after = plainGrants(world, u).allowed;
        for (const k of after) if (!before.has(k)) throw new Error(`gained ${k} through ${JSON.stringify(actions)} from ${JSON.stringify(initial)} as ${JSON.stringify(u)}`);
      }),
      { numRuns: 400 },
    );
    // Most runs are of users who hold no escalate or bind, and many of their writes are let through:
    // the property is not vacuous.
    expect(meaningful).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(300);
  });

  it('do let a user grant what they hold, so the model is not vacuous', async () => {
    const world: World = {
      roles: [],
      clusterRoles: [{ kind: 'ClusterRole', metadata: { name: 'r1' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] }],
      roleBindings: [],
      clusterRoleBindings: [{ kind: 'ClusterRoleBinding', metadata: { name: 'c' }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'r1' }, subjects: [{ kind: 'User', apiGroup: RBAC, name: 'alice' }] }],
    };
    const authorizer = authorizerOf(() => world);
    const alice = { user: 'alice', groups: [] };
    await expect(checkRoleEscalation(authorizer, alice, { kind: 'Role', metadata: { namespace: 'ns1', name: 'x' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }] })).resolves.toBeUndefined();
    await expect(checkBindingEscalation(authorizer, alice, { kind: 'RoleBinding', metadata: { namespace: 'ns1', name: 'x' }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'r1' }, subjects: [] })).resolves.toBeUndefined();
    await expect(checkRoleEscalation(authorizer, alice, { kind: 'Role', metadata: { namespace: 'ns1', name: 'x' }, rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }] })).rejects.toThrow(/not currently held/);
  });
});

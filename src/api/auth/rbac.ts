// The RBAC authorizer, as kube-apiserver evaluates rbac.authorization.k8s.io/v1: which rules a user
// holds (ClusterRoleBindings anywhere, RoleBindings in the request's namespace), whether one allows a
// request, and the escalation checks on writes of roles and bindings (no one grants what they do not
// hold, unless allowed to `escalate` or `bind`). The evaluation is pure functions over a Policy (the
// four kinds' objects); RbacAuthorizer reads that policy from the store in one round trip and keeps it
// for a short while, as kube-apiserver answers from its informers' caches.
import { ALL, covers, RBAC_GROUP, type PolicyRule } from '../../kinds/role.js';
import type { RoleRef, Subject } from '../../kinds/rolebinding.js';
import type { KObject } from '../../kinds/types.js';
import { deepEqual } from '../../kinds/validation.js';
import type { Store } from '../../store/store.js';
import { ApiError } from '../status.js';

export type { PolicyRule } from '../../kinds/role.js';
// Covers and BreakdownRule compare rule data, so they live with the PolicyRule type (the bootstrap
// reconciliation in Store.init uses them too); exported here as the evaluator's.
export { ALL, breakdownRule, covers } from '../../kinds/role.js';
export type { RoleRef, Subject } from '../../kinds/rolebinding.js';

/** Who asks: user.Info's name and groups. */
export interface UserInfo {
  user: string;
  groups: string[];
}

/** A request as the RBAC authorizer sees it (authorizer.Attributes). */
export interface RequestAttrs {
  user: UserInfo;
  verb: string;
  namespace?: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  /** The object's name; none for create, list and watch (unless a list selects metadata.name). */
  name?: string;
  /** The path of a non-resource request (/healthz, /apis, ...). */
  path?: string;
  resourceRequest: boolean;
}

/** The attributes without the user, for calls that name the user apart. */
export type Attrs = Omit<RequestAttrs, 'user'>;

export interface Decision {
  allowed: boolean;
  /** Why: "RBAC: allowed by ...", the resolution errors met when denied, or "". */
  reason: string;
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const MASTERS = 'system:masters';
export const RBAC_KINDS: ReadonlySet<string> = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

// ---- Go's formatting, for messages that read as kube-apiserver's ----

/** strconv.Quote for the strings we meet: printable text kept, quotes, backslashes and controls escaped. */
export function goQuote(s: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '"': '\\"', '\\': '\\\\' };
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (named[ch]) out += named[ch];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A []string as %q prints it: ["a" "b"]. */
export const goQuoteList = (list: readonly string[]): string => `[${list.map(goQuote).join(' ')}]`;

/** utilerrors.NewAggregate(errs).Error(): one message as it is, several (duplicates dropped) in brackets. */
export function aggregate(errors: readonly string[]): string {
  const unique = [...new Set(errors)];
  return unique.length === 1 ? unique[0] : unique.length === 0 ? '' : `[${unique.join(', ')}]`;
}

// ---- matching one rule (rbacv1helpers, RuleAllows) ----

const has = (list: readonly string[] | undefined, value: string): boolean => (list ?? []).includes(value);

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return has(rule.verbs, ALL) || has(rule.verbs, verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return has(rule.apiGroups, ALL) || has(rule.apiGroups, group);
}

/** `combined` is resource or resource/subresource; a rule's "*" is every resource and subresource, "*\/sub" that subresource of any. */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return (rule.resources ?? []).some((r) => r === ALL || r === combined || (subresource !== '' && r === `*/${subresource}`));
}

/** No names: any object. Names: only those, so a request naming none (create, list, watch) never matches. */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return (rule.resourceNames ?? []).length === 0 || has(rule.resourceNames, name);
}

/** "*" any URL, a trailing "*" any URL with that prefix (strings.TrimRight drops every trailing "*"). */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === ALL || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
}

export function ruleAllows(rule: PolicyRule, a: Attrs): boolean {
  if (!verbMatches(rule, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceURLMatches(rule, a.path ?? '');
  const sub = a.subresource ?? '';
  const combined = sub ? `${a.resource}/${sub}` : a.resource;
  return apiGroupMatches(rule, a.apiGroup) && resourceMatches(rule, combined, sub) && resourceNameMatches(rule, a.name ?? '');
}

// ---- who a binding names (appliesToUser) ----

/**
 * Whether a binding's subject is this user. A ServiceAccount subject without a namespace is the one in
 * the binding's namespace (`namespace`, '' for a ClusterRoleBinding, where it then names no one).
 */
export function appliesTo(subject: Subject, user: UserInfo, namespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.user === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || namespace;
      return ns !== '' && user.user === `${SERVICE_ACCOUNT_PREFIX}${ns}:${subject.name}`;
    }
    default:
      return false;
  }
}

// ---- the policy: the four kinds' objects, indexed as the authorizer looks them up ----

interface RoleLike {
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[] | null;
}

interface Binding {
  metadata?: { name?: string; namespace?: string };
  subjects?: Subject[] | null;
  roleRef?: RoleRef;
}

export interface Policy {
  /** Roles by "namespace/name". */
  roles: Map<string, RoleLike>;
  clusterRoles: Map<string, RoleLike>;
  /** RoleBindings by namespace, by name. */
  roleBindings: Map<string, Binding[]>;
  clusterRoleBindings: Binding[];
}

const byName = (a: Binding, b: Binding) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1);

/** The policy of these objects (any others are left out). Bindings are visited by name, so answers are stable. */
export function policyOf(objects: readonly KObject[]): Policy {
  const policy: Policy = { roles: new Map(), clusterRoles: new Map(), roleBindings: new Map(), clusterRoleBindings: [] };
  for (const o of objects) {
    const meta = o.metadata ?? {};
    switch (o.kind) {
      case 'Role':
        policy.roles.set(`${meta.namespace ?? ''}/${meta.name ?? ''}`, o as RoleLike);
        break;
      case 'ClusterRole':
        policy.clusterRoles.set(meta.name ?? '', o as RoleLike);
        break;
      case 'RoleBinding': {
        const list = policy.roleBindings.get(meta.namespace ?? '') ?? [];
        list.push(o as Binding);
        policy.roleBindings.set(meta.namespace ?? '', list);
        break;
      }
      case 'ClusterRoleBinding':
        policy.clusterRoleBindings.push(o as Binding);
        break;
    }
  }
  policy.clusterRoleBindings.sort(byName);
  for (const list of policy.roleBindings.values()) list.sort(byName);
  return policy;
}

/**
 * GetRoleReferenceRules: the rules of the Role (in the binding's namespace) or ClusterRole a binding
 * names, or the error a lister answers (`clusterrole.rbac.authorization.k8s.io "x" not found`).
 */
export function roleReferenceRules(policy: Policy, ref: RoleRef | undefined, bindingNamespace: string): { rules: PolicyRule[] } | { error: string } {
  const name = ref?.name ?? '';
  switch (ref?.kind) {
    case 'Role': {
      const role = policy.roles.get(`${bindingNamespace}/${name}`);
      return role ? { rules: role.rules ?? [] } : { error: `role.${RBAC_GROUP} ${goQuote(name)} not found` };
    }
    case 'ClusterRole': {
      const role = policy.clusterRoles.get(name);
      return role ? { rules: role.rules ?? [] } : { error: `clusterrole.${RBAC_GROUP} ${goQuote(name)} not found` };
    }
    default:
      return { error: `unsupported role reference kind: ${goQuote(ref?.kind ?? '')}` };
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${goQuote(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${goQuote(s.name)}`;
}

/** What granted a rule, as the allowed reason names it. */
function sourceOf(b: Binding, subject: Subject, namespace: string): string {
  const ref = b.roleRef;
  const role = `${ref?.kind ?? ''} ${goQuote(ref?.name ?? '')}`;
  const name = b.metadata?.name ?? '';
  return namespace
    ? `RoleBinding ${goQuote(`${name}/${namespace}`)} of ${role} to ${describeSubject(subject, namespace)}`
    : `ClusterRoleBinding ${goQuote(name)} of ${role} to ${describeSubject(subject, '')}`;
}

/** Each rule granted to the user in `namespace` (cluster-wide only when ''), with its source, and each resolution error; stops when `visit` says false. */
export function visitRules(
  policy: Policy,
  user: UserInfo,
  namespace: string,
  visit: (source: string | undefined, rule: PolicyRule | undefined, error: string | undefined) => boolean,
): void {
  const scopes: [Binding[], string][] = [[policy.clusterRoleBindings, '']];
  if (namespace) scopes.push([policy.roleBindings.get(namespace) ?? [], namespace]);
  for (const [bindings, ns] of scopes) {
    for (const b of bindings) {
      const subject = (b.subjects ?? []).find((s) => appliesTo(s, user, ns));
      if (!subject) continue;
      const found = roleReferenceRules(policy, b.roleRef, ns);
      if ('error' in found) {
        if (!visit(undefined, undefined, found.error)) return;
        continue;
      }
      const source = sourceOf(b, subject, ns);
      for (const rule of found.rules) if (!visit(source, rule, undefined)) return;
    }
  }
}

/** Every rule the user holds in `namespace`, and the errors met finding them (rules are additive: those found still hold). */
export function rulesFor(policy: Policy, user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRules(policy, user, namespace, (_s, rule, error) => {
    if (rule) rules.push(rule);
    if (error) errors.push(error);
    return true;
  });
  return { rules, errors };
}

/** RBACAuthorizer.Authorize over a policy: the first rule that allows the request, or no opinion. */
export function authorizeWith(policy: Policy, a: RequestAttrs): Decision {
  let allowedBy: string | undefined;
  const errors: string[] = [];
  visitRules(policy, a.user, a.namespace ?? '', (source, rule, error) => {
    if (rule && ruleAllows(rule, a)) {
      allowedBy = source;
      return false;
    }
    if (error) errors.push(error);
    return true;
  });
  if (allowedBy !== undefined) return { allowed: true, reason: `RBAC: allowed by ${allowedBy}` };
  return { allowed: false, reason: errors.length ? `RBAC: ${aggregate(errors)}` : '' };
}

// ---- what is not held (CompactRules, CompactString, ConfirmNoEscalation) ----

/** CompactRules: rules of one API group and resource only, differing in verbs alone, joined into one. */
export function compactRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  const simple = new Map<string, PolicyRule>();
  for (const rule of rules) {
    const isSimple = !(rule.resourceNames ?? []).length && !(rule.nonResourceURLs ?? []).length &&
      (rule.apiGroups ?? []).length === 1 && (rule.resources ?? []).length === 1;
    if (!isSimple) {
      out.push(rule);
      continue;
    }
    const key = JSON.stringify([rule.apiGroups![0], rule.resources![0]]);
    const seen = simple.get(key);
    if (seen) seen.verbs.push(...(rule.verbs ?? []));
    else simple.set(key, { apiGroups: [...rule.apiGroups!], resources: [...rule.resources!], verbs: [...(rule.verbs ?? [])] });
  }
  return [...out, ...simple.values()];
}

/** rbacv1helpers.CompactString: {APIGroups:[""], Resources:["pods"], Verbs:["get"]}, the lists present only. */
export function compactString(rule: PolicyRule): string {
  const parts: string[] = [];
  const field = (label: string, list: string[] | undefined) => {
    if (list?.length) parts.push(`${label}:${goQuoteList(list)}`);
  };
  field('APIGroups', rule.apiGroups);
  field('Resources', rule.resources);
  field('NonResourceURLs', rule.nonResourceURLs);
  field('ResourceNames', rule.resourceNames);
  field('Verbs', rule.verbs);
  return `{${parts.join(', ')}}`;
}

/**
 * ConfirmNoEscalation over a policy: undefined when the rules the user holds in `namespace` cover
 * `rules`, else kube-apiserver's message naming what is not held.
 */
export function escalationError(policy: Policy, user: UserInfo, namespace: string, rules: readonly PolicyRule[]): string | undefined {
  const held = rulesFor(policy, user, namespace);
  const missing = covers(held.rules, rules);
  if (missing.length === 0) return undefined;
  const described = [...new Set(compactRules(missing).map(compactString))].sort();
  let msg = `user ${goQuote(user.user)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${described.join('\n')}`;
  if (held.errors.length) msg += `; resolution errors: [${aggregate(held.errors)}]`;
  return msg;
}

// ---- the authorizer over the store ----

/** SelfSubjectRulesReview's status: the rules a user holds in a namespace. */
export interface RulesReview {
  resourceRules: { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
  nonResourceRules: { verbs: string[]; nonResourceURLs?: string[] }[];
  /** RBAC lists every rule it grants: never incomplete (other authorizers may be). */
  incomplete: boolean;
  /** The resolution errors met (a binding of a missing role), when any. */
  evaluationError?: string;
}

export interface RbacAuthorizerOptions {
  /** How long the policy read is answered from without reading again (writes told by written() drop it at once). */
  ttlMs?: number;
  /**
   * Past ttlMs, answer from the policy held while it is checked in the background, so no request
   * waits on that check. Not on Workers: a read left running is cancelled with the request that began it.
   */
  background?: boolean;
}

const RBAC_KIND_LIST = `kind IN ('Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding')`;
const POLICY_SQL = `SELECT rv, object FROM objects WHERE ${RBAC_KIND_LIST}`;
/** Changes when any of RBAC's objects is created, changed or deleted (a deletion lowers the count). */
const STAMP_SQL = `SELECT count(*) AS n, max(rv) AS rv FROM objects WHERE ${RBAC_KIND_LIST}`;

const nonEmpty = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([k, v]) => k === 'verbs' || (Array.isArray(v) && v.length > 0))) as T;

export class RbacAuthorizer {
  private readonly ttlMs: number;
  private readonly background: boolean;
  private cached?: { policy: Policy; until: number };
  private loading?: { generation: number; policy: Promise<Policy> };
  private last?: { stamp: string; policy: Policy };
  /** Counts written() calls: a read begun before one is not kept. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    opts: RbacAuthorizerOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 1000;
    this.background = opts.background ?? false;
  }

  /** Tell of a committed write of `kind`: a Role, ClusterRole or binding drops the policy held. */
  written(kind: string): void {
    if (!RBAC_KINDS.has(kind)) return;
    this.generation++;
    this.cached = undefined;
  }

  /** The policy: held, or read in one round trip (concurrent callers share the read). */
  async policy(): Promise<Policy> {
    const now = this.store.clock.now().getTime();
    if (this.cached && this.cached.until > now) return this.cached.policy;
    if (this.cached && this.background) {
      if (this.loading?.generation !== this.generation) void this.load().catch(() => {});
      return this.cached.policy;
    }
    return this.load();
  }

  private async load(): Promise<Policy> {
    if (this.loading?.generation === this.generation) return this.loading.policy;
    const generation = this.generation;
    // A tiny read first: unchanged objects keep the Policy held, and the reader is not held up
    // parsing every role each time the policy's lease runs out.
    const policy = this.store.rows([STAMP_SQL]).then(async ([[row]]) => {
      const stamp = `${row?.n}/${row?.rv}`;
      if (this.last?.stamp === stamp) return this.last.policy;
      const [objects] = await this.store.query([POLICY_SQL]);
      const read = policyOf(objects);
      this.last = { stamp, policy: read };
      return read;
    });
    this.loading = { generation, policy };
    try {
      const read = await policy;
      if (this.generation === generation) this.cached = { policy: read, until: this.store.clock.now().getTime() + this.ttlMs };
      return read;
    } finally {
      if (this.loading?.policy === policy) this.loading = undefined;
    }
  }

  async authorize(user: UserInfo, attrs: Attrs): Promise<Decision> {
    return authorizeWith(await this.policy(), { ...attrs, user });
  }

  /** The rules `user` holds in `namespace` (cluster-wide ones only when ''), for SelfSubjectRulesReview. */
  async rulesFor(user: UserInfo, namespace = ''): Promise<RulesReview> {
    const { rules, errors } = rulesFor(await this.policy(), user, namespace);
    const review: RulesReview = {
      resourceRules: rules.filter((r) => (r.resources ?? []).length > 0)
        .map((r) => nonEmpty({ verbs: r.verbs ?? [], apiGroups: r.apiGroups, resources: r.resources, resourceNames: r.resourceNames })),
      nonResourceRules: rules.filter((r) => (r.nonResourceURLs ?? []).length > 0)
        .map((r) => nonEmpty({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs })),
      incomplete: false,
    };
    if (errors.length) review.evaluationError = aggregate(errors);
    return review;
  }

  /** ConfirmNoEscalation: undefined when `user` holds all of `rules` in `namespace`, else why not. */
  async confirmNoEscalation(user: UserInfo, namespace: string, rules: readonly PolicyRule[]): Promise<string | undefined> {
    return escalationError(await this.policy(), user, namespace, rules);
  }
}

// ---- admission of roles and bindings (the policybased storages' checks) ----

/** cluster-admin's rules: what setting an aggregationRule needs, since it may gather anything. */
export const FULL_AUTHORITY: readonly PolicyRule[] = [
  { verbs: [ALL], apiGroups: [ALL], resources: [ALL] },
  { verbs: [ALL], nonResourceURLs: [ALL] },
];

/** EscalationAllowed: system:masters, kube-apiserver's own privileged group, may grant anything. */
const escalationAllowed = (user: UserInfo) => user.groups.includes(MASTERS);

/** IsOnlyMutatingGCFields: an update that changes only what the garbage collector needs (owners, finalizers). */
function onlyGcFieldsChanged(obj: KObject, old: KObject): boolean {
  const strip = (o: KObject) => {
    const { ownerReferences: _o, finalizers: _f, managedFields: _m, resourceVersion: _r, selfLink: _s, ...meta } = o.metadata ?? {};
    return { ...o, metadata: meta };
  };
  return deepEqual(strip(obj), strip(old));
}

function forbiddenWrite(resource: string, name: string, message: string): ApiError {
  return new ApiError(403, 'Forbidden', `${resource}.${RBAC_GROUP} ${goQuote(name)} is forbidden: ${message}`, { name, group: RBAC_GROUP, kind: resource });
}

/**
 * Admission of a Role or ClusterRole create (`old` undefined) or update: allowed for system:masters,
 * for a user allowed to `escalate` roles (clusterroles), or when the user holds every rule it grants
 * in its namespace (cluster-wide for a ClusterRole); an aggregationRule needs cluster-admin's rules.
 * Throws kube-apiserver's 403 otherwise.
 */
export async function checkRoleEscalation(authorizer: RbacAuthorizer, user: UserInfo, obj: KObject, old?: KObject): Promise<void> {
  if (escalationAllowed(user)) return;
  const cluster = obj.kind === 'ClusterRole';
  const resource = cluster ? 'clusterroles' : 'roles';
  const namespace = cluster ? '' : (obj.metadata?.namespace ?? '');
  const name = obj.metadata?.name ?? '';
  // RoleEscalationAuthorized asks about the request's own object: a create's URL names none.
  const escalate = await authorizer.authorize(user, { verb: 'escalate', apiGroup: RBAC_GROUP, resource, namespace, name: old ? name : undefined, resourceRequest: true });
  if (escalate.allowed) return;
  if (old && onlyGcFieldsChanged(obj, old)) return;
  const missing = await authorizer.confirmNoEscalation(user, namespace, (obj.rules as PolicyRule[] | undefined) ?? []);
  if (missing) throw forbiddenWrite(resource, name, missing);
  const aggregating = (o: KObject | undefined) => ((o?.aggregationRule as { clusterRoleSelectors?: unknown[] } | undefined)?.clusterRoleSelectors ?? []).length > 0;
  if (cluster && (aggregating(obj) || aggregating(old)) && (await authorizer.confirmNoEscalation(user, '', FULL_AUTHORITY))) {
    throw forbiddenWrite(resource, name, 'must have cluster-admin privileges to use the aggregationRule');
  }
}

/**
 * Admission of a RoleBinding or ClusterRoleBinding create (`old` undefined) or update: allowed for
 * system:masters, for a user allowed to `bind` the role it names (in the binding's namespace, or
 * cluster-wide for a ClusterRoleBinding), or when the user holds every rule of that role there. A
 * role that does not exist is 404 (what could be granted is unknown); otherwise kube-apiserver's 403.
 */
export async function checkBindingEscalation(authorizer: RbacAuthorizer, user: UserInfo, obj: KObject, old?: KObject): Promise<void> {
  if (escalationAllowed(user)) return;
  if (old && onlyGcFieldsChanged(obj, old)) return;
  const cluster = obj.kind === 'ClusterRoleBinding';
  const resource = cluster ? 'clusterrolebindings' : 'rolebindings';
  const namespace = cluster ? '' : (obj.metadata?.namespace ?? '');
  const name = obj.metadata?.name ?? '';
  const ref = obj.roleRef as RoleRef | undefined;
  if (ref?.kind === 'Role' || ref?.kind === 'ClusterRole') {
    const roles = ref.kind === 'Role' ? 'roles' : 'clusterroles';
    const bind = await authorizer.authorize(user, { verb: 'bind', apiGroup: ref.apiGroup, resource: roles, name: ref.name, namespace, resourceRequest: true });
    if (bind.allowed) return;
  }
  const policy = await authorizer.policy();
  const found = roleReferenceRules(policy, ref, namespace);
  if ('error' in found) {
    if (ref?.kind !== 'Role' && ref?.kind !== 'ClusterRole') throw new ApiError(500, 'InternalError', found.error);
    const roles = ref.kind === 'Role' ? 'roles' : 'clusterroles';
    throw new ApiError(404, 'NotFound', `${roles}.${RBAC_GROUP} ${goQuote(ref.name)} not found`, { name: ref.name, group: RBAC_GROUP, kind: roles });
  }
  const missing = escalationError(policy, user, namespace, found.rules);
  if (missing) throw forbiddenWrite(resource, name, missing);
}

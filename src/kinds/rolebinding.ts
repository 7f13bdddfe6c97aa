// rbac.authorization.k8s.io/v1 RoleBinding: Subject and RoleRef types, defaults (SetDefaults_Subject,
// SetDefaults_RoleBinding), validation (ValidateRoleBinding, ValidateRoleBindingSubject, roleRef
// immutable) and printRoleBinding, shared with ClusterRoleBinding.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { RBAC_GROUP } from './role.js';
import { each, isDNS1123Subdomain, isValidPathSegmentName, notSupported, required, validateMetadata } from './validation.js';

/** rbacv1.Subject: a User, a Group (apiGroup rbac.authorization.k8s.io) or a ServiceAccount (apiGroup ""). */
export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}

/** rbacv1.RoleRef: the Role (in the binding's namespace) or ClusterRole a binding grants. */
export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

export interface BindingObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  subjects?: Subject[] | null;
  roleRef?: RoleRef;
}

const SUBJECT_KINDS = ['ServiceAccount', 'User', 'Group'];

/**
 * v1 defaults: roleRef.apiGroup and a subject's apiGroup, by kind, when left empty. A ServiceAccount's
 * is "", which the Go types omit (omitempty), as they omit an empty namespace.
 */
export function defaultBinding(binding: any): void {
  binding.roleRef ??= {};
  if (!binding.roleRef.apiGroup) binding.roleRef.apiGroup = RBAC_GROUP;
  for (const subject of Array.isArray(binding.subjects) ? binding.subjects : []) {
    if (!subject || typeof subject !== 'object') continue;
    if (!subject.apiGroup && (subject.kind === 'User' || subject.kind === 'Group')) subject.apiGroup = RBAC_GROUP;
    if (subject.apiGroup === '') delete subject.apiGroup;
    if (subject.namespace === '') delete subject.namespace;
  }
}

function validateSubject(subject: any, namespaced: boolean, at: string): Cause[] {
  const causes: Cause[] = [];
  const name = String(subject?.name ?? '');
  const group = String(subject?.apiGroup ?? '');
  if (!name) causes.push(required(`${at}.name`));
  switch (subject?.kind) {
    case 'ServiceAccount':
      if (name) causes.push(...each(`${at}.name`, name, isDNS1123Subdomain(name)));
      if (group) causes.push(notSupported(`${at}.apiGroup`, group, ['']));
      // A RoleBinding's ServiceAccount defaults to the binding's namespace; a ClusterRoleBinding has none to give.
      if (!namespaced && !subject.namespace) causes.push(required(`${at}.namespace`));
      break;
    case 'User':
    case 'Group':
      if (group !== RBAC_GROUP) causes.push(notSupported(`${at}.apiGroup`, group, [RBAC_GROUP]));
      break;
    default:
      causes.push(notSupported(`${at}.kind`, subject?.kind ?? '', SUBJECT_KINDS));
  }
  return causes;
}

/** rbac.RoleRef as Go's %#v prints it in "cannot change roleRef". */
function goRoleRef(ref: any): string {
  const q = (v: unknown) => JSON.stringify(String(v ?? ''));
  return `rbac.RoleRef{APIGroup:${q(ref?.apiGroup)}, Kind:${q(ref?.kind)}, Name:${q(ref?.name)}}`;
}

/** ValidateRoleBinding / ValidateClusterRoleBinding (`kinds`: the roleRef kinds allowed), and the roleRef fixed on update. */
export function validateBinding(binding: any, old: any, namespaced: boolean, kinds: string[]): Cause[] {
  const causes = validateMetadata(binding);
  const ref = binding.roleRef ?? {};
  if (ref.apiGroup !== RBAC_GROUP) causes.push(notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]));
  if (!kinds.includes(ref.kind)) causes.push(notSupported('roleRef.kind', ref.kind ?? '', kinds));
  if (!ref.name) causes.push(required('roleRef.name'));
  else causes.push(...each('roleRef.name', String(ref.name), isValidPathSegmentName(String(ref.name))));
  (Array.isArray(binding.subjects) ? binding.subjects : []).forEach((s: unknown, i: number) => causes.push(...validateSubject(s, namespaced, `subjects[${i}]`)));
  if (old) {
    const was = old.roleRef ?? {};
    // What a binding grants is fixed: changing it would re-point every existing grant at once.
    if (['apiGroup', 'kind', 'name'].some((k) => (ref[k] ?? '') !== (was[k] ?? ''))) {
      causes.push({ reason: 'FieldValueInvalid', field: 'roleRef', message: `Invalid value: ${goRoleRef(ref)}: cannot change roleRef` });
    }
  }
  return causes;
}

/** rbac.SubjectsStrings: users, groups and "namespace/name" of service accounts, for display. */
export function subjectStrings(subjects: Subject[] | null | undefined): { users: string[]; groups: string[]; serviceAccounts: string[] } {
  const out = { users: [] as string[], groups: [] as string[], serviceAccounts: [] as string[] };
  for (const s of subjects ?? []) {
    if (s.kind === 'ServiceAccount') out.serviceAccounts.push(`${s.namespace ?? ''}/${s.name}`);
    else if (s.kind === 'User') out.users.push(s.name);
    else if (s.kind === 'Group') out.groups.push(s.name);
  }
  return out;
}

/** printRoleBinding / printClusterRoleBinding: ROLE as Kind/name; subjects only with -o wide. */
export function bindingColumns(what: string, roleRefDoc: string): KindDef['columns'] {
  return [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Role', type: 'string', description: roleRefDoc, priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Users', type: 'string', description: `Users in the ${what}`, priority: 1 },
    { name: 'Groups', type: 'string', description: `Groups in the ${what}`, priority: 1 },
    { name: 'ServiceAccounts', type: 'string', description: `ServiceAccounts in the ${what}`, priority: 1 },
  ];
}

export const bindingRow: KindDef['row'] = (b, now) => {
  const { users, groups, serviceAccounts } = subjectStrings(b?.subjects);
  return [
    b?.metadata?.name ?? '',
    `${b?.roleRef?.kind ?? ''}/${b?.roleRef?.name ?? ''}`,
    age(b?.metadata?.creationTimestamp, now),
    users.join(', '),
    groups.join(', '),
    serviceAccounts.join(', '),
  ];
};

export const roleBinding: KindDef = {
  kind: 'RoleBinding',
  group: RBAC_GROUP,
  version: 'v1',
  plural: 'rolebindings',
  singular: 'rolebinding',
  namespaced: true,
  nameRule: 'path',
  defaults: defaultBinding,
  validate: (obj, old) => validateBinding(obj, old, true, ['Role', 'ClusterRole']),
  columns: bindingColumns('roleBinding', 'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.'),
  row: bindingRow,
};

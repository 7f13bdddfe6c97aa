// rbac.authorization.k8s.io/v1 ClusterRoleBinding: a binding of a ClusterRole in every namespace and
// cluster-wide. Defaults, validation (ValidateClusterRoleBinding: only ClusterRoles, ServiceAccount
// subjects name their namespace) and printClusterRoleBinding, shared with RoleBinding.
import type { KindDef } from './types.js';
import { RBAC_GROUP } from './role.js';
import { bindingColumns, bindingRow, defaultBinding, validateBinding } from './rolebinding.js';

export const clusterRoleBinding: KindDef = {
  kind: 'ClusterRoleBinding',
  group: RBAC_GROUP,
  version: 'v1',
  plural: 'clusterrolebindings',
  singular: 'clusterrolebinding',
  namespaced: false,
  nameRule: 'path',
  defaults: defaultBinding,
  validate: (obj, old) => validateBinding(obj, old, false, ['ClusterRole']),
  columns: bindingColumns('clusterRoleBinding', 'RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.'),
  row: bindingRow,
};

// core/v1 Namespace: defaults (phase Active, the "kubernetes" finalizer the
// namespace controller removes when its content is gone), validation and printNamespace.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { each, invalid, isQualifiedName, validateMetadata } from './validation.js';

export const FINALIZER_KUBERNETES = 'kubernetes';
const STANDARD_FINALIZERS = [FINALIZER_KUBERNETES, 'orphan', 'foregroundDeletion'];

/**
 * Kubernetes sets spec.finalizers on create only; here defaults also run on update, so only an
 * absent list is filled: a controller finishing a namespace must write `finalizers: []`.
 */
function defaultNamespace(ns: any): void {
  // As kube-apiserver (NamespaceDefaultLabelName): what namespaceSelectors match a namespace by name with.
  if (ns.metadata?.name) ns.metadata.labels = { ...ns.metadata.labels, 'kubernetes.io/metadata.name': ns.metadata.name };
  ns.spec ??= {};
  ns.spec.finalizers ??= [FINALIZER_KUBERNETES];
  ns.status ??= {};
  ns.status.phase ||= 'Active';
}

function validateNamespace(ns: any): Cause[] {
  const causes = validateMetadata(ns);
  for (const f of ns.spec?.finalizers ?? []) {
    const name = String(f);
    const msgs = isQualifiedName(name);
    causes.push(...each('spec.finalizers', name, msgs));
    if (msgs.length === 0 && !name.includes('/') && !STANDARD_FINALIZERS.includes(name)) {
      causes.push(invalid('spec.finalizers', name, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  }
  return causes;
}

export const namespace: KindDef = {
  kind: 'Namespace',
  group: '',
  version: 'v1',
  plural: 'namespaces',
  singular: 'namespace',
  namespaced: false,
  shortNames: ['ns'],
  subresources: ['status'],
  nameRule: 'label',
  defaults: defaultNamespace,
  validate: validateNamespace,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Status', type: 'string', description: 'The status of the namespace', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (ns, now) => [ns?.metadata?.name ?? '', ns?.status?.phase ?? '', age(ns?.metadata?.creationTimestamp, now)],
  fields: {
    'status.phase': (ns) => ns?.status?.phase ?? '',
  },
};

// apps/v1 ControllerRevision: an immutable snapshot of a controller's state (DaemonSets keep their
// pod templates in them): validation (ValidateControllerRevision, data immutable on update) and
// printControllerRevision. No generation: kube-apiserver's strategy keeps none for it.
import type { Cause, KindDef, OwnerReference } from './types.js';
import { age } from './format.js';
import { required, validateImmutable, validateMetadata, validateNonnegative } from './validation.js';

function validateControllerRevision(cr: any, old?: any): Cause[] {
  const causes = [...validateMetadata(cr)];
  if (cr.data === undefined || cr.data === null) causes.push(required('data', 'data is mandatory'));
  causes.push(...validateNonnegative(cr.revision, 'revision'));
  if (old) causes.push(...validateImmutable(cr.data, old.data, 'data'));
  return causes;
}

/** The CONTROLLER cell: "<none>", or the controller as formatResourceName writes it ("daemonset.apps/NAME"). */
function controllerCell(refs: OwnerReference[] | undefined): string {
  const ref = refs?.find((r) => r.controller);
  if (!ref) return '<none>';
  const slash = ref.apiVersion?.indexOf('/') ?? -1;
  const group = slash >= 0 ? ref.apiVersion.slice(0, slash) : '';
  return `${(group ? `${ref.kind}.${group}` : ref.kind).toLowerCase()}/${ref.name}`;
}

export const controllerRevision: KindDef = {
  kind: 'ControllerRevision',
  group: 'apps',
  version: 'v1',
  plural: 'controllerrevisions',
  singular: 'controllerrevision',
  namespaced: true,
  shortNames: [],
  categories: [],
  nameRule: 'subdomain',
  validate: validateControllerRevision,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Controller', type: 'string', description: 'Controller of the object', priority: 0 },
    { name: 'Revision', type: 'string', description: 'Revision indicates the revision of the state represented by Data.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (cr, now) => [
    cr?.metadata?.name ?? '',
    controllerCell(cr?.metadata?.ownerReferences),
    cr?.revision ?? 0,
    age(cr?.metadata?.creationTimestamp, now),
  ],
};

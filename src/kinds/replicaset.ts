// apps/v1 ReplicaSet: defaults, validation (ValidateReplicaSetSpec, selector
// immutable in apps/v1) and printReplicaSet.
import type { Cause, KindDef } from './types.js';
import { age, containerCells, formatLabelSelector } from './format.js';
import { defaultPodTemplate, validateReplicatedSpec } from './podspec.js';
import { goLabelSelector, validateImmutable, validateMetadata } from './validation.js';

function defaultReplicaSet(rs: any): void {
  rs.spec ??= {};
  rs.spec.replicas ??= 1;
  defaultPodTemplate(rs.spec.template ??= {});
}

function validateReplicaSet(rs: any, old?: any): Cause[] {
  const spec = rs.spec ?? {};
  const causes = [...validateMetadata(rs), ...validateReplicatedSpec(spec)];
  if (old) causes.push(...validateImmutable(spec.selector, old.spec?.selector, 'spec.selector', goLabelSelector(spec.selector)));
  return causes;
}

export const replicaSet: KindDef = {
  kind: 'ReplicaSet',
  group: 'apps',
  version: 'v1',
  plural: 'replicasets',
  singular: 'replicaset',
  namespaced: true,
  shortNames: ['rs'],
  categories: ['all'],
  subresources: ['status', 'scale'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultReplicaSet,
  validate: validateReplicaSet,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Desired', type: 'integer', description: 'Replicas is the number of desired pods.', priority: 0 },
    { name: 'Current', type: 'integer', description: 'Replicas is the most recently observed number of non-terminating pods.', priority: 0 },
    { name: 'Ready', type: 'integer', description: 'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Containers', type: 'string', description: 'Names of each container in the template.', priority: 1 },
    { name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', priority: 1 },
    { name: 'Selector', type: 'string', description: 'Selector is a label query over pods that should match the replica count.', priority: 1 },
  ],
  row: (rs, now) => {
    const [names, images] = containerCells(rs?.spec?.template?.spec?.containers);
    return [
      rs?.metadata?.name ?? '',
      rs?.spec?.replicas ?? 0,
      rs?.status?.replicas ?? 0,
      rs?.status?.readyReplicas ?? 0,
      age(rs?.metadata?.creationTimestamp, now),
      names,
      images,
      formatLabelSelector(rs?.spec?.selector),
    ];
  },
  fields: {
    'status.replicas': (rs) => String(rs?.status?.replicas ?? 0),
  },
};

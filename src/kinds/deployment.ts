// apps/v1 Deployment: defaults (SetDefaults_Deployment), validation
// (ValidateDeploymentSpec, selector immutable in apps/v1) and printDeployment.
import type { Cause, KindDef } from './types.js';
import { age, containerCells, selectorString } from './format.js';
import { defaultPodTemplate, validateReplicatedSpec } from './podspec.js';
import {
  forbidden, goLabelSelector, intOrPercentValue, invalid, invalidIntOrString, notSupported, required, validateImmutable,
  validateMetadata, validateNonnegative, validatePositiveIntOrPercent,
} from './validation.js';

function defaultDeployment(d: any): void {
  d.spec ??= {};
  const spec = d.spec;
  spec.replicas ??= 1;
  spec.strategy ??= {};
  spec.strategy.type ||= 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    spec.strategy.rollingUpdate ??= {};
    spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
    spec.strategy.rollingUpdate.maxSurge ??= '25%';
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultPodTemplate(spec.template ??= {});
}

function validateStrategy(strategy: any): Cause[] {
  const type = strategy?.type;
  if (type === 'Recreate') {
    return strategy.rollingUpdate ? [forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'")] : [];
  }
  if (type !== 'RollingUpdate') return [notSupported('spec.strategy', type ?? '', ['Recreate', 'RollingUpdate'])];
  const ru = strategy.rollingUpdate;
  if (!ru) return [required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil')];
  const path = 'spec.strategy.rollingUpdate';
  const causes = [
    ...validatePositiveIntOrPercent(ru.maxUnavailable, `${path}.maxUnavailable`),
    ...validatePositiveIntOrPercent(ru.maxSurge, `${path}.maxSurge`),
  ];
  if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
    causes.push(invalidIntOrString(`${path}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
  }
  if (typeof ru.maxUnavailable === 'string' && intOrPercentValue(ru.maxUnavailable) > 100) {
    causes.push(invalidIntOrString(`${path}.maxUnavailable`, ru.maxUnavailable, 'must not be greater than 100%'));
  }
  return causes;
}

function validateDeployment(d: any, old?: any): Cause[] {
  const spec = d.spec ?? {};
  const causes = [...validateMetadata(d), ...validateReplicatedSpec(spec), ...validateStrategy(spec.strategy)];
  causes.push(...validateNonnegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  const deadline = spec.progressDeadlineSeconds;
  if (typeof deadline === 'number') {
    causes.push(...validateNonnegative(deadline, 'spec.progressDeadlineSeconds'));
    if (deadline <= (spec.minReadySeconds ?? 0)) {
      causes.push(invalid('spec.progressDeadlineSeconds', deadline, 'must be greater than minReadySeconds'));
    }
  }
  if (old) causes.push(...validateImmutable(spec.selector, old.spec?.selector, 'spec.selector', goLabelSelector(spec.selector)));
  return causes;
}

export const deployment: KindDef = {
  kind: 'Deployment',
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  singular: 'deployment',
  namespaced: true,
  shortNames: ['deploy'],
  categories: ['all'],
  subresources: ['status', 'scale'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultDeployment,
  validate: validateDeployment,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Ready', type: 'string', description: 'Number of the pod with ready state', priority: 0 },
    { name: 'Up-to-date', type: 'string', description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', priority: 0 },
    { name: 'Available', type: 'string', description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Containers', type: 'string', description: 'Names of each container in the template.', priority: 1 },
    { name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', priority: 1 },
    { name: 'Selector', type: 'string', description: 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', priority: 1 },
  ],
  row: (d, now) => {
    const [names, images] = containerCells(d?.spec?.template?.spec?.containers);
    return [
      d?.metadata?.name ?? '',
      `${d?.status?.readyReplicas ?? 0}/${d?.spec?.replicas ?? 0}`,
      d?.status?.updatedReplicas ?? 0,
      d?.status?.availableReplicas ?? 0,
      age(d?.metadata?.creationTimestamp, now),
      names,
      images,
      selectorString(d?.spec?.selector),
    ];
  },
};

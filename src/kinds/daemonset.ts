// apps/v1 DaemonSet: defaults (SetDefaults_DaemonSet), the template generation the API server keeps
// in an annotation, validation (ValidateDaemonSet, ValidateDaemonSetUpdate, selector immutable in
// apps/v1) and printDaemonSet.
import type { Cause, KindDef } from './types.js';
import { age, containerCells, formatLabels, formatLabelSelector } from './format.js';
import { defaultPodTemplate, validatePodTemplateSpec } from './podspec.js';
import {
  deepEqual, forbidden, goLabelSelector, intOrPercentValue, invalid, invalidIntOrString, notSupported, percentValue, required,
  selectorIsEmpty, selectorMatches, validateImmutable, validateLabelSelector, validateMetadata, validateNonnegative,
  validatePositiveIntOrPercent,
} from './validation.js';

/**
 * The annotation apps/v1 carries the internal spec.templateGeneration in: 1 on create, raised by one
 * whenever the template changes. Pods carry it as the pod-template-generation label.
 */
export const TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

/** The template generation in the annotation, or undefined when absent or not a positive integer. */
export function templateGeneration(ds: any): number | undefined {
  const v = ds?.metadata?.annotations?.[TEMPLATE_GENERATION_ANNOTATION];
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 ? n : undefined;
}

function setTemplateGeneration(ds: any, generation: number): void {
  ds.metadata ??= {};
  ds.metadata.annotations = { ...ds.metadata.annotations, [TEMPLATE_GENERATION_ANNOTATION]: String(generation) };
}

function defaultDaemonSet(ds: any): void {
  ds.spec ??= {};
  const spec = ds.spec;
  spec.updateStrategy ??= {};
  spec.updateStrategy.type ||= 'RollingUpdate';
  if (spec.updateStrategy.type === 'RollingUpdate') {
    spec.updateStrategy.rollingUpdate ??= {};
    spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
    spec.updateStrategy.rollingUpdate.maxSurge ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  defaultPodTemplate(spec.template ??= {});
  // PrepareForCreate: the template generation starts at 1 (an update takes it from the stored object).
  if (templateGeneration(ds) === undefined) setTemplateGeneration(ds, 1);
}

/** PrepareForUpdate: the template generation is the stored one, raised when the template changed. */
function prepareDaemonSetUpdate(ds: any, old: any): void {
  const previous = templateGeneration(old) ?? 1;
  setTemplateGeneration(ds, deepEqual(ds.spec?.template, old.spec?.template) ? previous : previous + 1);
}

function isNotMoreThan100Percent(v: unknown, field: string): Cause[] {
  const p = percentValue(v);
  return p !== undefined && p > 100 ? [invalidIntOrString(field, v, 'must not be greater than 100%')] : [];
}

/** ValidateDaemonSetUpdateStrategy and ValidateRollingUpdateDaemonSet. */
function validateUpdateStrategy(strategy: any): Cause[] {
  const path = 'spec.updateStrategy';
  const type = strategy?.type;
  if (type === 'OnDelete') return [];
  if (type !== 'RollingUpdate') return [notSupported(path, type ?? '', ['RollingUpdate', 'OnDelete'])];
  const ru = strategy.rollingUpdate;
  if (!ru) return [required(`${path}.rollingUpdate`)];
  const at = `${path}.rollingUpdate`;
  const causes = [
    ...validatePositiveIntOrPercent(ru.maxUnavailable, `${at}.maxUnavailable`),
    ...validatePositiveIntOrPercent(ru.maxSurge, `${at}.maxSurge`),
    ...isNotMoreThan100Percent(ru.maxUnavailable, `${at}.maxUnavailable`),
    ...isNotMoreThan100Percent(ru.maxSurge, `${at}.maxSurge`),
  ];
  const hasUnavailable = intOrPercentValue(ru.maxUnavailable) !== 0;
  const hasSurge = intOrPercentValue(ru.maxSurge) !== 0;
  if (hasUnavailable && hasSurge) causes.push(invalidIntOrString(`${at}.maxSurge`, ru.maxSurge, 'may not be set when maxUnavailable is non-zero'));
  else if (!hasUnavailable && !hasSurge) causes.push(required(`${at}.maxUnavailable`, 'cannot be 0 when maxSurge is 0'));
  return causes;
}

function validateDaemonSet(ds: any, old?: any): Cause[] {
  const spec = ds.spec ?? {};
  const template = spec.template ?? {};
  const causes = [...validateMetadata(ds), ...validateLabelSelector(spec.selector, 'spec.selector')];
  // A nil selector selects nothing, so the template never matches it (there is no "required" error).
  if (!selectorMatches(spec.selector, template.metadata?.labels)) {
    causes.push(invalid('spec.template.metadata.labels', template.metadata?.labels ?? {}, '`selector` does not match template `labels`'));
  }
  if (selectorIsEmpty(spec.selector)) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.selector', message: `Invalid value: ${goLabelSelector(spec.selector)}: empty selector is invalid for daemonset` });
  }
  causes.push(...validatePodTemplateSpec(template, 'spec.template'));
  const podSpec = template.spec ?? {};
  if (podSpec.restartPolicy !== 'Always') causes.push(notSupported('spec.template.spec.restartPolicy', podSpec.restartPolicy ?? '', ['Always']));
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null) {
    causes.push(forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in DaemonSet is not Supported'));
  }
  causes.push(...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  causes.push(...validateUpdateStrategy(spec.updateStrategy));
  causes.push(...validateNonnegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (old) causes.push(...validateImmutable(spec.selector, old.spec?.selector, 'spec.selector', goLabelSelector(spec.selector)));
  return causes;
}

export const daemonSet: KindDef = {
  kind: 'DaemonSet',
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  singular: 'daemonset',
  namespaced: true,
  shortNames: ['ds'],
  categories: ['all'],
  subresources: ['status'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultDaemonSet,
  prepareUpdate: prepareDaemonSetUpdate,
  validate: validateDaemonSet,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Desired', type: 'integer', description: 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/', priority: 0 },
    { name: 'Current', type: 'integer', description: 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/', priority: 0 },
    { name: 'Ready', type: 'integer', description: 'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.', priority: 0 },
    { name: 'Up-to-date', type: 'integer', description: 'The total number of nodes that are running updated daemon pod', priority: 0 },
    { name: 'Available', type: 'integer', description: 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)', priority: 0 },
    { name: 'Node Selector', type: 'string', description: "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/", priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Containers', type: 'string', description: 'Names of each container in the template.', priority: 1 },
    { name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', priority: 1 },
    { name: 'Selector', type: 'string', description: "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", priority: 1 },
  ],
  row: (ds, now) => {
    const status = ds?.status ?? {};
    const [names, images] = containerCells(ds?.spec?.template?.spec?.containers);
    return [
      ds?.metadata?.name ?? '',
      status.desiredNumberScheduled ?? 0,
      status.currentNumberScheduled ?? 0,
      status.numberReady ?? 0,
      status.updatedNumberScheduled ?? 0,
      status.numberAvailable ?? 0,
      formatLabels(ds?.spec?.template?.spec?.nodeSelector),
      age(ds?.metadata?.creationTimestamp, now),
      names,
      images,
      formatLabelSelector(ds?.spec?.selector),
    ];
  },
};

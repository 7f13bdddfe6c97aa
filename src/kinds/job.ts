// batch/v1 Job: defaults (SetDefaults_Job and the job strategy's PrepareForCreate, which generates
// the selector), validation (./job-validation.ts), printJob's table and the status.successful field.
import type { KindDef } from './types.js';
import { age, containerCells, duration, formatLabelSelector } from './format.js';
import {
  CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL, MAX_INT32, hasJobCondition,
} from './job-keys.js';
import { validateJob } from './job-validation.js';
import { defaultPodTemplate } from './podspec.js';

/**
 * generateSelector: template labels naming the Job (both the batch.kubernetes.io ones and the legacy
 * ones), and a selector on the controller-uid label. Labels the user set are kept; a conflict is
 * left for validation to report.
 */
function generateSelector(job: any): void {
  const meta = job.metadata;
  const template = job.spec.template;
  template.metadata ??= {};
  const labels = (template.metadata.labels ??= {});
  for (const key of [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL]) if (!(key in labels)) labels[key] = String(meta.name);
  for (const key of [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL]) if (!(key in labels)) labels[key] = String(meta.uid);
  job.spec.selector ??= {};
  const matchLabels = (job.spec.selector.matchLabels ??= {});
  if (!(CONTROLLER_UID_LABEL in matchLabels)) matchLabels[CONTROLLER_UID_LABEL] = String(meta.uid);
}

function defaultJob(job: any): void {
  const spec = (job.spec ??= {});
  const meta = (job.metadata ??= {});
  if (spec.completions == null && spec.parallelism == null) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex != null ? MAX_INT32 : 6;
  spec.completionMode ||= 'NonIndexed';
  spec.suspend ??= false;
  for (const rule of spec.podFailurePolicy?.rules ?? []) {
    for (const pattern of rule?.onPodConditions ?? []) if (pattern && !pattern.status) pattern.status = 'True';
  }
  spec.podReplacementPolicy ||= spec.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed';
  spec.manualSelector ??= false;
  defaultPodTemplate((spec.template ??= {}));
  // A create (no resourceVersion yet) is what PrepareForCreate sees: a fresh status, and a selector
  // generated from the uid just given. An update keeps both as they were.
  if (!meta.resourceVersion) {
    job.status = {};
    if (!spec.manualSelector && meta.uid) generateSelector(job);
  }
  // SetDefaults_Job runs on every read in kube-apiserver, after the labels were generated: a Job
  // without labels shows its template's.
  const templateLabels = spec.template.metadata?.labels;
  if (templateLabels && Object.keys(meta.labels ?? {}).length === 0) meta.labels = { ...templateLabels };
}

/** kubectl's STATUS column (printJob). */
export function jobStatusCell(job: any): string {
  if (hasJobCondition(job, 'Complete')) return 'Complete';
  if (hasJobCondition(job, 'Failed')) return 'Failed';
  if (job?.metadata?.deletionTimestamp) return 'Terminating';
  if (hasJobCondition(job, 'Suspended')) return 'Suspended';
  if (hasJobCondition(job, 'FailureTarget')) return 'FailureTarget';
  if (hasJobCondition(job, 'SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function completionsCell(job: any): string {
  const succeeded = job?.status?.succeeded ?? 0;
  const completions = job?.spec?.completions;
  if (completions != null) return `${succeeded}/${completions}`;
  const parallelism = job?.spec?.parallelism ?? 0;
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function durationCell(job: any, now: Date): string {
  const start = Date.parse(job?.status?.startTime ?? '');
  if (Number.isNaN(start)) return '';
  const end = Date.parse(job?.status?.completionTime ?? '');
  return duration((Number.isNaN(end) ? now.getTime() : end) - start);
}

export const job: KindDef = {
  kind: 'Job',
  group: 'batch',
  version: 'v1',
  plural: 'jobs',
  singular: 'job',
  namespaced: true,
  shortNames: [],
  categories: ['all'],
  subresources: ['status'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultJob,
  validate: validateJob,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Status', type: 'string', description: 'Status of the job.', priority: 0 },
    { name: 'Completions', type: 'string', description: 'The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.', priority: 0 },
    { name: 'Duration', type: 'string', description: 'Time required to complete the job.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Containers', type: 'string', description: 'Names of each container in the template.', priority: 1 },
    { name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', priority: 1 },
    { name: 'Selector', type: 'string', description: 'A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors', priority: 1 },
  ],
  row: (j, now) => {
    const [names, images] = containerCells(j?.spec?.template?.spec?.containers);
    return [
      j?.metadata?.name ?? '',
      jobStatusCell(j),
      completionsCell(j),
      durationCell(j, now),
      age(j?.metadata?.creationTimestamp, now),
      names,
      images,
      formatLabelSelector(j?.spec?.selector),
    ];
  },
  fields: {
    'status.successful': (j) => String(j?.status?.succeeded ?? 0),
  },
};

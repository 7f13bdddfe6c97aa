// The labels, annotations, finalizer and condition types of batch/v1 Jobs (k8s.io/api/batch/v1).

export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
/** Annotation and label of an Indexed Job's pods. */
export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
export const INDEX_FAILURE_COUNT = 'batch.kubernetes.io/job-index-failure-count';
export const INDEX_IGNORED_FAILURE_COUNT = 'batch.kubernetes.io/job-index-ignored-failure-count';
/** On every pod a Job creates until the pod is counted in the Job's status. */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';

export const MAX_INT32 = 2147483647;

export interface JobCondition {
  type: string;
  status: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string | null;
  reason?: string;
  message?: string;
}

/** Whether the Job has a condition of that type with status True. */
export function hasJobCondition(job: any, type: string): boolean {
  return (job?.status?.conditions ?? []).some((c: JobCondition) => c?.type === type && c?.status === 'True');
}

/** A Job that is Complete or Failed (IsJobFinished). */
export function isJobFinished(job: any): boolean {
  return hasJobCondition(job, 'Complete') || hasJobCondition(job, 'Failed');
}

// batch/v1 CronJob: defaults (SetDefaults_CronJob), validation (ValidateCronJobCreate/Update) and
// printCronJob. Its summary is when it is next due and the uids of its active Jobs, so the controller
// reads only the CronJobs whose time has come or whose Jobs ended.
import type { Cause, KindDef } from './types.js';
import { age, containerCells, formatLabelSelector } from './format.js';
import { validateJobSpec } from './job-validation.js';
import { defaultPodTemplate } from './podspec.js';
import { CONTROLLER_TIME_ZONE, parseStandard, resolveTimeZone, scheduleError, type Schedule } from './cron-schedule.js';
import { goLabelSelector, invalid, notSupported, required, validateMetadata, validateNonnegative } from './validation.js';

export const CONCURRENCY_POLICIES = ['Allow', 'Forbid', 'Replace'] as const;

/** The name suffix the controller adds (`-` and minutes since the epoch) must leave a valid Job name (63). */
const MAX_NAME_LENGTH = 52;

function defaultCronJob(cj: any): void {
  const spec = (cj.spec ??= {});
  spec.concurrencyPolicy ||= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  // As the generated defaulters do: the pod template's defaults, none of SetDefaults_Job's (a Job made
  // from the template gets those when it is created).
  const jobSpec = ((spec.jobTemplate ??= {}).spec ??= {});
  defaultPodTemplate((jobSpec.template ??= {}));
}

/** ValidateJobTemplateSpec: the Job spec's checks, at spec.jobTemplate.spec, and no selector of its own. */
export function validateJobTemplateSpec(template: any, path: string): Cause[] {
  const spec = template?.spec ?? {};
  const at = `${path}.spec`;
  const causes = validateJobSpec(spec).map((c) => ({ ...c, field: c.field.replace(/^spec\b/, at) }));
  if (spec.selector) {
    causes.push({ reason: 'FieldValueInvalid', field: `${at}.selector`, message: `Invalid value: ${goLabelSelector(spec.selector)}: \`selector\` will be auto-generated` });
  }
  if (spec.manualSelector === true) causes.push(notSupported(`${at}.manualSelector`, true, ['nil', 'false']));
  return causes;
}

/** validateTimeZone: IANA names only, as Go's time.LoadLocation knows them (here: as Intl does). */
function validateTimeZone(tz: unknown): Cause[] {
  const field = 'spec.timeZone';
  if (tz === undefined || tz === null) return [];
  const name = String(tz);
  if (name === '') return [invalid(field, name, 'timeZone must be nil or non-empty string')];
  const partOk = (p: string) => p !== '.' && p !== '..' && !p.startsWith('-') && /^[A-Za-z.\-_0-9+]{1,14}$/.test(p);
  if (!name.split('/').every(partOk)) return [invalid(field, name, `unknown time zone ${name}`)];
  if (name.toLowerCase() === 'local') {
    const causes = [invalid(field, name, 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones')];
    // Go loads "Local" itself (the process's zone); any other spelling is looked up, and not found.
    if (name !== 'Local') causes.push(invalid(field, name, `unknown time zone ${name}`));
    return causes;
  }
  return resolveTimeZone(name) ? [] : [invalid(field, name, `unknown time zone ${name}`)];
}

function validateSchedule(schedule: string, allowTZ: boolean, timeZone: unknown): Cause[] {
  const field = 'spec.schedule';
  const causes: Cause[] = [];
  const error = scheduleError(schedule);
  if (error) causes.push(invalid(field, schedule, error));
  if (allowTZ && schedule.includes('TZ') && timeZone !== undefined && timeZone !== null) {
    causes.push(invalid(field, schedule, 'cannot use both timeZone field and TZ or CRON_TZ in schedule'));
  } else if (!allowTZ && schedule.includes('TZ')) {
    causes.push(invalid(field, schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
  }
  return causes;
}

function validateCronJob(cj: any, old?: any): Cause[] {
  const spec = cj.spec ?? {};
  const oldSpec = old?.spec;
  const causes = validateMetadata(cj);
  const schedule = typeof spec.schedule === 'string' ? spec.schedule : '';
  if (schedule === '') causes.push(required('spec.schedule'));
  else causes.push(...validateSchedule(schedule, typeof oldSpec?.schedule === 'string' && oldSpec.schedule.includes('TZ'), spec.timeZone));
  causes.push(...validateNonnegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds'));
  if (!oldSpec || (oldSpec.timeZone ?? null) !== (spec.timeZone ?? null)) causes.push(...validateTimeZone(spec.timeZone));
  const policy = spec.concurrencyPolicy;
  if (!policy) causes.push(required('spec.concurrencyPolicy'));
  else if (!CONCURRENCY_POLICIES.includes(policy)) causes.push(notSupported('spec.concurrencyPolicy', policy, CONCURRENCY_POLICIES));
  causes.push(...validateJobTemplateSpec(spec.jobTemplate, 'spec.jobTemplate'));
  causes.push(...validateNonnegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit'));
  causes.push(...validateNonnegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit'));
  // On create only, so CronJobs with longer names from before can still be updated and deleted.
  const name = String(cj.metadata?.name ?? '');
  if (!old && name.length > MAX_NAME_LENGTH) causes.push(invalid('metadata.name', name, `must be no more than ${MAX_NAME_LENGTH} characters`));
  return causes;
}

/**
 * The schedule the controller runs (its formatSchedule): a TZ= prefix in the schedule wins, then
 * spec.timeZone, then the controller's zone. Throws CronScheduleError for what does not parse.
 */
export function cronJobSchedule(cj: any): Schedule {
  const spec = cj?.spec ?? {};
  const schedule = String(spec.schedule ?? '');
  if (schedule.includes('TZ') || spec.timeZone === undefined || spec.timeZone === null) return parseStandard(schedule, CONTROLLER_TIME_ZONE);
  return parseStandard(schedule, resolveTimeZone(String(spec.timeZone)) ?? CONTROLLER_TIME_ZONE);
}

/**
 * When the CronJob is next due (ms since the epoch): the first scheduled time after its last one (or
 * its creation); null when it will not run (suspended, being deleted, or no schedule that runs).
 */
export function cronJobDue(cj: any): number | null {
  if (cj?.spec?.suspend === true || cj?.metadata?.deletionTimestamp) return null;
  const base = Date.parse(cj?.status?.lastScheduleTime ?? cj?.metadata?.creationTimestamp ?? '');
  if (Number.isNaN(base)) return null;
  try {
    return cronJobSchedule(cj).next(base) ?? null;
  } catch {
    return null;
  }
}

/** printBoolPtr. */
const printBool = (v: unknown): string => (v === undefined || v === null ? '<unset>' : v ? 'True' : 'False');

export const cronJob: KindDef = {
  kind: 'CronJob',
  group: 'batch',
  version: 'v1',
  plural: 'cronjobs',
  singular: 'cronjob',
  namespaced: true,
  shortNames: ['cj'],
  categories: ['all'],
  subresources: ['status'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultCronJob,
  validate: validateCronJob,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Schedule', type: 'string', description: 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.', priority: 0 },
    { name: 'Timezone', type: 'string', description: 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones', priority: 0 },
    { name: 'Suspend', type: 'boolean', description: 'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.', priority: 0 },
    { name: 'Active', type: 'integer', description: 'A list of pointers to currently running jobs.', priority: 0 },
    { name: 'Last Schedule', type: 'string', description: 'Information when was the last time the job was successfully scheduled.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'Containers', type: 'string', description: 'Names of each container in the template.', priority: 1 },
    { name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', priority: 1 },
    { name: 'Selector', type: 'string', description: 'A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors', priority: 1 },
  ],
  row: (cj, now) => {
    const jobSpec = cj?.spec?.jobTemplate?.spec;
    const [names, images] = containerCells(jobSpec?.template?.spec?.containers);
    const last = cj?.status?.lastScheduleTime;
    return [
      cj?.metadata?.name ?? '',
      cj?.spec?.schedule ?? '',
      cj?.spec?.timeZone ?? '<none>',
      printBool(cj?.spec?.suspend),
      (cj?.status?.active ?? []).length,
      last ? age(last, now) : '<none>',
      age(cj?.metadata?.creationTimestamp, now),
      names,
      images,
      formatLabelSelector(jobSpec?.selector),
    ];
  },
  summary: (cj) => {
    const active = ((cj?.status?.active ?? []) as { uid?: string }[]).map((r) => r.uid).filter(Boolean);
    return { due: cronJobDue(cj), ...(active.length ? { active } : {}) };
  },
};

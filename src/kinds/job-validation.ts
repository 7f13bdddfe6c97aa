// ValidateJob and ValidateJobUpdate, with kube-apiserver's messages (pkg/apis/batch/validation).
import type { Cause } from './types.js';
import { validateIndexesFormat } from './job-indexes.js';
import {
  CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
} from './job-keys.js';
import { validatePodTemplateSpec } from './podspec.js';
import {
  deepEqual, duplicate, goLabelSelector, goStringMap, goValue, invalid, isDNS1123Label, isDNS1123Subdomain,
  isQualifiedName, notSupported, required, selectorMatches, validateImmutable, validateLabelSelector, validateMetadata,
  validateNonnegative, FIELD_IMMUTABLE, type LabelSelector,
} from './validation.js';

const MAX_PARALLELISM_INDEXED = 100_000;
const MAX_FAILED_INDEXES = 100_000;
const COMPLETIONS_SOFT_LIMIT = 100_000;
const PARALLELISM_LIMIT_HIGH_COMPLETIONS = 10_000;
const MAX_FAILED_INDEXES_HIGH_COMPLETIONS = 10_000;
const MAX_POD_FAILURE_POLICY_RULES = 20;
const MAX_EXIT_CODES_VALUES = 255;
const MAX_ON_POD_CONDITIONS = 20;
const MAX_MANAGED_BY_LENGTH = 63;
const MAX_SUCCEEDED_INDEXES_LENGTH = 64 * 1024;
const MAX_SUCCESS_POLICY_RULES = 20;

const POLICY_ACTIONS = ['Count', 'FailIndex', 'FailJob', 'Ignore'];
const EXIT_CODE_OPERATORS = ['In', 'NotIn'];
const CONDITION_STATUSES = ['False', 'True', 'Unknown'];
const REPLACEMENT_POLICIES = ['Failed', 'TerminatingOrFailed'];

/** `valid values: ["A" "B"]`, as %q prints a slice of strings. */
const validValues = (values: string[]) => `valid values: [${values.map((v) => JSON.stringify(v)).join(' ')}]`;

/** field.TooMany. */
function tooMany(field: string, actual: number, max: number): Cause {
  return { reason: 'FieldValueTooMany', field, message: `Too many: ${actual}: must have at most ${max} items` };
}

/** field.Invalid with field.OmitValueType: the detail alone. */
function invalidOmitted(field: string, detail: string): Cause {
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${detail}` };
}

/** An []int32 as %#v prints it. */
const goInt32s = (values: unknown) => `[]int32{${(Array.isArray(values) ? values : []).join(', ')}}`;

const isSet = (v: unknown) => v !== undefined && v !== null;

/** ValidateHasLabel: the template carries `key` with the value the generated selector expects. */
function hasLabel(labels: Record<string, string> | undefined, key: string, expected: string): Cause[] {
  const field = `spec.template.metadata.labels[${key}]`;
  if (!labels || !(key in labels)) return [required(field, expected)];
  return labels[key] === expected ? [] : [{ reason: 'FieldValueInvalid', field, message: `Invalid value: ${goStringMap(labels)}: ${expected}` }];
}

/** validateGeneratedSelector: the selector and template labels the API generated are intact. */
function validateGeneratedSelector(job: any, prefixedLabels: boolean): Cause[] {
  const spec = job.spec ?? {};
  if (spec.manualSelector === true || !spec.selector) return [];
  const meta = job.metadata ?? {};
  const uid = String(meta.uid ?? '');
  const name = String(meta.name ?? '');
  const causes: Cause[] = [];
  if (!uid) causes.push(required('metadata.uid'));
  const labels = spec.template?.metadata?.labels;
  causes.push(...hasLabel(labels, LEGACY_CONTROLLER_UID_LABEL, uid), ...hasLabel(labels, LEGACY_JOB_NAME_LABEL, name));
  const expected: Record<string, string> = {};
  if (prefixedLabels) {
    causes.push(...hasLabel(labels, CONTROLLER_UID_LABEL, uid), ...hasLabel(labels, JOB_NAME_LABEL, name));
    expected[CONTROLLER_UID_LABEL] = uid;
    expected[JOB_NAME_LABEL] = name;
  }
  expected[LEGACY_CONTROLLER_UID_LABEL] = uid;
  expected[LEGACY_JOB_NAME_LABEL] = name;
  if (!selectorMatches(spec.selector, expected)) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.selector', message: `Invalid value: ${goLabelSelector(spec.selector)}: \`selector\` not auto-generated` });
  }
  return causes;
}

function validatePodFailurePolicy(spec: any): Cause[] {
  const causes: Cause[] = [];
  const path = 'spec.podFailurePolicy.rules';
  const rules: any[] = Array.isArray(spec.podFailurePolicy?.rules) ? spec.podFailurePolicy.rules : [];
  if (rules.length > MAX_POD_FAILURE_POLICY_RULES) causes.push(tooMany(path, rules.length, MAX_POD_FAILURE_POLICY_RULES));
  const containerNames = new Set<string>([
    ...(spec.template?.spec?.containers ?? []).map((c: any) => c?.name),
    ...(spec.template?.spec?.initContainers ?? []).map((c: any) => c?.name),
  ]);
  rules.forEach((rule, i) => {
    const at = `${path}[${i}]`;
    const action = rule?.action ?? '';
    if (!action) causes.push(required(`${at}.action`, validValues(POLICY_ACTIONS)));
    else if (action === 'FailIndex') {
      if (!isSet(spec.backoffLimitPerIndex)) causes.push(invalid(`${at}.action`, action, 'requires the backoffLimitPerIndex to be set'));
    } else if (!POLICY_ACTIONS.includes(action)) causes.push(notSupported(`${at}.action`, action, POLICY_ACTIONS));
    const onExitCodes = rule?.onExitCodes;
    const onPodConditions: any[] = Array.isArray(rule?.onPodConditions) ? rule.onPodConditions : [];
    if (onExitCodes) causes.push(...validateOnExitCodes(onExitCodes, `${at}.onExitCodes`, containerNames));
    if (onPodConditions.length > 0) causes.push(...validateOnPodConditions(onPodConditions, `${at}.onPodConditions`));
    if (onExitCodes && onPodConditions.length > 0) causes.push(invalidOmitted(at, 'specifying both OnExitCodes and OnPodConditions is not supported'));
    if (!onExitCodes && onPodConditions.length === 0) causes.push(invalidOmitted(at, 'specifying one of OnExitCodes and OnPodConditions is required'));
  });
  return causes;
}

function validateOnPodConditions(patterns: any[], path: string): Cause[] {
  const causes: Cause[] = [];
  if (patterns.length > MAX_ON_POD_CONDITIONS) causes.push(tooMany(path, patterns.length, MAX_ON_POD_CONDITIONS));
  patterns.forEach((p, j) => {
    const at = `${path}[${j}]`;
    const type = String(p?.type ?? '');
    causes.push(...isQualifiedName(type).map((m) => invalid(`${at}.type`, type, m)));
    const status = p?.status ?? '';
    if (!status) causes.push(required(`${at}.status`, validValues(CONDITION_STATUSES)));
    else if (!CONDITION_STATUSES.includes(status)) causes.push(notSupported(`${at}.status`, status, CONDITION_STATUSES));
  });
  return causes;
}

function validateOnExitCodes(req: any, path: string, containerNames: Set<string>): Cause[] {
  const causes: Cause[] = [];
  const operator = req?.operator ?? '';
  if (!operator) causes.push(required(`${path}.operator`, validValues(EXIT_CODE_OPERATORS)));
  else if (!EXIT_CODE_OPERATORS.includes(operator)) causes.push(notSupported(`${path}.operator`, operator, EXIT_CODE_OPERATORS));
  if (isSet(req?.containerName) && !containerNames.has(req.containerName)) {
    causes.push(invalid(`${path}.containerName`, req.containerName, 'must be one of the container or initContainer names in the pod template'));
  }
  const values: number[] = Array.isArray(req?.values) ? req.values : [];
  const valuesPath = `${path}.values`;
  if (values.length === 0) causes.push({ reason: 'FieldValueInvalid', field: valuesPath, message: `Invalid value: ${goInt32s(values)}: at least one value is required` });
  else if (values.length > MAX_EXIT_CODES_VALUES) causes.push(tooMany(valuesPath, values.length, MAX_EXIT_CODES_VALUES));
  const seen = new Set<number>();
  let ordered = true;
  values.forEach((v, j) => {
    const at = `${valuesPath}[${j}]`;
    if (operator === 'In' && v === 0) causes.push(invalid(at, v, 'must not be 0 for the In operator'));
    if (seen.has(v)) causes.push(duplicate(at, v));
    else seen.add(v);
    if (j > 0 && values[j - 1] > v) ordered = false;
  });
  if (!ordered) causes.push({ reason: 'FieldValueInvalid', field: valuesPath, message: `Invalid value: ${goInt32s(values)}: must be ordered` });
  return causes;
}

function validateSuccessPolicy(spec: any): Cause[] {
  const causes: Cause[] = [];
  const path = 'spec.successPolicy.rules';
  const rules: any[] = Array.isArray(spec.successPolicy?.rules) ? spec.successPolicy.rules : [];
  if (rules.length === 0) causes.push(required(path, 'at least one rules must be specified when the successPolicy is specified'));
  if (rules.length > MAX_SUCCESS_POLICY_RULES) causes.push(tooMany(path, rules.length, MAX_SUCCESS_POLICY_RULES));
  const completions = Number(spec.completions ?? 0);
  rules.forEach((rule, i) => {
    const at = `${path}[${i}]`;
    if (!isSet(rule?.succeededCount) && !isSet(rule?.succeededIndexes)) {
      causes.push(required(at, 'at least one of succeededCount or succeededIndexes must be specified'));
    }
    let total = 0;
    if (isSet(rule?.succeededIndexes)) {
      const text = String(rule.succeededIndexes);
      if (text.length > MAX_SUCCEEDED_INDEXES_LENGTH) {
        causes.push({ reason: 'FieldValueTooLong', field: `${at}.succeededIndexes`, message: `Too long: may not be more than ${MAX_SUCCEEDED_INDEXES_LENGTH} bytes` });
      }
      const parsed = validateIndexesFormat(text, completions);
      if ('error' in parsed) causes.push(invalid(`${at}.succeededIndexes`, text, `error parsing succeededIndexes: ${parsed.error}`));
      else total = parsed.total;
    }
    if (isSet(rule?.succeededCount)) {
      const count = Number(rule.succeededCount);
      const countPath = `${at}.succeededCount`;
      causes.push(...validateNonnegative(count, countPath));
      if (count > completions) causes.push(invalid(countPath, count, `must be less than or equal to ${completions} (the number of specified completions)`));
      if (isSet(rule?.succeededIndexes) && count > total) {
        causes.push(invalid(countPath, count, `must be less than or equal to ${total} (the number of indexes in the specified succeededIndexes field)`));
      }
    }
  });
  return causes;
}

/** IsDomainPrefixedPath: "example.com/path". */
function validateManagedBy(value: string): Cause[] {
  const field = 'spec.managedBy';
  const causes: Cause[] = [];
  const slash = value.indexOf('/');
  if (slash < 0) return [invalid(field, value, 'must be a domain-prefixed path (such as "acme.io/foo")')];
  const host = value.slice(0, slash);
  const path = value.slice(slash);
  causes.push(...isDNS1123Subdomain(host).map((m) => invalid(field, host, m)));
  if (!/^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(path)) causes.push(invalid(field, path, "Invalid path: must only contain [A-Za-z0-9/\\-._~%!$&'()*+,;=:]"));
  if (value.length > MAX_MANAGED_BY_LENGTH) causes.push({ reason: 'FieldValueTooLong', field, message: `Too long: may not be more than ${MAX_MANAGED_BY_LENGTH} bytes` });
  return causes;
}

/** validateJobSpec: what a Job and a CronJob's jobTemplate share. */
export function validateJobSpec(spec: any): Cause[] {
  const causes: Cause[] = [];
  for (const f of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished', 'backoffLimitPerIndex']) {
    if (isSet(spec[f])) causes.push(...validateNonnegative(spec[f], `spec.${f}`));
  }
  if (isSet(spec.maxFailedIndexes)) {
    causes.push(...validateNonnegative(spec.maxFailedIndexes, 'spec.maxFailedIndexes'));
    if (!isSet(spec.backoffLimitPerIndex)) causes.push(required('spec.backoffLimitPerIndex', 'when maxFailedIndexes is specified'));
  }
  if (isSet(spec.managedBy)) causes.push(...validateManagedBy(String(spec.managedBy)));
  const mode = spec.completionMode;
  if (isSet(mode)) {
    if (mode !== 'NonIndexed' && mode !== 'Indexed') causes.push(notSupported('spec.completionMode', mode, ['NonIndexed', 'Indexed']));
    if (mode === 'Indexed') {
      if (!isSet(spec.completions)) causes.push(required('spec.completions', 'when completion mode is Indexed'));
      if (isSet(spec.parallelism) && spec.parallelism > MAX_PARALLELISM_INDEXED) {
        causes.push(invalid('spec.parallelism', spec.parallelism, `must be less than or equal to ${MAX_PARALLELISM_INDEXED} when completion mode is Indexed`));
      }
      if (isSet(spec.completions) && isSet(spec.maxFailedIndexes) && spec.maxFailedIndexes > spec.completions) {
        causes.push(invalid('spec.maxFailedIndexes', spec.maxFailedIndexes, 'must be less than or equal to completions'));
      }
      if (isSet(spec.maxFailedIndexes) && spec.maxFailedIndexes > MAX_FAILED_INDEXES) {
        causes.push(invalid('spec.maxFailedIndexes', spec.maxFailedIndexes, `must be less than or equal to ${MAX_FAILED_INDEXES}`));
      }
      if (isSet(spec.completions) && spec.completions > COMPLETIONS_SOFT_LIMIT && isSet(spec.backoffLimitPerIndex)) {
        if (!isSet(spec.maxFailedIndexes)) causes.push(required('spec.maxFailedIndexes', `must be specified when completions is above ${COMPLETIONS_SOFT_LIMIT}`));
        const suffix = `when completions are above ${COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index`;
        if (isSet(spec.parallelism) && spec.parallelism > PARALLELISM_LIMIT_HIGH_COMPLETIONS) {
          causes.push(invalid('spec.parallelism', spec.parallelism, `must be less than or equal to ${PARALLELISM_LIMIT_HIGH_COMPLETIONS} ${suffix}`));
        }
        if (isSet(spec.maxFailedIndexes) && spec.maxFailedIndexes > MAX_FAILED_INDEXES_HIGH_COMPLETIONS) {
          causes.push(invalid('spec.maxFailedIndexes', spec.maxFailedIndexes, `must be less than or equal to ${MAX_FAILED_INDEXES_HIGH_COMPLETIONS} ${suffix}`));
        }
      }
    }
  }
  if (!isSet(mode) || mode === 'NonIndexed') {
    if (isSet(spec.backoffLimitPerIndex)) causes.push(invalid('spec.backoffLimitPerIndex', spec.backoffLimitPerIndex, 'requires indexed completion mode'));
    if (isSet(spec.maxFailedIndexes)) causes.push(invalid('spec.maxFailedIndexes', spec.maxFailedIndexes, 'requires indexed completion mode'));
  }
  if (spec.podFailurePolicy) causes.push(...validatePodFailurePolicy(spec));
  if (spec.successPolicy) {
    if (mode !== 'Indexed') causes.push(invalid('spec.successPolicy', spec.successPolicy, 'requires indexed completion mode'));
    else causes.push(...validateSuccessPolicy(spec));
  }
  const replacement = spec.podReplacementPolicy as string | undefined | null;
  if (isSet(replacement)) {
    if (spec.podFailurePolicy) {
      if (replacement !== 'Failed') causes.push(notSupported('spec.podReplacementPolicy', replacement, ['Failed']));
    } else if (!REPLACEMENT_POLICIES.includes(replacement!)) {
      causes.push(notSupported('spec.podReplacementPolicy', replacement, REPLACEMENT_POLICIES));
    }
  }
  causes.push(...validatePodTemplateSpec(spec.template ?? {}, 'spec.template'));
  const restart = spec.template?.spec?.restartPolicy;
  if (!restart || restart === 'Always') {
    causes.push(required('spec.template.spec.restartPolicy', 'valid values: "OnFailure", "Never"'));
  } else if (restart !== 'OnFailure' && restart !== 'Never') {
    causes.push(notSupported('spec.template.spec.restartPolicy', restart, ['OnFailure', 'Never']));
  } else if (spec.podFailurePolicy && restart !== 'Never') {
    causes.push(invalid('spec.template.spec.restartPolicy', restart, 'only "Never" is supported when podFailurePolicy is specified'));
  }
  return causes;
}

/** ValidateJob: metadata, the generated selector, and the spec with its selector. */
function validateJobCreateOrUpdate(job: any, prefixedLabels: boolean): Cause[] {
  const spec = job.spec ?? {};
  const causes = [...validateMetadata(job), ...validateGeneratedSelector(job, prefixedLabels), ...validateJobSpec(spec)];
  const selector: LabelSelector | undefined = spec.selector;
  if (!selector) causes.push(required('spec.selector'));
  else causes.push(...validateLabelSelector(selector, 'spec.selector'));
  const labels = spec.template?.metadata?.labels;
  // A nil selector selects nothing, so it is reported here too, as Kubernetes does.
  if (!selectorMatches(selector, labels)) causes.push(invalid('spec.template.metadata.labels', labels ?? {}, '`selector` does not match template `labels`'));
  if (spec.completionMode === 'Indexed' && isSet(spec.completions) && spec.completions > 0) {
    // The controller names each pod's host NAME-INDEX: the last one must be a DNS label.
    const hostname = `${job.metadata?.name ?? ''}-${spec.completions - 1}`;
    if (isDNS1123Label(hostname).length > 0) {
      causes.push(invalid('metadata.name', job.metadata?.name ?? '', `will not able to create pod with invalid DNS label: ${hostname}`));
    }
  }
  return causes;
}

/**
 * The template with what a suspended Job that never started may change taken from the new one
 * (AllowMutableSchedulingDirectives): node affinity, node selector, tolerations, labels,
 * annotations and scheduling gates.
 */
function comparableOldTemplate(template: any, old: any): any {
  const out = structuredClone(old ?? {});
  out.spec ??= {};
  out.metadata ??= {};
  const next = template ?? {};
  const nextAffinity = next.spec?.affinity;
  const oldAffinity = out.spec.affinity;
  if (!nextAffinity && oldAffinity) {
    delete oldAffinity.nodeAffinity;
    if (Object.keys(oldAffinity).length === 0) delete out.spec.affinity;
  } else if (nextAffinity && !oldAffinity) {
    out.spec.affinity = { nodeAffinity: nextAffinity.nodeAffinity };
  } else if (nextAffinity && oldAffinity) {
    oldAffinity.nodeAffinity = nextAffinity.nodeAffinity;
  }
  out.spec.nodeSelector = next.spec?.nodeSelector;
  out.spec.tolerations = next.spec?.tolerations;
  out.spec.schedulingGates = next.spec?.schedulingGates;
  out.metadata.annotations = next.metadata?.annotations;
  out.metadata.labels = next.metadata?.labels;
  return out;
}

/** ValidateJobSpecUpdate: what may not change once a Job exists. */
function validateJobUpdate(job: any, old: any): Cause[] {
  const spec = job.spec ?? {};
  const oldSpec = old.spec ?? {};
  const causes: Cause[] = [];
  if (!deepEqual(spec.completions, oldSpec.completions)) {
    // Elastic Indexed Jobs: completions may change together with parallelism.
    if (spec.completionMode !== 'Indexed') causes.push(...validateImmutable(spec.completions, oldSpec.completions, 'spec.completions'));
    else if (isSet(spec.completions) && spec.completions !== spec.parallelism) {
      causes.push(invalid('spec.completions', spec.completions, 'can only be modified in tandem with spec.parallelism'));
    }
  }
  causes.push(...validateImmutable(spec.selector, oldSpec.selector, 'spec.selector', goLabelSelector(spec.selector)));
  const mutableScheduling = oldSpec.suspend === true && !old.status?.startTime;
  const oldTemplate = mutableScheduling ? comparableOldTemplate(spec.template, oldSpec.template) : oldSpec.template;
  if (!deepEqual(spec.template, oldTemplate)) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.template', message: `Invalid value: ${goValue(spec.template)}: ${FIELD_IMMUTABLE}` });
  }
  for (const f of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'managedBy', 'successPolicy']) {
    causes.push(...validateImmutable(spec[f], oldSpec[f], `spec.${f}`));
  }
  return causes;
}

/** ValidateJobStatus: counters are never negative. */
function validateJobStatus(status: any): Cause[] {
  if (!status) return [];
  const causes: Cause[] = [];
  for (const f of ['active', 'succeeded', 'failed', 'ready', 'terminating']) {
    if (isSet(status[f])) causes.push(...validateNonnegative(status[f], `status.${f}`));
  }
  return causes;
}

export function validateJob(job: any, old?: any): Cause[] {
  // Jobs created before the prefixed labels existed keep validating without them.
  const oldLabels = old?.spec?.template?.metadata?.labels ?? {};
  const prefixed = !old || (JOB_NAME_LABEL in oldLabels && CONTROLLER_UID_LABEL in oldLabels);
  const causes = validateJobCreateOrUpdate(job, prefixed);
  if (old) causes.push(...validateJobUpdate(job, old));
  causes.push(...validateJobStatus(job.status));
  return causes;
}

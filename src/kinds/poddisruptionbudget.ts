// policy/v1 PodDisruptionBudget: validation (ValidatePodDisruptionBudget) and
// printPodDisruptionBudget. policy/v1 sets no defaults: an unset unhealthyPodEvictionPolicy is read
// as IfHealthyBudget, and a budget with neither minAvailable nor maxUnavailable allows no disruption.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { invalid, invalidIntOrString, isValidPercent, notSupported, validateLabelSelector, validateMetadata, IS_NEGATIVE_ERROR, type LabelSelector } from './validation.js';

export const UNHEALTHY_POD_EVICTION_POLICIES = ['AlwaysAllow', 'IfHealthyBudget'] as const;

export interface PodDisruptionBudgetSpec {
  minAvailable?: number | string;
  maxUnavailable?: number | string;
  selector?: LabelSelector | null;
  unhealthyPodEvictionPolicy?: string;
}

export interface PodDisruptionBudgetStatus {
  observedGeneration?: number;
  disruptedPods?: Record<string, string>;
  disruptionsAllowed?: number;
  currentHealthy?: number;
  desiredHealthy?: number;
  expectedPods?: number;
  conditions?: Condition[];
}

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: string;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export const DISRUPTION_ALLOWED = 'DisruptionAllowed';

/**
 * apimeta.SetStatusCondition: `conditions` with `c` set in place of the condition of its type; the
 * transition time moves only when the status does.
 */
export function setStatusCondition(conditions: Condition[] | undefined, c: Omit<Condition, 'lastTransitionTime'>, now: string): Condition[] {
  const list = conditions ?? [];
  const old = list.find((x) => x.type === c.type);
  const next = (prev?: Condition): Condition => ({
    type: c.type,
    status: c.status,
    ...(c.observedGeneration ? { observedGeneration: c.observedGeneration } : {}),
    lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : now,
    reason: c.reason,
    message: c.message,
  });
  return old ? list.map((x) => (x === old ? next(old) : x)) : [...list, next()];
}

/** pdbhelper.UpdateDisruptionAllowedCondition: the DisruptionAllowed condition as disruptionsAllowed says. */
export function updateDisruptionAllowedCondition(status: PodDisruptionBudgetStatus, now: string): Condition[] {
  const allowed = (status.disruptionsAllowed ?? 0) > 0;
  return setStatusCondition(status.conditions, {
    type: DISRUPTION_ALLOWED,
    status: allowed ? 'True' : 'False',
    observedGeneration: status.observedGeneration,
    reason: allowed ? 'SufficientPods' : 'InsufficientPods',
    message: '',
  }, now);
}

/** pdbhelper.ConditionsAreUpToDate. */
export function conditionsAreUpToDate(status: PodDisruptionBudgetStatus, generation: number): boolean {
  const c = status.conditions?.find((x) => x.type === DISRUPTION_ALLOWED);
  if (!c || (status.observedGeneration ?? 0) !== generation) return false;
  return (status.disruptionsAllowed ?? 0) > 0
    ? c.status === 'True' && c.reason === 'SufficientPods'
    : c.status === 'False' && c.reason === 'InsufficientPods';
}

/** ValidatePositiveIntOrPercent and IsNotMoreThan100Percent. */
function validateIntOrPercent(v: unknown, field: string): Cause[] {
  if (typeof v === 'number') return v < 0 ? [invalid(field, v, IS_NEGATIVE_ERROR)] : [];
  if (typeof v !== 'string') return [invalidIntOrString(field, v, "must be an integer or percentage (e.g '5%')")];
  const causes = isValidPercent(v).map((m) => invalidIntOrString(field, v, m));
  if (causes.length === 0 && Number.parseInt(v, 10) > 100) causes.push(invalidIntOrString(field, v, 'must not be greater than 100%'));
  return causes;
}

function validatePodDisruptionBudget(pdb: any): Cause[] {
  const spec = (pdb.spec ?? {}) as PodDisruptionBudgetSpec;
  const causes = validateMetadata(pdb);
  const has = (v: unknown) => v !== undefined && v !== null;
  if (has(spec.minAvailable) && has(spec.maxUnavailable)) {
    causes.push(invalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set'));
  }
  if (has(spec.minAvailable)) causes.push(...validateIntOrPercent(spec.minAvailable, 'spec.minAvailable'));
  if (has(spec.maxUnavailable)) causes.push(...validateIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable'));
  causes.push(...validateLabelSelector(spec.selector ?? undefined, 'spec.selector'));
  const policy = spec.unhealthyPodEvictionPolicy;
  if (has(policy) && !(UNHEALTHY_POD_EVICTION_POLICIES as readonly unknown[]).includes(policy)) {
    causes.push(notSupported('spec.unhealthyPodEvictionPolicy', policy, UNHEALTHY_POD_EVICTION_POLICIES));
  }
  return causes;
}

/**
 * No defaults in policy/v1, but Go's zero values: the status numbers are not omitempty, so a budget
 * its controller has not seen yet reads 0 for each, as kube-apiserver serves it.
 */
function defaultPodDisruptionBudget(pdb: any): void {
  pdb.spec ??= {};
  pdb.status = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, ...pdb.status };
}

/** An IntOrString as its String() prints it: the number, or the string. */
const intOrString = (v: unknown) => (v === undefined || v === null ? 'N/A' : String(v));

export const podDisruptionBudget: KindDef = {
  kind: 'PodDisruptionBudget',
  group: 'policy',
  version: 'v1',
  plural: 'poddisruptionbudgets',
  singular: 'poddisruptionbudget',
  namespaced: true,
  shortNames: ['pdb'],
  categories: [],
  subresources: ['status'],
  nameRule: 'subdomain',
  hasSpec: true,
  defaults: defaultPodDisruptionBudget,
  validate: validatePodDisruptionBudget,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Min Available', type: 'string', description: 'The minimum number of pods that must be available.', priority: 0 },
    { name: 'Max Unavailable', type: 'string', description: 'The maximum number of pods that may be unavailable.', priority: 0 },
    { name: 'Allowed Disruptions', type: 'integer', description: 'Calculated number of pods that may be disrupted at this time.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (o, now) => [
    o?.metadata?.name ?? '',
    intOrString(o?.spec?.minAvailable),
    intOrString(o?.spec?.maxUnavailable),
    o?.status?.disruptionsAllowed ?? 0,
    age(o?.metadata?.creationTimestamp, now),
  ],
};

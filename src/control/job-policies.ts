// The Job controller's rules over finished pods: podFailurePolicy (pod_failure_policy.go),
// successPolicy (success_policy.go) and the pod failure back-off (backoff_utils.go).
import { indexCount, parseIndexes, type Intervals } from '../kinds/job-indexes.js';

/** Pod failure back-off: 10 s, doubled with each failure since the last success, at most 10 min. */
export const POD_FAILURE_BACKOFF_MS = 10_000;
export const MAX_POD_FAILURE_BACKOFF_MS = 10 * 60_000;

export type PolicyAction = 'FailJob' | 'FailIndex' | 'Ignore' | 'Count';

export interface PolicyMatch {
  /** Set when a FailJob rule matched: the FailureTarget condition's message. */
  failJobMessage?: string;
  /** False when an Ignore rule matched: the failure does not count against backoffLimit. */
  countFailed: boolean;
  action?: PolicyAction;
}

function exitCodeMatches(code: number, req: any): boolean {
  const values: number[] = Array.isArray(req?.values) ? req.values : [];
  if (req?.operator === 'In') return values.includes(code);
  if (req?.operator === 'NotIn') return !values.includes(code);
  return false;
}

/** The first terminated container (then init container) with a non-zero exit code the requirement names. */
function matchingContainer(status: any, req: any): any {
  for (const list of [status?.containerStatuses, status?.initContainerStatuses]) {
    for (const cs of list ?? []) {
      const terminated = cs?.state?.terminated;
      if (!terminated) continue;
      if (req?.containerName != null && req.containerName !== cs.name) continue;
      const code = Number(terminated.exitCode ?? 0);
      if (code !== 0 && exitCodeMatches(code, req)) return cs;
    }
  }
  return undefined;
}

function matchingCondition(status: any, patterns: any[]): any {
  for (const c of status?.conditions ?? []) {
    if (patterns.some((p) => c?.type === p?.type && c?.status === p?.status)) return c;
  }
  return undefined;
}

/** matchPodFailurePolicy: the first rule a failed pod matches, in order. */
export function matchPodFailurePolicy(policy: any, pod: any): PolicyMatch {
  if (!policy) return { countFailed: true };
  const rules: any[] = Array.isArray(policy.rules) ? policy.rules : [];
  const ns = pod?.metadata?.namespace;
  const name = pod?.metadata?.name;
  for (const [index, rule] of rules.entries()) {
    const action = rule?.action as PolicyAction;
    let failJobMessage: string | undefined;
    if (rule?.onExitCodes) {
      const cs = matchingContainer(pod?.status, rule.onExitCodes);
      if (!cs) continue;
      failJobMessage = `Container ${cs.name} for pod ${ns}/${name} failed with exit code ${cs.state.terminated.exitCode} matching ${action} rule at index ${index}`;
    } else if (Array.isArray(rule?.onPodConditions)) {
      const cond = matchingCondition(pod?.status, rule.onPodConditions);
      if (!cond) continue;
      failJobMessage = `Pod ${ns}/${name} has condition ${cond.type} matching ${action} rule at index ${index}`;
    } else {
      continue;
    }
    switch (action) {
      case 'Ignore': return { countFailed: false, action };
      case 'Count': return { countFailed: true, action };
      case 'FailJob': return { failJobMessage, countFailed: true, action };
      case 'FailIndex': return { countFailed: true, action };
      default: continue; // an action this version does not know: the next rule
    }
  }
  return { countFailed: true };
}

/** How many indexes two interval lists share. */
function overlap(a: Intervals, b: Intervals): number {
  let count = 0;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    count += Math.max(0, Math.min(a[i].last, b[j].last) - Math.max(a[i].first, b[j].first) + 1);
    if (b[j].last < a[i].last) j++;
    else if (b[j].last > a[i].last) i++;
    else {
      i++;
      j++;
    }
  }
  return count;
}

/**
 * Whether the succeeded indexes meet a successPolicy rule (matchSuccessPolicy); the message of the
 * SuccessCriteriaMet condition when one does.
 */
export function matchSuccessPolicy(policy: any, completions: number, succeeded: Intervals): string | undefined {
  if (!policy || succeeded.length === 0) return undefined;
  const rules: any[] = Array.isArray(policy.rules) ? policy.rules : [];
  for (const [index, rule] of rules.entries()) {
    if (rule?.succeededIndexes != null) {
      const required = parseIndexes(String(rule.succeededIndexes), completions);
      if (required.length === 0) continue;
      const contains = overlap(required, succeeded);
      if (contains === indexCount(required) || (rule.succeededCount != null && contains >= rule.succeededCount)) return `Matched rules at index ${index}`;
    } else if (rule?.succeededCount != null && indexCount(succeeded) >= rule.succeededCount) {
      return `Matched rules at index ${index}`;
    }
  }
  return undefined;
}

/** The back-off for the next pod after `failures` failures (getRemainingTimeForFailuresCount), in ms. */
export function backoffDelayMs(failures: number): number {
  if (failures <= 0) return 0;
  let delay = POD_FAILURE_BACKOFF_MS;
  for (let i = 1; i < failures; i++) {
    delay *= 2;
    if (delay >= MAX_POD_FAILURE_BACKOFF_MS) return MAX_POD_FAILURE_BACKOFF_MS;
  }
  return delay;
}

/** How long pod creation still waits after the last failure at `lastFailureMs`, in ms (0: not at all). */
export function backoffRemainingMs(failures: number, lastFailureMs: number | undefined, nowMs: number): number {
  if (failures <= 0 || lastFailureMs === undefined) return 0;
  return Math.max(0, backoffDelayMs(failures) - (nowMs - lastFailureMs));
}

/**
 * When a pod finished (getFinishedTime): its containers' last finish, else when it stopped being
 * ready, else its deletion less its grace period, else its creation. In ms since the epoch.
 */
export function podFinishedMs(pod: any): number {
  const statuses: any[] = pod?.status?.containerStatuses ?? [];
  if (statuses.length > 0) {
    let latest: number | undefined;
    for (const cs of statuses) {
      const t = Date.parse(cs?.state?.terminated?.finishedAt ?? '');
      if (Number.isNaN(t)) {
        latest = undefined;
        break;
      }
      latest = latest === undefined ? t : Math.max(latest, t);
    }
    if (latest !== undefined) return latest;
  }
  const ready = (pod?.status?.conditions ?? []).find((c: any) => c?.type === 'Ready' && c?.status === 'False');
  const readyAt = Date.parse(ready?.lastTransitionTime ?? '');
  if (!Number.isNaN(readyAt)) return readyAt;
  const deletion = Date.parse(pod?.metadata?.deletionTimestamp ?? '');
  if (!Number.isNaN(deletion)) return deletion - Number(pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
  return Date.parse(pod?.metadata?.creationTimestamp ?? '') || 0;
}

// core/v1 Pod: defaults (SetDefaults_Pod and the admission plugins that always run:
// Priority, DefaultTolerationSeconds), validation including the update rules, and
// the table kubectl prints (printPod in pkg/printers/internalversion).
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { defaultPodSpec, validatePodSpec } from './podspec.js';
import { podSummary } from './pod-summary.js';
import { milliValue } from './quantity.js';
import { deepEqual, forbidden, goValue, inclusiveRangeError, invalid, required, validateMetadata } from './validation.js';
import { clone } from './clone.js';

/** default-not-ready-toleration-seconds / default-unreachable-toleration-seconds. */
export const DEFAULT_TOLERATION_SECONDS = 300;
export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';
const MAX_INT32 = 2147483647;

const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

function defaultPod(pod: any): void {
  pod.spec ??= {};
  const spec = pod.spec;
  defaultPodSpec(spec);
  // Requests default to limits, for Pods only (not templates).
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const limits = c?.resources?.limits;
    if (!limits) continue;
    c.resources.requests ??= {};
    for (const [name, q] of Object.entries(limits)) if (!(name in c.resources.requests)) c.resources.requests[name] = q;
  }
  spec.enableServiceLinks ??= true;
  // Priority admission with no PriorityClass.
  if (!spec.priorityClassName) spec.priority ??= 0;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  pod.status ??= {};
  pod.status.phase ||= 'Pending';
  pod.status.qosClass ||= podQOSClass(pod);
}

/**
 * DefaultTolerationSeconds admission (pod creation only): tolerate not-ready and unreachable nodes for
 * a while unless the pod says otherwise.
 */
export function addDefaultTolerations(spec: any, notReadySeconds = DEFAULT_TOLERATION_SECONDS, unreachableSeconds = DEFAULT_TOLERATION_SECONDS): void {
  const tolerations: any[] = spec.tolerations ?? [];
  const tolerates = (key: string) => tolerations.some((t) =>
    (t?.key === key || !t?.key) && (t?.effect === 'NoExecute' || !t?.effect));
  const added = [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE]
    .filter((key) => !tolerates(key))
    .map((key) => ({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: key === TAINT_NODE_NOT_READY ? notReadySeconds : unreachableSeconds }));
  if (added.length) spec.tolerations = [...tolerations, ...added];
}

/** The pod's QoS class (pkg/apis/core/helper/qos.ComputePodQOS), from cpu and memory requests and limits. */
export function podQOSClass(pod: any): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let guaranteed = true;
  const containers = [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])];
  for (const c of containers) {
    const limited = new Set<string>();
    for (const [bag, into] of [[c?.resources?.requests, requests], [c?.resources?.limits, limits]] as const) {
      for (const [name, q] of Object.entries(bag ?? {})) {
        if (name !== 'cpu' && name !== 'memory') continue;
        const milli = milliValue(q) ?? 0;
        if (milli <= 0) continue;
        into.set(name, (into.get(name) ?? 0) + milli);
        if (into === limits) limited.add(name);
      }
    }
    if (!limited.has('cpu') || !limited.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) if (limits.get(name) !== req) guaranteed = false;
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

function validatePod(pod: any, old?: any): Cause[] {
  const causes = [...validateMetadata(pod), ...validatePodSpec(pod.spec ?? {}, 'spec')];
  if (old) causes.push(...validatePodSpecUpdate(pod.spec ?? {}, old.spec ?? {}));
  return causes;
}

/** ValidatePodUpdate: only images, activeDeadlineSeconds (down), added tolerations and a negative grace period fixed to 1. */
function validatePodSpecUpdate(spec: any, oldSpec: any): Cause[] {
  const causes: Cause[] = [];
  for (const list of ['containers', 'initContainers'] as const) {
    const now: any[] = spec[list] ?? [];
    const before: any[] = oldSpec[list] ?? [];
    if (now.length !== before.length) return [forbidden(`spec.${list}`, 'pod updates may not add or remove containers')];
    now.forEach((c, i) => {
      if (!c?.image) causes.push(required(`spec.${list}[${i}].image`));
      else if (c.image.trim() !== c.image) causes.push(invalid(`spec.${list}[${i}].image`, c.image, 'must not have leading or trailing whitespace'));
    });
  }

  const deadline = spec.activeDeadlineSeconds;
  const oldDeadline = oldSpec.activeDeadlineSeconds;
  if (deadline !== undefined && deadline !== null) {
    if (deadline < 0 || deadline > MAX_INT32) return [...causes, invalid('spec.activeDeadlineSeconds', deadline, inclusiveRangeError(0, MAX_INT32))];
    if (oldDeadline !== undefined && oldDeadline !== null && oldDeadline < deadline) {
      return [...causes, invalid('spec.activeDeadlineSeconds', deadline, 'must be less than or equal to previous value')];
    }
  } else if (oldDeadline !== undefined && oldDeadline !== null) {
    causes.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }

  causes.push(...validateOnlyAddedTolerations(spec.tolerations ?? [], oldSpec.tolerations ?? []));
  if (deepEqual(spec, oldSpec)) return causes;

  // Put back what may change, then anything left over is a forbidden change.
  const munged = clone(spec);
  for (const list of ['containers', 'initContainers'] as const) {
    (munged[list] ?? []).forEach((c: any, i: number) => { c.image = oldSpec[list][i].image; });
  }
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.tolerations = oldSpec.tolerations;
  if (oldSpec.terminationGracePeriodSeconds < 0 && munged.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  }
  if (!deepEqual(munged, oldSpec)) {
    const diff = specDiff(oldSpec, munged, 'spec').slice(0, 20).join('\n');
    causes.push(forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${diff}`));
  }
  return causes;
}

/** Existing tolerations may only gain a tolerationSeconds change; new ones may be added. */
function validateOnlyAddedTolerations(tolerations: any[], oldTolerations: any[]): Cause[] {
  const sameBesidesSeconds = (a: any, b: any) =>
    deepEqual({ ...a, tolerationSeconds: undefined }, { ...b, tolerationSeconds: undefined });
  for (const old of oldTolerations) {
    if (!tolerations.some((t) => sameBesidesSeconds(t, old))) {
      return [forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds')];
    }
  }
  return [];
}

/** The fields that differ, one "- path: old" / "+ path: new" pair each (a plain stand-in for Go's cmp.Diff). */
function specDiff(before: any, after: any, path: string): string[] {
  if (deepEqual(before, after)) return [];
  const bothObjects = before && after && typeof before === 'object' && typeof after === 'object' &&
    Array.isArray(before) === Array.isArray(after);
  if (!bothObjects) return [`-\t${path}: ${goValue(before)}`, `+\t${path}: ${goValue(after)}`];
  const keys = Array.isArray(before)
    ? [...Array(Math.max(before.length, after.length)).keys()].map(String)
    : [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((k) => specDiff(before[k], after[k], Array.isArray(before) ? `${path}[${k}]` : `${path}.${k}`));
}

// ---------------------------------------------------------------- table

const NODE_UNREACHABLE_POD_REASON = 'NodeLost';

const time = (t: string | undefined) => (t ? Date.parse(t) : 0);

/** READY, STATUS, RESTARTS as printPod computes them. */
export function podStatusCells(pod: any, now: Date): { ready: string; status: string; restarts: string } {
  const spec = pod?.spec ?? {};
  const status = pod?.status ?? {};
  const initSpecs = new Map<string, any>((spec.initContainers ?? []).map((c: any) => [c?.name, c]));
  const isSidecar = (name: string) => initSpecs.get(name)?.restartPolicy === 'Always';
  const total = (spec.containers ?? []).length + [...initSpecs.keys()].filter(isSidecar).length;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  let reason: string = status.reason || status.phase || '';
  if ((status.conditions ?? []).some((c: any) => c?.type === 'PodScheduled' && c?.reason === 'SchedulingGated')) reason = 'SchedulingGated';

  let initializing = false;
  const initStatuses: any[] = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i] ?? {};
    const finished = time(c.lastState?.terminated?.finishedAt);
    restarts += c.restartCount ?? 0;
    lastRestart = Math.max(lastRestart, finished);
    if (isSidecar(c.name)) {
      sidecarRestarts += c.restartCount ?? 0;
      lastSidecarRestart = Math.max(lastSidecarRestart, finished);
    }
    const terminated = c.state?.terminated;
    const waiting = c.state?.waiting;
    if (terminated && (terminated.exitCode ?? 0) === 0) continue;
    if (isSidecar(c.name) && c.started) {
      if (c.ready) ready++;
      continue;
    }
    if (terminated) {
      reason = terminated.reason ? `Init:${terminated.reason}`
        : terminated.signal ? `Init:Signal:${terminated.signal}` : `Init:ExitCode:${terminated.exitCode ?? 0}`;
    } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }

  const initialized = (status.conditions ?? []).some((c: any) => c?.type === 'Initialized' && c?.status === 'True');
  if (!initializing || initialized) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses: any[] = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i] ?? {};
      restarts += c.restartCount ?? 0;
      lastRestart = Math.max(lastRestart, time(c.lastState?.terminated?.finishedAt));
      const terminated = c.state?.terminated;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (terminated?.reason) reason = terminated.reason;
      else if (terminated) reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode ?? 0}`;
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      reason = (status.conditions ?? []).some((c: any) => c?.type === 'Ready' && c?.status === 'True') ? 'Running' : 'NotReady';
    }
  }

  if (pod?.metadata?.deletionTimestamp) {
    if (status.reason === NODE_UNREACHABLE_POD_REASON) reason = 'Unknown';
    else if (status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';
  }
  const restartText = restarts !== 0 && lastRestart > 0
    ? `${restarts} (${age(new Date(lastRestart).toISOString(), now)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartText };
}

function printPod(pod: any, now: Date): unknown[] {
  const { ready, status, restarts } = podStatusCells(pod, now);
  const gates: any[] = pod?.spec?.readinessGates ?? [];
  let readinessGates = '<none>';
  if (gates.length) {
    const conditions: any[] = pod?.status?.conditions ?? [];
    const passed = gates.filter((g) => conditions.find((c) => c?.type === g?.conditionType)?.status === 'True').length;
    readinessGates = `${passed}/${gates.length}`;
  }
  return [
    pod?.metadata?.name ?? '',
    ready,
    status,
    restarts,
    age(pod?.metadata?.creationTimestamp, now),
    pod?.status?.podIPs?.[0]?.ip || pod?.status?.podIP || '<none>',
    pod?.spec?.nodeName || '<none>',
    pod?.status?.nominatedNodeName || '<none>',
    readinessGates,
  ];
}

export const pod: KindDef = {
  kind: 'Pod',
  group: '',
  version: 'v1',
  plural: 'pods',
  singular: 'pod',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  subresources: ['status', 'binding', 'eviction', 'proxy', 'log', 'exec', 'attach', 'portforward'],
  nameRule: 'subdomain',
  defaults: defaultPod,
  validate: validatePod,
  summary: podSummary,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Ready', type: 'string', description: 'The aggregate readiness state of this pod for accepting traffic.', priority: 0 },
    { name: 'Status', type: 'string', description: 'The aggregate status of the containers in this pod.', priority: 0 },
    { name: 'Restarts', type: 'string', description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    { name: 'IP', type: 'string', description: 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', priority: 1 },
    { name: 'Node', type: 'string', description: 'NodeName indicates in which node this pod is scheduled.', priority: 1 },
    { name: 'Nominated Node', type: 'string', description: 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.', priority: 1 },
    { name: 'Readiness Gates', type: 'string', description: 'If specified, all readiness gates will be evaluated for pod readiness.', priority: 1 },
  ],
  row: printPod,
  fields: {
    'spec.nodeName': (p) => p?.spec?.nodeName ?? '',
    'spec.restartPolicy': (p) => p?.spec?.restartPolicy ?? '',
    'spec.schedulerName': (p) => p?.spec?.schedulerName ?? '',
    'spec.serviceAccountName': (p) => p?.spec?.serviceAccountName ?? '',
    'spec.hostNetwork': (p) => String(p?.spec?.hostNetwork === true),
    'status.phase': (p) => p?.status?.phase ?? '',
    'status.podIP': (p) => p?.status?.podIPs?.[0]?.ip ?? p?.status?.podIP ?? '',
    'status.nominatedNodeName': (p) => p?.status?.nominatedNodeName ?? '',
  },
};

// The status kubelet reports for a pod (generateAPIPodStatus), from what the pod worker observed:
// each container's latest and previous run, why it waits, whether it started and is ready.
import type { ContainerInfo } from './runtime.js';

export interface Observed {
  /** Latest run of the container (highest attempt) and the one before it. */
  latest?: ContainerInfo;
  previous?: ContainerInfo;
  /** Why it is not running now, when it is not (CrashLoopBackOff, ImagePullBackOff, ...). */
  waiting?: { reason: string; message?: string };
  started: boolean;
  ready: boolean;
}

export interface PodView {
  pod: any;
  podIP?: string;
  hostIP: string;
  startTime: string;
  sandboxReady: boolean;
  initDone: boolean;
  init: Map<string, Observed>;
  containers: Map<string, Observed>;
  /** A terminal phase decided by the worker (deadline exceeded); otherwise derived. */
  failed?: { reason: string; message: string };
  now: string;
}

function terminated(c: ContainerInfo) {
  return {
    exitCode: c.exitCode ?? 0,
    reason: c.reason ?? (c.exitCode ? 'Error' : 'Completed'),
    ...(c.message ? { message: c.message } : {}),
    startedAt: c.startedAt ?? null,
    finishedAt: c.finishedAt ?? null,
    containerID: c.id,
  };
}

export function containerStatus(spec: any, o: Observed | undefined, defaultWaiting: string): any {
  const latest = o?.latest;
  let state: any;
  let lastState: any = {};
  if (latest?.state === 'running') {
    state = { running: { startedAt: latest.startedAt } };
    if (o?.previous) lastState = { terminated: terminated(o.previous) };
  } else if (o?.waiting || !latest) {
    state = { waiting: o?.waiting ? { reason: o.waiting.reason, ...(o.waiting.message ? { message: o.waiting.message } : {}) } : { reason: defaultWaiting } };
    if (latest) lastState = { terminated: terminated(latest) };
  } else {
    state = { terminated: terminated(latest) };
    if (o?.previous) lastState = { terminated: terminated(o.previous) };
  }
  return {
    name: spec.name,
    state,
    lastState,
    ready: !!o?.ready,
    restartCount: latest?.attempt ?? 0,
    image: spec.image,
    imageID: latest?.imageID ?? '',
    ...(latest ? { containerID: latest.id } : {}),
    started: !!o?.started,
  };
}

/** kubelet's getPhase. */
export function podPhase(view: PodView, statuses: any[]): string {
  if (view.failed) return 'Failed';
  const policy = view.pod.spec.restartPolicy ?? 'Always';
  if (!view.initDone) {
    const initFailed = [...view.init.values()].some((o) => o.latest?.state === 'exited' && (o.latest.exitCode ?? 0) !== 0);
    return initFailed && policy === 'Never' ? 'Failed' : 'Pending';
  }
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const s of statuses) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState.terminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return policy === 'OnFailure' ? 'Running' : 'Failed';
  }
  return 'Pending';
}

const OWN_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'];

export function podStatus(view: PodView): any {
  const { pod } = view;
  const initStatuses = (pod.spec.initContainers ?? []).map((c: any) => containerStatus(c, view.init.get(c.name), 'PodInitializing'));
  const statuses = (pod.spec.containers ?? []).map((c: any) => containerStatus(c, view.containers.get(c.name), view.initDone ? 'ContainerCreating' : 'PodInitializing'));
  const phase = podPhase(view, statuses);
  const terminal = phase === 'Succeeded' || phase === 'Failed';

  const unready = statuses.filter((s: any) => !s.ready).map((s: any) => s.name);
  const containersReady = unready.length === 0 && !terminal;
  const gates: string[] = (pod.spec.readinessGates ?? []).map((g: any) => g.conditionType);
  const existing: any[] = pod.status?.conditions ?? [];
  const missingGate = gates.find((g) => existing.find((c) => c.type === g)?.status !== 'True');
  const cond = (type: string, ok: boolean, reason?: string, message?: string) => {
    const prev = existing.find((c) => c.type === type);
    const status = ok ? 'True' : 'False';
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : view.now,
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
    };
  };
  const notReadyMsg = `containers with unready status: [${unready.join(' ')}]`;
  const initPending = (pod.spec.initContainers ?? []).filter((_: any, i: number) => initStatuses[i].state.terminated?.exitCode !== 0).map((c: any) => c.name);
  const own = [
    cond('PodReadyToStartContainers', view.sandboxReady),
    cond('Initialized', view.initDone, view.initDone ? undefined : 'ContainersNotInitialized', view.initDone ? undefined : `containers with incomplete status: [${initPending.join(' ')}]`),
    cond('ContainersReady', containersReady, containersReady ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady || terminal ? undefined : notReadyMsg),
    containersReady && missingGate
      ? cond('Ready', false, 'ReadinessGatesNotReady', `corresponding condition of pod readiness gate "${missingGate}" does not exist.`)
      : cond('Ready', containersReady, containersReady ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady || terminal ? undefined : notReadyMsg),
  ];
  const conditions = [...existing.filter((c) => !OWN_CONDITIONS.includes(c.type)), ...own];
  return {
    ...(pod.status?.qosClass ? { qosClass: pod.status.qosClass } : {}),
    phase,
    ...(view.failed ? view.failed : {}),
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    ...(view.podIP ? { podIP: view.podIP, podIPs: [{ ip: view.podIP }] } : {}),
    startTime: view.startTime,
    ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: statuses,
  };
}

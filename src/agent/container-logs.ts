// kubelet's containerLogs endpoint on this node: which run of the container to read (the current one,
// or with previous the last one that terminated), the errors in kubelet's words, and limitBytes.
//
// The runs come from the runtime (fresher than the pod's posted status): the current run is the highest
// attempt of that name, and the previous one is what kubelet reports as lastState.terminated: the latest
// run when it exited and the pod worker will start it again (crash loop), else the run before it.
import { Readable } from 'node:stream';
import type { LogsHead } from '../tunnel/head.js';
import { RuntimeError, type ContainerInfo, type Runtime } from './runtime.js';

/** An error kubelet's server answers with: its HTTP status, the Status reason, and its message. */
export class KubeletError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new KubeletError(400, 'BadRequest', message);

/** The pod's containers of every kind, and its container statuses, as far as a pod object is given. */
function specNames(pod: any): string[] {
  const spec = pod?.spec ?? {};
  return [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].map((c: any) => c?.name);
}

function statusOf(pod: any, name: string): any {
  const s = pod?.status ?? {};
  return [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? []), ...(s.ephemeralContainerStatuses ?? [])].find((c: any) => c?.name === name);
}

/** Whether the pod worker starts this exited run again (so kubelet shows it as lastState, not state). */
function restarts(pod: any, run: ContainerInfo): boolean {
  const policy: string = pod?.spec?.restartPolicy ?? 'Always';
  const failed = (run.exitCode ?? 0) !== 0;
  if (policy === 'Never') return false;
  if (policy === 'OnFailure' || run.init) return failed;
  return true;
}

/** kubelet's message for a container that has no run to read yet. */
function waitingError(pod: any, name: string, podName: string): KubeletError {
  const status = statusOf(pod, name);
  const reason: string | undefined = status?.state?.waiting?.reason;
  if (status && !status.state?.waiting && !status.state?.running && !status.state?.terminated) {
    return badRequest(`container "${name}" in pod "${podName}" is waiting to start - no logs yet`);
  }
  if (reason === 'ErrImagePull') return badRequest(`container "${name}" in pod "${podName}" is waiting to start: image can't be pulled`);
  if (reason === 'ImagePullBackOff') return badRequest(`container "${name}" in pod "${podName}" is waiting to start: trying and failing to pull image`);
  const initializing = !!pod && !(pod.spec?.initContainers ?? []).some((c: any) => c?.name === name) && (pod.spec?.initContainers ?? []).length > 0;
  return badRequest(`container "${name}" in pod "${podName}" is waiting to start: ${reason ?? (initializing ? 'PodInitializing' : 'ContainerCreating')}`);
}

/** The runtime's id of the run the request is for, or kubelet's error. */
async function pickRun(runtime: Runtime, head: LogsHead, pod: any): Promise<string> {
  const { container: name, pod: podName } = head;
  const runs = (await runtime.listContainers(head.uid)).filter((c) => c.name === name && c.state !== 'created').sort((a, b) => b.attempt - a.attempt);
  const latest = runs[0];
  if (head.previous) {
    const previous = latest && latest.state === 'exited' && restarts(pod, latest) ? latest : runs[1];
    if (!previous || previous.state !== 'exited') throw badRequest(`previous terminated container "${name}" in pod "${podName}" not found`);
    return previous.id;
  }
  if (!latest) throw waitingError(pod, name, podName);
  return latest.id;
}

/** Cuts a stream after `max` bytes (kubelet's limitwriter), letting go of the rest of the source. */
function limited(source: Readable, max: number): Readable {
  return Readable.from(
    (async function* () {
      let left = max;
      if (left <= 0) {
        source.destroy();
        return;
      }
      for await (const chunk of source) {
        const bytes: Buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        if (bytes.length >= left) {
          yield bytes.subarray(0, left);
          return; // leaving the loop destroys the source
        }
        left -= bytes.length;
        yield bytes;
      }
    })(),
    { objectMode: false },
  );
}

/**
 * A container's log for GET pods/NAME/log, as this node's kubelet would serve it. `pod`, the pod object
 * as the agent last saw it, gives kubelet's 404 for a container the pod does not have and the waiting
 * reason of one not started yet; without it, those are "waiting to start: ContainerCreating".
 */
export async function podLogs(runtime: Runtime, head: LogsHead, pod?: any): Promise<Readable> {
  if (pod && !specNames(pod).includes(head.container)) {
    throw new KubeletError(404, 'NotFound', `container "${head.container}" not found in pod "${head.pod}"`);
  }
  const id = await pickRun(runtime, head, pod);
  let sinceTime: Date | undefined;
  if (head.sinceTime) {
    sinceTime = new Date(head.sinceTime);
    if (Number.isNaN(sinceTime.getTime())) throw badRequest(`invalid sinceTime "${head.sinceTime}"`);
  }
  let source: Readable;
  try {
    source = await runtime.logs(id, { follow: !!head.follow, tailLines: head.tailLines, sinceTime, timestamps: !!head.timestamps });
  } catch (e) {
    // Removed between the listing and the read.
    if (e instanceof RuntimeError && e.reason === 'ContainerNotFound') throw badRequest(`container "${head.container}" in pod "${head.pod}" is not available`);
    throw e;
  }
  return head.limitBytes !== undefined && head.limitBytes !== null ? limited(source, head.limitBytes) : source;
}

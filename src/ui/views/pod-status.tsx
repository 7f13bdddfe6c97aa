// How a pod's status reads at a glance, shared by the Pods list and a pod's detail: the badge tone of
// kubectl's STATUS word, and whether the pod needs attention.
import type { Obj } from '../collection.js';

export type Tone = 'ok' | 'warn' | 'bad' | 'unknown' | '';

/** Ready condition True: what Services route to. */
export function podReady(pod: Obj): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c?.status === 'True');
}

// Words of kubectl's STATUS column that mean "on its way", not "broken".
const TRANSIENT = new Set(['Pending', 'ContainerCreating', 'PodInitializing', 'Terminating', 'NotReady', 'SchedulingGated']);

/** The badge tone for kubectl's STATUS word of this pod. */
export function statusTone(pod: Obj, status: string): Tone {
  if (status === 'Running') return podReady(pod) ? 'ok' : 'warn';
  if (status === 'Completed' || status === 'Succeeded') return '';
  if (status === 'Unknown') return 'unknown';
  if (TRANSIENT.has(status) || /^Init:\d+\/\d+$/.test(status)) return 'warn';
  return 'bad';
}

/** Needs attention: neither Running and ready nor Succeeded. */
export function podProblem(pod: Obj, status: string): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded') return false;
  return !(phase === 'Running' && status === 'Running' && podReady(pod));
}

export function StatusBadge({ pod, status }: { pod: Obj; status: string }) {
  return <span class={`badge ${statusTone(pod, status)}`}>{status || 'Unknown'}</span>;
}

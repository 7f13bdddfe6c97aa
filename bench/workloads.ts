// The workloads of issue 12 at cluster scale, for bench:control and bench:edge: a DaemonSet over every
// node, and CronJobs all due in the same minute. Objects are made as the API server stores them (the
// kinds' defaults applied), written straight to the store.
import { kindNamed } from '../src/kinds/registry.js';
import type { KObject } from '../src/kinds/types.js';

const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
const CONTAINER = { name: 'agent', image: 'busybox:1.36', resources: { requests: { cpu: '5m', memory: '8Mi' } } };

function made(obj: KObject, now: Date): KObject {
  Object.assign(obj.metadata!, { uid: crypto.randomUUID(), generation: 1, creationTimestamp: stamp(now) });
  kindNamed(obj.kind!)!.defaults?.(obj);
  return obj;
}

/** A DaemonSet every node is eligible for. */
export function daemonSetObject(namespace: string, now: Date): KObject {
  return made({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'collector', namespace, labels: { app: 'collector' } },
    spec: { selector: { matchLabels: { app: 'collector' } }, template: { metadata: { labels: { app: 'collector' } }, spec: { containers: [structuredClone(CONTAINER)] } } },
  }, now);
}

/** `count` CronJobs every minute, made at `now` (so all are due at the next minute). */
export function cronJobObjects(namespace: string, count: number, now: Date): KObject[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => made({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: `report-${String(i).padStart(width, '0')}`, namespace },
    spec: {
      schedule: '*/1 * * * *',
      concurrencyPolicy: 'Forbid',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ ...structuredClone(CONTAINER), name: 'report' }] } } } },
    },
  }, now));
}

/** Milliseconds from `now` to one second past the next minute: when an every-minute schedule is due. */
export function msToNextMinute(now: Date): number {
  return 60_000 - (now.getTime() % 60_000) + 1000;
}

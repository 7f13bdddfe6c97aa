import type { KObject } from '../kinds/types.js';
import type { Clock } from '../store/clock.js';
import type { Store, WriteOp, WriteResult } from '../store/store.js';

/** Settings of the control plane, named after kube-controller-manager's flags where one exists. */
export interface ControlOptions {
  /** node-monitor-grace-period: a node whose lease is older is marked Unknown. */
  nodeMonitorGracePeriodSeconds: number;
  /** default-not-ready-toleration-seconds / default-unreachable-toleration-seconds (applied at pod creation). */
  defaultNotReadyTolerationSeconds: number;
  defaultUnreachableTolerationSeconds: number;
  /** Events older than this are deleted (kube-apiserver's --event-ttl). */
  eventTtlSeconds: number;
  /** Changes kept in the log for watches to resume from; older ones are compacted away. */
  changeLogSize: number;
  /**
   * The most objects one controller reads whole or changes in one pass; the rest waits for the next
   * pass. Keeps a pass's memory and CPU bounded at any cluster size (a Worker has 128 MB and 30 s).
   */
  batchSize: number;
  /** burstReplicas: the most pods one ReplicaSet creates or deletes in one pass. */
  replicaSetBurst: number;
  /**
   * How long the lease that keeps other passes (processes, isolates) waiting lasts unless renewed (a
   * long pass renews it); what others wait when its holder died mid-pass. 0: no lease.
   */
  passLeaseSeconds: number;
  /**
   * The most writes one transaction of a controller carries (0: all of a controller's writes in one).
   * `skiff serve` bounds it, as the API shares the database file; Workers keep one round trip.
   */
  commitChunk: number;
  /** cluster-cidr: the IPv4 range the node IPAM controller gives nodes their spec.podCIDR from. */
  clusterCidr: string;
  /** node-cidr-mask-size: the prefix length of each node's podCIDR. */
  nodeCidrMaskSize: number;
  /**
   * Where the Ingresses skiff serves are reached (the control plane's address: a hostname or an IP),
   * published in their status.loadBalancer.ingress. '': not configured, their status stays empty.
   */
  ingressAddress: string;
  /** horizontal-pod-autoscaler-sync-period: how often each HorizontalPodAutoscaler is synced. */
  horizontalPodAutoscalerSyncPeriodSeconds: number;
  /**
   * horizontal-pod-autoscaler-downscale-stabilization: the window whose highest recommendation an HPA
   * scales down to (its behavior.scaleDown.stabilizationWindowSeconds, when set, instead).
   */
  horizontalPodAutoscalerDownscaleStabilizationSeconds: number;
  /** horizontal-pod-autoscaler-cpu-initialization-period: after a pod starts, its cpu samples may be skipped. */
  horizontalPodAutoscalerCpuInitializationPeriodSeconds: number;
  /** horizontal-pod-autoscaler-initial-readiness-delay: after a pod starts, readiness changes count as initial. */
  horizontalPodAutoscalerInitialReadinessDelaySeconds: number;
  /**
   * horizontal-pod-autoscaler-tolerance: a usage ratio this close to 1 changes nothing (an HPA's
   * behavior.scaleUp/scaleDown.tolerance, when set, instead).
   */
  horizontalPodAutoscalerTolerance: number;
}

export const defaultControlOptions: ControlOptions = {
  nodeMonitorGracePeriodSeconds: 40,
  defaultNotReadyTolerationSeconds: 300,
  defaultUnreachableTolerationSeconds: 300,
  eventTtlSeconds: 3600,
  changeLogSize: 100_000,
  batchSize: 2000,
  replicaSetBurst: 500,
  passLeaseSeconds: 10,
  commitChunk: 0,
  clusterCidr: '10.244.0.0/16',
  nodeCidrMaskSize: 24,
  ingressAddress: '',
  horizontalPodAutoscalerSyncPeriodSeconds: 15,
  horizontalPodAutoscalerDownscaleStabilizationSeconds: 300,
  horizontalPodAutoscalerCpuInitializationPeriodSeconds: 300,
  horizontalPodAutoscalerInitialReadinessDelaySeconds: 30,
  horizontalPodAutoscalerTolerance: 0.1,
};

/** Kinds whose controllers ask ctx.present() before reading anything. */
export const OPTIONAL_KINDS = ['DaemonSet', 'Job', 'CronJob', 'PodDisruptionBudget', 'HorizontalPodAutoscaler'] as const;

export interface EventSpec {
  /** The object the event is about (needs kind, apiVersion, metadata name/namespace/uid). */
  involved: KObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  component: string;
  host?: string;
}

/** What one controller sees of a pass: the store, the clock, the settings, and an event sink. */
export class PassContext {
  /** Objects written (events included). */
  writes = 0;
  /** Pods the scheduler tried to place (placed or found no node for): the work its back-off saves. */
  schedulingAttempts = 0;
  /** Of those, the pods the scheduler bound. */
  scheduled = 0;
  /**
   * Nodes without spec.podCIDR, as node lifecycle found them in the health rows it reads anyway, so
   * node IPAM costs an idle pass nothing (undefined: not read this pass).
   */
  nodesWithoutPodCidr?: string[];
  private events: EventSpec[] = [];
  private presentKinds?: Promise<Set<string>>;
  private made = new Set<string>();

  constructor(
    readonly store: Store,
    readonly clock: Clock,
    readonly opts: ControlOptions,
  ) {}

  /**
   * Whether any object of `kind` (one of OPTIONAL_KINDS) exists. One round trip per pass answers it
   * for all of them, so a cluster without DaemonSets, Jobs, CronJobs, budgets or autoscalers pays one
   * read for those controllers, not one each.
   */
  present(kind: (typeof OPTIONAL_KINDS)[number]): Promise<boolean> {
    this.presentKinds ??= this.store
      .rows([{
        // A pod being deleted with the Job tracking finalizer still needs the Job controller (to
        // release it) after the last Job is gone; the partial index of deleting objects finds it.
        sql: `SELECT value AS kind FROM json_each(?) WHERE EXISTS (SELECT 1 FROM objects WHERE objects.kind = value)
          UNION SELECT 'Job' WHERE EXISTS (SELECT 1 FROM objects WHERE kind = 'Pod'
            AND json_extract(object, '$.metadata.deletionTimestamp') IS NOT NULL AND instr(object, '"batch.kubernetes.io/job-tracking"') > 0)`,
        args: [JSON.stringify(OPTIONAL_KINDS)],
      }])
      .then(([rows]) => new Set(rows.map((r) => String(r.kind))));
    return this.presentKinds.then((kinds) => kinds.has(kind) || this.made.has(kind));
  }

  now(): Date {
    return this.clock.now();
  }

  timestamp(offsetMs = 0): string {
    return new Date(this.clock.now().getTime() + offsetMs).toISOString().replace(/\.\d+Z$/, 'Z');
  }

  event(e: EventSpec): void {
    this.events.push(e);
  }

  /** Commit a controller's writes and the events it recorded, in one round trip. */
  async commit(ops: WriteOp[]): Promise<WriteResult[]> {
    const events = this.events.splice(0).map((e) => ({ op: 'event' as const, object: eventObject(e, this.timestamp()) }));
    if (ops.length === 0 && events.length === 0) return [];
    const all = [...ops, ...events];
    // In transactions of at most commitChunk writes where that is set: the database's write lock is
    // then never held long, and API writes on other connections wait only briefly for it.
    const chunk = this.opts.commitChunk || all.length;
    const results: WriteResult[] = [];
    for (let i = 0; i < all.length; i += chunk) results.push(...(await this.store.commit(all.slice(i, i + chunk))));
    // Objects written: a set-based op counts those it wrote; a statement over a controller's own tables, none.
    results.forEach((r, i) => {
      if (!r.ok) return;
      const op = all[i];
      if (op.op !== 'exec') this.writes += r.changed ?? 1;
      // A kind made this pass (the CronJob controller's Jobs) is present for the controllers after it.
      if (op.op === 'create') this.made.add(op.object.kind!);
      if (op.op === 'creates') for (const o of op.objects) this.made.add(o.kind!);
    });
    return results.slice(0, ops.length);
  }
}

/** FNV-1a, for stable names of aggregated events. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** An Event as Kubernetes writes it; the same event repeated keeps its name, so the store counts it. */
export function eventObject(e: EventSpec, now: string): KObject {
  const meta = e.involved.metadata ?? {};
  const namespace = meta.namespace || 'default';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${meta.name}.${hash(`${meta.uid}/${e.reason}/${e.message}/${e.component}`)}`,
      namespace,
      uid: crypto.randomUUID(),
      creationTimestamp: now,
    },
    involvedObject: {
      kind: e.involved.kind,
      namespace: meta.namespace,
      name: meta.name,
      uid: meta.uid,
      apiVersion: e.involved.apiVersion,
      resourceVersion: meta.resourceVersion,
    },
    reason: e.reason,
    message: e.message,
    source: { component: e.component, ...(e.host ? { host: e.host } : {}) },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
    type: e.type,
    eventTime: null,
    reportingComponent: e.component,
    reportingInstance: e.host ?? '',
  };
}

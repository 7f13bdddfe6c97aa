import type { Clock } from '../store/clock.js';
import type { Store } from '../store/store.js';
import { clusterRoleAggregation } from './clusterrole-aggregation.js';
import { defaultControlOptions, PassContext, type ControlOptions } from './context.js';
import { cronJobs } from './cronjobs.js';
import { daemonSets } from './daemonsets.js';
import { deployments } from './deployments.js';
import { disruption } from './disruption.js';
import { horizontalPodAutoscalers } from './horizontal-pod-autoscaler.js';
import { jobs } from './jobs.js';
import { endpoints } from './endpoints.js';
import { collectGarbage } from './garbage-collector.js';
import { finishNamespaces } from './namespaces.js';
import { ingressStatus } from './ingress-status.js';
import { nodeIpam } from './node-ipam.js';
import { nodeLifecycle } from './node-lifecycle.js';
import { replicaSets } from './replicasets.js';
import { scheduler } from './scheduler.js';
import { serviceAccounts } from './serviceaccounts.js';

// One reconcile pass: every controller in a fixed order, each deriving its work from the
// database alone, so a pass can die halfway and the next one carries on. A lease row lets one pass
// run at a time across processes and isolates; correctness rests on conditional writes, the lease
// only saves the work of passes that would race.

export interface PassResult {
  writes: number;
  /** Pods the scheduler tried to place, placed or not (see its back-off). */
  schedulingAttempts?: number;
  /** Of those, the pods bound to a node. */
  scheduled?: number;
  /** Each controller's time in this pass, seconds, in the order they ran. */
  controllerSeconds?: [string, number][];
  roundTrips: number;
  /** Another pass held the lease: this one did nothing (that pass runs again for it). */
  skipped: boolean;
  /** Another pass asked for the lease while this one ran: the state may have changed since it read. */
  wanted: boolean;
  /** When the controllers began and ended (ms since the epoch): within the time the lease was held. */
  ran?: [number, number];
}

export const CONTROLLERS = [
  ['node-lifecycle', nodeLifecycle],
  // After node lifecycle, whose health rows tell it (at no cost) whether any node lacks a podCIDR.
  ['node-ipam', nodeIpam],
  ['garbage-collector', collectGarbage],
  ['namespace', finishNamespaces],
  // After the namespace controller, so a namespace it finished gets no account made in it.
  ['serviceaccount', serviceAccounts],
  // CronJobs make Jobs, Jobs make pods: in that order, a Job due this minute has its pods this pass.
  ['cronjob', cronJobs],
  ['job', jobs],
  // Before the Deployment controller, so a scale it sets is rolled out in the same pass.
  ['horizontal-pod-autoscaler', horizontalPodAutoscalers],
  ['deployment', deployments],
  ['replicaset', replicaSets],
  ['daemonset', daemonSets],
  // After every controller that makes or deletes pods, before the scheduler binds new ones.
  ['disruption', disruption],
  ['scheduler', scheduler],
  ['endpoints', endpoints],
  // Last: no other controller reads the Ingress status it writes.
  ['ingress-status', ingressStatus],
  // Reads and writes ClusterRoles only, which no other controller reads.
  ['clusterrole-aggregation', clusterRoleAggregation],
] as const;

/**
 * Kinds whose writes make no work for any controller: a Lease renewal (node lifecycle reads leases
 * on its own schedule) or an Event. 1,000 nodes renewing every 10 s must not keep passes running.
 * Nor do Roles and bindings (only ClusterRoles feed the aggregation controller).
 */
const NO_WORK = new Set(['Lease', 'Event', 'Role', 'RoleBinding', 'ClusterRoleBinding']);

/** Whether an API write of this kind should kick a pass. */
export const kicksPass = (kind: string): boolean => !NO_WORK.has(kind);

export async function reconcile(store: Store, clock: Clock, opts: ControlOptions = defaultControlOptions): Promise<PassResult> {
  const before = store.roundTrips;
  const holder = opts.passLeaseSeconds > 0 ? crypto.randomUUID() : undefined;
  if (holder && !(await store.acquirePassLease(holder, clock.now().getTime(), opts.passLeaseSeconds * 1000))) {
    return { writes: 0, roundTrips: store.roundTrips - before, skipped: true, wanted: false };
  }
  const ctx = new PassContext(store, clock, opts);
  const began = Date.now();
  const ttlMs = opts.passLeaseSeconds * 1000;
  let renewed = clock.now().getTime();
  const controllerSeconds: [string, number][] = [];
  try {
    for (const [name, controller] of CONTROLLERS) {
      // A long pass keeps its lease: renewed once half of it has gone (a round trip only then), so
      // the lease can be short and a server that died holding it is waited for only briefly.
      const now = clock.now().getTime();
      if (holder && now - renewed > ttlMs / 2) {
        await store.renewPassLease(holder, now + ttlMs);
        renewed = now;
      }
      const start = performance.now();
      await controller(ctx);
      controllerSeconds.push([name, (performance.now() - start) / 1000]);
    }
  } catch (e) {
    if (holder) await store.releasePassLease(holder).catch(() => undefined);
    throw e;
  }
  const ran: [number, number] = [began, Date.now()];
  const { wanted } = await store.compact(opts.changeLogSize, ctx.timestamp(-opts.eventTtlSeconds * 1000), holder);
  return { writes: ctx.writes, schedulingAttempts: ctx.schedulingAttempts, scheduled: ctx.scheduled, controllerSeconds, roundTrips: store.roundTrips - before, skipped: false, wanted, ran };
}

/**
 * Runs passes on a timer and soon after writes (debounced), one at a time; a pass that wrote
 * something (or that another pass waited for) is followed by another, until the state settles. For long-lived processes
 * (`skiff serve`); Workers run passes from cron and waitUntil instead.
 */
export class PassScheduler {
  private timer?: ReturnType<typeof setInterval>;
  private kickTimer?: ReturnType<typeof setTimeout>;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  /** How long the last pass took, ms. */
  private lastMs = 0;

  constructor(
    private run: () => Promise<PassResult>,
    private intervalMs: number,
    private debounceMs = 20,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(0), this.intervalMs);
  }

  /**
   * Ask for a pass soon after a write. Kicks wait four times as long as the last pass took, if that is
   * longer than the debounce: a stream of writes then keeps passes to a fifth of the time at most,
   * however large the cluster makes a pass. Work a pass left (it wrote something) follows at once.
   */
  kickAfterWrite(): void {
    this.kick(Math.max(this.debounceMs, 4 * this.lastMs));
  }

  /** Ask for a pass soon. */
  kick(delay = this.debounceMs): void {
    if (this.kickTimer || this.stopped) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      void this.runOnce();
    }, delay);
  }

  private async runOnce(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    const began = Date.now();
    this.running = this.run()
      .then((r) => {
        this.lastMs = Date.now() - began;
        if (r.writes > 0 || r.wanted) this.again = true;
      })
      .catch((e) => console.error('reconcile pass failed:', e))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.kickTimer);
    await this.running;
  }
}

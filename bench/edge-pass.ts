// One reconcile pass, measured as the Workers limits count it: wall and CPU time of this process,
// peak heap, database round trips and HTTP requests (subrequests), in total and per controller.
import { performance } from 'node:perf_hooks';
import { defaultControlOptions, PassContext, type ControlOptions } from '../src/control/context.js';
import { CONTROLLERS } from '../src/control/pass.js';
import type { Clock } from '../src/store/clock.js';
import type { HeapPeak, Target } from './edge-target.js';

export interface ControllerFigures {
  name: string;
  ms: number;
  roundTrips: number;
  httpRequests: number;
  /** Peak heap above the pass's base while this controller ran, bytes. */
  heapGrowth: number;
}

export interface PassFigures {
  wallMs: number;
  /** User + system CPU of this process during the pass (the database's own too, for a file). */
  cpuMs: number;
  /** CPU of the endpoint process during the pass (NaN for a file). */
  databaseCpuMs: number;
  /** Collected heap before the pass, and the peak above it, bytes. */
  heapBase: number;
  heapGrowth: number;
  roundTrips: number;
  httpRequests: number;
  writes: number;
  controllers: ControllerFigures[];
}

/** A pass as reconcile() runs it (lease, same controllers, order and compaction), each step measured. */
export async function measuredPass(t: Target, clock: Clock, heap: HeapPeak, opts: ControlOptions = defaultControlOptions): Promise<PassFigures> {
  const heapBase = heap.start();
  const controllers: ControllerFigures[] = [];
  const step = async (name: string, run: () => Promise<void>) => {
    const [rt, http, s] = [t.store.roundTrips, t.httpRequests(), performance.now()];
    heap.beginStep();
    await run();
    const ms = performance.now() - s;
    heap.sample();
    controllers.push({ name, ms, roundTrips: t.store.roundTrips - rt, httpRequests: t.httpRequests() - http, heapGrowth: heap.stepPeak - heapBase });
  };
  const db0 = t.databaseCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ctx = new PassContext(t.store, clock, opts);
  const holder = crypto.randomUUID();
  try {
    await step('lease', async () => {
      if (!(await t.store.acquirePassLease(holder, clock.now().getTime(), opts.passLeaseSeconds * 1000))) throw new Error('the pass lease is taken');
    });
    for (const [name, controller] of CONTROLLERS) await step(name, () => controller(ctx));
    await step('compact', async () => {
      await t.store.compact(opts.changeLogSize, ctx.timestamp(-opts.eventTtlSeconds * 1000), holder);
    });
  } finally {
    heap.stop();
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const sum = (f: (c: ControllerFigures) => number) => controllers.reduce((a, c) => a + f(c), 0);
  return {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    databaseCpuMs: t.databaseCpuMs() - db0,
    heapBase,
    heapGrowth: heap.peak - heapBase,
    roundTrips: sum((c) => c.roundTrips),
    httpRequests: sum((c) => c.httpRequests),
    writes: ctx.writes,
    controllers,
  };
}

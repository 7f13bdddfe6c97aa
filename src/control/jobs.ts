import { markDeleted } from '../kinds/deletion.js';
import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import { eventObject, type PassContext } from './context.js';
import { lettingGoOp } from './job-pods.js';
import { expiredJobsSql, jobCountsSql, jobsSql, NO_PODS, podsToLetGoSql, toJobCounts } from './job-reads.js';
import { COMPONENT, JobSync } from './job-sync.js';
import { Budget } from './pod-rows.js';

// The Job controller (kube-controller-manager's job controller) and the TTL-after-finished
// controller: each unfinished Job gets its pods created, deleted and counted (./job-sync.ts), a
// finished Job past its ttlSecondsAfterFinished is deleted, and pods left holding the job-tracking
// finalizer are let go of.
//
// Round trips: (1) the unfinished Jobs whole, at most batchSize, least recently written first; their
// pods counted per Job in SQL; the expired Jobs; the pods to let go of. An idle pass ends here.
// (2) Only when some Job has work: the pods it counts or deletes, whole, at most batchSize in all.
// (3) One write: per Job, its status and the pods it lets go of in one statement (all or none), its
// new pods behind the guard on its live pods; then the deletions and the events.
//
// A pod keeps the job-tracking finalizer until its Job has counted it, so one deleted first still
// counts. Only this controller lets go of it, and it runs only while some Job exists (ctx.present):
// the pods of the last Job, deleted while they ran, wait for the next Job to be let go of.

export async function jobs(ctx: PassContext): Promise<void> {
  if (!(await ctx.present('Job'))) return;
  const limit = ctx.opts.batchSize;
  const [jobRows, countRows, expiredRows, letGoRows] = await ctx.store.rows([
    jobsSql(limit),
    jobCountsSql(limit),
    expiredJobsSql(ctx.now().getTime(), limit),
    podsToLetGoSql(limit),
  ]);
  const counts = new Map(countRows.map((r) => [String(r.uid), toJobCounts(r)]));
  const budget = new Budget(limit);
  const syncs = jobRows.map(objectOf).map((job) => new JobSync(job, counts.get(job.metadata!.uid!) ?? NO_PODS, ctx));
  const reads = syncs.flatMap((s) => s.plan(budget));
  const results = reads.length > 0 ? await ctx.store.query(reads) : [];

  const ops: WriteOp[] = [];
  const creations: WriteOp[] = [];
  const createdEvents: KObject[] = [];
  const taken = new Set<string>();
  const now = ctx.timestamp();
  let at = 0;
  for (const s of syncs) {
    const mine = results.slice(at, at + s.readCount);
    at += s.readCount;
    const out = s.sync(mine, budget, taken);
    if (out.write) ops.push(out.write);
    if (out.create) creations.push(out.create);
    for (const pod of out.created) {
      createdEvents.push(eventObject({ involved: s.job, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${pod.metadata!.name}`, component: COMPONENT }, now));
    }
    for (const e of out.events) ctx.event(e);
  }

  // ttlSecondsAfterFinished: deleted as the TTL-after-finished controller deletes, in the foreground.
  for (const job of expiredRows.map(objectOf)) {
    ops.push({ op: 'update', object: markDeleted(job, ctx.now(), 0, ['foregroundDeletion']), rv: Number(job.metadata!.resourceVersion) });
  }
  for (const pod of letGoRows.map(objectOf)) ops.push(lettingGoOp(pod));

  await ctx.commit([...ops, ...creations, ...(createdEvents.length ? [{ op: 'events' as const, objects: createdEvents }] : [])]);
}

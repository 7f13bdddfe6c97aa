// The CronJob controller's passes at scale: 1,000 CronJobs due in the same minute cost one read and one
// write; a pass with nothing to do, one read; a Forbid CronJob waiting on its Job says so once and then
// costs nothing more; batchSize bounds the Jobs one pass makes; commitChunk cuts the write.
import { afterEach, describe, expect, it } from 'vitest';
import { PassContext, defaultControlOptions, type ControlOptions } from '../../src/control/context.js';
import { cronJobs } from '../../src/control/cronjobs.js';
import { kindNamed } from '../../src/kinds/registry.js';
import type { KObject } from '../../src/kinds/types.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

let open: TempStore | undefined;
afterEach(() => {
  open?.remove();
  open = undefined;
});

function cronJob(t: TempStore, name: string, spec: Record<string, unknown> = {}): KObject {
  const cj: any = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'default', uid: crypto.randomUUID(), generation: 1, creationTimestamp: t.clock.now().toISOString().replace(/\.\d+Z$/, 'Z') },
    spec: {
      schedule: '*/1 * * * *',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox' }] } } } },
      ...spec,
    },
    status: {},
  };
  kindNamed('CronJob')!.defaults!(cj);
  return cj;
}

async function withCronJobs(n: number, spec: Record<string, unknown> = {}): Promise<TempStore> {
  const t = (open = await openTempStore('skiff-cronjobs-'));
  const all = Array.from({ length: n }, (_, i) => cronJob(t, `cj-${i}`, spec));
  for (let i = 0; i < all.length; i += 500) await t.store.commit([{ op: 'creates', objects: all.slice(i, i + 500) }]);
  return t;
}

async function pass(t: TempStore, control: Partial<ControlOptions> = {}) {
  const before = t.store.roundTrips;
  const ctx = new PassContext(t.store, t.clock, { ...defaultControlOptions, ...control });
  await cronJobs(ctx);
  return { roundTrips: t.store.roundTrips - before, writes: ctx.writes };
}

const jobCount = async (t: TempStore) => (await t.store.list('Job')).items.length;

describe('the CronJob controller at scale', () => {
  it('makes 1,000 Jobs due in the same minute in one read and one write, then idles on one read', async () => {
    const t = await withCronJobs(1000);
    // present() and the read: nothing is due before the minute.
    expect(await pass(t)).toEqual({ roundTrips: 2, writes: 0 });
    t.clock.advance(60_000);
    const busy = await pass(t);
    expect(busy.roundTrips).toBe(3);
    expect(await jobCount(t)).toBe(1000);
    expect(await pass(t)).toEqual({ roundTrips: 2, writes: 0 });
    const cj = (await t.store.get('CronJob', 'default', 'cj-7'))!;
    expect((cj.status as any).active).toHaveLength(1);
  });

  it('cuts the write into transactions of commitChunk, statuses with their Jobs', async () => {
    const t = await withCronJobs(250);
    t.clock.advance(60_000);
    const busy = await pass(t, { commitChunk: 100 });
    // present(), the read, three chunks of statuses with their Jobs, and three of events.
    expect(busy.roundTrips).toBe(8);
    expect(await jobCount(t)).toBe(250);
    expect(await pass(t, { commitChunk: 100 })).toEqual({ roundTrips: 2, writes: 0 });
  });

  it('makes at most batchSize Jobs a pass, the rest on the next', async () => {
    const t = await withCronJobs(25);
    t.clock.advance(60_000);
    await pass(t, { batchSize: 10 });
    expect(await jobCount(t)).toBe(10);
    await pass(t, { batchSize: 10 });
    expect(await jobCount(t)).toBe(20);
    await pass(t, { batchSize: 10 });
    expect(await jobCount(t)).toBe(25);
  });

  it('makes no Job whose CronJob changed after the pass read it, and makes it on the next pass', async () => {
    const t = await withCronJobs(1);
    t.clock.advance(60_000);
    // A user's write lands between the pass's read and its write: the status write fails on the
    // resourceVersion, and the Job it would have listed is not made either.
    const commit = t.store.commit.bind(t.store);
    t.store.commit = async (ops) => {
      t.store.commit = commit;
      const cj = (await t.store.get('CronJob', 'default', 'cj-0'))!;
      await commit([{ op: 'update', object: { ...cj, metadata: { ...cj.metadata, labels: { edited: 'yes' } } }, rv: Number(cj.metadata!.resourceVersion) }]);
      return commit(ops);
    };
    await pass(t);
    expect(await jobCount(t)).toBe(0);
    expect((await t.store.get('CronJob', 'default', 'cj-0'))!.status).toEqual({});
    await pass(t);
    expect(await jobCount(t)).toBe(1);
    expect(((await t.store.get('CronJob', 'default', 'cj-0'))!.status as any).active).toHaveLength(1);
  });

  it('a Forbid CronJob waiting on its Job tells it once, then costs one read a pass', async () => {
    const t = await withCronJobs(3, { concurrencyPolicy: 'Forbid' });
    t.clock.advance(60_000);
    await pass(t);
    t.clock.advance(60_000);
    const told = await pass(t);
    expect(told.roundTrips).toBe(3);
    const events = (await t.store.list('Event')).items.filter((e: any) => e.reason === 'JobAlreadyActive');
    expect(events).toHaveLength(3);
    for (let i = 0; i < 5; i++) {
      t.clock.advance(5_000);
      expect(await pass(t)).toEqual({ roundTrips: 2, writes: 0 });
    }
    expect(await jobCount(t)).toBe(3);
  });
});

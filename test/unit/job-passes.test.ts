// The Job controller alone, one pass at a time: what a pass costs (round trips, whole objects read),
// how its work is bounded, and that counts stay exact when passes race.
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { jobs } from '../../src/control/jobs.js';
import { meteredPasses } from '../helpers/metered-passes.js';
import { jsonRequest } from '../helpers/json-request.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';

const NS = '/api/v1/namespaces/default';
const JOBS = '/apis/batch/v1/namespaces/default/jobs';
const TRACKING = 'batch.kubernetes.io/job-tracking';

let temp: TempStore | undefined;
afterEach(() => {
  temp?.remove();
  temp = undefined;
});

async function harness(batchSize = defaultControlOptions.batchSize) {
  temp = await openTempStore('skiff-job-passes-');
  const t = temp;
  const app = createApp({ store: t.store, clock: t.clock, authenticate: () => true });
  const call = async (method: string, path: string, body?: unknown, type?: string) => {
    const res = await app.fetch(new Request(`http://skiff${path}`, jsonRequest(method, body, type)));
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const metered = meteredPasses(t.store, t.clock, jobs, { batchSize });
  const pods = async (name: string) => (await call('GET', `${NS}/pods?labelSelector=batch.kubernetes.io/job-name%3D${name}`)).items as any[];
  /** The pod's phase set as its node would, through pods/status. */
  const finish = async (pod: any, phase: 'Succeeded' | 'Failed') => {
    const status = { phase, containerStatuses: [{ name: 'work', image: 'busybox', ready: false, restartCount: 0, state: { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, finishedAt: t.clock.now().toISOString() } } }] };
    await call('PATCH', `${NS}/pods/${pod.metadata.name}/status`, { status }, 'application/merge-patch+json');
  };
  return { ...t, call, metered, pods, finish, opts: { ...defaultControlOptions, batchSize } };
}

const job = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox' }] } }, ...spec },
});

describe('the cost of a Job pass', () => {
  it('is the presence check alone without Jobs, and one read more for Jobs that need nothing', async () => {
    const h = await harness();
    expect(await h.metered.pass()).toEqual({ roundTrips: 1, wholeReads: 0, writes: 0 });
    for (let i = 0; i < 20; i++) await h.call('POST', JOBS, job(`j${i}`, { parallelism: 2, completions: 4 }));
    const busy = await h.metered.untilIdle();
    expect(busy.length).toBeGreaterThan(0);
    expect(Math.max(...busy.map((c) => c.roundTrips))).toBeLessThanOrEqual(3);
    const idle = await h.metered.pass();
    // Present, then the Jobs whole and their pods counted in SQL: no pod is read whole.
    expect(idle).toEqual({ roundTrips: 2, wholeReads: 20, writes: 0 });
    expect((await h.pods('j0')).length).toBe(2);
  });

  it('reads the pods it counts whole, in one more round trip', async () => {
    const h = await harness();
    await h.call('POST', JOBS, job('count', { parallelism: 3, completions: 3 }));
    await h.metered.untilIdle();
    for (const p of await h.pods('count')) await h.finish(p, 'Succeeded');
    const cost = await h.metered.pass();
    expect(cost.roundTrips).toBe(4);
    expect(cost.wholeReads).toBe(1 + 3);
    const j = await h.call('GET', `${JOBS}/count`);
    expect(j.status.succeeded).toBe(3);
    expect(j.status.conditions.map((c: any) => c.type)).toEqual(['SuccessCriteriaMet', 'Complete']);
  });
});

describe('bounded work', () => {
  it('creates at most batchSize pods a pass', async () => {
    const h = await harness(40);
    await h.call('POST', JOBS, job('wide', { parallelism: 100, completions: 100 }));
    const created: number[] = [];
    for (let i = 0; i < 4; i++) {
      await h.metered.pass();
      created.push((await h.pods('wide')).length);
    }
    expect(created).toEqual([40, 80, 100, 100]);
    expect((await h.call('GET', `${JOBS}/wide`)).status.active).toBe(100);
  });

  it('counts at most batchSize finished pods a pass, and every one exactly once', async () => {
    const h = await harness(30);
    await h.call('POST', JOBS, job('many', { parallelism: 70, completions: 70 }));
    await h.metered.untilIdle();
    for (const p of await h.pods('many')) await h.finish(p, 'Succeeded');
    const succeeded: number[] = [];
    for (let i = 0; i < 4; i++) {
      await h.metered.pass();
      succeeded.push((await h.call('GET', `${JOBS}/many`)).status.succeeded ?? 0);
    }
    expect(succeeded).toEqual([30, 60, 70, 70]);
    expect((await h.pods('many')).every((p) => !(p.metadata.finalizers ?? []).includes(TRACKING))).toBe(true);
  });
});

describe('racing passes', () => {
  it('count each finished pod once and create each missing pod once', async () => {
    const h = await harness();
    await h.call('POST', JOBS, job('race', { parallelism: 2, completions: 4 }));
    await h.metered.untilIdle();
    const [a, b] = await h.pods('race');
    await h.finish(a, 'Succeeded');
    h.clock.advance(1_000);
    await h.finish(b, 'Failed');
    const race = () => Promise.all([jobs(new PassContext(h.store, h.clock, h.opts)), jobs(new PassContext(h.store, h.clock, h.opts))]);
    // Two passes read the same state and write at once: only one's writes may land.
    await race();
    expect((await h.call('GET', `${JOBS}/race`)).status).toMatchObject({ succeeded: 1, failed: 1 });
    // The failure came after the success: its back-off (10 s) holds replacements back.
    expect(await h.pods('race')).toHaveLength(2);
    h.clock.advance(10_000);
    await race();
    const waiting = (await h.pods('race')).filter((p) => p.status?.phase === 'Pending');
    expect(waiting).toHaveLength(2);
    await h.metered.untilIdle();
    expect((await h.call('GET', `${JOBS}/race`)).status).toMatchObject({ succeeded: 1, failed: 1, active: 2 });
  });

  it('write a Job and the pods it counted all together, or not at all', async () => {
    const h = await harness();
    await h.call('POST', JOBS, job('together', { parallelism: 2, completions: 2 }));
    await h.metered.untilIdle();
    const [a, b] = await h.pods('together');
    await h.finish(a, 'Succeeded');
    await h.finish(b, 'Succeeded');
    // Between the pass's reads and its write, one of the pods it counts changes.
    const commit = h.store.commit.bind(h.store);
    let meddled = false;
    h.store.commit = async (ops) => {
      if (!meddled) {
        meddled = true;
        await h.call('PATCH', `${NS}/pods/${b.metadata.name}`, { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json');
      }
      return commit(ops);
    };
    await jobs(new PassContext(h.store, h.clock, h.opts));
    let j = await h.call('GET', `${JOBS}/together`);
    expect(j.status.succeeded).toBeUndefined();
    expect((await h.pods('together')).every((p) => p.metadata.finalizers?.includes(TRACKING))).toBe(true);
    await h.metered.untilIdle();
    j = await h.call('GET', `${JOBS}/together`);
    expect(j.status.succeeded).toBe(2);
    expect(j.status.conditions.map((c: any) => c.type)).toEqual(['SuccessCriteriaMet', 'Complete']);
  });
});

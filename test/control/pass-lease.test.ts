// The pass lease: one pass at a time across processes and isolates. A pass that finds the lease
// taken does nothing and marks it wanted; the holder learns that when it gives the lease back.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultControlOptions } from '../../src/control/context.js';
import { reconcile } from '../../src/control/pass.js';
import { ManualClock } from '../../src/store/clock.js';
import { startApi, type ApiServer } from '../helpers/api-server.js';

describe('pass lease', () => {
  let clock: ManualClock;
  let api: ApiServer;
  beforeEach(async () => {
    clock = new ManualClock();
    api = await startApi({ clock, passes: false });
    // No nodes: the pending pod gets PodScheduled=False from any pass that runs.
    const res = await api.request('/api/v1/namespaces/default/pods', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } }),
    });
    expect(res.status).toBe(201);
  });
  afterEach(() => api.stop());

  const scheduled = async () => {
    const pod = await (await api.request('/api/v1/namespaces/default/pods/web')).json();
    return (pod.status.conditions ?? []).find((c: { type: string }) => c.type === 'PodScheduled');
  };

  it('skips a pass while another holds the lease, and tells the holder it was wanted', async () => {
    expect(await api.store.acquirePassLease('other', clock.now().getTime(), 60_000)).toBe(true);
    const skipped = await reconcile(api.store, clock);
    expect(skipped).toMatchObject({ skipped: true, writes: 0, roundTrips: 1 });
    expect(await scheduled()).toBeUndefined();

    expect(await api.store.compact(defaultControlOptions.changeLogSize, undefined, 'other')).toEqual({ wanted: true });
    const ran = await reconcile(api.store, clock);
    expect(ran.skipped).toBe(false);
    expect(ran.wanted).toBe(false);
    expect(await scheduled()).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    // Given back: the next pass takes it at once.
    expect(await api.store.acquirePassLease('next', clock.now().getTime(), 60_000)).toBe(true);
  });

  it('takes over a lease whose holder died once it has expired', async () => {
    expect(await api.store.acquirePassLease('died', clock.now().getTime(), 60_000)).toBe(true);
    clock.advance(59_000);
    expect((await reconcile(api.store, clock)).skipped).toBe(true);
    clock.advance(1_000);
    expect((await reconcile(api.store, clock)).skipped).toBe(false);
    expect(await scheduled()).toMatchObject({ status: 'False' });
  });

  it('lasts while its holder renews it', async () => {
    expect(await api.store.acquirePassLease('long', clock.now().getTime(), 10_000)).toBe(true);
    await api.store.renewPassLease('long', clock.now().getTime() + 20_000);
    clock.advance(15_000);
    expect((await reconcile(api.store, clock)).skipped).toBe(true);
    // Only its holder renews it.
    await api.store.renewPassLease('other', clock.now().getTime() + 60_000);
    clock.advance(5_000);
    expect((await reconcile(api.store, clock)).skipped).toBe(false);
  });

  it('is not taken when passLeaseSeconds is 0', async () => {
    expect(await api.store.acquirePassLease('other', clock.now().getTime(), 60_000)).toBe(true);
    const r = await reconcile(api.store, clock, { ...defaultControlOptions, passLeaseSeconds: 0 });
    expect(r.skipped).toBe(false);
    expect(await scheduled()).toMatchObject({ status: 'False' });
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultControlOptions, PassContext } from '../../src/control/context.js';
import { reconcile } from '../../src/control/pass.js';
import { ManualClock } from '../../src/store/clock.js';
import { startApi, type ApiServer } from '../helpers/api-server.js';

describe('events', () => {
  let clock: ManualClock;
  let api: ApiServer;
  beforeEach(async () => {
    clock = new ManualClock();
    api = await startApi({ clock, passes: false });
  });
  afterEach(() => api.stop());

  const events = async () => (await (await api.request('/api/v1/namespaces/default/events')).json()).items;
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u-1' } };

  it('counts a repeated event on one object instead of writing another', async () => {
    const record = async () => {
      const ctx = new PassContext(api.store, clock, defaultControlOptions);
      ctx.event({ involved: pod, type: 'Warning', reason: 'FailedScheduling', message: 'no nodes available to schedule pods', component: 'default-scheduler' });
      await ctx.commit([]);
    };
    await record();
    const first = (await events())[0];
    clock.advance(30_000);
    await record();
    const [again] = await events();
    expect((await events()).length).toBe(1);
    expect(again).toMatchObject({
      reason: 'FailedScheduling',
      type: 'Warning',
      count: 2,
      firstTimestamp: first.firstTimestamp,
      involvedObject: { kind: 'Pod', name: 'p', namespace: 'default', uid: 'u-1' },
      source: { component: 'default-scheduler' },
    });
    expect(Date.parse(again.lastTimestamp) - Date.parse(first.lastTimestamp)).toBe(30_000);
  });

  it('expires events an hour after they were last seen', async () => {
    const ctx = new PassContext(api.store, clock, defaultControlOptions);
    ctx.event({ involved: pod, type: 'Normal', reason: 'Scheduled', message: 'Successfully assigned default/p to n1', component: 'default-scheduler' });
    await ctx.commit([]);
    clock.advance(59 * 60_000);
    await reconcile(api.store, clock);
    expect((await events()).length).toBe(1);
    clock.advance(2 * 60_000);
    await reconcile(api.store, clock);
    expect(await events()).toEqual([]);
  });
});

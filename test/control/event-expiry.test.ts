// Events expire --event-ttl (1 h) after they were last seen or written, as kube-apiserver counts the
// TTL from the last write: one posted with an old lastTimestamp is kept a whole TTL from its
// creation, one seen again is kept from then, and the pass drops each once its hour is up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/store/clock.js';
import { startApi, type ApiServer } from '../helpers/api-server.js';

const clock = new ManualClock(Date.parse('2026-06-01T12:00:00Z'));
let api: ApiServer;
const EVENTS = '/api/v1/namespaces/default/events';
const HOUR = 3600_000;

beforeAll(async () => {
  api = await startApi({ passes: false, clock });
});
afterAll(async () => {
  await api?.stop();
});

const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function event(name: string, lastTimestamp: string) {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name },
    involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
    reason: 'Tested',
    message: name,
    type: 'Warning',
    count: 1,
    firstTimestamp: lastTimestamp,
    lastTimestamp,
  };
}

async function post(body: unknown): Promise<void> {
  const res = await api.request(EVENTS, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
}

async function names(): Promise<string[]> {
  const res = await api.request(EVENTS);
  return (await res.json()).items.map((e: any) => e.metadata.name).sort();
}

describe('event expiry (--event-ttl)', () => {
  it('keeps an Event a whole TTL after it was written or last seen, then drops it', async () => {
    const now = clock.now().getTime();
    // Written now, but last seen two hours ago (a client replaying what it saw): kept for an hour.
    await post(event('replayed', stamp(now - 2 * HOUR)));
    await post(event('fresh', stamp(now)));
    await api.reconcile();
    expect(await names()).toEqual(['fresh', 'replayed']);

    // 40 minutes on, `fresh` is seen again (count 2).
    clock.advance(40 * 60_000);
    const res = await api.request(`${EVENTS}/fresh`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ count: 2, lastTimestamp: stamp(clock.now().getTime()) }),
    });
    expect(res.status).toBe(200);

    // An hour and a minute after both were written: `replayed` has had its hour, `fresh` has not.
    clock.advance(21 * 60_000);
    await api.reconcile();
    expect(await names()).toEqual(['fresh']);

    // An hour and a minute after `fresh` was last seen, it goes too.
    clock.advance(40 * 60_000);
    await api.reconcile();
    expect(await names()).toEqual([]);
  });
});

// PolledChanges, a Worker watch's own reads of the change log: the cadence (1 s, doubling while
// nothing happens up to 5 s, back to 1 s after an event), the poll budget that ends the watch, and
// stopping. Fake timers: the times are the policy's, not measured.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { PolledChanges } from '../../src/api/watch.js';
import type { Subscriber as WatchSubscriber } from '../../src/store/change-feed.js';
import { CompactedError, type ChangeEvent, type Store } from '../../src/store/store.js';

const policy = { maxPolls: 8, intervalMs: 1_000, maxIntervalMs: 5_000 };

/** A change log that answers each poll from `script` (by poll number, from 1), and records when each poll came. */
function scriptedLog(script: (poll: number, rev: number) => ChangeEvent[] | Error) {
  const times: number[] = [];
  const store = {
    async changesSince(_kind: string | string[], rev: number) {
      times.push(Date.now());
      const out = script(times.length, rev);
      if (out instanceof Error) throw out;
      return { events: out, rev: out.length > 0 ? out[out.length - 1].rev : rev };
    },
  } as unknown as Store;
  return { store, times };
}

const configMap = (rev: number): ChangeEvent => ({ rev, kind: 'ConfigMap', type: 'ADDED', object: { metadata: { name: `cm-${rev}`, resourceVersion: String(rev) } } });

function subscriber(): WatchSubscriber & { delivered: ChangeEvent[]; failed: unknown[] } {
  const delivered: ChangeEvent[] = [];
  const failed: unknown[] = [];
  return { kind: 'ConfigMap', rev: 10, delivered, failed, deliver: (events) => delivered.push(...events), fail: (e) => failed.push(e) };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

it('backs off while quiet, returns to the first interval after an event, and ends after maxPolls', async () => {
  const { store, times } = scriptedLog((poll, rev) => (poll === 5 ? [configMap(rev + 1)] : []));
  const s = subscriber();
  const end = vi.fn();
  new PolledChanges(store, policy).subscribe(s, end);
  await vi.advanceTimersByTimeAsync(60_000);

  expect(times).toHaveLength(policy.maxPolls);
  const waits = times.slice(1).map((t, i) => t - times[i]);
  // Empty polls 1-4 wait 1, 2, 4, 5 s; the event at poll 5 brings 1 s back; then 1, 2 s again.
  expect(waits).toEqual([1_000, 2_000, 4_000, 5_000, 1_000, 1_000, 2_000]);
  expect(s.delivered.map((e) => e.rev)).toEqual([11]);
  expect(s.rev).toBe(11);
  // The last poll ends the watch at once: nothing more would be read.
  expect(end).toHaveBeenCalledTimes(1);
  expect(Date.now()).toBe(60_000);
});

it('reads a full page again at once', async () => {
  const full = (rev: number) => Array.from({ length: 1000 }, (_, i) => configMap(rev + i + 1));
  const { store, times } = scriptedLog((poll, rev) => (poll === 1 ? full(rev) : []));
  const s = subscriber();
  new PolledChanges(store, { ...policy, maxPolls: 3 }).subscribe(s, () => {});
  await vi.advanceTimersByTimeAsync(60_000);
  expect(times).toEqual([0, 0, 1_000]);
  expect(s.delivered).toHaveLength(1000);
});

it('stops polling when unsubscribed, without ending or failing the watch', async () => {
  const { store, times } = scriptedLog(() => []);
  const end = vi.fn();
  const s = subscriber();
  const unsubscribe = new PolledChanges(store, policy).subscribe(s, end);
  await vi.advanceTimersByTimeAsync(2_000);
  expect(times).toEqual([0, 1_000]);
  unsubscribe();
  await vi.advanceTimersByTimeAsync(60_000);
  expect(times).toEqual([0, 1_000]);
  expect(end).not.toHaveBeenCalled();
  expect(s.failed).toEqual([]);
});

it('fails the watch when its resourceVersion is compacted away', async () => {
  const { store } = scriptedLog(() => new CompactedError(50));
  const s = subscriber();
  const end = vi.fn();
  new PolledChanges(store, policy).subscribe(s, end);
  await vi.advanceTimersByTimeAsync(0);
  expect(s.failed).toEqual([expect.any(CompactedError)]);
  expect(end).not.toHaveBeenCalled();
});

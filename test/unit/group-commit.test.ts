// Group commit: writes that arrive together share one transaction, and each still gets exactly the
// outcome it would have had alone (its own resourceVersion, failed condition or error).
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { KObject } from '../../src/kinds/types.js';
import type { WriteOp, WriteResult } from '../../src/store/store.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const NAMES = ['a', 'b', 'c', 'd'];

const configMap = (name: string, uid: string, value: string): KObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', uid, creationTimestamp: '2026-01-01T00:00:00Z' },
  data: { value },
});

/** A write as data, so the same one can be made against two stores. */
type OpSpec =
  | { op: 'create'; name: string; uid: string; value: string }
  | { op: 'update'; name: string; rvOffset: number; value: string }
  | { op: 'delete'; name: string; rvOffset: number }
  | { op: 'event'; name: string }
  | { op: 'broken' };

const opSpec: fc.Arbitrary<OpSpec> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), name: fc.constantFrom(...NAMES, 'e', 'f'), uid: fc.uuid(), value: fc.string({ maxLength: 8 }) }),
  // rvOffset 0 is the resourceVersion the object was seeded with: right for its first change only.
  fc.record({ op: fc.constant('update' as const), name: fc.constantFrom(...NAMES), rvOffset: fc.constantFrom(0, 0, 1, 7), value: fc.string({ maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), name: fc.constantFrom(...NAMES), rvOffset: fc.constantFrom(0, 3) }),
  fc.record({ op: fc.constant('event' as const), name: fc.constantFrom('x', 'y') }),
  // A statement the database refuses: the whole commit it is in fails, and only that one.
  fc.constant({ op: 'broken' as const }),
);

function toOp(s: OpSpec, seeded: Map<string, number>): WriteOp {
  switch (s.op) {
    case 'create':
      return { op: 'create', object: configMap(s.name, s.uid, s.value), requireNamespace: true };
    case 'update':
      return { op: 'update', object: configMap(s.name, `uid-${s.name}`, s.value), rv: seeded.get(s.name)! + s.rvOffset };
    case 'delete':
      return { op: 'delete', kind: 'ConfigMap', namespace: 'default', name: s.name, rv: seeded.get(s.name)! + s.rvOffset };
    case 'event':
      return {
        op: 'event',
        object: { apiVersion: 'v1', kind: 'Event', metadata: { name: s.name, namespace: 'default', uid: crypto.randomUUID() }, lastTimestamp: '2026-01-01T00:00:00Z' },
      };
    case 'broken':
      return { op: 'update', object: configMap('a', 'uid-a', ''), rv: 0, guard: { sql: 'no_such_column = 1', args: [] } };
  }
}

async function seed(t: TempStore): Promise<Map<string, number>> {
  const results = await t.store.commit(NAMES.map((n) => ({ op: 'create', object: configMap(n, `uid-${n}`, 'seed') })));
  return new Map(NAMES.map((n, i) => [n, results[i].ok ? results[i].rv : -1]));
}

type Outcome = { error: true } | { error: false; results: { ok: boolean; rv?: number }[] };

const outcome = (r: PromiseSettledResult<WriteResult[]>): Outcome =>
  r.status === 'rejected' ? { error: true } : { error: false, results: r.value.map((w) => (w.ok ? { ok: true, rv: w.rv } : { ok: false })) };

async function state(t: TempStore) {
  const rows = await t.store.rows([
    "SELECT kind, name, rv, json_extract(object, '$.data.value') AS value, json_extract(object, '$.count') AS count FROM objects WHERE namespace = 'default' ORDER BY kind, name",
    'SELECT rev, kind, name, type FROM changes ORDER BY rev',
  ]);
  return rows;
}

describe('group commit', () => {
  const stores: TempStore[] = [];
  afterEach(() => {
    for (const t of stores.splice(0)) t.remove();
  });

  it('commits that arrive together share one round trip', async () => {
    const t = await openTempStore('skiff-group-');
    stores.push(t);
    const before = t.store.roundTrips;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => t.store.commit([{ op: 'create', object: configMap(`cm-${i}`, `u-${i}`, 'v') }])));
    expect(results.every(([r]) => r.ok)).toBe(true);
    // The first goes at once; the 49 that came while it was in flight go together.
    expect(t.store.roundTrips - before).toBe(2);
    expect(new Set(results.map(([r]) => r.ok && r.rv)).size).toBe(50);
  });

  it('gives each write of a group exactly what it would get alone', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opSpec, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 12 }), async (commits) => {
        const grouped = await openTempStore('skiff-group-');
        const alone = await openTempStore('skiff-alone-');
        stores.push(grouped, alone);
        const [seedG, seedA] = [await seed(grouped), await seed(alone)];
        expect(seedG).toEqual(seedA);

        const together = await Promise.allSettled(commits.map((c) => grouped.store.commit(c.map((s) => toOp(s, seedG)))));
        const oneByOne: PromiseSettledResult<WriteResult[]>[] = [];
        for (const c of commits) oneByOne.push(...(await Promise.allSettled([alone.store.commit(c.map((s) => toOp(s, seedA)))])));

        expect(together.map(outcome)).toEqual(oneByOne.map(outcome));
        expect(await state(grouped)).toEqual(await state(alone));
        for (const t of stores.splice(0)) t.remove();
      }),
      { numRuns: 40 },
    );
  });
});

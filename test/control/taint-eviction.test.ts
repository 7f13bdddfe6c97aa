// The taint-eviction decision is made twice: in JS (evictionTime, which decides) and in SQL
// (evictionSecondsSql, which finds the pods due among many without reading them). A pod the SQL
// misses is never evicted, and one it finds wrongly holds a place in the batch, so the two must agree:
// fast-check generates tolerations and taints, and both must give the same time (or both never).
import { createClient } from '@libsql/client';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import type { Taint, Toleration } from '../../src/control/scheduling.js';
import { evictionSecondsSql, evictionTime } from '../../src/control/taint-eviction.js';

const client = createClient({ url: ':memory:' });
afterAll(() => client.close());

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const toleration: fc.Arbitrary<Toleration> = fc.record({
  key: maybe(fc.constantFrom('', 'a', 'b')),
  operator: maybe(fc.constantFrom('', 'Equal', 'Exists', 'Sideways')),
  value: maybe(fc.constantFrom('', 'x')),
  effect: maybe(fc.constantFrom('', 'NoExecute', 'NoSchedule')),
  tolerationSeconds: maybe(fc.constantFrom(-5, 0, 30, 300, null as unknown as number)),
}, { requiredKeys: [] });

const taint: fc.Arbitrary<Taint> = fc.record({
  key: fc.constantFrom('a', 'b'),
  value: maybe(fc.constantFrom('', 'x')),
  effect: fc.constantFrom('NoExecute', 'NoSchedule'),
  timeAdded: maybe(fc.constantFrom('2025-03-01T10:00:00Z', '2025-03-01T10:05:00Z', 'not a time')),
}, { requiredKeys: ['key', 'effect'] });

async function sqlSeconds(tolerations: Toleration[], taints: Taint[]): Promise<number | null> {
  const rs = await client.execute({
    sql: `SELECT ${evictionSecondsSql(':taints', ':tolerations')} AS at`,
    args: { taints: JSON.stringify(taints), tolerations: JSON.stringify(tolerations) },
  });
  const at = rs.rows[0].at;
  return at === null ? null : Number(at);
}

it('evictionSecondsSql agrees with evictionTime', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(toleration, { maxLength: 3 }), fc.array(taint, { maxLength: 3 }), async (tolerations, taints) => {
      const js = evictionTime(tolerations, taints);
      expect(await sqlSeconds(tolerations, taints)).toBe(js === undefined ? null : js / 1000);
    }),
    { numRuns: 500 },
  );
});

it('a toleration without seconds, or with null, tolerates forever', async () => {
  const taints = [{ key: 'a', effect: 'NoExecute', timeAdded: '2025-03-01T10:00:00Z' }];
  for (const t of [{ key: 'a', operator: 'Exists' }, { key: 'a', operator: 'Exists', tolerationSeconds: null as unknown as number }]) {
    expect(evictionTime([t], taints)).toBeUndefined();
    expect(await sqlSeconds([t], taints)).toBeNull();
  }
});

// The digests the endpoints controller compares are kept in summaries, computed in JS on every
// write; migration 0005 computes them in SQL for rows written before. Both must agree exactly.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { KObject } from '../../src/kinds/types.js';
import { DIGEST_MODULUS, digestOf, uidNumber } from '../../src/kinds/uid-digest.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const MIGRATION = readFileSync(new URL('../../migrations/0005_summaries_for_endpoints.sql', import.meta.url), 'utf8').split('--> statement-breakpoint');

let t: TempStore;
beforeEach(async () => {
  t = await openTempStore('skiff-uid-digest-');
});
afterEach(() => t.remove());

const pod = (uid: string, ready: boolean): KObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p-${uid.replace(/[^a-z0-9]/g, '')}-${Math.random().toString(36).slice(2, 8)}`, namespace: 'default', uid },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
  status: { podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

const address = (uid: string) => ({ ip: '10.0.0.1', targetRef: { kind: 'Pod', namespace: 'default', name: 'x', uid } });

async function summaries(): Promise<Map<string, unknown>> {
  const rs = await t.client.execute("SELECT kind || '/' || name AS key, summary FROM objects WHERE kind IN ('Pod', 'Endpoints', 'EndpointSlice')");
  return new Map(rs.rows.map((r) => [String(r.key), JSON.parse(String(r.summary))]));
}

it('reads ten hex digits of a uid in base 17, as the SQL does', () => {
  expect(uidNumber('00000000-0000')).toBe((17 ** 10 - 1) / 16);
  expect(uidNumber('ffffffff-ff')).toBe(17 ** 10 - 1);
  expect(uidNumber('')).toBe((17 ** 10 - 1) / 16);
  expect(digestOf([undefined, 'ffffffff-ff', 'ffffffff-ff'])).toBe((2 * (17 ** 10 - 1)) % DIGEST_MODULUS);
});

it('migration 0005 computes the summaries the kinds compute on write', async () => {
  const uid = fc.oneof(fc.uuid(), fc.string({ maxLength: 14 }));
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.tuple(uid, fc.boolean()), { selector: ([u]) => u, maxLength: 8 }), fc.boolean(), async (pods, managed) => {
      await t.client.execute("DELETE FROM objects WHERE kind IN ('Pod', 'Endpoints', 'EndpointSlice')");
      const ready = pods.filter(([, r]) => r).map(([u]) => address(u));
      const notReady = pods.filter(([, r]) => !r).map(([u]) => address(u));
      const objects: KObject[] = [
        ...pods.map(([u, r]) => pod(u, r)),
        {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'web', namespace: 'default', uid: crypto.randomUUID(), ...(managed ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': 'now' } } : {}) },
          subsets: pods.length ? [{ addresses: ready, notReadyAddresses: notReady, ports: [{ port: 80 }] }, { addresses: [address('no-pod')] }] : [],
        },
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 'web-1', namespace: 'default', uid: crypto.randomUUID(), labels: { 'kubernetes.io/service-name': 'web', ...(managed ? { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } : {}) } },
          addressType: 'IPv4',
          endpoints: pods.map(([u, r]) => ({ addresses: ['10.0.0.1'], conditions: { ready: r, serving: r }, targetRef: { kind: 'Pod', uid: u } })),
        },
      ];
      const results = await t.store.commit(objects.map((object) => ({ op: 'create' as const, object })));
      expect(results.every((r) => r.ok)).toBe(true);
      const written = await summaries();

      // As rows written before the kinds kept these summaries.
      await t.client.execute("UPDATE objects SET summary = json_remove(summary, '$.uidNumber') WHERE kind = 'Pod'");
      await t.client.execute("UPDATE objects SET summary = NULL WHERE kind IN ('Endpoints', 'EndpointSlice')");
      const rv = await t.store.revision();
      for (const stmt of MIGRATION) await t.client.execute(stmt);
      expect(await summaries()).toEqual(written);
      expect(await t.store.revision()).toEqual(rv); // no change recorded
    }),
    { numRuns: 60 },
  );
});

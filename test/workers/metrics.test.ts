// GET /metrics on the Worker: the counts of the isolate that answers (isolates share no memory), in
// Prometheus' text format; requests it served and the passes it ran are counted.
import { beforeAll, describe, expect, it } from 'vitest';
import { sumOf } from '../helpers/prometheus-text.js';
import { createNamespace, expectStatus, send, sendAndSettle } from './api.js';

let ns: string;

beforeAll(async () => {
  ns = await createNamespace('metrics');
});

describe('GET /metrics', () => {
  it('answers the isolate\'s request counts, passes, and pods by phase', async () => {
    const scrape = async () => {
      const res = await send('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      return res.text();
    };
    const before = await scrape();
    await expectStatus(sendAndSettle(`/api/v1/namespaces/${ns}/pods`, { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } }), 201);
    await expectStatus(send(`/api/v1/namespaces/${ns}/pods`), 200);
    const after = await scrape();
    const labels = (verb: string, code: string) => ({ verb, resource: 'pods', code, component: 'apiserver' });
    expect(sumOf(after, 'apiserver_request_total', labels('POST', '201')) - sumOf(before, 'apiserver_request_total', labels('POST', '201'))).toBe(1);
    expect(sumOf(after, 'apiserver_request_total', labels('LIST', '200')) - sumOf(before, 'apiserver_request_total', labels('LIST', '200'))).toBe(1);
    expect(sumOf(after, 'skiff_reconcile_passes_total')).toBeGreaterThan(sumOf(before, 'skiff_reconcile_passes_total'));
    expect(sumOf(after, 'skiff_pods', { phase: 'Pending' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(after, 'skiff_db_round_trips_total')).toBeGreaterThan(0);
    expect(after).toMatch(/^# TYPE apiserver_request_duration_seconds histogram$/m);
  });

  it('is refused without the token', async () => {
    await expectStatus(send('/metrics', { token: null }), 401);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiServer } from '../helpers/api-server.js';
import { jsonRequest } from '../helpers/json-request.js';

// A watch with a selector sees an object entering the selection as ADDED and leaving it as DELETED.
describe('watch with a selector', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApi({ passes: false });
  });
  afterAll(() => api.stop());

  const send = (path: string, method: string, body: unknown, type = 'application/json') =>
    api.request(path, jsonRequest(method, body, type));

  it('turns moves in and out of the selection into ADDED and DELETED', async () => {
    const base = '/api/v1/namespaces/default/configmaps';
    const created = await (await send(base, 'POST', { metadata: { name: 'mover', labels: { tier: 'back' } } })).json();
    const res = await api.request(`${base}?watch=1&labelSelector=tier%3Dfront&resourceVersion=${created.metadata.resourceVersion}&timeoutSeconds=2`);
    const label = (tier: string) => send(`${base}/mover`, 'PATCH', { metadata: { labels: { tier } } }, 'application/merge-patch+json');
    await label('front');
    await send(`${base}/mover`, 'PATCH', { data: { a: '1' } }, 'application/merge-patch+json');
    await label('back');
    await send(`${base}/mover`, 'PATCH', { data: { a: '2' } }, 'application/merge-patch+json');
    const events = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => [e.type, e.object.metadata.labels.tier, e.object.data?.a])).toEqual([
      ['ADDED', 'front', undefined],
      ['MODIFIED', 'front', '1'],
      ['DELETED', 'back', '1'],
    ]);
  });
});

// A watch through the Worker inside workerd: isolates share no memory, so the stream polls the change
// log and must still deliver writes that other requests made, then end at timeoutSeconds.
import { beforeAll, expect, it } from 'vitest';
import { createNamespace, expectStatus, send } from './api.js';
import { readEvents } from './watch-stream.js';

let ns: string;

beforeAll(async () => {
  ns = await createNamespace('watch');
});

it('streams the writes made after resourceVersion, then ends at timeoutSeconds', async () => {
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  await expectStatus(send(path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before' } } }), 201);
  const rv = (await expectStatus(send(path), 200)).metadata.resourceVersion;

  const timeoutSeconds = 4;
  const opened = Date.now();
  const res = await send(`${path}?watch=1&resourceVersion=${rv}&timeoutSeconds=${timeoutSeconds}`);
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();

  const created = await expectStatus(send(path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live' }, data: { v: '1' } } }), 201);
  const patched = await expectStatus(
    send(`${path}/live`, { method: 'PATCH', body: { data: { v: '2' } }, contentType: 'application/merge-patch+json' }),
    200,
  );
  await expectStatus(send(`${path}/live`, { method: 'DELETE' }), 200);

  const events = await readEvents(reader, 3);
  // The object created before resourceVersion is not replayed; the three writes come in order.
  expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([
    ['ADDED', 'live'],
    ['MODIFIED', 'live'],
    ['DELETED', 'live'],
  ]);
  expect(events[0].object.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  expect(events[1].object).toMatchObject({ kind: 'ConfigMap', data: { v: '2' }, metadata: { resourceVersion: patched.metadata.resourceVersion } });
  const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
  expect(rvs).toEqual([...rvs].sort((a, b) => a - b));

  // Nothing else happens in this namespace, so the stream's next move is to end at the timeout.
  expect((await reader.read()).done).toBe(true);
  const elapsed = (Date.now() - opened) / 1000;
  expect(elapsed).toBeGreaterThanOrEqual(timeoutSeconds - 0.5);
  expect(elapsed).toBeLessThan(timeoutSeconds + 3);
});

it('serves watches of several requests at once, each from its own reads of the change log', async () => {
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const rv = (await expectStatus(send(path), 200)).metadata.resourceVersion;
  const watches = await Promise.all([1, 2].map(() => send(`${path}?watch=true&resourceVersion=${rv}&timeoutSeconds=10`)));
  await expectStatus(send(path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared' } } }), 201);
  for (const res of watches) {
    const reader = res.body!.getReader();
    const [event] = await readEvents(reader, 1);
    expect([event.type, event.object.metadata.name]).toEqual(['ADDED', 'shared']);
    await reader.cancel();
  }
});

it('answers 400 to an invalid timeoutSeconds', async () => {
  const res = await send(`/api/v1/namespaces/${ns}/configmaps?watch=1&timeoutSeconds=soon`);
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
});

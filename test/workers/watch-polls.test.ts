// A Worker watch spends a bounded number of polls of the change log (each a subrequest of its
// invocation), then ends as at a timeout; a client that resumes from the last resourceVersion it
// saw misses nothing.
import { createExecutionContext } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import worker from '../../src/worker.js';
import { countedEnv, createNamespace, expectStatus, requestFor, send } from './api.js';
import { readEvents } from './watch-stream.js';

let ns: string;

beforeAll(async () => {
  ns = await createNamespace('watch-polls');
});

const POLLS = 3;

/** A watch from `rv`, through an env of its own: WATCH_MAX_POLLS and its database requests counted. */
async function watchFrom(path: string, rv: string) {
  const counted = countedEnv({ WATCH_MAX_POLLS: String(POLLS) });
  // A timeout far beyond what the polls last (about 3 s: polls at 0, 1 and 3 s): the polls end it.
  const res = await worker.fetch(requestFor(`${path}?watch=1&resourceVersion=${rv}&timeoutSeconds=600`), counted.env, createExecutionContext());
  expect(res.status).toBe(200);
  return { reader: res.body!.getReader(), requests: counted.requests };
}

it('ends after WATCH_MAX_POLLS polls; resuming from the last resourceVersion misses nothing', async () => {
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const rv = (await expectStatus(send(path), 200)).metadata.resourceVersion;

  const first = await watchFrom(path, rv);
  await expectStatus(send(path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during' } } }), 201);
  const seen = await readEvents(first.reader);
  // The isolate state's schema check and its read of the Ingress hosts, then the polls: a watch from
  // a resourceVersion lists nothing.
  expect(await first.requests()).toBe(2 + POLLS);

  // Written while no watch is open, as between a client's watch ending and its next.
  await expectStatus(send(path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'between' } } }), 201);
  const last = seen.length > 0 ? seen[seen.length - 1].object.metadata.resourceVersion : rv;
  const second = await watchFrom(path, last);
  const resumed = await readEvents(second.reader);
  expect(await second.requests()).toBe(2 + POLLS);

  expect([...seen, ...resumed].map((e) => [e.type, e.object.metadata.name])).toEqual([
    ['ADDED', 'during'],
    ['ADDED', 'between'],
  ]);
});

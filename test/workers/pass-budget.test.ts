// The cron trigger's invocation runs passes back to back while they write, within
// PASS_SUBREQUEST_BUDGET database requests; with a small BATCH_SIZE a Deployment's pods take several
// passes, and what does not fit in one invocation is done by the next.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import worker from '../../src/worker.js';
import { countedEnv, createNamespace, expectStatus, sendAndSettle, type CountedEnv } from './api.js';
import { createElsewhere, deployment, onOwnNode, registerNode } from './cluster.js';

let ns: string;
const node = `node-${crypto.randomUUID().slice(0, 8)}`;
const BATCH = 2;
const REPLICAS = 6;

beforeAll(async () => {
  ns = await createNamespace('pass-budget');
  await registerNode(node, true);
});

/** One cron invocation through `counted`'s env; answers the database requests it sent. */
async function cronInvocation(counted: CountedEnv): Promise<number> {
  const before = await counted.requests();
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '* * * * *' }), counted.env, ctx);
  await waitOnExecutionContext(ctx);
  return (await counted.requests()) - before;
}

async function boundPods(app: string): Promise<number> {
  const pods = (await expectStatus(sendAndSettle(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`), 200)).items;
  return pods.filter((p: any) => p.spec.nodeName === node).length;
}

/** A Deployment whose pods go to this file's node only. */
const deploymentHere = (name: string) => deployment(name, REPLICAS, onOwnNode(node));

it('binds a Deployment over several passes in one invocation, each pass at most BATCH_SIZE', async () => {
  // One pass alone (a budget of 0 still runs one) binds at most a batch.
  await createElsewhere(`/apis/apps/v1/namespaces/${ns}/deployments`, deploymentHere('one-pass'));
  await cronInvocation(countedEnv({ BATCH_SIZE: String(BATCH), PASS_SUBREQUEST_BUDGET: '0' }));
  expect(await boundPods('one-pass')).toBeLessThanOrEqual(BATCH);

  // With room for many, one invocation runs passes until the work is done: REPLICAS / BATCH or more.
  await createElsewhere(`/apis/apps/v1/namespaces/${ns}/deployments`, deploymentHere('one-invocation'));
  const budget = 1000;
  expect(await cronInvocation(countedEnv({ BATCH_SIZE: String(BATCH), PASS_SUBREQUEST_BUDGET: String(budget) }))).toBeLessThanOrEqual(budget);
  expect(await boundPods('one-invocation')).toBe(REPLICAS);
});

it('stops at PASS_SUBREQUEST_BUDGET with work left, which the next invocations finish', async () => {
  await createElsewhere(`/apis/apps/v1/namespaces/${ns}/deployments`, deploymentHere('budget'));
  // The default: room for one busy pass (about 30 requests with every controller), not for the whole rollout.
  const budget = 40;
  const counted = countedEnv({ BATCH_SIZE: String(BATCH), PASS_SUBREQUEST_BUDGET: String(budget) });
  const spent = [await cronInvocation(counted)];
  expect(await boundPods('budget')).toBeLessThan(REPLICAS);
  while ((await boundPods('budget')) < REPLICAS && spent.length < 20) spent.push(await cronInvocation(counted));
  expect(await boundPods('budget')).toBe(REPLICAS);
  expect(spent.length).toBeGreaterThan(1);
  for (const s of spent) expect(s).toBeLessThanOrEqual(budget);
});

// CronJobs inside workerd: schedules and time zones are validated there (croner and Intl in the
// Workers runtime), and the cron trigger's pass makes the Job of a CronJob that is due.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, expect, it } from 'vitest';
import worker from '../../src/worker.js';
import { createNamespace, expectStatus, sendAndSettle } from './api.js';

let ns: string;

const cronJob = (name: string, schedule: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name },
  spec: {
    schedule,
    jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox' }] } } } },
    ...spec,
  },
});

beforeAll(async () => {
  ns = await createNamespace('cronjobs');
});

it('validates schedules and time zones as kube-apiserver does', async () => {
  const bad = await expectStatus(sendAndSettle(`/apis/batch/v1/namespaces/${ns}/cronjobs`, { body: cronJob('bad', '0 9 * * *', { timeZone: 'Mars/Olympus' }) }), 422);
  expect(bad.details.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'spec.timeZone', message: 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' }]);
  const worse = await expectStatus(sendAndSettle(`/apis/batch/v1/namespaces/${ns}/cronjobs`, { body: cronJob('bad', '0 9 * * 8') }), 422);
  expect(worse.details.causes[0].message).toBe('Invalid value: "0 9 * * 8": end of range (8) above maximum (6): 8');
  await expectStatus(sendAndSettle(`/apis/batch/v1/namespaces/${ns}/cronjobs`, { body: cronJob('tokyo', '0 9 * * *', { timeZone: 'Asia/Tokyo' }) }), 201);
});

it('the cron trigger\'s pass makes the Job of a CronJob that is due', async () => {
  const created = await expectStatus(sendAndSettle(`/apis/batch/v1/namespaces/${ns}/cronjobs`, { body: cronJob('often', '@every 1s') }), 201);
  // Due a second after its creation (whole seconds): wait for the clock to get there, then run the trigger.
  const due = Date.parse(created.metadata.creationTimestamp) + 1000;
  while (Date.now() <= due) await new Promise((ok) => setTimeout(ok, 50));
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);

  const jobs = (await expectStatus(sendAndSettle(`/apis/batch/v1/namespaces/${ns}/jobs`), 200)).items;
  expect(jobs.length).toBeGreaterThanOrEqual(1);
  expect(jobs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'CronJob', name: 'often', uid: created.metadata.uid, controller: true });
  const cj = await expectStatus(sendAndSettle(`/apis/batch/v1/namespaces/${ns}/cronjobs/often`), 200);
  expect(cj.status.active.map((r: any) => r.name)).toContain(jobs[0].metadata.name);
});

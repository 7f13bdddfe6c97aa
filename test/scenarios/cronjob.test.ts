// CronJobs on the test clock: a Job at each schedule time, named for it; Forbid skips a time while the
// previous Job runs and runs it once that one finished; Replace replaces it; history limits, suspend,
// startingDeadlineSeconds, time zones and descriptors as kube-controller-manager has them; and the
// 422s kube-apiserver answers bad schedules and time zones with. Jobs are finished here by writing
// their status through the API, as the Job controller would, so what is tested is the CronJob
// controller alone.
import { describe, expect, it } from 'vitest';
import { perTestClusters, type Cluster } from './cluster.js';
import { jsonRequest } from '../helpers/json-request.js';

const BATCH = '/apis/batch/v1/namespaces/default';
const startCluster = perTestClusters();

function cronJob(name: string, schedule: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name },
    spec: {
      schedule,
      jobTemplate: {
        metadata: { labels: { cron: name } },
        spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'work', image: 'busybox:1.36', command: ['true'] }] } } },
      },
      ...spec,
    },
  };
}

/** The Job name the controller gives the run at `iso`. */
const jobFor = (cron: string, iso: string) => `${cron}-${Date.parse(iso) / 60_000}`;

const jobNames = async (c: Cluster, cron: string) => (await c.list(`${BATCH}/jobs`, `cron=${cron}`)).map((j) => j.metadata.name).sort();

/** The status the Job controller writes when a Job ends, written through the status subresource. */
async function finishJob(c: Cluster, name: string, type: 'Complete' | 'Failed'): Promise<void> {
  const job = await c.get(`${BATCH}/jobs/${name}`);
  const now = c.clock.now().toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = (t: string, reason: string) => ({ type: t, status: 'True', lastProbeTime: now, lastTransitionTime: now, reason, message: reason });
  job.status = {
    ...job.status,
    startTime: job.status?.startTime ?? job.metadata.creationTimestamp,
    active: 0,
    ...(type === 'Complete'
      ? { succeeded: 1, completionTime: now, conditions: [condition('SuccessCriteriaMet', 'CompletionsReached'), condition('Complete', 'CompletionsReached')] }
      : { failed: 1, conditions: [condition('FailureTarget', 'BackoffLimitExceeded'), condition('Failed', 'BackoffLimitExceeded')] }),
  };
  await c.send('PUT', `${BATCH}/jobs/${name}/status`, job);
}

async function events(c: Cluster, cron: string, reason?: string): Promise<any[]> {
  const all = await c.list('/api/v1/namespaces/default/events', undefined, `involvedObject.name=${cron},involvedObject.kind=CronJob`);
  return all.filter((e) => !reason || e.reason === reason);
}

describe('CronJob', () => {
  it('*/1 with Forbid: a Job each minute, a minute skipped while one runs, run once it finished', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('tick', '*/1 * * * *', { concurrencyPolicy: 'Forbid' }));
    await c.advance(50);
    expect(await jobNames(c, 'tick')).toEqual([]);

    await c.advance(10); // 00:01
    const first = jobFor('tick', '2026-01-01T00:01:00Z');
    expect(await jobNames(c, 'tick')).toEqual([first]);
    let cj = await c.get(`${BATCH}/cronjobs/tick`);
    expect(cj.status.active).toEqual([{ kind: 'Job', namespace: 'default', name: first, uid: expect.any(String), apiVersion: 'batch/v1' }]);
    expect(cj.status.lastScheduleTime).toBe('2026-01-01T00:01:00Z');
    const job = await c.get(`${BATCH}/jobs/${first}`);
    expect(job.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: cj.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(job.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2026-01-01T00:01:00Z');
    expect(job.metadata.labels.cron).toBe('tick');
    expect(job.spec.template.spec.containers[0].image).toBe('busybox:1.36');
    expect((await events(c, 'tick', 'SuccessfulCreate')).map((e) => e.message)).toEqual([`Created job ${first}`]);

    // 00:02 and on: the first still runs, so the 00:02 run waits; told once, however many passes.
    await c.advance(90);
    expect(await jobNames(c, 'tick')).toEqual([first]);
    cj = await c.get(`${BATCH}/cronjobs/tick`);
    expect(cj.status.lastScheduleTime).toBe('2026-01-01T00:01:00Z');
    const skipped = await events(c, 'tick', 'JobAlreadyActive');
    expect(skipped.map((e) => [e.message, e.count])).toEqual([['Not starting job because prior execution is running and concurrency policy is Forbid', 1]]);

    // 00:02:30: it finished. With no startingDeadlineSeconds the 00:02 run starts now.
    await finishJob(c, first, 'Complete');
    await c.settle();
    const second = jobFor('tick', '2026-01-01T00:02:00Z');
    expect(await jobNames(c, 'tick')).toEqual([first, second].sort());
    cj = await c.get(`${BATCH}/cronjobs/tick`);
    expect(cj.status.active.map((r: any) => r.name)).toEqual([second]);
    expect(cj.status.lastScheduleTime).toBe('2026-01-01T00:02:00Z');
    expect(cj.status.lastSuccessfulTime).toBe('2026-01-01T00:02:30Z');
    expect((await events(c, 'tick', 'SawCompletedJob')).map((e) => e.message)).toEqual([`Saw completed job: ${first}, status: Complete`]);

    // Finished before 00:03: 00:03 runs on time, and nothing more is said about 00:02.
    await finishJob(c, second, 'Complete');
    await c.advance(30);
    expect(await jobNames(c, 'tick')).toEqual([first, second, jobFor('tick', '2026-01-01T00:03:00Z')].sort());
    expect(await events(c, 'tick', 'JobAlreadyActive')).toHaveLength(1);
  });

  it('keeps successfulJobsHistoryLimit 3 and failedJobsHistoryLimit 1, deleting the oldest with their pods', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('hist', '*/1 * * * *'));
    const outcomes = ['Complete', 'Failed', 'Complete', 'Complete', 'Failed', 'Complete', 'Complete'] as const;
    const made: string[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      await c.advance(60);
      const name = jobFor('hist', new Date(Date.parse('2026-01-01T00:00:00Z') + (i + 1) * 60_000).toISOString());
      made.push(name);
      // A pod of the Job, as the Job controller would make it, to see it go with the Job.
      await c.create('/api/v1/namespaces/default/pods', {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: `${name}-pod`, labels: { run: 'hist' }, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: (await c.get(`${BATCH}/jobs/${name}`)).metadata.uid, controller: true }] },
        spec: { restartPolicy: 'OnFailure', containers: [{ name: 'work', image: 'busybox:1.36' }] },
      });
      await finishJob(c, name, outcome);
      await c.settle();
    }
    const complete = made.filter((_, i) => outcomes[i] === 'Complete');
    const failed = made.filter((_, i) => outcomes[i] === 'Failed');
    expect(await jobNames(c, 'hist')).toEqual([...complete.slice(-3), ...failed.slice(-1)].sort());
    const deleted = [...complete.slice(0, -3), ...failed.slice(0, -1)];
    expect((await events(c, 'hist', 'SuccessfulDelete')).map((e) => e.message).sort()).toEqual(deleted.map((n) => `Deleted job ${n}`).sort());
    expect((await c.list('/api/v1/namespaces/default/pods', 'run=hist')).map((p) => p.metadata.name).sort())
      .toEqual([...complete.slice(-3), ...failed.slice(-1)].map((n) => `${n}-pod`).sort());
    const cj = await c.get(`${BATCH}/cronjobs/hist`);
    expect(cj.status.active).toBeUndefined();
    expect(cj.status.lastSuccessfulTime).toBe('2026-01-01T00:07:00Z');
  });

  it('Replace deletes the running Job and starts the next one', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('swap', '*/1 * * * *', { concurrencyPolicy: 'Replace' }));
    await c.advance(60);
    const first = jobFor('swap', '2026-01-01T00:01:00Z');
    expect(await jobNames(c, 'swap')).toEqual([first]);
    await c.advance(60);
    const second = jobFor('swap', '2026-01-01T00:02:00Z');
    expect(await jobNames(c, 'swap')).toEqual([second]);
    const cj = await c.get(`${BATCH}/cronjobs/swap`);
    expect(cj.status.active.map((r: any) => r.name)).toEqual([second]);
    expect((await events(c, 'swap', 'SuccessfulDelete')).map((e) => e.message)).toEqual([`Deleted job ${first}`]);
  });

  it('Allow runs Jobs side by side', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('many', '*/1 * * * *'));
    await c.advance(180);
    expect(await jobNames(c, 'many')).toHaveLength(3);
    expect((await c.get(`${BATCH}/cronjobs/many`)).status.active).toHaveLength(3);
  });

  it('suspend stops runs; resumed, it runs the latest missed time once', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('nap', '*/1 * * * *', { suspend: true }));
    await c.advance(200);
    expect(await jobNames(c, 'nap')).toEqual([]);
    await c.send('PATCH', `${BATCH}/cronjobs/nap`, { spec: { suspend: false } }, 'application/merge-patch+json');
    await c.settle();
    expect(await jobNames(c, 'nap')).toEqual([jobFor('nap', '2026-01-01T00:03:00Z')]);
  });

  it('startingDeadlineSeconds too short for a late pass skips the run', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('late', '*/1 * * * *', { startingDeadlineSeconds: 10 }));
    // No pass from 00:00 to 00:01:30: the 00:01 run is 30 s late.
    c.clock.advance(90_000);
    await c.settle();
    expect(await jobNames(c, 'late')).toEqual([]);
    expect((await c.get(`${BATCH}/cronjobs/late`)).status.lastScheduleTime).toBeUndefined();
    // 00:02:05 is within 10 s of 00:02.
    c.clock.advance(35_000);
    await c.settle();
    expect(await jobNames(c, 'late')).toEqual([jobFor('late', '2026-01-01T00:02:00Z')]);
  });

  it('timeZone: 09:00 in Asia/Tokyo is 00:00 UTC', async () => {
    const c = await startCluster([]);
    // Created at 2026-01-01T00:00:00Z, 09:00 in Tokyo: the next run is the next day's.
    await c.create(`${BATCH}/cronjobs`, cronJob('tokyo', '0 9 * * *', { timeZone: 'Asia/Tokyo' }));
    c.clock.advance(24 * 3600_000 - 1000);
    await c.settle();
    expect(await jobNames(c, 'tokyo')).toEqual([]);
    c.clock.advance(1000);
    await c.settle();
    const name = jobFor('tokyo', '2026-01-02T00:00:00Z');
    expect(await jobNames(c, 'tokyo')).toEqual([name]);
    const job = await c.get(`${BATCH}/jobs/${name}`);
    expect(job.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2026-01-02T09:00:00+09:00');
    expect((await c.get(`${BATCH}/cronjobs/tokyo`)).status.lastScheduleTime).toBe('2026-01-02T00:00:00Z');
  });

  it('@hourly runs on the hour', async () => {
    const c = await startCluster([]);
    await c.create(`${BATCH}/cronjobs`, cronJob('hourly', '@hourly'));
    c.clock.advance(3599_000);
    await c.settle();
    expect(await jobNames(c, 'hourly')).toEqual([]);
    c.clock.advance(1000);
    await c.settle();
    expect(await jobNames(c, 'hourly')).toEqual([jobFor('hourly', '2026-01-01T01:00:00Z')]);
  });

  it('applies Kubernetes defaults and shows the table kubectl prints', async () => {
    const c = await startCluster([]);
    const created = await c.create(`${BATCH}/cronjobs`, { ...cronJob('table', '*/5 * * * *'), status: { lastScheduleTime: '2020-01-01T00:00:00Z' } });
    expect(created.status).toEqual({});
    expect(created.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    expect(created.spec.jobTemplate.spec.template.spec).toMatchObject({ dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30 });
    expect(created.spec.jobTemplate.spec.backoffLimit).toBeUndefined();
    await c.advance(300);
    const res = await c.api.request(`${BATCH}/cronjobs/table`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    const table = await res.json();
    expect(table.columnDefinitions.map((d: any) => d.name)).toEqual(['Name', 'Schedule', 'Timezone', 'Suspend', 'Active', 'Last Schedule', 'Age', 'Containers', 'Images', 'Selector']);
    expect(table.rows[0].cells).toEqual(['table', '*/5 * * * *', '<none>', 'False', 1, '0s', '5m', 'work', 'busybox:1.36', '<none>']);
  });

  it('answers bad schedules and time zones with 422 and Kubernetes\' messages', async () => {
    const c = await startCluster([]);
    const rejected = async (obj: any) => {
      const res = await c.api.request(`${BATCH}/cronjobs`, jsonRequest('POST', obj));
      expect(res.status).toBe(422);
      const status = await res.json();
      expect(status.reason).toBe('Invalid');
      return status.details.causes.map((cause: any) => `${cause.field}: ${cause.message}`);
    };
    expect(await rejected(cronJob('bad', 'every minute'))).toEqual(['spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]']);
    expect(await rejected(cronJob('bad', '61 * * * *'))).toEqual(['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']);
    expect(await rejected(cronJob('bad', 'TZ=Asia/Tokyo 0 9 * * *'))).toEqual([
      'spec.schedule: Invalid value: "TZ=Asia/Tokyo 0 9 * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead',
    ]);
    expect(await rejected(cronJob('bad', '0 9 * * *', { timeZone: 'Mars/Olympus' }))).toEqual(['spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']);
    expect(await rejected(cronJob('bad', '0 9 * * *', { timeZone: 'Local' }))).toEqual([
      'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones',
    ]);
    expect(await rejected(cronJob('bad', '0 9 * * *', { timeZone: '' }))).toEqual(['spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string']);
    expect(await rejected(cronJob('bad', '0 9 * * *', { concurrencyPolicy: 'Sometimes', startingDeadlineSeconds: -1 }))).toEqual([
      'spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0',
      'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
    ]);
    const always = cronJob('bad', '0 9 * * *');
    always.spec.jobTemplate.spec.template.spec.restartPolicy = 'Always';
    expect(await rejected(always)).toEqual(['spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']);
    const long = 'x'.repeat(53);
    expect(await rejected(cronJob(long, '0 9 * * *'))).toEqual([`metadata.name: Invalid value: "${long}": must be no more than 52 characters`]);
    const res = await c.api.request(`${BATCH}/cronjobs`, jsonRequest('POST', cronJob('bad', 'nope')));
    expect((await res.json()).message).toBe('CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "nope": expected exactly 5 fields, found 1: [nope]');
  });
});

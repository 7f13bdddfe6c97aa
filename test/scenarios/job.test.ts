// Jobs as a user sees them, on the test clock with played nodes whose pods run to an end: an Indexed
// Job's indexes, the back-off and its limit, the deadline, suspend and resume, the TTL after it
// finishes, a pod failure policy and a success policy.
import { describe, expect, it } from 'vitest';
import { condition, perTestClusters, type Cluster } from './cluster.js';

const NS = '/api/v1/namespaces/default';
const BATCH = '/apis/batch/v1/namespaces/default';
const TRACKING = 'batch.kubernetes.io/job-tracking';

const startCluster = perTestClusters();

/** A Job of one busybox container, restartPolicy Never unless the spec says otherwise. */
function job(name: string, spec: Record<string, unknown> = {}, template: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox:1.36', command: ['sh', '-c', 'true'] }], ...template } },
      ...spec,
    },
  };
}

const isActive = (p: any) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase);
const jobPods = (c: Cluster, name: string) => c.list(`${NS}/pods`, `batch.kubernetes.io/job-name=${name}`);
const events = async (c: Cluster, name: string) =>
  (await c.list(`${NS}/events`, undefined, `involvedObject.kind=Job,involvedObject.name=${name}`)).map((e) => `${e.type} ${e.reason} ${e.message}`);

describe('an Indexed Job', () => {
  it('completes 5 indexes with never more than 2 pods active', async () => {
    const c = await startCluster([{ name: 'node-a', finish: () => ({ exitCode: 0 }) }]);
    await c.create(`${BATCH}/jobs`, job('indexed', { completionMode: 'Indexed', completions: 5, parallelism: 2 }));
    let most = 0;
    await c.settle(async (moment) => {
      const active = (await jobPods(c, 'indexed')).filter(isActive).length;
      most = Math.max(most, active);
      if (active > 2) throw new Error(`${moment}: ${active} pods active`);
    });
    expect(most).toBe(2);

    const j = await c.get(`${BATCH}/jobs/indexed`);
    expect(j.status).toMatchObject({ succeeded: 5, completedIndexes: '0-4', ready: 0, terminating: 0, uncountedTerminatedPods: {} });
    expect(j.status.active).toBeUndefined();
    expect(condition(j, 'SuccessCriteriaMet')).toMatchObject({ status: 'True', reason: 'CompletionsReached' });
    expect(condition(j, 'Complete')).toMatchObject({ status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
    expect(j.status.completionTime).toBeDefined();

    const pods = await jobPods(c, 'indexed');
    expect(pods).toHaveLength(5);
    const byIndex = pods.map((p) => p.metadata.annotations['batch.kubernetes.io/job-completion-index']).sort();
    expect(byIndex).toEqual(['0', '1', '2', '3', '4']);
    for (const p of pods) {
      const ix = p.metadata.annotations['batch.kubernetes.io/job-completion-index'];
      expect(p.metadata.labels['batch.kubernetes.io/job-completion-index']).toBe(ix);
      expect(p.metadata.name.startsWith(`indexed-${ix}-`)).toBe(true);
      expect(p.spec.hostname).toBe(`indexed-${ix}`);
      expect(p.spec.containers[0].env).toContainEqual({
        name: 'JOB_COMPLETION_INDEX',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']" } },
      });
      expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: 'indexed', uid: j.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      expect(p.metadata.finalizers ?? []).not.toContain(TRACKING);
    }
    const seen = await events(c, 'indexed');
    expect(seen.filter((e) => e.startsWith('Normal SuccessfulCreate Created pod: indexed-'))).toHaveLength(5);
    expect(seen).toContain('Normal Completed Job completed');
  });
});

describe('a Job whose pods fail', () => {
  it('backs off 10 s, then 20 s, and fails at its backoffLimit', async () => {
    const c = await startCluster([{ name: 'node-a', finish: () => ({ exitCode: 1 }) }]);
    await c.create(`${BATCH}/jobs`, job('flaky', { backoffLimit: 2 }));
    await c.settle();
    await c.advance(60, 1);

    const pods = await jobPods(c, 'flaky');
    const started = pods.map((p) => Date.parse(p.metadata.creationTimestamp)).sort((a, b) => a - b);
    expect(started.map((t) => (t - started[0]) / 1000)).toEqual([0, 10, 30]);
    expect(pods.every((p) => p.status.phase === 'Failed')).toBe(true);

    const j = await c.get(`${BATCH}/jobs/flaky`);
    expect(j.status).toMatchObject({ failed: 3, ready: 0, terminating: 0 });
    expect(condition(j, 'FailureTarget')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(condition(j, 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(condition(j, 'Complete')).toBeUndefined();
    expect(j.status.completionTime).toBeUndefined();
    expect(await events(c, 'flaky')).toContain('Warning BackoffLimitExceeded Job has reached the specified backoff limit');
  });

  it('with restartPolicy OnFailure, fails once its containers restarted backoffLimit times', async () => {
    const c = await startCluster([{ name: 'node-a', finish: () => ({ exitCode: 1 }) }]);
    await c.create(`${BATCH}/jobs`, job('restarts', { backoffLimit: 2 }, { restartPolicy: 'OnFailure' }));
    await c.settle();
    const j = await c.get(`${BATCH}/jobs/restarts`);
    expect(condition(j, 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded' });
    // The one pod was deleted, counted as a failure.
    expect(j.status).toMatchObject({ failed: 1 });
    expect(await jobPods(c, 'restarts')).toEqual([]);
  });

  it('counts a pod deleted before it finished as failed (the job-tracking finalizer)', async () => {
    let finishing = false;
    const c = await startCluster([{ name: 'node-a', finish: () => (finishing ? { exitCode: 0 } : undefined) }]);
    await c.create(`${BATCH}/jobs`, job('counted'));
    await c.settle();
    const [first] = await jobPods(c, 'counted');
    expect(first.metadata.finalizers).toContain(TRACKING);
    await c.send('DELETE', `${NS}/pods/${first.metadata.name}`, {});
    await c.settle();
    expect(await c.status(`${NS}/pods/${first.metadata.name}`)).toBe(404);
    expect((await c.get(`${BATCH}/jobs/counted`)).status).toMatchObject({ failed: 1 });

    finishing = true;
    await c.advance(10, 1);
    const j = await c.get(`${BATCH}/jobs/counted`);
    expect(j.status).toMatchObject({ failed: 1, succeeded: 1 });
    expect(condition(j, 'Complete')).toMatchObject({ status: 'True' });
  });
});

describe('activeDeadlineSeconds', () => {
  it('fails the Job with DeadlineExceeded and deletes its pods', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await c.create(`${BATCH}/jobs`, job('slow', { activeDeadlineSeconds: 30, parallelism: 2, completions: 2 }));
    await c.settle();
    expect((await jobPods(c, 'slow')).filter(isActive)).toHaveLength(2);
    await c.advance(29, 1);
    expect(condition(await c.get(`${BATCH}/jobs/slow`), 'FailureTarget')).toBeUndefined();
    await c.advance(1, 1);

    const j = await c.get(`${BATCH}/jobs/slow`);
    expect(condition(j, 'Failed')).toMatchObject({ status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    expect(j.status).toMatchObject({ failed: 2, ready: 0, terminating: 0 });
    expect(j.status.active).toBeUndefined();
    expect(await jobPods(c, 'slow')).toEqual([]);
    expect(await events(c, 'slow')).toContain('Warning DeadlineExceeded Job was active longer than specified deadline');
  });
});

describe('suspend', () => {
  it('starts no pod while suspended, runs to completion once resumed', async () => {
    const c = await startCluster([{ name: 'node-a', finish: () => ({ exitCode: 0 }) }]);
    await c.create(`${BATCH}/jobs`, job('later', { suspend: true, completions: 3, parallelism: 2 }));
    await c.settle();
    let j = await c.get(`${BATCH}/jobs/later`);
    expect(await jobPods(c, 'later')).toEqual([]);
    expect(condition(j, 'Suspended')).toMatchObject({ status: 'True', reason: 'JobSuspended', message: 'Job suspended' });
    expect(j.status.startTime).toBeUndefined();

    c.clock.advance(5000);
    await c.send('PATCH', `${BATCH}/jobs/later`, { spec: { suspend: false } }, 'application/merge-patch+json');
    await c.settle();
    j = await c.get(`${BATCH}/jobs/later`);
    expect(condition(j, 'Suspended')).toMatchObject({ status: 'False', reason: 'JobResumed', message: 'Job resumed' });
    expect(j.status.startTime).toBe(c.clock.now().toISOString().replace(/\.\d+Z$/, 'Z'));
    expect(condition(j, 'Complete')).toMatchObject({ status: 'True' });
    expect(j.status.succeeded).toBe(3);
    expect(await events(c, 'later')).toEqual(expect.arrayContaining(['Normal Suspended Job suspended', 'Normal Resumed Job resumed']));
  });

  it('deletes the active pods of a running Job without counting them as failed', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await c.create(`${BATCH}/jobs`, job('paused', { completions: 4, parallelism: 2 }));
    await c.settle();
    expect((await jobPods(c, 'paused')).filter(isActive)).toHaveLength(2);
    await c.send('PATCH', `${BATCH}/jobs/paused`, { spec: { suspend: true } }, 'application/merge-patch+json');
    await c.settle();
    const j = await c.get(`${BATCH}/jobs/paused`);
    expect(await jobPods(c, 'paused')).toEqual([]);
    expect(condition(j, 'Suspended')).toMatchObject({ status: 'True' });
    expect(j.status.failed).toBeUndefined();
    expect(j.status.active).toBeUndefined();
  });
});

describe('ttlSecondsAfterFinished', () => {
  it('deletes the finished Job and its pods once the TTL has passed', async () => {
    const c = await startCluster([{ name: 'node-a', finish: () => ({ exitCode: 0 }) }]);
    await c.create(`${BATCH}/jobs`, job('short-lived', { ttlSecondsAfterFinished: 60 }));
    await c.settle();
    expect(condition(await c.get(`${BATCH}/jobs/short-lived`), 'Complete')).toMatchObject({ status: 'True' });
    await c.advance(59, 1);
    expect(await c.status(`${BATCH}/jobs/short-lived`)).toBe(200);
    await c.advance(1, 1);
    expect(await c.status(`${BATCH}/jobs/short-lived`)).toBe(404);
    expect(await jobPods(c, 'short-lived')).toEqual([]);
  });
});

describe('podFailurePolicy', () => {
  it('ignores the exit codes an Ignore rule names and fails the Job on a FailJob rule', async () => {
    let attempts = 0;
    const c = await startCluster([{ name: 'node-a', finish: () => ({ exitCode: ++attempts === 1 ? 3 : 42 }) }]);
    const rules = [
      { action: 'Ignore', onExitCodes: { operator: 'In', values: [3] } },
      { action: 'FailJob', onExitCodes: { containerName: 'work', operator: 'In', values: [42] } },
    ];
    await c.create(`${BATCH}/jobs`, job('strict', { podFailurePolicy: { rules } }));
    await c.settle();
    await c.advance(10, 1);

    const j = await c.get(`${BATCH}/jobs/strict`);
    expect(j.spec.podReplacementPolicy).toBe('Failed');
    const pods = await jobPods(c, 'strict');
    expect(pods).toHaveLength(2);
    const second = pods.find((p) => p.status.containerStatuses[0].state.terminated.exitCode === 42);
    const message = `Container work for pod default/${second.metadata.name} failed with exit code 42 matching FailJob rule at index 1`;
    expect(condition(j, 'FailureTarget')).toMatchObject({ status: 'True', reason: 'PodFailurePolicy', message });
    expect(condition(j, 'Failed')).toMatchObject({ status: 'True', reason: 'PodFailurePolicy', message });
    // The ignored failure is not counted.
    expect(j.status.failed).toBe(1);
  });
});

describe('backoffLimitPerIndex', () => {
  const index = (p: any) => p.metadata.annotations['batch.kubernetes.io/job-completion-index'];

  it('retries a failing index on its own back-off, then fails the Job with the index marked failed', async () => {
    const c = await startCluster([{ name: 'node-a', finish: (p) => ({ exitCode: index(p) === '1' ? 1 : 0 }) }]);
    await c.create(`${BATCH}/jobs`, job('per-index', { completionMode: 'Indexed', completions: 3, parallelism: 3, backoffLimitPerIndex: 1 }));
    await c.settle();
    await c.advance(20, 1);

    const j = await c.get(`${BATCH}/jobs/per-index`);
    expect(j.status).toMatchObject({ completedIndexes: '0,2', failedIndexes: '1', succeeded: 2, failed: 2 });
    expect(condition(j, 'Failed')).toMatchObject({ status: 'True', reason: 'FailedIndexes', message: 'Job has failed indexes' });
    const tries = (await jobPods(c, 'per-index')).filter((p) => index(p) === '1')
      .sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp));
    expect(tries.map((p) => p.metadata.annotations['batch.kubernetes.io/job-index-failure-count'])).toEqual(['0', '1']);
    expect((Date.parse(tries[1].metadata.creationTimestamp) - Date.parse(tries[0].metadata.creationTimestamp)) / 1000).toBe(10);
  });

  it('fails an index at once on a FailIndex rule', async () => {
    const c = await startCluster([{ name: 'node-a', finish: (p) => ({ exitCode: index(p) === '0' ? 42 : 0 }) }]);
    const podFailurePolicy = { rules: [{ action: 'FailIndex', onExitCodes: { operator: 'In', values: [42] } }] };
    await c.create(`${BATCH}/jobs`, job('fail-index', { completionMode: 'Indexed', completions: 2, parallelism: 2, backoffLimitPerIndex: 3, podFailurePolicy }));
    await c.settle();
    const j = await c.get(`${BATCH}/jobs/fail-index`);
    expect(j.status).toMatchObject({ completedIndexes: '1', failedIndexes: '0', failed: 1 });
    expect(condition(j, 'Failed')).toMatchObject({ status: 'True', reason: 'FailedIndexes' });
    expect(await jobPods(c, 'fail-index')).toHaveLength(2);
  });
});

describe('successPolicy', () => {
  it('completes an Indexed Job once its leader index succeeds, deleting the other pods', async () => {
    const leader = (p: any) => p.metadata.annotations['batch.kubernetes.io/job-completion-index'] === '0';
    const c = await startCluster([{ name: 'node-a', finish: (p) => (leader(p) ? { exitCode: 0 } : undefined) }]);
    const successPolicy = { rules: [{ succeededIndexes: '0', succeededCount: 1 }] };
    await c.create(`${BATCH}/jobs`, job('leader', { completionMode: 'Indexed', completions: 3, parallelism: 3, successPolicy }));
    await c.settle();

    const j = await c.get(`${BATCH}/jobs/leader`);
    expect(condition(j, 'SuccessCriteriaMet')).toMatchObject({ status: 'True', reason: 'SuccessPolicy', message: 'Matched rules at index 0' });
    expect(condition(j, 'Complete')).toMatchObject({ status: 'True', reason: 'SuccessPolicy', message: 'Matched rules at index 0' });
    expect(j.status).toMatchObject({ succeeded: 1, completedIndexes: '0', terminating: 0 });
    expect(j.status.failed).toBeUndefined();
    const pods = await jobPods(c, 'leader');
    expect(pods.map((p) => p.metadata.annotations['batch.kubernetes.io/job-completion-index'])).toEqual(['0']);
  });
});

describe('deleting a running Job', () => {
  // The controller runs while some Job exists (ctx.present): it lets go of the pods of deleted ones.
  it('lets its pods go, so the garbage collector removes them', async () => {
    const c = await startCluster([{ name: 'node-a' }]);
    await c.create(`${BATCH}/jobs`, job('other'));
    await c.create(`${BATCH}/jobs`, job('cancelled', { parallelism: 2, completions: 2 }));
    await c.settle();
    expect(await jobPods(c, 'cancelled')).toHaveLength(2);
    await c.send('DELETE', `${BATCH}/jobs/cancelled`, { propagationPolicy: 'Background' });
    await c.settle();
    expect(await jobPods(c, 'cancelled')).toEqual([]);
    expect((await jobPods(c, 'other')).filter(isActive)).toHaveLength(1);
  });
});

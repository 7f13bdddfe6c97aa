// kubectl 1.32 and Jobs against a real `skiff serve`: `create job` (a protobuf body), `wait
// --for=condition=complete`, the table and `describe`, and `create job --from=cronjob/NAME`. No
// agent runs here: the test finishes the Job's pod through pods/status, as its node would.
import { describe, expect, it } from 'vitest';
import { indentedRow, row } from '../helpers/kubectl-output.js';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

if (!hasKubectl) console.warn('kubectl-job.test.ts: skipped, /usr/bin/kubectl is absent');

describe.skipIf(!hasKubectl)('kubectl and Jobs (needs /usr/bin/kubectl)', () => {
  const session = kubectlSession();
  const { k, jsonpath } = session;

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await session.server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };

  /** The Job's one pod, once made, reported Succeeded as a kubelet reports it. */
  async function finishPod(ns: string, job: string): Promise<string> {
    const pod = await until(`a pod of job ${job}`, async () => (await api(`/api/v1/namespaces/${ns}/pods?labelSelector=batch.kubernetes.io/job-name%3D${job}`)).items[0]);
    const now = new Date().toISOString();
    const status = {
      phase: 'Succeeded',
      conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now }],
      containerStatuses: [{ name: job, image: pod.spec.containers[0].image, imageID: '', ready: false, restartCount: 0, started: false, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } } }],
    };
    await api(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`, { method: 'PATCH', body: { status }, headers: { 'content-type': 'application/merge-patch+json' } });
    return pod.metadata.name;
  }

  it('creates a Job, waits for it to complete, and prints and describes it', async () => {
    const ns = 'jobs-kubectl';
    await k('create', 'namespace', ns);
    expect(await k('create', 'job', 'hello', '--image=busybox:1.36', '-n', ns, '--', 'echo', 'hi')).toBe('job.batch/hello created\n');
    expect(await jsonpath('{.spec.template.spec.restartPolicy} {.spec.template.spec.containers[0].command} {.spec.completions} {.spec.backoffLimit}', 'job', 'hello', '-n', ns))
      .toBe('Never ["echo","hi"] 1 6');

    const pod = await finishPod(ns, 'hello');
    expect(await k('wait', '--for=condition=complete', 'job/hello', '--timeout=30s', '-n', ns)).toBe('job.batch/hello condition met\n');

    const table = await k('get', 'jobs', '-n', ns);
    expect(table).toMatch(row('NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE'));
    expect(table).toMatch(row('hello', 'Complete', '1/1', /\d+s/, /\d+s/));
    const wide = await k('get', 'jobs', '-o', 'wide', '-n', ns);
    expect(wide).toMatch(row('NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'));
    expect(wide).toMatch(/^hello\s+Complete\s+1\/1\s+\d+s\s+\d+s\s+hello\s+busybox:1\.36\s+batch\.kubernetes\.io\/controller-uid=[0-9a-f-]+\s*$/m);

    const described = await k('describe', 'job', 'hello', '-n', ns);
    expect(described).toMatch(indentedRow('Parallelism:', '1'));
    expect(described).toMatch(indentedRow('Completions:', '1'));
    expect(described).toMatch(indentedRow('Completion Mode:', 'NonIndexed'));
    expect(described).toMatch(indentedRow('Pods Statuses:', '0 Active (0 Ready) / 1 Succeeded / 0 Failed'));
    expect(described).toMatch(indentedRow('Normal', 'SuccessfulCreate', /\S+/, 'job-controller', `Created pod: ${pod}`));
    expect(described).toMatch(indentedRow('Normal', 'Completed', /\S+/, 'job-controller', 'Job completed'));
    expect(await k('get', 'jobs', '--field-selector', 'status.successful=1', '-n', ns, '-o', 'name')).toBe('job.batch/hello\n');
  });

  it('creates a Job from a CronJob', async () => {
    const ns = 'jobs-from-cron';
    await k('create', 'namespace', ns);
    await k('create', 'cronjob', 'nightly', '--image=busybox:1.36', '--schedule=0 0 1 1 *', '-n', ns, '--', 'echo', 'night');
    expect(await k('create', 'job', 'manual', '--from=cronjob/nightly', '-n', ns)).toBe('job.batch/manual created\n');
    const job = await api(`/apis/batch/v1/namespaces/${ns}/jobs/manual`);
    const cron = await api(`/apis/batch/v1/namespaces/${ns}/cronjobs/nightly`);
    expect(job.metadata.annotations['cronjob.kubernetes.io/instantiate']).toBe('manual');
    expect(job.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: cron.metadata.uid, controller: true }]);
    expect(job.spec.template.spec.containers[0].command).toEqual(['echo', 'night']);
    await finishPod(ns, 'manual');
    expect(await k('wait', '--for=condition=complete', 'job/manual', '--timeout=30s', '-n', ns)).toBe('job.batch/manual condition met\n');
  });
});

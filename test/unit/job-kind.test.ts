// batch/v1 Job through the API: defaults and the generated selector, kube-apiserver's validation
// messages, what an update may change, printJob's table and the status.successful field selector.
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { job as jobKind } from '../../src/kinds/job.js';
import { jsonRequest } from '../helpers/json-request.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const JOBS = '/apis/batch/v1/namespaces/default/jobs';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

let temp: TempStore | undefined;
afterEach(() => {
  temp?.remove();
  temp = undefined;
});

async function api() {
  temp = await openTempStore('skiff-job-kind-');
  const app = createApp({ store: temp.store, clock: temp.clock, authenticate: () => true });
  const call = async (method: string, path: string, body?: unknown, type?: string, accept?: string) => {
    const init = jsonRequest(method, body, type);
    if (accept) init.headers = { ...(init.headers as Record<string, string>), accept };
    const res = await app.fetch(new Request(`http://skiff${path}`, init));
    return { status: res.status, body: await res.json() as any };
  };
  return { call, store: temp.store, clock: temp.clock };
}

function manifest(name: string, spec: Record<string, unknown> = {}, podSpec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl:5.34', command: ['perl', '-e', '1'] }], ...podSpec } }, ...spec },
  };
}

const causes = (body: any) => (body.details?.causes ?? []).map((c: any) => `${c.field}: ${c.message}`);

describe('creating a Job', () => {
  it('fills in Kubernetes defaults and generates the selector and the labels naming the Job', async () => {
    const { call } = await api();
    const { status, body } = await call('POST', JOBS, { ...manifest('pi'), status: { succeeded: 9 } });
    expect(status).toBe(201);
    const uid = body.metadata.uid;
    expect(body.spec).toMatchObject({
      completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed', suspend: false,
      podReplacementPolicy: 'TerminatingOrFailed', manualSelector: false,
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
    });
    const generated = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'pi', 'controller-uid': uid, 'job-name': 'pi' };
    expect(body.spec.template.metadata.labels).toEqual(generated);
    expect(body.metadata.labels).toEqual(generated);
    expect(body.spec.template.spec).toMatchObject({ restartPolicy: 'Never', dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30 });
    // The status is the controller's: a create starts with none.
    expect(body.status).toEqual({});
    expect(body.metadata.generation).toBe(1);
  });

  it('defaults backoffLimit to the largest int32 with backoffLimitPerIndex, and the replacement policy with a failure policy', async () => {
    const { call } = await api();
    const rules = [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }];
    const { body } = await call('POST', JOBS, manifest('per-index', { completionMode: 'Indexed', completions: 3, backoffLimitPerIndex: 1, podFailurePolicy: { rules } }));
    expect(body.spec).toMatchObject({ backoffLimit: 2147483647, podReplacementPolicy: 'Failed', parallelism: 1, completions: 3 });
    expect(body.spec.podFailurePolicy.rules[0].onPodConditions[0].status).toBe('True');
  });

  it('keeps parallelism alone when only it is set: a work queue Job has no completions', async () => {
    const { call } = await api();
    const { body } = await call('POST', JOBS, manifest('queue', { parallelism: 3 }));
    expect(body.spec.completions).toBeUndefined();
    expect(body.spec.parallelism).toBe(3);
  });

  it('keeps a manual selector and the template labels as given', async () => {
    const { call } = await api();
    const spec = { manualSelector: true, selector: { matchLabels: { app: 'pi' } }, template: { metadata: { labels: { app: 'pi' } }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'pi', image: 'perl' }] } } };
    const { status, body } = await call('POST', JOBS, { ...manifest('manual'), spec });
    expect(status).toBe(201);
    expect(body.spec.selector).toEqual({ matchLabels: { app: 'pi' } });
    expect(body.spec.template.metadata.labels).toEqual({ app: 'pi' });
  });
});

describe('Job validation', () => {
  it('requires restartPolicy OnFailure or Never', async () => {
    const { call } = await api();
    const { status, body } = await call('POST', JOBS, manifest('always', {}, { restartPolicy: 'Always' }));
    expect(status).toBe(422);
    expect(body.reason).toBe('Invalid');
    expect(causes(body)).toEqual(['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']);
    expect(body.message).toBe('Job.batch "always" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"');
  });

  it('requires completions for an Indexed Job, and a name that leaves room for the index in hostnames', async () => {
    const { call } = await api();
    expect(causes((await call('POST', JOBS, manifest('idx', { completionMode: 'Indexed', parallelism: 2 }))).body)).toEqual([
      'spec.completions: Required value: when completion mode is Indexed',
    ]);
    const long = 'a'.repeat(62);
    expect(causes((await call('POST', JOBS, manifest(long, { completionMode: 'Indexed', completions: 10 }))).body)).toEqual([
      `metadata.name: Invalid value: "${long}": will not able to create pod with invalid DNS label: ${long}-9`,
    ]);
  });

  it('rejects negative numbers and per-index limits on a NonIndexed Job', async () => {
    const { call } = await api();
    const { body } = await call('POST', JOBS, manifest('neg', { parallelism: -1, backoffLimit: -2, backoffLimitPerIndex: 1 }));
    expect(causes(body)).toEqual([
      'spec.parallelism: Invalid value: -1: must be greater than or equal to 0',
      'spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0',
      'spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode',
    ]);
  });

  it('checks pod failure policies as kube-apiserver does', async () => {
    const { call } = await api();
    const rules = [
      { action: 'FailJob', onExitCodes: { operator: 'In', values: [0, 5, 3] } },
      { action: 'FailIndex', onExitCodes: { containerName: 'other', operator: 'NotIn', values: [1] } },
      { action: 'Ignore' },
      { action: 'Explode', onPodConditions: [{ type: 'DisruptionTarget', status: 'Maybe' }] },
    ];
    const { body } = await call('POST', JOBS, manifest('policy', { podFailurePolicy: { rules } }));
    expect(causes(body)).toEqual([
      'spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator',
      'spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{0, 5, 3}: must be ordered',
      'spec.podFailurePolicy.rules[1].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set',
      'spec.podFailurePolicy.rules[1].onExitCodes.containerName: Invalid value: "other": must be one of the container or initContainer names in the pod template',
      'spec.podFailurePolicy.rules[2]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required',
      'spec.podFailurePolicy.rules[3].action: Unsupported value: "Explode": supported values: "Count", "FailIndex", "FailJob", "Ignore"',
      'spec.podFailurePolicy.rules[3].onPodConditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"',
    ]);
  });

  it('allows a pod failure policy only with restartPolicy Never', async () => {
    const { call } = await api();
    const rules = [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [42] } }];
    const { body } = await call('POST', JOBS, manifest('onfailure', { podFailurePolicy: { rules } }, { restartPolicy: 'OnFailure' }));
    expect(causes(body)).toEqual(['spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified']);
  });

  it('checks success policies, which need Indexed completion', async () => {
    const { call } = await api();
    const nonIndexed = await call('POST', JOBS, manifest('sp', { successPolicy: { rules: [{ succeededCount: 1 }] } }));
    expect(causes(nonIndexed.body)[0]).toMatch(/^spec\.successPolicy: Invalid value: .*: requires indexed completion mode$/);
    const rules = [{ succeededIndexes: '0-2,1', succeededCount: 1 }, { succeededCount: 9 }, {}];
    const { body } = await call('POST', JOBS, manifest('sp', { completionMode: 'Indexed', completions: 5, successPolicy: { rules } }));
    expect(causes(body)).toEqual([
      'spec.successPolicy.rules[0].succeededIndexes: Invalid value: "0-2,1": error parsing succeededIndexes: non-increasing order, previous: 2, current: 1',
      'spec.successPolicy.rules[0].succeededCount: Invalid value: 1: must be less than or equal to 0 (the number of indexes in the specified succeededIndexes field)',
      'spec.successPolicy.rules[1].succeededCount: Invalid value: 9: must be less than or equal to 5 (the number of specified completions)',
      'spec.successPolicy.rules[2]: Required value: at least one of succeededCount or succeededIndexes must be specified',
    ]);
  });

  it('reports template labels that contradict the generated selector', async () => {
    const { call } = await api();
    const m = manifest('clash');
    m.spec.template.metadata = { labels: { 'job-name': 'other' } };
    const { status, body } = await call('POST', JOBS, m);
    expect(status).toBe(422);
    // The label the user set is kept, and named as the one conflict (the selector still matches).
    expect(causes(body)).toHaveLength(1);
    expect(causes(body)[0]).toMatch(/^spec\.template\.metadata\.labels\[job-name\]: Invalid value: map\[string\]string\{.*"job-name":"other"\}: clash$/);
  });
});

describe('updating a Job', () => {
  it('lets parallelism and suspend change, not completions, the selector or the template', async () => {
    const { call } = await api();
    const created = (await call('POST', JOBS, manifest('pi', { completions: 3 }))).body;
    const scaled = await call('PATCH', `${JOBS}/pi`, { spec: { parallelism: 2, suspend: true } }, 'application/merge-patch+json');
    expect(scaled.status).toBe(200);
    expect(scaled.body.metadata.generation).toBe(2);

    const completions = await call('PATCH', `${JOBS}/pi`, { spec: { completions: 5 } }, 'application/merge-patch+json');
    expect(completions.status).toBe(422);
    expect(causes(completions.body)).toEqual(['spec.completions: Invalid value: 5: field is immutable']);

    const image = await call('PATCH', `${JOBS}/pi`, { spec: { template: { spec: { containers: [{ name: 'pi', image: 'perl:5.36' }] } } } }, 'application/strategic-merge-patch+json');
    expect(image.status).toBe(422);
    expect(causes(image.body)[0]).toMatch(/^spec\.template: Invalid value: .*: field is immutable$/);

    const selector = await call('PATCH', `${JOBS}/pi`, { spec: { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'x' } } } }, 'application/merge-patch+json');
    expect(causes(selector.body)).toContain(`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/controller-uid":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable`);
    expect(created.spec.selector.matchLabels['batch.kubernetes.io/controller-uid']).toBe(created.metadata.uid);
  });

  it('lets a suspended Job that never started change its pods\' node selector and tolerations', async () => {
    const { call } = await api();
    await call('POST', JOBS, manifest('held', { suspend: true }));
    const res = await call('PATCH', `${JOBS}/held`, { spec: { template: { spec: { nodeSelector: { zone: 'a' } } } } }, 'application/merge-patch+json');
    expect(res.status).toBe(200);
    expect(res.body.spec.template.spec.nodeSelector).toEqual({ zone: 'a' });
  });

  it('writes status through the status subresource only', async () => {
    const { call } = await api();
    await call('POST', JOBS, manifest('pi'));
    const main = await call('PATCH', `${JOBS}/pi`, { status: { succeeded: 1 } }, 'application/merge-patch+json');
    expect(main.body.status).toEqual({});
    const sub = await call('PATCH', `${JOBS}/pi/status`, { status: { succeeded: 1 } }, 'application/merge-patch+json');
    expect(sub.status).toBe(200);
    expect(sub.body.status.succeeded).toBe(1);
    const neg = await call('PATCH', `${JOBS}/pi/status`, { status: { active: -1 } }, 'application/merge-patch+json');
    expect(causes(neg.body)).toEqual(['status.active: Invalid value: -1: must be greater than or equal to 0']);
  });
});

describe('printing Jobs', () => {
  const now = new Date('2024-05-01T12:00:00Z');
  const row = (j: any) => jobKind.row(j, now);
  const base = (status: any = {}, spec: any = {}) => ({
    metadata: { name: 'pi', creationTimestamp: '2024-05-01T11:00:00Z' },
    spec: { completions: 3, parallelism: 1, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u' } }, template: { spec: { containers: [{ name: 'pi', image: 'perl' }] } }, ...spec },
    status,
  });
  const cond = (type: string) => ({ type, status: 'True' });

  it('shows the columns of printJob', () => {
    expect(jobKind.columns.map((c) => `${c.name}${c.priority ? '*' : ''}`)).toEqual(['Name', 'Status', 'Completions', 'Duration', 'Age', 'Containers*', 'Images*', 'Selector*']);
    expect(row(base({ startTime: '2024-05-01T11:58:00Z', succeeded: 1 }))).toEqual(['pi', 'Running', '1/3', '2m', '60m', 'pi', 'perl', 'batch.kubernetes.io/controller-uid=u']);
    expect(row(base({ startTime: '2024-05-01T11:00:00Z', completionTime: '2024-05-01T11:00:42Z', succeeded: 3, conditions: [cond('SuccessCriteriaMet'), cond('Complete')] })).slice(1, 4))
      .toEqual(['Complete', '3/3', '42s']);
  });

  it('writes the status kubectl users know', () => {
    const status = (conditions: string[], deleting = false) => {
      const j: any = base({ conditions: conditions.map(cond) });
      if (deleting) j.metadata.deletionTimestamp = '2024-05-01T12:00:00Z';
      return row(j)[1];
    };
    expect(status(['FailureTarget', 'Failed'])).toBe('Failed');
    expect(status([], true)).toBe('Terminating');
    expect(status(['Suspended'])).toBe('Suspended');
    expect(status(['FailureTarget'])).toBe('FailureTarget');
    expect(status(['SuccessCriteriaMet'])).toBe('SuccessCriteriaMet');
    expect(row(base({}))[3]).toBe('');
  });

  it('counts completions of a work queue Job out of one', () => {
    expect(row(base({ succeeded: 2 }, { completions: undefined, parallelism: 4 }))[2]).toBe('2/1 of 4');
    expect(row(base({}, { completions: undefined, parallelism: 1 }))[2]).toBe('0/1');
  });

  it('serves the table and selects on status.successful', async () => {
    const { call } = await api();
    await call('POST', JOBS, manifest('a'));
    const b = (await call('POST', JOBS, manifest('b'))).body;
    await call('PATCH', `${JOBS}/b/status`, { status: { succeeded: 1 } }, 'application/merge-patch+json');
    const table = (await call('GET', JOBS, undefined, undefined, TABLE)).body;
    expect(table.kind).toBe('Table');
    expect(table.rows.map((r: any) => r.cells.slice(0, 3))).toEqual([['a', 'Running', '0/1'], ['b', 'Running', '1/1']]);
    const selected = (await call('GET', `${JOBS}?fieldSelector=status.successful%3D1`)).body;
    expect(selected.items.map((j: any) => j.metadata.name)).toEqual([b.metadata.name]);
  });
});

// The Job controller's rules taken one by one: completion index sets, pod failure policies, success
// policies and the pod failure back-off, against what pkg/controller/job does.
import { describe, expect, it } from 'vitest';
import { firstPendingIndexes, formatIndexes, hasIndex, indexCount, parseIndexes, validateIndexesFormat, withIndexes } from '../../src/kinds/job-indexes.js';
import { activePodsOrder } from '../../src/control/job-pods.js';
import { backoffDelayMs, backoffRemainingMs, matchPodFailurePolicy, matchSuccessPolicy, podFinishedMs } from '../../src/control/job-policies.js';

describe('completion index sets', () => {
  it('writes intervals as Kubernetes does, two neighbours with a comma', () => {
    expect(formatIndexes(withIndexes([], [4, 0, 1, 2, 7, 8]))).toBe('0-2,4,7,8');
    expect(formatIndexes(withIndexes(parseIndexes('0-2', 10), [3]))).toBe('0-3');
  });

  it('reads intervals below completions, merging neighbours and skipping what does not parse', () => {
    expect(parseIndexes('1,2-3,x,5-9', 7)).toEqual([{ first: 1, last: 3 }, { first: 5, last: 6 }]);
    expect(indexCount(parseIndexes('0-4,6', 10))).toBe(6);
    expect(hasIndex(parseIndexes('0-4,6', 10), 5)).toBe(false);
    expect(hasIndex(parseIndexes('0-4,6', 10), 6)).toBe(true);
  });

  it('finds the first pending indexes', () => {
    expect(firstPendingIndexes(parseIndexes('0,2-3', 10), 3, 6)).toEqual([1, 4, 5]);
    expect(firstPendingIndexes(parseIndexes('0-4', 5), 2, 5)).toEqual([]);
  });

  it('validates index text as the API does', () => {
    expect(validateIndexesFormat('0-2,5', 6)).toEqual({ total: 4 });
    expect(validateIndexesFormat('3,1', 6)).toEqual({ error: 'non-increasing order, previous: 3, current: 1' });
    expect(validateIndexesFormat('1-2-3', 6)).toEqual({ error: `the fragment "1-2-3" violates the requirement that an index interval can have at most two parts separated by '-'` });
    expect(validateIndexesFormat('7', 6)).toEqual({ error: 'too large index: "7"' });
    expect(validateIndexesFormat('a', 6)).toEqual({ error: 'cannot convert string to integer for index: "a"' });
  });
});

const failedPod = (exitCode: number, extra: any = {}) => ({
  metadata: { namespace: 'ns', name: 'p' },
  status: { phase: 'Failed', containerStatuses: [{ name: 'main', state: { terminated: { exitCode, finishedAt: '2024-01-01T00:00:10Z' } } }], ...extra },
});

describe('pod failure policy', () => {
  const policy = {
    rules: [
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } },
      { action: 'Count', onExitCodes: { operator: 'NotIn', values: [1, 2] } },
    ],
  };

  it('takes the first rule that matches', () => {
    expect(matchPodFailurePolicy(policy, failedPod(42))).toEqual({
      countFailed: true, action: 'FailJob', failJobMessage: 'Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1',
    });
    expect(matchPodFailurePolicy(policy, failedPod(42, { conditions: [{ type: 'DisruptionTarget', status: 'True' }] }))).toEqual({ countFailed: false, action: 'Ignore' });
    expect(matchPodFailurePolicy(policy, failedPod(7))).toEqual({ countFailed: true, action: 'Count' });
    expect(matchPodFailurePolicy(policy, failedPod(1))).toEqual({ countFailed: true });
  });

  it('never matches an exit code of 0, and counts every failure without a policy', () => {
    expect(matchPodFailurePolicy({ rules: [{ action: 'Ignore', onExitCodes: { operator: 'NotIn', values: [1] } }] }, failedPod(0))).toEqual({ countFailed: true });
    expect(matchPodFailurePolicy(undefined, failedPod(42))).toEqual({ countFailed: true });
  });
});

describe('success policy', () => {
  it('is met by the indexes a rule names, or enough of them', () => {
    const policy = { rules: [{ succeededIndexes: '0,2-4', succeededCount: 2 }, { succeededCount: 4 }] };
    expect(matchSuccessPolicy(policy, 10, parseIndexes('1', 10))).toBeUndefined();
    expect(matchSuccessPolicy(policy, 10, parseIndexes('3-4', 10))).toBe('Matched rules at index 0');
    expect(matchSuccessPolicy(policy, 10, parseIndexes('5-8', 10))).toBe('Matched rules at index 1');
    expect(matchSuccessPolicy({ rules: [{ succeededIndexes: '0-1' }] }, 10, parseIndexes('0-1', 10))).toBe('Matched rules at index 0');
  });
});

describe('pod failure back-off', () => {
  it('starts at 10 s and doubles per failure since the last success, up to 10 min', () => {
    expect([1, 2, 3, 4, 6, 7, 20].map(backoffDelayMs)).toEqual([10_000, 20_000, 40_000, 80_000, 320_000, 600_000, 600_000]);
    expect(backoffRemainingMs(2, 1_000, 15_000)).toBe(6_000);
    expect(backoffRemainingMs(2, 1_000, 30_000)).toBe(0);
    expect(backoffRemainingMs(0, 1_000, 1_000)).toBe(0);
  });

  it('dates a failure from the containers, else the Ready condition, else the deletion', () => {
    expect(podFinishedMs(failedPod(1))).toBe(Date.parse('2024-01-01T00:00:10Z'));
    const running = { metadata: { creationTimestamp: '2024-01-01T00:00:00Z', deletionTimestamp: '2024-01-01T00:01:00Z', deletionGracePeriodSeconds: 30 }, status: { containerStatuses: [{ state: { running: {} } }] } };
    expect(podFinishedMs(running)).toBe(Date.parse('2024-01-01T00:00:30Z'));
    const unready = { ...running, status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2024-01-01T00:00:05Z' }] } };
    expect(podFinishedMs(unready)).toBe(Date.parse('2024-01-01T00:00:05Z'));
  });
});

describe('which active pods go first', () => {
  it('follows controller.ActivePods', () => {
    const pod = (name: string, nodeName: string | undefined, phase: string, ready: boolean, created = '2024-01-01T00:00:00Z') => ({
      metadata: { name, creationTimestamp: created },
      spec: nodeName ? { nodeName } : {},
      status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: created }] },
    });
    const pods = [
      pod('ready-old', 'n', 'Running', true, '2024-01-01T00:00:00Z'),
      pod('ready-new', 'n', 'Running', true, '2024-01-01T00:05:00Z'),
      pod('unready', 'n', 'Running', false),
      pod('pending', 'n', 'Pending', false),
      pod('unbound', undefined, 'Pending', false),
    ];
    expect([...pods].sort(activePodsOrder).map((p) => p.metadata.name)).toEqual(['unbound', 'pending', 'unready', 'ready-new', 'ready-old']);
  });
});

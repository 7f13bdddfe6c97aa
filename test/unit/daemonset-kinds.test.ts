import { describe, expect, it } from 'vitest';
import { controllerRevision } from '../../src/kinds/controllerrevision.js';
import { daemonSet } from '../../src/kinds/daemonset.js';

const now = new Date('2024-05-01T12:00:00Z');

function newDaemonSet(spec: Record<string, unknown> = {}, podSpec: Record<string, unknown> = {}): any {
  const ds: any = {
    metadata: { name: 'agent', namespace: 'default', creationTimestamp: '2024-05-01T11:00:00Z' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }], ...podSpec } },
      ...spec,
    },
  };
  daemonSet.defaults!(ds);
  return ds;
}

const causes = (ds: any, old?: any) => daemonSet.validate!(ds, old).map((c) => [c.field, c.message]);

describe('DaemonSet defaults', () => {
  it('fills the update strategy, history limit, template and template generation', () => {
    const ds = newDaemonSet();
    expect(ds.spec).toMatchObject({
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      revisionHistoryLimit: 10,
    });
    expect(ds.spec.template.spec).toMatchObject({ restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' });
    expect(ds.metadata.annotations).toEqual({ 'deprecated.daemonset.template.generation': '1' });
  });

  it('leaves OnDelete without rollingUpdate', () => {
    expect(newDaemonSet({ updateStrategy: { type: 'OnDelete' } }).spec.updateStrategy).toEqual({ type: 'OnDelete' });
  });

  it('raises the template generation on update only when the template changes', () => {
    const old = newDaemonSet();
    old.metadata.annotations['deprecated.daemonset.template.generation'] = '4';
    const same = newDaemonSet({ minReadySeconds: 5 });
    daemonSet.prepareUpdate!(same, old);
    expect(same.metadata.annotations['deprecated.daemonset.template.generation']).toBe('4');
    const changed = newDaemonSet({}, { nodeSelector: { role: 'edge' } });
    changed.metadata.annotations['deprecated.daemonset.template.generation'] = '1'; // a client's value is not kept
    daemonSet.prepareUpdate!(changed, old);
    expect(changed.metadata.annotations['deprecated.daemonset.template.generation']).toBe('5');
  });
});

describe('DaemonSet validation', () => {
  it('accepts a typical DaemonSet, and surge without unavailability', () => {
    expect(causes(newDaemonSet())).toEqual([]);
    expect(causes(newDaemonSet({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '10%' } } }))).toEqual([]);
  });

  it('reports a missing or unmatched selector as Kubernetes does', () => {
    const ds = newDaemonSet();
    delete ds.spec.selector;
    expect(causes(ds)).toEqual([['spec.template.metadata.labels', 'Invalid value: map[string]string{"app":"agent"}: `selector` does not match template `labels`']]);
    expect(causes(newDaemonSet({ selector: {} }))).toEqual([
      ['spec.selector', 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset'],
    ]);
  });

  it('wants restartPolicy Always and no activeDeadlineSeconds', () => {
    expect(causes(newDaemonSet({}, { restartPolicy: 'Never', activeDeadlineSeconds: 5 }))).toEqual([
      ['spec.template.spec.restartPolicy', 'Unsupported value: "Never": supported values: "Always"'],
      ['spec.template.spec.activeDeadlineSeconds', 'Forbidden: activeDeadlineSeconds in DaemonSet is not Supported'],
    ]);
  });

  it('checks the rolling update: not both zero, not both set, percentages up to 100%', () => {
    const ru = (rollingUpdate: unknown) => causes(newDaemonSet({ updateStrategy: { type: 'RollingUpdate', rollingUpdate } }));
    expect(ru({ maxUnavailable: 0, maxSurge: 0 })).toEqual([['spec.updateStrategy.rollingUpdate.maxUnavailable', 'Required value: cannot be 0 when maxSurge is 0']]);
    expect(ru({ maxUnavailable: 1, maxSurge: 1 })).toEqual([
      ['spec.updateStrategy.rollingUpdate.maxSurge', 'Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:""}: may not be set when maxUnavailable is non-zero'],
    ]);
    expect(ru({ maxUnavailable: '150%', maxSurge: 0 })).toEqual([
      ['spec.updateStrategy.rollingUpdate.maxUnavailable', 'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater than 100%'],
    ]);
    expect(ru({ maxUnavailable: -1, maxSurge: 0 })[0]).toEqual(['spec.updateStrategy.rollingUpdate.maxUnavailable', 'Invalid value: -1: must be greater than or equal to 0']);
    expect(causes(newDaemonSet({ updateStrategy: { type: 'Sometimes' } }))).toEqual([['spec.updateStrategy', 'Unsupported value: "Sometimes": supported values: "RollingUpdate", "OnDelete"']]);
  });

  it('keeps the selector immutable', () => {
    const old = newDaemonSet();
    const next = newDaemonSet({ selector: { matchLabels: { app: 'agent', tier: 'x' } } });
    next.spec.template.metadata.labels.tier = 'x';
    expect(causes(next, old)).toEqual([
      ['spec.selector', 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"agent", "tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable'],
    ]);
  });
});

describe('DaemonSet table', () => {
  it('prints DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE, wide CONTAINERS IMAGES SELECTOR', () => {
    expect(daemonSet.columns.map((c) => [c.name, c.priority])).toEqual([
      ['Name', 0], ['Desired', 0], ['Current', 0], ['Ready', 0], ['Up-to-date', 0], ['Available', 0], ['Node Selector', 0], ['Age', 0],
      ['Containers', 1], ['Images', 1], ['Selector', 1],
    ]);
    const ds = newDaemonSet({}, { nodeSelector: { role: 'edge', 'kubernetes.io/os': 'linux' } });
    ds.status = { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 1, numberAvailable: 2 };
    expect(daemonSet.row(ds, now)).toEqual(['agent', 3, 3, 2, 1, 2, 'kubernetes.io/os=linux,role=edge', '60m', 'agent', 'agent:1', 'app=agent']);
    expect(daemonSet.row(newDaemonSet(), now).slice(1, 7)).toEqual([0, 0, 0, 0, 0, '<none>']);
  });
});

describe('ControllerRevision', () => {
  const revision = (extra: Record<string, unknown> = {}): any => ({
    metadata: {
      name: 'agent-6d4b9c8f7', namespace: 'default', creationTimestamp: '2024-05-01T11:59:00Z',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'u1', controller: true }],
    },
    data: { spec: { template: { $patch: 'replace' } } },
    revision: 2,
    ...extra,
  });

  it('prints NAME CONTROLLER REVISION AGE', () => {
    expect(controllerRevision.columns.map((c) => c.name)).toEqual(['Name', 'Controller', 'Revision', 'Age']);
    expect(controllerRevision.row(revision(), now)).toEqual(['agent-6d4b9c8f7', 'daemonset.apps/agent', 2, '60s']);
    expect(controllerRevision.row(revision({ metadata: { name: 'x' } }), now)[1]).toBe('<none>');
  });

  it('requires data, a revision of 0 or more, and keeps data immutable', () => {
    expect(controllerRevision.validate!(revision())).toEqual([]);
    expect(controllerRevision.validate!(revision({ data: undefined, revision: -1 })).map((c) => c.message)).toEqual([
      'Required value: data is mandatory', 'Invalid value: -1: must be greater than or equal to 0',
    ]);
    // The controller renumbers a revision it brings back; only data is fixed.
    expect(controllerRevision.validate!(revision({ revision: 5 }), revision())).toEqual([]);
    expect(controllerRevision.validate!(revision({ data: { a: 1 } }), revision()).map((c) => c.field)).toEqual(['data']);
  });
});

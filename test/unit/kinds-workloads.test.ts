import { describe, expect, it } from 'vitest';
import { deployment } from '../../src/kinds/deployment.js';
import { replicaSet } from '../../src/kinds/replicaset.js';

const now = new Date('2024-05-01T12:00:00Z');

function newDeployment(spec: Record<string, unknown> = {}): any {
  const d: any = {
    metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-05-01T11:00:00Z' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] } },
      ...spec,
    },
  };
  deployment.defaults!(d);
  return d;
}

describe('deployment defaults', () => {
  it('fills replicas, strategy, history, deadline and the template', () => {
    const d = newDeployment();
    expect(d.spec).toMatchObject({
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
    expect(d.spec.template.spec).toMatchObject({ restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30 });
    expect(d.spec.template.spec.containers[0]).toMatchObject({ imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log' });
    // Pod-only defaults stay out of templates.
    expect(d.spec.template.spec.enableServiceLinks).toBeUndefined();
    expect(d.spec.template.spec.tolerations).toBeUndefined();
  });

  it('leaves a Recreate strategy without rollingUpdate', () => {
    expect(newDeployment({ strategy: { type: 'Recreate' } }).spec.strategy).toEqual({ type: 'Recreate' });
  });
});

describe('deployment validation', () => {
  it('accepts a typical deployment', () => {
    expect(deployment.validate!(newDeployment())).toEqual([]);
  });

  it('reports a selector that does not match the template', () => {
    const d = newDeployment({ selector: { matchLabels: { app: 'other' } } });
    expect(deployment.validate!(d)).toEqual([{
      reason: 'FieldValueInvalid',
      field: 'spec.template.metadata.labels',
      message: 'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
    }]);
  });

  it('requires a selector and reports the unmatched template too, as Kubernetes does', () => {
    const d = newDeployment();
    delete d.spec.selector;
    expect(deployment.validate!(d).map((c) => [c.field, c.message])).toEqual([
      ['spec.selector', 'Required value'],
      ['spec.template.metadata.labels', 'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`'],
    ]);
  });

  it('rejects negative replicas, a bad container and a zero rolling update', () => {
    const d = newDeployment({ replicas: -1, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } } });
    d.spec.template.spec.containers[0].image = '';
    const causes = deployment.validate!(d);
    expect(causes).toContainEqual({ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'Invalid value: -1: must be greater than or equal to 0' });
    expect(causes).toContainEqual({ reason: 'FieldValueRequired', field: 'spec.template.spec.containers[0].image', message: 'Required value' });
    expect(causes).toContainEqual({
      reason: 'FieldValueInvalid', field: 'spec.strategy.rollingUpdate.maxUnavailable',
      message: 'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0',
    });
  });

  it('requires restartPolicy Always in the template', () => {
    const d = newDeployment();
    d.spec.template.spec.restartPolicy = 'Never';
    expect(deployment.validate!(d)).toEqual([{ reason: 'FieldValueNotSupported', field: 'spec.template.spec.restartPolicy', message: 'Unsupported value: "Never": supported values: "Always"' }]);
  });

  it('keeps the selector immutable', () => {
    const old = newDeployment();
    const next = structuredClone(old);
    next.spec.selector = { matchLabels: { app: 'web2' } };
    next.spec.template.metadata.labels = { app: 'web2' };
    expect(deployment.validate!(next, old)).toEqual([{
      reason: 'FieldValueInvalid',
      field: 'spec.selector',
      message: 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable',
    }]);
    const scaled = structuredClone(old);
    scaled.spec.replicas = 5;
    expect(deployment.validate!(scaled, old)).toEqual([]);
  });
});

describe('deployment table', () => {
  it('prints READY as ready/desired and the wide columns', () => {
    const d = newDeployment({ replicas: 3 });
    d.status = { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 };
    expect(deployment.row(d, now)).toEqual(['web', '2/3', 3, 2, '60m', 'nginx', 'nginx:1.25', 'app=web']);
  });
});

describe('replicaset', () => {
  function newReplicaSet(): any {
    const rs: any = {
      metadata: { name: 'web-abc', namespace: 'default', creationTimestamp: '2024-05-01T11:59:00Z' },
      spec: {
        selector: { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } },
        template: { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] } },
      },
    };
    replicaSet.defaults!(rs);
    return rs;
  }

  it('defaults replicas to 1 and validates', () => {
    const rs = newReplicaSet();
    expect(rs.spec.replicas).toBe(1);
    expect(replicaSet.validate!(rs)).toEqual([]);
  });

  it('rejects an empty selector with the message Kubernetes shares with deployments', () => {
    const rs = newReplicaSet();
    rs.spec.selector = {};
    expect(replicaSet.validate!(rs)).toEqual([{
      reason: 'FieldValueInvalid', field: 'spec.selector',
      message: 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment',
    }]);
  });

  it('keeps the selector immutable', () => {
    const old = newReplicaSet();
    const next = structuredClone(old);
    next.spec.selector.matchLabels.extra = 'x';
    next.spec.template.metadata.labels.extra = 'x';
    expect(replicaSet.validate!(next, old).map((c) => c.field)).toEqual(['spec.selector']);
  });

  it('prints desired, current and ready counts', () => {
    const rs = newReplicaSet();
    rs.status = { replicas: 1, readyReplicas: 0 };
    expect(replicaSet.row(rs, now)).toEqual(['web-abc', 1, 1, 0, '60s', 'nginx', 'nginx:1.25', 'app=web,pod-template-hash=abc']);
    expect(replicaSet.fields!['status.replicas'](rs)).toBe('1');
  });
});

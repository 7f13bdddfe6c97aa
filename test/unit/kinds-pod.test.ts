import { describe, expect, it } from 'vitest';
import { addDefaultTolerations, pod, podQOSClass } from '../../src/kinds/pod.js';
import { imageTag } from '../../src/kinds/podspec.js';

const now = new Date('2024-05-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();

function newPod(spec: Record<string, unknown> = {}): any {
  const p: any = {
    metadata: { name: 'web', namespace: 'default', creationTimestamp: minutesAgo(10) },
    spec: { containers: [{ name: 'app', image: 'nginx:1.25' }], ...spec },
  };
  pod.defaults!(p);
  addDefaultTolerations(p.spec);
  return p;
}

describe('pod defaults', () => {
  it('applies the spec, container and admission defaults', () => {
    const p = newPod({ containers: [{ name: 'app', image: 'nginx', ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { port: 80 } } }] });
    expect(p.spec).toMatchObject({
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler',
      securityContext: {}, enableServiceLinks: true, priority: 0, preemptionPolicy: 'PreemptLowerPriority',
    });
    expect(p.spec.containers[0]).toMatchObject({
      terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'Always', resources: {},
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      readinessProbe: { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, httpGet: { path: '/', scheme: 'HTTP', port: 80 } },
    });
    expect(p.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' });
  });

  it('is idempotent', () => {
    const p = newPod();
    const once = structuredClone(p);
    pod.defaults!(p);
    expect(p).toEqual(once);
  });

  it('picks the pull policy from the tag', () => {
    expect(newPod().spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    expect(imageTag('registry:5000/app')).toBe('latest');
    expect(imageTag('registry:5000/app:v1')).toBe('v1');
    expect(imageTag('app@sha256:abc')).toBe('');
  });

  it('copies limits into missing requests and computes the QoS class', () => {
    const p = newPod({ containers: [{ name: 'app', image: 'x:1', resources: { limits: { cpu: '500m', memory: '128Mi' } } }] });
    expect(p.spec.containers[0].resources.requests).toEqual({ cpu: '500m', memory: '128Mi' });
    expect(p.status.qosClass).toBe('Guaranteed');
    expect(podQOSClass({ spec: { containers: [{ resources: { requests: { cpu: '100m' } } }] } })).toBe('Burstable');
  });

  it('adds the default tolerations at creation, with the configured seconds', () => {
    const p: any = { spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } };
    pod.defaults!(p);
    expect(p.spec.tolerations).toBeUndefined();
    addDefaultTolerations(p.spec, 30, 60);
    expect(p.spec.tolerations).toEqual([
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 },
    ]);
  });

  it('keeps a user toleration that already covers the taints', () => {
    const p = newPod({ tolerations: [{ operator: 'Exists' }] });
    expect(p.spec.tolerations).toEqual([{ operator: 'Exists' }]);
  });
});

describe('pod validation', () => {
  it('requires containers', () => {
    const causes = pod.validate!(newPod({ containers: [] }));
    expect(causes).toEqual([{ reason: 'FieldValueRequired', field: 'spec.containers', message: 'Required value' }]);
  });

  it('reports container name, image, port and probe errors at Kubernetes paths', () => {
    const p = newPod({
      containers: [
        { name: 'App_1', image: '', ports: [{ containerPort: 70000, name: 'HTTP' }] },
        { name: 'b', image: 'x', livenessProbe: { periodSeconds: 5, successThreshold: 2 } },
        { name: 'b', image: 'x' },
      ],
    });
    const causes = pod.validate!(p);
    const byField = Object.fromEntries(causes.map((c) => [c.field, c.message]));
    expect(byField['spec.containers[0].name']).toMatch(/^Invalid value: "App_1": a lowercase RFC 1123 label must consist/);
    expect(byField['spec.containers[0].image']).toBe('Required value');
    expect(byField['spec.containers[0].ports[0].containerPort']).toBe('Invalid value: 70000: must be between 1 and 65535, inclusive');
    expect(causes.filter((c) => c.field === 'spec.containers[0].ports[0].name').map((c) => c.message)).toEqual([
      'Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'Invalid value: "HTTP": must contain at least one letter (a-z)',
    ]);
    expect(byField['spec.containers[1].livenessProbe']).toBe('Required value: must specify a handler type');
    expect(byField['spec.containers[1].livenessProbe.successThreshold']).toBe('Invalid value: 2: must be 1');
    expect(byField['spec.containers[2].name']).toBe('Duplicate value: "b"');
  });

  it('rejects unsupported policies and requests above limits', () => {
    const p = newPod({ restartPolicy: 'Sometimes', containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } }] });
    const causes = pod.validate!(p);
    expect(causes).toContainEqual({ reason: 'FieldValueNotSupported', field: 'spec.restartPolicy', message: 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"' });
    expect(causes).toContainEqual({ reason: 'FieldValueInvalid', field: 'spec.containers[0].resources.requests', message: 'Invalid value: "2": must be less than or equal to cpu limit of 1' });
  });

  it('finds volume mounts without a volume', () => {
    const p = newPod({ containers: [{ name: 'a', image: 'x', volumeMounts: [{ name: 'data', mountPath: '/d' }] }] });
    expect(pod.validate!(p)).toEqual([{ reason: 'FieldValueNotFound', field: 'spec.containers[0].volumeMounts[0].name', message: 'Not found: "data"' }]);
  });

  it('validates labels of the pod', () => {
    const p = newPod();
    p.metadata.labels = { 'a/b/c': 'x' };
    expect(pod.validate!(p)[0].field).toBe('metadata.labels');
  });
});

describe('pod updates', () => {
  it('allows image changes, additional tolerations and a shorter deadline', () => {
    const old = newPod({ activeDeadlineSeconds: 100 });
    const next = structuredClone(old);
    next.spec.containers[0].image = 'nginx:1.26';
    next.spec.tolerations.push({ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' });
    next.spec.activeDeadlineSeconds = 50;
    expect(pod.validate!(next, old)).toEqual([]);
  });

  it('forbids other spec changes with the Kubernetes message', () => {
    const old = newPod();
    const next = structuredClone(old);
    next.spec.containers[0].ports = [{ containerPort: 8080, protocol: 'TCP' }];
    const causes = pod.validate!(next, old);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({ reason: 'FieldValueForbidden', field: 'spec' });
    expect(causes[0].message.split('\n')[0]).toBe(
      'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
    );
    expect(causes[0].message).toContain('spec.containers[0].ports');
  });

  it('forbids adding containers, raising the deadline and changing tolerations', () => {
    const old = newPod({ activeDeadlineSeconds: 100 });
    const more = structuredClone(old);
    more.spec.containers.push({ name: 'b', image: 'x' });
    expect(pod.validate!(more, old)).toContainEqual({ reason: 'FieldValueForbidden', field: 'spec.containers', message: 'Forbidden: pod updates may not add or remove containers' });
    const later = structuredClone(old);
    later.spec.activeDeadlineSeconds = 200;
    expect(pod.validate!(later, old)).toContainEqual({ reason: 'FieldValueInvalid', field: 'spec.activeDeadlineSeconds', message: 'Invalid value: 200: must be less than or equal to previous value' });
    const fewer = structuredClone(old);
    fewer.spec.tolerations = [];
    expect(pod.validate!(fewer, old)).toContainEqual({ reason: 'FieldValueForbidden', field: 'spec.tolerations', message: 'Forbidden: existing toleration can not be modified except its tolerationSeconds' });
  });

  it('allows a status-only change', () => {
    const old = newPod();
    const next = structuredClone(old);
    next.status.phase = 'Running';
    expect(pod.validate!(next, old)).toEqual([]);
  });
});

describe('pod table', () => {
  const row = (p: any) => pod.row(p, now);

  it('prints a running pod with restarts', () => {
    const p = newPod();
    p.spec.nodeName = 'node-1';
    p.status = {
      phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }],
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{
        name: 'app', ready: true, restartCount: 2, state: { running: { startedAt: minutesAgo(5) } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: minutesAgo(5) } },
      }],
    };
    expect(row(p)).toEqual(['web', '1/1', 'Running', '2 (5m ago)', '10m', '10.0.0.5', 'node-1', '<none>', '<none>']);
  });

  it('prints a pending pod', () => {
    expect(row(newPod())).toEqual(['web', '0/1', 'Pending', '0', '10m', '<none>', '<none>', '<none>', '<none>']);
  });

  it('prints the waiting reason of a container being created or crash looping', () => {
    const p = newPod();
    p.status = { phase: 'Pending', containerStatuses: [{ name: 'app', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] };
    expect(row(p)[2]).toBe('ContainerCreating');
    p.status = { phase: 'Running', containerStatuses: [{ name: 'app', ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, finishedAt: minutesAgo(1) } } }] };
    expect(row(p).slice(1, 4)).toEqual(['0/1', 'CrashLoopBackOff', '4 (60s ago)']);
  });

  it('prints Completed for a succeeded pod and Terminating for one being deleted', () => {
    const done = newPod();
    done.status = { phase: 'Succeeded', containerStatuses: [{ name: 'app', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] };
    expect(row(done)[2]).toBe('Completed');
    const going = newPod();
    going.metadata.deletionTimestamp = now.toISOString();
    going.status = { phase: 'Running', containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }] };
    expect(row(going).slice(1, 3)).toEqual(['1/1', 'Terminating']);
    done.metadata.deletionTimestamp = now.toISOString();
    expect(row(done)[2]).toBe('Completed');
  });

  it('prints init container progress and readiness gates', () => {
    const p = newPod({ initContainers: [{ name: 'init', image: 'x' }], readinessGates: [{ conditionType: 'example.com/lb' }] });
    p.status = { phase: 'Pending', initContainerStatuses: [{ name: 'init', ready: false, restartCount: 0, state: { running: {} } }], conditions: [{ type: 'example.com/lb', status: 'True' }] };
    const cells = row(p);
    expect(cells[2]).toBe('Init:0/1');
    expect(cells[8]).toBe('1/1');
  });

  it('offers the field selectors kubectl and the controllers use', () => {
    const p = newPod();
    p.spec.nodeName = 'node-1';
    expect(pod.fields!['spec.nodeName'](p)).toBe('node-1');
    expect(pod.fields!['status.phase'](p)).toBe('Pending');
    expect(pod.fields!['spec.restartPolicy'](p)).toBe('Always');
    expect(pod.fields!['status.podIP'](p)).toBe('');
  });
});

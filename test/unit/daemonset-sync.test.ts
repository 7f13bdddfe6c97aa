import { describe, expect, it } from 'vitest';
import { daemonNode, nodeFit, pinnedAffinity, withDaemonTolerations } from '../../src/control/daemonset-nodes.js';
import { inBackoff, syncDaemonSet, type DaemonPod, type SyncInput } from '../../src/control/daemonset-sync.js';

const now = new Date('2024-05-01T12:00:00Z');
const fits = { shouldRun: true, shouldContinueRunning: true };

let counter = 0;
function pod(node: string | null, opts: Partial<DaemonPod> & { hash?: string } = {}): DaemonPod {
  const { hash = 'new', ...rest } = opts;
  const n = ++counter;
  return {
    uid: `uid-${n}`, name: `agent-${n}`, namespace: 'default', rv: n, node, bound: node !== null, phase: 'Running', deleting: false,
    labels: { app: 'agent', 'controller-revision-hash': hash }, ready: true, readySince: '2024-05-01T11:00:00Z',
    created: `2024-05-01T10:00:${String(n % 60).padStart(2, '0')}Z`, ...rest,
  };
}

function input(nodes: string[], pods: DaemonPod[], extra: Partial<SyncInput> = {}): SyncInput {
  return {
    namespace: 'default', hash: 'new', minReadySeconds: 0, rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    nodes: nodes.map((name) => ({ name, fit: fits })), pods, now, ...extra,
  };
}

const names = (pods: { pod: DaemonPod }[]) => pods.map((d) => d.pod.name);

describe('which nodes a DaemonSet belongs on', () => {
  const spec = (extra: Record<string, unknown> = {}) => ({ containers: [{ name: 'a', image: 'a' }], ...extra });
  const fit = (s: any, node = daemonNode('n1', { role: 'edge' }, [])) => nodeFit(s, withDaemonTolerations(s), node);

  it('follows nodeSelector, required affinity and the template nodeName', () => {
    expect(fit(spec({ nodeSelector: { role: 'edge' } }))).toEqual(fits);
    expect(fit(spec({ nodeSelector: { role: 'core' } }))).toEqual({ shouldRun: false, shouldContinueRunning: false });
    const affinity = (values: string[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'role', operator: 'In', values }] }] } } });
    expect(fit(spec({ affinity: affinity(['edge', 'core']) }))).toEqual(fits);
    expect(fit(spec({ affinity: affinity(['core']) })).shouldRun).toBe(false);
    expect(fit(spec({ nodeName: 'n2' })).shouldRun).toBe(false);
    // The hostname label every kubelet sets is assumed.
    expect(fit(spec({ nodeSelector: { 'kubernetes.io/hostname': 'n1' } })).shouldRun).toBe(true);
  });

  it('keeps off untolerated NoSchedule taints, and leaves a NoExecute one only to pods tolerating it', () => {
    const tainted = (effect: string, key = 'dedicated') => daemonNode('n1', {}, [{ key, value: 'x', effect }]);
    expect(fit(spec(), tainted('NoSchedule'))).toEqual({ shouldRun: false, shouldContinueRunning: true });
    expect(fit(spec(), tainted('NoExecute'))).toEqual({ shouldRun: false, shouldContinueRunning: false });
    expect(fit(spec(), tainted('PreferNoSchedule'))).toEqual(fits);
    expect(fit(spec({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }), tainted('NoExecute'))).toEqual(fits);
    // Node problems the controller tolerates for its pods.
    for (const [key, effect] of [['node.kubernetes.io/unschedulable', 'NoSchedule'], ['node.kubernetes.io/not-ready', 'NoExecute'], ['node.kubernetes.io/unreachable', 'NoExecute'], ['node.kubernetes.io/disk-pressure', 'NoSchedule']]) {
      expect(fit(spec(), tainted(effect, key)), key).toEqual(fits);
    }
    expect(fit(spec(), tainted('NoSchedule', 'node.kubernetes.io/network-unavailable')).shouldRun).toBe(false);
    expect(fit(spec({ hostNetwork: true }), tainted('NoSchedule', 'node.kubernetes.io/network-unavailable')).shouldRun).toBe(true);
  });

  it('replaces a toleration it adds rather than adding it twice, and pins pods by affinity', () => {
    const tolerations = withDaemonTolerations({ tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] });
    expect(tolerations.filter((t) => t.key === 'node.kubernetes.io/not-ready')).toEqual([{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }]);
    const preferred = [{ weight: 1, preference: { matchExpressions: [{ key: 'a', operator: 'Exists' }] } }];
    const pinned = pinnedAffinity({ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: preferred, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['old'] }] }] } } }, 'n1');
    expect(pinned).toEqual({ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: preferred, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] } } });
  });
});

describe('a DaemonSet sync', () => {
  it('makes pods where missing, deletes extras (keeping the oldest), misplaced pods, and unbound pods aimed at gone nodes', () => {
    const keep = pod('n2');
    const extra = pod('n2');
    const misplaced = pod('n3');
    const lost = pod('gone', { bound: false });
    const i = input(['n1', 'n2', 'n3'], [keep, extra, misplaced, lost]);
    i.nodes[2].fit = { shouldRun: false, shouldContinueRunning: false };
    const plan = syncDaemonSet(i);
    expect(plan.create).toEqual(['n1']);
    expect(names(plan.delete).sort()).toEqual([extra.name, misplaced.name, lost.name].sort());
    expect(plan.status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 1, numberMisscheduled: 1, numberReady: 1, numberUnavailable: 1 });
  });

  it('holds failed pods for the back-off decision and deletes succeeded ones at once', () => {
    const failed = pod('n1', { phase: 'Failed', ready: false });
    const done = pod('n2', { phase: 'Succeeded', ready: false });
    const plan = syncDaemonSet(input(['n1', 'n2'], [failed, done]));
    expect(plan.failed).toEqual([failed]);
    expect(plan.delete).toEqual([{ pod: done, event: { type: 'Normal', reason: 'SucceededDaemonPod', message: `Found succeeded daemon pod default/${done.name} on node n2, will try to delete it` } }]);
    expect(plan.create).toEqual([]);
  });

  it('rolls out without surge: never more unavailable nodes than maxUnavailable', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const old = nodes.map((n) => pod(n, { hash: 'old' }));
    // 40% of 5 rounds up to 2.
    let plan = syncDaemonSet(input(nodes, old, { rollingUpdate: { maxUnavailable: '40%', maxSurge: 0 } }));
    expect(names(plan.delete)).toEqual([old[0].name, old[1].name]);
    // n1 replaced but not ready yet, n2 has none: no more room.
    const unready = pod('n1', { ready: false });
    plan = syncDaemonSet(input(nodes, [unready, ...old.slice(2)], { rollingUpdate: { maxUnavailable: '40%', maxSurge: 0 } }));
    expect(plan.create).toEqual(['n2']);
    expect(plan.delete).toEqual([]);
    // Two nodes unavailable already: no room, but an old pod that is not available anyway is replaced.
    const broken = pod('n3', { hash: 'old', ready: false });
    plan = syncDaemonSet(input(nodes, [pod('n1', { ready: false }), pod('n2', { ready: false }), broken, ...old.slice(3)], { rollingUpdate: { maxUnavailable: 2, maxSurge: 0 } }));
    expect(names(plan.delete)).toEqual([broken.name]);
  });

  it('rolls out with surge: a new pod beside the old until it is available', () => {
    const nodes = ['n1', 'n2', 'n3'];
    const old = nodes.map((n) => pod(n, { hash: 'old' }));
    const ru = { maxUnavailable: 0, maxSurge: 1 };
    let plan = syncDaemonSet(input(nodes, old, { rollingUpdate: ru }));
    expect(plan.create).toEqual(['n1']);
    expect(plan.delete).toEqual([]);
    const fresh = pod('n1', { ready: false });
    plan = syncDaemonSet(input(nodes, [...old, fresh], { rollingUpdate: ru }));
    expect(plan).toMatchObject({ create: [], delete: [] });
    const ready = { ...fresh, ready: true };
    plan = syncDaemonSet(input(nodes, [...old, ready], { rollingUpdate: ru }));
    expect(names(plan.delete)).toEqual([old[0].name]);
  });

  it('counts availability after minReadySeconds', () => {
    const i = input(['n1', 'n2'], [pod('n1', { readySince: '2024-05-01T11:59:55Z' }), pod('n2', { readySince: '2024-05-01T11:59:00Z' })], { minReadySeconds: 10 });
    expect(syncDaemonSet(i).status).toMatchObject({ numberReady: 2, numberAvailable: 1, numberUnavailable: 1, updatedNumberScheduled: 2 });
  });
});

describe('the failed-pod back-off', () => {
  const t0 = Date.parse('2024-05-01T12:00:00Z');
  it('doubles from 1 s with each kill, up to 15 min, and starts over after 30 min', () => {
    expect(inBackoff([], t0)).toBe(false);
    expect(inBackoff([t0], t0 + 999)).toBe(true);
    expect(inBackoff([t0], t0 + 1000)).toBe(false);
    expect(inBackoff([t0, t0 + 1000, t0 + 3000], t0 + 3000 + 3999)).toBe(true); // 1 s, 2 s, 4 s
    expect(inBackoff([t0, t0 + 1000, t0 + 3000], t0 + 3000 + 4000)).toBe(false);
    const many = Array.from({ length: 20 }, (_, i) => t0 + i);
    expect(inBackoff(many, many[19] + 15 * 60_000 - 1)).toBe(true);
    expect(inBackoff(many, many[19] + 15 * 60_000)).toBe(false);
    expect(inBackoff([t0, t0 + 31 * 60_000], t0 + 31 * 60_000 + 1500)).toBe(false); // started over at 1 s
  });
});

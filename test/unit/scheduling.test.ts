import { describe, expect, it } from 'vitest';
import type { KObject } from '../../src/kinds/types.js';
import {
  filterNode,
  fitMessage,
  leastAllocatedScore,
  nodeState,
  pendingPod,
  feasibleNodesToFind,
  placePod,
  portsConflict,
  queueOrder,
  termMatches,
  toleratesTaint,
  untoleratedTaint,
  type NodeState,
  type Taint,
} from '../../src/control/scheduling.js';
import { podObject, type PodOpts } from '../helpers/pod-object.js';

interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: string;
  gpu?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
  ready?: string;
  capacityOnly?: boolean;
}

function node(name: string, o: NodeOpts = {}): KObject {
  const resources: Record<string, string> = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
  if (o.gpu) resources['nvidia.com/gpu'] = o.gpu;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, labels: o.labels ?? {} },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: {
      capacity: resources,
      ...(o.capacityOnly ? {} : { allocatable: resources }),
      conditions: [{ type: 'Ready', status: o.ready ?? 'True' }],
    },
  };
}

// A pod with a stable uid and empty labels unless given.
const pod = (name: string, o: PodOpts = {}) => podObject(name, { uid: `uid-${name}`, labels: {}, ...o });

const nodes = (...objs: KObject[]) => objs.map(nodeState);

/** Place pods one after another, as a pass does; returns the node each went to (or the message). */
function placeAll(pods: KObject[], on: NodeState[]): string[] {
  return pods.map((obj) => {
    const p = pendingPod(obj);
    const placement = placePod(p, on);
    if (!('node' in placement)) return placement.message;
    placement.node.add(p);
    return placement.node.name;
  });
}

const placeOne = (p: KObject, on: NodeState[]) => placeAll([p], on)[0];

describe('taints and tolerations', () => {
  const taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };

  it('matches tolerations as Toleration.ToleratesTaint does', () => {
    expect(toleratesTaint({ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'dedicated', value: 'gpu' }, taint)).toBe(true); // operator defaults to Equal, empty effect matches all
    expect(toleratesTaint({ key: 'dedicated', operator: 'Equal', value: 'cpu' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'dedicated', operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ operator: 'Exists' }, taint)).toBe(true); // empty key with Exists tolerates everything
    expect(toleratesTaint({ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'other', operator: 'Exists' }, taint)).toBe(false);
  });

  it('finds the first untolerated taint of the given effects', () => {
    const taints = [
      { key: 'soft', effect: 'PreferNoSchedule' },
      { key: 'a', value: '1', effect: 'NoSchedule' },
      { key: 'b', effect: 'NoExecute' },
    ];
    expect(untoleratedTaint(taints, [], ['NoSchedule', 'NoExecute'])?.key).toBe('a');
    expect(untoleratedTaint(taints, [{ key: 'a', operator: 'Exists' }], ['NoSchedule', 'NoExecute'])?.key).toBe('b');
    expect(untoleratedTaint(taints, [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'Exists' }], ['NoSchedule', 'NoExecute'])).toBeUndefined();
  });

  it('keeps pods off tainted nodes unless tolerated; PreferNoSchedule only lowers the score', () => {
    const cluster = nodes(
      node('a', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }),
      node('b', { taints: [{ key: 'spot', value: 'true', effect: 'NoExecute' }] }),
    );
    expect(placeOne(pod('p'), cluster)).toBe(
      '0/2 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint {spot: true}. ' +
        'preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.',
    );
    expect(placeOne(pod('q', { spec: { tolerations: [{ key: 'spot', operator: 'Equal', value: 'true', effect: 'NoExecute' }] } }), cluster)).toBe('b');

    const soft = nodes(node('a', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }), node('b'));
    expect(placeOne(pod('r'), soft)).toBe('b');
    expect(placeOne(pod('s', { spec: { tolerations: [{ key: 'soft', operator: 'Exists' }] } }), soft)).toBe('a'); // tie, by name
  });

  it('treats a node that is not Ready as tainted not-ready or unreachable', () => {
    const cluster = nodes(node('a', { ready: 'False' }), node('b', { ready: 'Unknown' }));
    expect(placeOne(pod('p'), cluster)).toBe(
      '0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. ' +
        'preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.',
    );
    // The NoExecute tolerations every pod gets by default do not tolerate NoSchedule.
    const defaults = { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }] };
    expect(placeOne(pod('q', { spec: defaults }), cluster)).toMatch(/^0\/2 nodes are available/);
    expect(placeOne(pod('r', { spec: { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] } }), cluster)).toBe('a');
  });
});

describe('cordoned nodes', () => {
  it('skips unschedulable nodes unless the pod tolerates the unschedulable taint', () => {
    const cluster = nodes(node('a', { unschedulable: true }), node('b', { unschedulable: true }));
    expect(placeOne(pod('p'), cluster)).toBe(
      '0/2 nodes are available: 2 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.',
    );
    const tolerant = { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] };
    expect(placeOne(pod('q', { spec: tolerant }), cluster)).toBe('a');
    expect(placeOne(pod('r'), nodes(node('a', { unschedulable: true }), node('z')))).toBe('z');
  });
});

describe('node selector and affinity', () => {
  const n = { name: 'worker-1', labels: { zone: 'a', size: '8', gpu: '' } };
  const term = (...matchExpressions: { key: string; operator: string; values?: string[] }[]) => ({ matchExpressions });

  it('evaluates every operator', () => {
    expect(termMatches(term({ key: 'zone', operator: 'In', values: ['a', 'b'] }), n)).toBe(true);
    expect(termMatches(term({ key: 'zone', operator: 'In', values: ['b'] }), n)).toBe(false);
    expect(termMatches(term({ key: 'zone', operator: 'NotIn', values: ['b'] }), n)).toBe(true);
    expect(termMatches(term({ key: 'missing', operator: 'NotIn', values: ['b'] }), n)).toBe(true);
    expect(termMatches(term({ key: 'gpu', operator: 'Exists' }), n)).toBe(true);
    expect(termMatches(term({ key: 'gpu', operator: 'DoesNotExist' }), n)).toBe(false);
    expect(termMatches(term({ key: 'missing', operator: 'DoesNotExist' }), n)).toBe(true);
    expect(termMatches(term({ key: 'size', operator: 'Gt', values: ['4'] }), n)).toBe(true);
    expect(termMatches(term({ key: 'size', operator: 'Gt', values: ['8'] }), n)).toBe(false);
    expect(termMatches(term({ key: 'size', operator: 'Lt', values: ['10'] }), n)).toBe(true);
    expect(termMatches(term({ key: 'zone', operator: 'Gt', values: ['1'] }), n)).toBe(false); // not an integer
    expect(termMatches(term({ key: 'zone', operator: 'In', values: ['a'] }, { key: 'size', operator: 'Lt', values: ['2'] }), n)).toBe(false); // ANDed
    expect(termMatches({}, n)).toBe(false); // an empty term selects nothing
    expect(termMatches({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }, n)).toBe(true);
    expect(termMatches({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['worker-1'] }] }, n)).toBe(false);
  });

  it('places pods by nodeSelector and required affinity (terms ORed)', () => {
    const cluster = nodes(node('a', { labels: { disk: 'hdd' } }), node('b', { labels: { disk: 'ssd', zone: 'z1' } }), node('c', { labels: { zone: 'z2' } }));
    expect(placeOne(pod('p', { spec: { nodeSelector: { disk: 'ssd' } } }), cluster)).toBe('b');
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [term({ key: 'disk', operator: 'In', values: ['nvme'] }), term({ key: 'zone', operator: 'In', values: ['z2'] })],
        },
      },
    };
    expect(placeOne(pod('q', { spec: { affinity } }), cluster)).toBe('c');
    expect(placeOne(pod('r', { spec: { nodeSelector: { disk: 'nvme' } } }), cluster)).toBe(
      "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    // kubernetes.io/hostname is there even when the node was registered without it.
    expect(placeOne(pod('s', { spec: { nodeSelector: { 'kubernetes.io/hostname': 'a' } } }), cluster)).toBe('a');
  });

  it('prefers nodes matching preferred terms', () => {
    const cluster = nodes(node('a'), node('b', { labels: { fast: 'yes' } }));
    const affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: term({ key: 'fast', operator: 'Exists' }) }] } };
    expect(placeOne(pod('p', { spec: { affinity } }), cluster)).toBe('b');
  });
});

describe('resources', () => {
  it('fits cpu, memory, extended resources and the pod count against allocatable minus what is bound', () => {
    const cluster = nodes(node('gpu', { cpu: '2', gpu: '1' }));
    expect(placeOne(pod('a', { requests: { cpu: '1500m', 'nvidia.com/gpu': '1' } }), cluster)).toBe('gpu');
    expect(placeOne(pod('b', { requests: { cpu: '600m', memory: '9Gi', 'nvidia.com/gpu': '1' } }), cluster)).toBe(
      '0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Insufficient nvidia.com/gpu. ' +
        'preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    );
    expect(placeOne(pod('c', { requests: { cpu: '500m' } }), cluster)).toBe('gpu');

    const small = nodes(node('small', { pods: '2' }));
    expect(placeAll([pod('x'), pod('y'), pod('z')], small)).toEqual([
      'small',
      'small',
      '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    ]);
  });

  it('uses capacity when a node reports no allocatable, and frees what terminal pods held', () => {
    const [n] = nodes(node('n', { cpu: '1', capacityOnly: true }));
    expect(filterNode(pendingPod(pod('a', { requests: { cpu: '1' } })), n, [n])).toBeUndefined();
    n.add({ ...pendingPod(pod('done', { requests: { cpu: '1' } })), terminal: true });
    expect(filterNode(pendingPod(pod('a', { requests: { cpu: '1' } })), n, [n])).toBeUndefined();
    n.add(pendingPod(pod('running', { requests: { cpu: '1' } })));
    expect(filterNode(pendingPod(pod('a', { requests: { cpu: '1m' } })), n, [n])).toEqual({ reasons: ['Insufficient cpu'], resolvable: true });
  });

  it('a node without the extended resource cannot take a pod requesting it', () => {
    expect(placeOne(pod('p', { requests: { 'nvidia.com/gpu': '1' } }), nodes(node('plain')))).toBe(
      '0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    );
  });
});

describe('host ports', () => {
  it('conflicts on the same protocol and port when host IPs overlap', () => {
    expect(portsConflict(['TCP/0.0.0.0/80'], ['TCP/10.0.0.1/80'])).toBe(true);
    expect(portsConflict(['TCP/10.0.0.1/80'], ['TCP/0.0.0.0/80'])).toBe(true);
    expect(portsConflict(['TCP/10.0.0.1/80'], ['TCP/10.0.0.1/80'])).toBe(true);
    expect(portsConflict(['TCP/10.0.0.1/80'], ['TCP/10.0.0.2/80'])).toBe(false);
    expect(portsConflict(['UDP/0.0.0.0/80'], ['TCP/0.0.0.0/80'])).toBe(false);
    expect(portsConflict(['TCP/0.0.0.0/81'], ['TCP/0.0.0.0/80'])).toBe(false);
  });

  it('sends a second pod wanting the same host port elsewhere, or nowhere', () => {
    const web = (name: string) => pod(name, { ports: [{ hostPort: 8080 }] });
    expect(placeAll([web('a'), web('b'), web('c')], nodes(node('n1'), node('n2')))).toEqual([
      'n1',
      'n2',
      "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. " +
        'preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.',
    ]);
  });
});

describe('the FailedScheduling message', () => {
  it("counts reasons over nodes and sorts them as strings, as kube-scheduler's FitError does", () => {
    expect(
      fitMessage(12, [
        ...Array.from({ length: 10 }, () => ({ reasons: ['Insufficient memory'], resolvable: true })),
        { reasons: ['Insufficient cpu', 'Insufficient memory'], resolvable: true },
        { reasons: ['node(s) were unschedulable'], resolvable: false },
      ]),
    ).toBe('0/12 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable, 11 Insufficient memory.');
  });

  it('reads as Kubernetes writes it for a GPU pod on a cluster with one GPU node', () => {
    const controlPlane = (name: string) => node(name, { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] });
    const cluster = nodes(node('gpu', { gpu: '1' }), controlPlane('cp1'), controlPlane('cp2'));
    const gpuPod = (name: string) => pod(name, { requests: { 'nvidia.com/gpu': '1' } });
    expect(placeAll([gpuPod('first'), gpuPod('second')], cluster)).toEqual([
      'gpu',
      '0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. ' +
        'preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.',
    ]);
  });

  it('says why preempting lower-priority pods would not help, or that the pod may not preempt', () => {
    const cluster = nodes(node('n', { gpu: '1' }));
    placeAll([pod('low', { requests: { cpu: '3' } })], cluster);
    expect(placeOne(pod('high', { requests: { 'nvidia.com/gpu': '2' }, spec: { priority: 100 } }), cluster)).toBe(
      '0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
    );
    expect(placeOne(pod('never', { requests: { cpu: '2' }, spec: { priority: 100, preemptionPolicy: 'Never' } }), cluster)).toBe(
      '0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.',
    );
  });

  it('has its own words for a cluster without nodes', () => {
    expect(placeOne(pod('p'), [])).toBe('no nodes available to schedule pods');
  });
});

describe('scores', () => {
  it('spreads a ReplicaSet evenly over equal nodes', () => {
    const cluster = nodes(node('n1'), node('n2'), node('n3'));
    const replicas = Array.from({ length: 6 }, (_, i) => pod(`web-${i}`, { owner: 'rs-web', requests: { cpu: '500m', memory: '512Mi' } }));
    const placed = placeAll(replicas, cluster);
    expect(['n1', 'n2', 'n3'].map((n) => placed.filter((p) => p === n).length)).toEqual([2, 2, 2]);
  });

  it('spreads a ReplicaSet before filling the emptiest node', () => {
    // Least allocated alone would put every replica on the big node.
    const cluster = nodes(node('big', { cpu: '64', memory: '256Gi' }), node('n2'), node('n3'));
    const replicas = Array.from({ length: 6 }, (_, i) => pod(`web-${i}`, { owner: 'rs-web', requests: { cpu: '500m', memory: '512Mi' } }));
    const placed = placeAll(replicas, cluster);
    expect(['big', 'n2', 'n3'].map((n) => placed.filter((p) => p === n).length)).toEqual([2, 2, 2]);
    // Pods of another owner are not spread against these.
    expect(placeOne(pod('other', { owner: 'rs-other', requests: { cpu: '500m', memory: '512Mi' } }), cluster)).toBe('big');
  });

  it('prefers the least allocated node', () => {
    const cluster = nodes(node('busy'), node('idle'));
    placeAll([pod('hog', { requests: { cpu: '3', memory: '6Gi' }, spec: { nodeSelector: { 'kubernetes.io/hostname': 'busy' } } })], cluster);
    const p = pendingPod(pod('p', { requests: { cpu: '1', memory: '1Gi' } }));
    // busy: cpu (4000-4000)/4000 -> 0, memory (8-7)/8 -> 12; idle: cpu 75, memory 87.
    expect(cluster.map((n) => leastAllocatedScore(p, n))).toEqual([6, 81]);
    expect(placeOne(pod('p', { requests: { cpu: '1', memory: '1Gi' } }), cluster)).toBe('idle');
  });

  it('breaks ties by node name', () => {
    expect(placeOne(pod('p'), nodes(node('c'), node('a'), node('b')))).toBe('a');
  });
});

describe('topology spread constraints', () => {
  const spread = (maxSkew: number, topologyKey = 'kubernetes.io/hostname') => ({
    topologySpreadConstraints: [{ maxSkew, topologyKey, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'db' } } }],
  });
  const db = (name: string, extra: Record<string, unknown> = {}) => pod(name, { labels: { app: 'db' }, spec: { ...spread(1), ...extra } });

  it('keeps the skew within maxSkew, even against the scores', () => {
    const cluster = nodes(node('n1'), node('n2', { cpu: '64', memory: '256Gi' }));
    // n2 is far emptier, but once it holds one more db pod than n1 it is out.
    expect(placeAll([db('a'), db('b'), db('c'), db('d')], cluster).sort()).toEqual(['n1', 'n1', 'n2', 'n2']);
    // Pinned to n1: with nodeAffinityPolicy Ignore n2 still counts, so n1 may hold only one more than n2.
    const pinned = (name: string, nodeAffinityPolicy?: string) =>
      pod(name, {
        labels: { app: 'db' },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': 'n1' },
          topologySpreadConstraints: [{ ...spread(1).topologySpreadConstraints[0], nodeAffinityPolicy }],
        },
      });
    expect(placeOne(pinned('e', 'Ignore'), cluster)).toBe('n1');
    expect(placeOne(pinned('f', 'Ignore'), cluster)).toBe(
      "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match pod topology spread constraints. " +
        'preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.',
    );
    // With the default (Honor), only nodes the pod may go to are domains: n1 alone, never skewed.
    expect(placeOne(pinned('g'), cluster)).toBe('n1');
  });

  it('rejects nodes without the topology key', () => {
    const cluster = nodes(node('n1', { labels: { zone: 'a' } }), node('n2'));
    expect(placeOne(pod('p', { labels: { app: 'db' }, spec: spread(1, 'zone') }), cluster)).toBe('n1');
    const [, n2] = cluster;
    expect(filterNode(pendingPod(pod('q', { labels: { app: 'db' }, spec: spread(1, 'zone') })), n2, cluster)?.reasons).toEqual([
      "node(s) didn't match pod topology spread constraints (missing required label)",
    ]);
  });

  it('counts only pods the selector picks in the same namespace', () => {
    const cluster = nodes(node('n1'), node('n2'));
    placeAll([pod('web', { labels: { app: 'web' }, spec: { nodeSelector: { 'kubernetes.io/hostname': 'n2' } } })], cluster);
    placeAll([db('a')], cluster); // tie on spread, n1 by the scores' other terms or by name
    const reasons = filterNode(pendingPod(db('b')), cluster[0], cluster)?.reasons;
    expect(reasons).toEqual(["node(s) didn't match pod topology spread constraints"]);
  });
});

describe('queue order', () => {
  it('takes higher priority first, then older pods', () => {
    const ps = [
      pod('young', { created: '2026-01-02T00:00:00Z' }),
      pod('old', { created: '2026-01-01T00:00:00Z' }),
      pod('urgent', { created: '2026-01-03T00:00:00Z', spec: { priority: 1000 } }),
    ].map(pendingPod);
    expect(ps.sort(queueOrder).map((p) => p.name)).toEqual(['urgent', 'old', 'young']);
  });
});

describe('feasible nodes to find', () => {
  it('looks at every node of a small cluster and at a share of a large one, as kube-scheduler does', () => {
    expect(feasibleNodesToFind(50)).toBe(50);
    expect(feasibleNodesToFind(1000)).toBe(420);
    expect(feasibleNodesToFind(5000)).toBe(500);
    expect(feasibleNodesToFind(20000)).toBe(1000);
  });
});

import { describe, expect, it } from 'vitest';
import { applyPatch } from '../../src/api/patch/index.js';
import { codeOf } from '../helpers/patch-error.js';

const smp = (kind: string, current: object, patch: unknown) =>
  applyPatch('strategic', current, patch, { kind, apiVersion: 'v1', now: '2024-01-01T00:00:00Z' });

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', annotations: { a: '1' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }],
            resources: {},
            terminationMessagePath: '/dev/termination-log',
          },
        ],
        restartPolicy: 'Always',
      },
    },
  },
});

const containersOf = (obj: any) => obj.spec.template.spec.containers;
const names = (list: { name: string }[]) => list.map((c) => c.name);

describe('strategic merge patch', () => {
  it('updates the image of the existing container as a second kubectl apply does', () => {
    const out = smp('Deployment', deployment(), {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'nginx' }], containers: [{ image: 'nginx:2', name: 'nginx' }] } } },
    });
    const [c] = containersOf(out);
    expect(containersOf(out)).toHaveLength(1);
    expect(c).toEqual({ ...deployment().spec.template.spec.containers[0], image: 'nginx:2' });
    expect((out as any).metadata.annotations).toEqual({ a: '1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' });
    expect((out as any).spec.replicas).toBe(2);
  });

  it('merges nested keyed lists: ports by containerPort, env by name', () => {
    const out = smp('Deployment', deployment(), {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'nginx', ports: [{ containerPort: 443 }], env: [{ name: 'A', value: '2' }, { name: 'B', value: 'b' }] },
            ],
          },
        },
      },
    });
    const [c] = containersOf(out);
    expect(c.ports).toEqual([{ containerPort: 443 }, { containerPort: 80, protocol: 'TCP' }]);
    expect(c.env).toEqual([{ name: 'A', value: '2' }, { name: 'B', value: 'b' }]);
    expect(c.image).toBe('nginx:1');
    // kubectl apply after removing port 443 from the manifest: nested directives inside a list item.
    const removed = smp('Deployment', out, {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'nginx' }],
            containers: [{ '$setElementOrder/ports': [{ containerPort: 80 }], name: 'nginx', ports: [{ $patch: 'delete', containerPort: 443 }] }],
          },
        },
      },
    });
    expect(containersOf(removed)[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
  });

  it('adds a container and deletes one with $patch: delete', () => {
    const added = smp('Deployment', deployment(), {
      spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'busybox' }] } } },
    });
    expect(names(containersOf(added))).toEqual(['sidecar', 'nginx']);
    const removed = smp('Deployment', added, {
      spec: { template: { spec: { containers: [{ $patch: 'delete', name: 'nginx' }, { $patch: 'delete', name: 'absent' }] } } },
    });
    expect(containersOf(removed)).toEqual([{ name: 'sidecar', image: 'busybox' }]);
  });

  it('replaces a keyed list with $patch: replace, and a map with $patch: replace', () => {
    const out = smp('Deployment', deployment(), {
      spec: { template: { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } } },
    });
    expect(containersOf(out)).toEqual([{ name: 'only', image: 'x' }]);
    const labels = smp('Deployment', deployment(), {
      spec: { template: { metadata: { labels: { $patch: 'replace', tier: 'front' } } } },
    });
    expect((labels as any).spec.template.metadata.labels).toEqual({ tier: 'front' });
    const cleared = smp('Deployment', deployment(), { metadata: { annotations: { $patch: 'delete' } } });
    expect((cleared as any).metadata).toEqual({ name: 'web', namespace: 'default', annotations: {} });
  });

  it('reorders with $setElementOrder, keeping server-only items in place (Kubernetes test case)', () => {
    const current = { spec: { containers: [1, 2, 7, 9, 8, 3, 4].map((n) => ({ name: `c${n}`, ...(n === 1 ? { other: 'a' } : {}) })) } };
    const out = smp('Pod', current, {
      spec: { '$setElementOrder/containers': [2, 1, 4, 3].map((n) => ({ name: `c${n}` })) },
    });
    expect(names((out as any).spec.containers)).toEqual(['c2', 'c1', 'c7', 'c9', 'c8', 'c4', 'c3']);
    expect((out as any).spec.containers[1]).toEqual({ name: 'c1', other: 'a' });
  });

  it('deletes in one list and reorders another in one patch (Kubernetes test case)', () => {
    const current = {
      spec: {
        containers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }],
        volumes: [{ name: 'c', emptyDir: {} }, { name: 'd', emptyDir: {} }],
      },
    };
    const out = smp('Pod', current, {
      spec: {
        '$setElementOrder/containers': [{ name: 'b' }],
        '$setElementOrder/volumes': [{ name: 'd' }, { name: 'c' }],
        containers: [{ $patch: 'delete', name: 'a' }],
      },
    }) as any;
    expect(out.spec.containers).toEqual([{ name: 'b', image: 'b' }]);
    expect(names(out.spec.volumes)).toEqual(['d', 'c']);
  });

  it('places new items by the patch order relative to live ones (Kubernetes test case)', () => {
    const out = smp('Pod', { spec: { containers: [{ name: 'hello2' }] } }, {
      spec: { '$setElementOrder/containers': [{ name: 'hello' }, { name: 'doesntexist' }], containers: [{ name: 'hello' }] },
    });
    expect(names((out as any).spec.containers)).toEqual(['hello', 'hello2']);
  });

  it('clears fields outside $retainKeys (the strategy union kubectl apply sends)', () => {
    const out = smp('Deployment', deployment(), {
      spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } },
    }) as any;
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = { spec: { volumes: [{ name: 'v', emptyDir: {} }] } };
    const swapped = smp('Pod', pod, {
      spec: { volumes: [{ $retainKeys: ['configMap', 'name'], configMap: { name: 'cm' }, name: 'v' }] },
    }) as any;
    expect(swapped.spec.volumes).toEqual([{ name: 'v', configMap: { name: 'cm' } }]);
    expect(codeOf(() => smp('Deployment', deployment(), { spec: { strategy: { $retainKeys: ['type'], other: 1 } } }))).toBe(400);
  });

  it('replaces a patchStrategy replace struct whole: a budget\'s selector (policy/v1)', () => {
    const pdb = () => ({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web', namespace: 'default' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
    });
    const expressions = [{ key: 'tier', operator: 'In', values: ['front'] }];
    const out = smp('PodDisruptionBudget', pdb(), { spec: { selector: { matchExpressions: expressions } } }) as any;
    expect(out.spec).toEqual({ minAvailable: 1, selector: { matchExpressions: expressions } });
    // The patch value is taken as it is, its nulls dropped (as decoding drops them in Kubernetes).
    const nulls = smp('PodDisruptionBudget', pdb(), { spec: { selector: { matchLabels: { app: 'api', x: null }, matchExpressions: null } } }) as any;
    expect(nulls.spec.selector).toEqual({ matchLabels: { app: 'api' } });
    // An empty selector (every pod of the namespace) replaces too; null still deletes.
    expect((smp('PodDisruptionBudget', pdb(), { spec: { selector: {} } }) as any).spec.selector).toEqual({});
    expect((smp('PodDisruptionBudget', pdb(), { spec: { selector: null } }) as any).spec).toEqual({ minAvailable: 1 });
    // Siblings still merge, and $retainKeys on the parent map still applies.
    const retained = smp('PodDisruptionBudget', pdb(), {
      spec: { $retainKeys: ['maxUnavailable', 'selector'], maxUnavailable: 1, selector: { matchLabels: { app: 'web2' } } },
    }) as any;
    expect(retained.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'web2' } } });
    // A workload's selector has no patch strategy: strategic merge merges into it.
    const merged = smp('Deployment', deployment(), { spec: { selector: { matchExpressions: expressions } } }) as any;
    expect(merged.spec.selector).toEqual({ matchLabels: { app: 'web' }, matchExpressions: expressions });
  });

  it('merges finalizers as a set and deletes with $deleteFromPrimitiveList', () => {
    const current = { metadata: { name: 'x', finalizers: ['a', 'b'] } };
    expect((smp('ConfigMap', current, { metadata: { finalizers: ['c', 'a'] } }) as any).metadata.finalizers).toEqual(['c', 'a', 'b']);
    const out = smp('ConfigMap', current, {
      metadata: { '$setElementOrder/finalizers': ['b'], '$deleteFromPrimitiveList/finalizers': ['a'] },
    }) as any;
    expect(out.metadata.finalizers).toEqual(['b']);
  });

  it('merges ownerReferences by uid, node conditions by type, and replaces atomic lists', () => {
    const pod = { metadata: { ownerReferences: [{ uid: 'u1', name: 'rs1' }] }, spec: { tolerations: [{ key: 'a' }] } };
    const out = smp('Pod', pod, {
      metadata: { ownerReferences: [{ uid: 'u2', name: 'rs2' }] },
      spec: { tolerations: [{ key: 'b' }] },
    }) as any;
    expect(out.metadata.ownerReferences.map((o: any) => o.uid).sort()).toEqual(['u1', 'u2']);
    expect(out.spec.tolerations).toEqual([{ key: 'b' }]);
    const node = { status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'DiskPressure', status: 'False' }] } };
    const ready = smp('Node', node, { status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }) as any;
    expect(ready.status.conditions).toEqual([{ type: 'Ready', status: 'Unknown' }, { type: 'DiskPressure', status: 'False' }]);
  });

  it('cordons and uncordons a node', () => {
    const node = { metadata: { name: 'n1' }, spec: { podCIDR: '10.0.0.0/24' } };
    const cordoned = smp('Node', node, { spec: { unschedulable: true } });
    expect(cordoned).toEqual({ metadata: { name: 'n1' }, spec: { podCIDR: '10.0.0.0/24', unschedulable: true } });
    expect(smp('Node', cordoned, { spec: { unschedulable: null } })).toEqual(node);
  });

  it('behaves like a merge patch for a kind it has no table for', () => {
    const out = smp('Widget', { spec: { items: [{ name: 'a', v: 1 }] } }, { spec: { items: [{ name: 'a', w: 2 }] } });
    expect(out).toEqual({ spec: { items: [{ name: 'a', w: 2 }] } });
  });

  it('rejects malformed patches with 400 and changes no input', () => {
    const current = deployment();
    const snapshot = structuredClone(current);
    const bad: unknown[] = [
      [],
      'x',
      { spec: { $patch: 'merge' } },
      { spec: { template: { spec: { containers: ['nginx'] } } } },
      { spec: { template: { spec: { containers: [{ image: 'no-name' }] } } } },
      { spec: { template: { spec: { containers: [{ $patch: 'delete' }] } } } },
      { spec: { template: { spec: { '$setElementOrder/containers': 'nginx' } } } },
      { spec: { template: { spec: { '$setElementOrder/containers': [{ image: 'x' }] } } } },
      { metadata: { '$deleteFromPrimitiveList/finalizers': 'a' } },
      { metadata: { finalizers: [{ a: 1 }] } },
      { spec: { $retainKeys: 'replicas' } },
    ];
    for (const patch of bad) expect(codeOf(() => smp('Deployment', current, patch)), JSON.stringify(patch)).toBe(400);
    const patch = { spec: { template: { spec: { containers: [{ name: 'nginx', env: [{ name: 'C', value: '3' }] }] } } } };
    const out = smp('Deployment', current, patch) as any;
    out.spec.template.spec.containers[0].env.push({ name: 'D' });
    expect(current).toEqual(snapshot);
    expect(patch.spec.template.spec.containers[0].env).toEqual([{ name: 'C', value: '3' }]);
  });
});

import { describe, expect, it } from 'vitest';
import { ApplyConflictError, PatchError, applyPatch, updateManagedFields } from '../../src/api/patch/index.js';

const T0 = '2024-01-01T00:00:00Z';
const T1 = '2024-01-01T00:01:00Z';
const base = { kind: 'Deployment', apiVersion: 'apps/v1' };
const apply = (current: object | undefined, config: unknown, manager = 'kubectl', force = false, now = T1) =>
  applyPatch('apply', current, config, { ...base, manager, force, now }) as any;

const manifest = (replicas = 2, image = 'nginx:1', extra: object = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'nginx', image, ports: [{ containerPort: 80 }] }] },
    },
    ...extra,
  },
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

const entry = (obj: any, manager: string) => obj.metadata.managedFields.find((e: any) => e.manager === manager);

describe('server-side apply', () => {
  it('creates an object and records the applied fields in FieldsV1', () => {
    const out = apply(undefined, manifest(), 'kubectl', false, T0);
    expect(out.spec.template.spec.containers[0]).toEqual({ name: 'nginx', image: 'nginx:1', ports: [{ containerPort: 80 }] });
    expect(out.metadata.managedFields).toEqual([
      {
        manager: 'kubectl',
        operation: 'Apply',
        apiVersion: 'apps/v1',
        time: T0,
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:replicas': {},
            'f:selector': {},
            'f:template': {
              'f:metadata': { 'f:labels': { 'f:app': {} } },
              'f:spec': {
                'f:containers': {
                  'k:{"name":"nginx"}': {
                    '.': {},
                    'f:name': {},
                    'f:image': {},
                    'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
                  },
                },
              },
            },
          },
        },
      },
    ]);
  });

  it('re-applies: changes win, fields no longer applied are removed, fields of others are kept', () => {
    const created = apply(undefined, manifest(2, 'nginx:1', { minReadySeconds: 5 }), 'kubectl', false, T0);
    // Defaults and controller writes belong to nobody or to their own manager.
    created.spec.progressDeadlineSeconds = 600;
    created.spec.template.spec.containers[0].imagePullPolicy = 'IfNotPresent';
    const out = apply(created, manifest(2, 'nginx:2'));
    expect(out.spec.minReadySeconds).toBeUndefined();
    expect(out.spec.progressDeadlineSeconds).toBe(600);
    expect(out.spec.template.spec.containers).toEqual([
      { name: 'nginx', image: 'nginx:2', ports: [{ containerPort: 80 }], imagePullPolicy: 'IfNotPresent' },
    ]);
    expect(entry(out, 'kubectl').fieldsV1['f:spec']['f:minReadySeconds']).toBeUndefined();
    expect(entry(out, 'kubectl').time).toBe(T1);
    // Applying the same manifest again is a no-op: the object, time included, stays as it is.
    expect(apply(out, manifest(2, 'nginx:2'), 'kubectl', false, '2024-01-02T00:00:00Z')).toEqual(out);
  });

  it('removes a label it no longer applies, and the emptied map with it', () => {
    const created = apply(undefined, { ...manifest(), metadata: { name: 'web', labels: { app: 'web', tier: 'front' } } });
    const out = apply(created, { ...manifest(), metadata: { name: 'web' } });
    expect(out.metadata.labels).toBeUndefined();
    expect(out.metadata.name).toBe('web');
  });

  it('merges keyed lists per item between managers', () => {
    const a = apply(undefined, manifest());
    const sidecar = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { template: { spec: { containers: [{ name: 'proxy', image: 'envoy' }] } } },
    };
    const both = apply(a, sidecar, 'mesh');
    expect(both.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['nginx', 'proxy']);
    const withoutProxy = apply(both, { ...sidecar, spec: {} }, 'mesh');
    expect(withoutProxy.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['nginx']);
    expect(withoutProxy.metadata.managedFields.map((e: any) => e.manager)).toEqual(['kubectl']);
  });

  it('conflicts on a field another manager owns with a different value', () => {
    const created: any = manifest();
    updateManagedFields(undefined, created, { ...base, manager: 'kubectl-client-side-apply', now: T0 });
    const err = thrown(() => apply(created, manifest(3)));
    expect(err).toBeInstanceOf(ApplyConflictError);
    expect(err).toBeInstanceOf(PatchError);
    expect((err as ApplyConflictError).code).toBe(409);
    expect((err as ApplyConflictError).causes).toEqual([
      { reason: 'FieldManagerConflict', field: '.spec.replicas', message: 'conflict with "kubectl-client-side-apply" using apps/v1' },
    ]);
    expect((err as Error).message).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas',
    );
    // The same values are no conflict: both managers then share them.
    const shared = apply(created, manifest(2));
    expect(entry(shared, 'kubectl').fieldsV1['f:spec']['f:replicas']).toEqual({});
    expect(entry(shared, 'kubectl-client-side-apply').fieldsV1['f:spec']['f:replicas']).toEqual({});
  });

  it('lists every conflict, grouped by manager', () => {
    const created: any = manifest();
    updateManagedFields(undefined, created, { ...base, manager: 'kubectl-create', now: T0 });
    const err = thrown(() => apply(created, manifest(3, 'nginx:2'))) as ApplyConflictError;
    expect(err.causes.map((c) => c.field).sort()).toEqual(['.spec.replicas', '.spec.template.spec.containers[name="nginx"].image']);
    expect(err.message).toMatch(/^Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps\/v1:\n- \.spec/);
  });

  it('takes ownership with force', () => {
    const created: any = manifest();
    updateManagedFields(undefined, created, { ...base, manager: 'kubectl-client-side-apply', now: T0 });
    const out = apply(created, manifest(3), 'kubectl', true);
    expect(out.spec.replicas).toBe(3);
    expect(entry(out, 'kubectl').fieldsV1['f:spec']['f:replicas']).toEqual({});
    expect(entry(out, 'kubectl-client-side-apply').fieldsV1['f:spec']['f:replicas']).toBeUndefined();
    expect(entry(out, 'kubectl-client-side-apply').fieldsV1['f:spec']['f:selector']).toEqual({});
  });

  it('after a scale by an Update manager, a later apply conflicts on spec.replicas', () => {
    const created = apply(undefined, manifest(2), 'kubectl', false, T0);
    const scaled = applyPatch('merge', created, { spec: { replicas: 5 } }, { ...base, now: T1 }) as any;
    updateManagedFields(created, scaled, { ...base, manager: 'kubectl', subresource: 'scale', now: T1 });
    const scaleEntry = scaled.metadata.managedFields.find((e: any) => e.subresource === 'scale');
    expect(scaleEntry).toMatchObject({ manager: 'kubectl', operation: 'Update', time: T1, fieldsV1: { 'f:spec': { 'f:replicas': {} } } });
    expect(entry(scaled, 'kubectl').fieldsV1['f:spec']['f:replicas']).toBeUndefined();

    const err = thrown(() => apply(scaled, manifest(2))) as ApplyConflictError;
    expect(err.causes).toEqual([
      { reason: 'FieldManagerConflict', field: '.spec.replicas', message: 'conflict with "kubectl" with subresource "scale" using apps/v1' },
    ]);
    // Leaving replicas out of the manifest keeps the scaled value.
    const { replicas: _, ...specWithoutReplicas } = manifest().spec;
    const kept = apply(scaled, { ...manifest(), spec: specWithoutReplicas });
    expect(kept.spec.replicas).toBe(5);
  });

  it('gives the fields of an object written without managedFields to before-first-apply', () => {
    const err = thrown(() => apply(manifest(2), manifest(4))) as ApplyConflictError;
    expect(err.causes.map((c) => c.message)).toEqual(['conflict with "before-first-apply" using apps/v1']);
  });

  it('rejects malformed apply bodies', () => {
    const codeOf = (fn: () => unknown) => (thrown(fn) as PatchError).code;
    expect(codeOf(() => apply(undefined, [manifest()]))).toBe(400);
    expect(codeOf(() => apply(undefined, { ...manifest(), kind: 'Pod' }))).toBe(400);
    expect(codeOf(() => apply(undefined, { ...manifest(), metadata: { name: 'web', managedFields: [] } }))).toBe(400);
    expect(codeOf(() => applyPatch('apply', undefined, manifest(), { ...base, now: T0 }))).toBe(400);
    const noName = { ...manifest(), spec: { template: { spec: { containers: [{ image: 'x' }] } } } };
    expect(codeOf(() => apply(undefined, noName))).toBe(422);
    const dup = { ...manifest(), spec: { template: { spec: { containers: [{ name: 'a' }, { name: 'a' }] } } } };
    expect(codeOf(() => apply(undefined, dup))).toBe(422);
    expect(codeOf(() => apply(undefined, { ...manifest(), metadata: 'web' }))).toBe(422);
  });

  it('changes neither input', () => {
    const created = apply(undefined, manifest());
    const snapshot = structuredClone(created);
    const config = manifest(2, 'nginx:3');
    const out = apply(created, config);
    out.spec.template.spec.containers[0].ports.push({ containerPort: 1 });
    expect(created).toEqual(snapshot);
    expect(config).toEqual(manifest(2, 'nginx:3'));
  });
});

describe('updateManagedFields', () => {
  it('gives a creating manager every field but the ones the server sets', () => {
    const obj: any = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', uid: 'u', resourceVersion: '1' }, data: { a: '1' } };
    updateManagedFields(undefined, obj, { kind: 'ConfigMap', apiVersion: 'v1', manager: 'kubectl-create', now: T0 });
    expect(obj.metadata.managedFields).toEqual([
      { manager: 'kubectl-create', operation: 'Update', apiVersion: 'v1', time: T0, fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} } } },
    ]);
  });

  it('leaves managedFields alone on a no-op write, and moves changed and removed fields', () => {
    const v1: any = { metadata: { name: 'c' }, data: { a: '1', b: '2' } };
    updateManagedFields(undefined, v1, { kind: 'ConfigMap', apiVersion: 'v1', manager: 'creator', now: T0 });
    const same = structuredClone(v1);
    updateManagedFields(v1, same, { kind: 'ConfigMap', apiVersion: 'v1', manager: 'editor', now: T1 });
    expect(same.metadata.managedFields).toEqual(v1.metadata.managedFields);

    const v2: any = { metadata: { name: 'c', managedFields: v1.metadata.managedFields }, data: { a: 'changed' } };
    updateManagedFields(v1, v2, { kind: 'ConfigMap', apiVersion: 'v1', manager: 'editor', now: T1 });
    expect(v2.metadata.managedFields.map((e: any) => [e.manager, e.fieldsV1])).toEqual([['editor', { 'f:data': { 'f:a': {} } }]]);
  });

  it('keys list items with defaulted keys, so a defaulted object matches the applied item', () => {
    const created = apply(undefined, manifest());
    created.spec.template.spec.containers[0].ports[0].protocol = 'TCP';
    const out = apply(created, manifest(2, 'nginx:1'), 'kubectl');
    expect(out.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
  });
});

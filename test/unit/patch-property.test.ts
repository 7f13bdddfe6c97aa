import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PatchError, applyPatch, updateManagedFields, type PatchType } from '../../src/api/patch/index.js';

// Keys and values from the patch vocabulary, so that random documents hit merge
// keys, directives, FieldsV1 elements and keys that are traps for plain objects.
const key = fc.constantFrom(
  'metadata', 'spec', 'status', 'template', 'containers', 'name', 'image', 'ports', 'containerPort', 'protocol',
  'env', 'value', 'finalizers', 'labels', 'replicas', 'conditions', 'type', 'ownerReferences', 'uid', 'selector',
  'managedFields', 'manager', 'operation', 'fieldsV1', 'f:spec', 'f:replicas', 'k:{"name":"a"}', 'k:bad', 'v:"a"', '.',
  '$patch', '$retainKeys', '$setElementOrder/containers', '$setElementOrder/finalizers', '$deleteFromPrimitiveList/finalizers',
  '__proto__', 'toString', 'constructor', 'kind', 'apiVersion',
);
const leaf = fc.oneof(
  fc.constantFrom('delete', 'replace', 'merge', 'a', 'b', 'TCP', 'Apply', 'Update', 'Deployment', 'apps/v1', ''),
  fc.integer({ min: -1, max: 100 }),
  fc.boolean(),
  fc.constant(null),
);
const { value, object } = fc.letrec((tie) => ({
  value: fc.oneof({ maxDepth: 5, depthIdentifier: 'json' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'json' }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 5, depthIdentifier: 'json' }),
})) as { value: fc.Arbitrary<unknown>; object: fc.Arbitrary<Record<string, unknown>> };

const pointer = fc.oneof(
  fc.array(fc.constantFrom('spec', 'containers', '0', '1', '-', 'name', '~0', '~1', 'a~1b', '~2', '', '__proto__'), { maxLength: 4 }).map(
    (tokens) => tokens.map((t) => `/${t}`).join(''),
  ),
  fc.constantFrom('', 'spec', 7 as unknown as string),
);
const jsonPatch = fc.array(
  fc.record(
    {
      op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'),
      path: pointer,
      from: pointer,
      value,
    },
    { requiredKeys: ['op'] },
  ),
  { maxLength: 4 },
);

const kinds = fc.constantFrom('Deployment', 'Pod', 'Node', 'Service', 'ConfigMap', 'Widget');
const now = '2024-01-01T00:00:00Z';

/** Runs `fn`; any throw other than a PatchError fails the property. */
function onlyPatchErrors(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PatchError) return undefined;
    throw e;
  }
}

describe('patch engines on random input', () => {
  it('throw nothing but PatchError and never change their inputs', () => {
    const patchOf = (type: PatchType) => (type === 'json' ? fc.oneof(jsonPatch, value) : fc.oneof(object, value));
    fc.assert(
      fc.property(
        fc.constantFrom<PatchType>('json', 'merge', 'strategic', 'apply').chain((type) =>
          fc.tuple(fc.constant(type), fc.option(object, { nil: undefined }), patchOf(type), kinds, fc.boolean()),
        ),
        ([type, current, patch, kind, force]) => {
          const before = structuredClone([current, patch]);
          onlyPatchErrors(() =>
            applyPatch(type, current, patch, { kind, apiVersion: 'apps/v1', now, manager: 'm', force }),
          );
          expect([current, patch]).toEqual(before);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('apply is idempotent: applying the same manifest again changes nothing', () => {
    fc.assert(
      fc.property(object, kinds, (manifest, kind) => {
        const opts = { kind, apiVersion: 'apps/v1', now, manager: 'm' };
        const first = onlyPatchErrors(() => applyPatch('apply', undefined, manifest, opts));
        if (first === undefined) return;
        expect(applyPatch('apply', first as object, manifest, { ...opts, now: '2024-06-01T00:00:00Z' })).toEqual(first);
      }),
      { numRuns: 1000 },
    );
  });

  it('updateManagedFields throws nothing but PatchError', () => {
    fc.assert(
      fc.property(fc.option(object, { nil: undefined }), object, kinds, (old, next, kind) => {
        onlyPatchErrors(() => updateManagedFields(old, next, { kind, apiVersion: 'v1', now, manager: 'm' }));
      }),
      { numRuns: 1000 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { PatchError, applyPatch } from '../../src/api/patch/index.js';

const opts = { kind: 'Deployment', apiVersion: 'apps/v1', now: '2024-01-01T00:00:00Z' };
const mergePatch = (current: object, patch: unknown) => applyPatch('merge', current, patch, opts);

describe('JSON merge patch (RFC 7386)', () => {
  it('passes the RFC 7386 appendix A examples', () => {
    const cases: [unknown, unknown, unknown][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, result] of cases) expect(mergePatch(target as object, patch)).toEqual(result);
  });

  it('scales and replaces lists whole (kubectl scale, no merge keys)', () => {
    const current = { spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } };
    expect(mergePatch(current, { spec: { replicas: 5 } })).toEqual({ ...current, spec: { ...current.spec, replicas: 5 } });
    expect(mergePatch(current, { spec: { template: { spec: { containers: [{ name: 'b' }] } } } })).toEqual({
      spec: { replicas: 1, template: { spec: { containers: [{ name: 'b' }] } } },
    });
  });

  it('rejects a patch that is not an object with 400, and changes no input', () => {
    for (const p of [[1], 'x', 3, null]) {
      expect(() => mergePatch({}, p)).toThrow(PatchError);
      try {
        mergePatch({}, p);
      } catch (e) {
        expect((e as PatchError).code).toBe(400);
      }
    }
    const current = { a: { b: 1 } };
    const patch = { a: { c: [1] } };
    const out = mergePatch(current, patch) as any;
    out.a.c.push(2);
    expect(current).toEqual({ a: { b: 1 } });
    expect(patch).toEqual({ a: { c: [1] } });
  });
});

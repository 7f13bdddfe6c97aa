import { describe, expect, it } from 'vitest';
import { applyPatch } from '../../src/api/patch/index.js';
import { codeOf } from '../helpers/patch-error.js';

const opts = { kind: 'ConfigMap', apiVersion: 'v1', now: '2024-01-01T00:00:00Z' };
const jsonPatch = (current: object, patch: unknown) => applyPatch('json', current, patch, opts);

describe('JSON patch (RFC 6902)', () => {
  it('adds, removes, replaces, moves, copies and tests (RFC 6902 appendix A)', () => {
    expect(jsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }])).toEqual({ foo: 'bar', baz: 'qux' });
    expect(jsonPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }])).toEqual({ foo: ['bar', 'qux', 'baz'] });
    expect(jsonPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc'] }])).toEqual({ foo: ['bar', ['abc']] });
    expect(jsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }])).toEqual({ foo: 'bar' });
    expect(jsonPatch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }])).toEqual({ foo: ['bar', 'baz'] });
    expect(jsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }])).toEqual({ baz: 'boo', foo: 'bar' });
    expect(
      jsonPatch({ foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }]),
    ).toEqual({ foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } });
    expect(jsonPatch({ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }])).toEqual({
      foo: ['all', 'cows', 'eat', 'grass'],
    });
    expect(jsonPatch({ a: { b: 1 } }, [{ op: 'copy', from: '/a', path: '/c' }])).toEqual({ a: { b: 1 }, c: { b: 1 } });
    expect(jsonPatch({ baz: 'qux', foo: ['a', 2, 'c'] }, [{ op: 'test', path: '/foo', value: ['a', 2, 'c'] }])).toEqual({
      baz: 'qux',
      foo: ['a', 2, 'c'],
    });
  });

  it('unescapes ~0 and ~1 in pointers', () => {
    const labels = { 'app.kubernetes.io/name': 'web', 'a~b': 'x' };
    const out = jsonPatch({ metadata: { labels } }, [
      { op: 'replace', path: '/metadata/labels/app.kubernetes.io~1name', value: 'api' },
      { op: 'remove', path: '/metadata/labels/a~0b' },
    ]);
    expect(out).toEqual({ metadata: { labels: { 'app.kubernetes.io/name': 'api' } } });
  });

  it('replaces a whole subtree as kubectl rollout undo does', () => {
    const current = { spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'v2' }] } } } };
    const template = { metadata: { creationTimestamp: null }, spec: { containers: [{ name: 'c', image: 'v1', resources: {} }] } };
    expect(jsonPatch(current, [{ op: 'replace', path: '/spec/template', value: template }])).toEqual({ spec: { replicas: 2, template } });
  });

  it('fails a failed test or a missing path with 422', () => {
    expect(codeOf(() => jsonPatch({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]))).toBe(422);
    expect(codeOf(() => jsonPatch({}, [{ op: 'remove', path: '/missing' }]))).toBe(422);
    expect(codeOf(() => jsonPatch({}, [{ op: 'replace', path: '/missing', value: 1 }]))).toBe(422);
    expect(codeOf(() => jsonPatch({}, [{ op: 'add', path: '/a/b', value: 1 }]))).toBe(422);
    expect(codeOf(() => jsonPatch({ l: [1] }, [{ op: 'add', path: '/l/5', value: 1 }]))).toBe(422);
    expect(codeOf(() => jsonPatch({ l: [1] }, [{ op: 'remove', path: '/l/01' }]))).toBe(422);
    expect(codeOf(() => jsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]))).toBe(422);
    expect(codeOf(() => jsonPatch({}, [{ op: 'replace', path: '', value: 5 }]))).toBe(422);
  });

  it('fails a malformed patch document with 400', () => {
    expect(codeOf(() => jsonPatch({}, { op: 'add' }))).toBe(400);
    expect(codeOf(() => jsonPatch({}, ['add']))).toBe(400);
    expect(codeOf(() => jsonPatch({}, [{ op: 'frobnicate', path: '/a' }]))).toBe(400);
    expect(codeOf(() => jsonPatch({}, [{ op: 'add', path: 'a', value: 1 }]))).toBe(400);
    expect(codeOf(() => jsonPatch({}, [{ op: 'add', path: '/a' }]))).toBe(400);
    expect(codeOf(() => jsonPatch({}, [{ op: 'add', path: '/a~2', value: 1 }]))).toBe(400);
    expect(codeOf(() => jsonPatch({ a: 1 }, [{ op: 'move', path: '/b' }]))).toBe(400);
  });

  it('applies all operations or none, and changes neither input', () => {
    const current = { a: { b: [1, 2] } };
    const patch = [{ op: 'add', path: '/a/c', value: { d: 1 } }];
    const out = jsonPatch(current, patch) as any;
    out.a.b.push(3);
    out.a.c.d = 2;
    expect(current).toEqual({ a: { b: [1, 2] } });
    expect(patch[0].value).toEqual({ d: 1 });
    expect(codeOf(() => jsonPatch(current, [{ op: 'remove', path: '/a/b/0' }, { op: 'test', path: '/x', value: 1 }]))).toBe(422);
    expect(current).toEqual({ a: { b: [1, 2] } });
  });

  it('treats "__proto__" as an ordinary key', () => {
    const out = jsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as any;
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});

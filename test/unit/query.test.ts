// Query booleans as kube-apiserver reads them (apimachinery's Convert_Slice_string_To_bool).
import { describe, expect, it } from 'vitest';
import { queryBool, queryOptionalBool } from '../../src/api/query.js';

const q = (s: string) => new URLSearchParams(s);

describe('queryBool', () => {
  it('reads everything strconv.ParseBool calls true as true', () => {
    for (const v of ['1', 't', 'T', 'true', 'TRUE', 'True']) expect(queryBool(q(`watch=${v}`), 'watch'), v).toBe(true);
  });

  it('reads only "0" and "false" in any case as false', () => {
    for (const v of ['0', 'false', 'FALSE', 'False', 'fAlSe']) expect(queryBool(q(`watch=${v}`), 'watch'), v).toBe(false);
  });

  it('reads anything else as true, as kube-apiserver does ("f", "", "bogus")', () => {
    for (const v of ['f', 'F', '', 'bogus', 'no', '00']) expect(queryBool(q(`watch=${v}`), 'watch'), JSON.stringify(v)).toBe(true);
    expect(queryBool(q('watch'), 'watch')).toBe(true);
  });

  it('is false when absent, and reads the first of repeated values', () => {
    expect(queryBool(q('other=1'), 'watch')).toBe(false);
    expect(queryBool(q('watch=0&watch=1'), 'watch')).toBe(false);
    expect(queryBool(q('watch=1&watch=0'), 'watch')).toBe(true);
  });

  it('tells absent from false for the pointer fields', () => {
    expect(queryOptionalBool(q(''), 'sendInitialEvents')).toBeUndefined();
    expect(queryOptionalBool(q('sendInitialEvents=false'), 'sendInitialEvents')).toBe(false);
    expect(queryOptionalBool(q('sendInitialEvents=true'), 'sendInitialEvents')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { isQuantity, milliValue, parseQuantity, wholeValue } from '../../src/kinds/quantity.js';
import {
  deepEqual, goLabelSelector, isDNS1123Label, isIPv6, isQualifiedName, isValidLabelValue, isValidPortName,
  notSupported, selectorMatches, validateLabelSelector, validateLabels, validateName,
} from '../../src/kinds/validation.js';
import { age, duration, formatLabelSelector, formatLabels, listWithMore, selectorString } from '../../src/kinds/format.js';
import { kinds } from '../../src/kinds/registry.js';

describe('names', () => {
  it('writes the RFC 1123 subdomain message kube-apiserver writes', () => {
    expect(validateName('subdomain', 'Foo_bar')).toEqual([
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ]);
    expect(validateName('subdomain', 'web.example')).toEqual([]);
  });

  it('rejects dots and long names under the label rule', () => {
    expect(validateName('label', 'a.b')).toEqual([
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ]);
    expect(isDNS1123Label('a'.repeat(64))[0]).toBe('must be no more than 63 characters');
    expect(validateName('label', 'kube-system')).toEqual([]);
  });

  it('checks qualified names part by part', () => {
    expect(isQualifiedName('example.com/MyName')).toEqual([]);
    expect(isQualifiedName('/x')).toEqual(['prefix part must be non-empty']);
    expect(isQualifiedName('a/b/c')[0]).toMatch(/^a qualified name must consist of alphanumeric characters/);
    expect(isQualifiedName('bad key')[0]).toMatch(/^name part must consist of alphanumeric characters, '-', '_' or '.'/);
  });

  it('checks label values and port names', () => {
    expect(isValidLabelValue('')).toEqual([]);
    expect(isValidLabelValue('-x')[0]).toMatch(/^a valid label must be an empty string/);
    expect(isValidPortName('http')).toEqual([]);
    expect(isValidPortName('HTTP')).toEqual([
      'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'must contain at least one letter (a-z)',
    ]);
    expect(isValidPortName('a--b-')).toEqual(['must not contain consecutive hyphens', 'must not begin or end with a hyphen']);
  });

  it('validates labels at the map path with one cause per message', () => {
    const causes = validateLabels({ 'app': 'ok', 'bad key': 'v', k: 'bad value!' }, 'metadata.labels');
    expect(causes.map((c) => c.field)).toEqual(['metadata.labels', 'metadata.labels']);
    expect(causes[0].message).toMatch(/^Invalid value: "bad key": name part must consist/);
    expect(causes[1].message).toMatch(/^Invalid value: "bad value!": a valid label must be/);
  });

  it('recognises IPv6 addresses', () => {
    expect(isIPv6('2001:db8::ffff')).toBe(true);
    expect(isIPv6('::ffff:10.0.0.1')).toBe(true);
    expect(isIPv6('1:2:3:4:5:6:7:8:9')).toBe(false);
    expect(isIPv6('10.0.0.1')).toBe(false);
  });
});

describe('causes', () => {
  it('quotes supported values as Go does', () => {
    expect(notSupported('spec.restartPolicy', 'Sometimes', ['Always', 'Never'])).toEqual({
      reason: 'FieldValueNotSupported',
      field: 'spec.restartPolicy',
      message: 'Unsupported value: "Sometimes": supported values: "Always", "Never"',
    });
  });

  it('prints label selectors as %#v does', () => {
    expect(goLabelSelector({ matchLabels: { app: 'web' } }))
      .toBe('v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}');
  });

  it('treats absent and empty collections as equal', () => {
    expect(deepEqual({ a: [], b: 1 }, { b: 1 })).toBe(true);
    expect(deepEqual({ a: [1] }, { a: [2] })).toBe(false);
  });
});

describe('selectors', () => {
  const sel = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['b', 'a'] }, { key: 'canary', operator: 'DoesNotExist' }] };

  it('matches labels like LabelSelectorAsSelector', () => {
    expect(selectorMatches(sel, { app: 'web', tier: 'a' })).toBe(true);
    expect(selectorMatches(sel, { app: 'web', tier: 'c' })).toBe(false);
    expect(selectorMatches(sel, { app: 'web', tier: 'a', canary: '' })).toBe(false);
    expect(selectorMatches(undefined, { app: 'web' })).toBe(false);
    expect(selectorMatches({}, { app: 'web' })).toBe(true);
  });

  it('prints selectors sorted by key', () => {
    expect(selectorString(sel)).toBe('app=web,!canary,tier in (a,b)');
    expect(formatLabelSelector({})).toBe('<none>');
    expect(formatLabels({ b: '2', a: '1' })).toBe('a=1,b=2');
    expect(formatLabels(undefined)).toBe('<none>');
  });

  it('validates selector requirements', () => {
    const causes = validateLabelSelector({ matchExpressions: [{ key: 'k', operator: 'In' }, { key: 'k', operator: 'Near' }] }, 'spec.selector');
    expect(causes.map((c) => [c.field, c.message])).toEqual([
      ['spec.selector.matchExpressions[0].values', "Required value: must be specified when `operator` is 'In' or 'NotIn'"],
      ['spec.selector.matchExpressions[1].operator', 'Invalid value: "Near": not a valid selector operator'],
    ]);
  });
});

describe('quantities', () => {
  it('parses every suffix family', () => {
    expect(parseQuantity('100m')).toBe(0.1);
    expect(parseQuantity('1Gi')).toBe(1024 ** 3);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('1.5k')).toBe(1500);
    expect(parseQuantity('500n')).toBe(5e-7);
    expect(parseQuantity(3)).toBe(3);
    expect(parseQuantity('1Gb')).toBeUndefined();
    expect(isQuantity('abc')).toBe(false);
  });

  it('rounds milli and whole values up as Kubernetes does', () => {
    expect(milliValue('100m')).toBe(100);
    expect(milliValue('0.5')).toBe(500);
    expect(milliValue('1n')).toBe(1);
    expect(wholeValue('1.5')).toBe(2);
    expect(wholeValue('128Mi')).toBe(134217728);
  });
});

describe('format', () => {
  const now = new Date('2024-01-01T12:00:00Z');
  it('prints ages as kubectl does', () => {
    expect(duration(5_000)).toBe('5s');
    expect(duration(200_000)).toBe('3m20s');
    expect(duration(3 * 3600_000 + 60_000)).toBe('3h1m');
    expect(duration(-5_000)).toBe('<invalid>');
    expect(age('2024-01-01T11:00:00Z', now)).toBe('60m');
    expect(age(undefined, now)).toBe('<unknown>');
  });

  it('truncates long lists', () => {
    expect(listWithMore(['a', 'b', 'c', 'd', 'e'])).toBe('a,b,c + 2 more...');
    expect(listWithMore([])).toBe('<unset>');
  });
});

describe('registry', () => {
  it('names kinds as Kubernetes discovery does', () => {
    const by = new Map(kinds.map((k) => [k.kind, k]));
    expect(by.get('Pod')).toMatchObject({ plural: 'pods', shortNames: ['po'], categories: ['all'], subresources: ['status', 'binding', 'eviction', 'proxy', 'log', 'exec', 'attach', 'portforward'] });
    expect(by.get('Namespace')).toMatchObject({ namespaced: false, shortNames: ['ns'], nameRule: 'label' });
    expect(by.get('Deployment')).toMatchObject({ group: 'apps', shortNames: ['deploy'], subresources: ['status', 'scale'], hasSpec: true });
    expect(by.get('Lease')).toMatchObject({ group: 'coordination.k8s.io', plural: 'leases' });
    expect(by.get('EndpointSlice')).toMatchObject({ group: 'discovery.k8s.io', plural: 'endpointslices' });
    for (const k of kinds) expect(k.columns[0]?.name === 'Name' || k.kind === 'Event').toBe(true);
  });

  it('defaults and validates a bare object of every kind without throwing', () => {
    for (const k of kinds) {
      const obj: any = { metadata: { name: 'x', namespace: 'default' } };
      k.defaults?.(obj);
      expect(Array.isArray(k.validate?.(obj, structuredClone(obj)) ?? [])).toBe(true);
    }
  });

  it('prints a row for an empty object of every kind without throwing', () => {
    const now = new Date();
    for (const k of kinds) {
      const row = k.row({ metadata: { name: 'x' } }, now);
      expect(row).toHaveLength(k.columns.length);
    }
  });
});

// Ingress routing (host and path matching, precedence, fallbacks) and the Ingress and IngressClass
// kinds' defaults, validation and table rows, without a server.
import { describe, expect, it } from 'vitest';
import { isApiPath, matchIngress, pathMatches, requestHost, wildcardOf, type RoutedIngress } from '../../src/api/ingress.js';
import { ingress } from '../../src/kinds/ingress.js';
import { ingressClass } from '../../src/kinds/ingressclass.js';
import { loadBalancerIngress } from '../../src/control/ingress-status.js';

const svc = (name: string, port: number | string = 80) => ({ service: { name, port: typeof port === 'number' ? { number: port } : { name: port } } });
const path = (p: string, pathType: string, to: string) => ({ path: p, pathType, backend: svc(to) });

function routed(name: string, spec: RoutedIngress['spec'], created = '2024-01-01T00:00:00Z', namespace = 'default'): RoutedIngress {
  return { namespace, name, created, spec };
}

/** The Service name a request goes to, 404 for the default backend's, undefined for no Ingress. */
function route(ingresses: RoutedIngress[], host: string, p: string): string | undefined {
  const m = matchIngress(ingresses, host, p);
  if (!m) return undefined;
  return m.backend ? m.backend.service?.name : '404';
}

describe('path matching', () => {
  it('matches Exact paths as they are', () => {
    expect(pathMatches('Exact', '/foo', '/foo')).toBe(true);
    expect(pathMatches('Exact', '/foo', '/foo/')).toBe(false);
    expect(pathMatches('Exact', '/foo/', '/foo')).toBe(false);
    expect(pathMatches('Exact', '/foo', '/bar')).toBe(false);
  });

  it('matches Prefix paths element by element, the trailing slash ignored', () => {
    // The examples of the Ingress API's documentation.
    for (const [rule, request, ok] of [
      ['/', '/anything/at/all', true],
      ['/foo', '/foo', true],
      ['/foo', '/foo/', true],
      ['/foo/', '/foo', true],
      ['/foo/', '/foo/', true],
      ['/aaa/bb', '/aaa/bbb', false],
      ['/aaa/bbb', '/aaa/bbb', true],
      ['/aaa/bbb/', '/aaa/bbb', true],
      ['/aaa/bbb', '/aaa/bbb/', true],
      ['/aaa/bbb', '/aaa/bbb/ccc', true],
      ['/aaa/bbb', '/aaa/bbbxyz', false],
      ['/foo', '/foobar', false],
    ] as const) expect(pathMatches('Prefix', rule, request), `${rule} ~ ${request}`).toBe(ok);
  });

  it('treats ImplementationSpecific as Prefix, and no path as /', () => {
    expect(pathMatches('ImplementationSpecific', '/impl', '/impl/x')).toBe(true);
    expect(pathMatches('ImplementationSpecific', '/impl', '/implx')).toBe(false);
    expect(pathMatches('ImplementationSpecific', undefined, '/x')).toBe(true);
  });
});

describe('host matching', () => {
  it('reads the Host without its port, in lower case', () => {
    const req = (host: string) => new Request('http://ignored/', { headers: { host } });
    expect(requestHost(req('Web.Example.COM:8443'))).toBe('web.example.com');
    expect(requestHost(req('example.com.'))).toBe('example.com');
    expect(requestHost(req('[::1]:6443'))).toBe('[::1]');
    expect(requestHost(new Request('http://a.example.com:8080/x'))).toBe('a.example.com');
  });

  it('makes the wildcard of one label more', () => {
    expect(wildcardOf('a.example.com')).toBe('*.example.com');
    expect(wildcardOf('localhost')).toBe('');
  });

  it('matches a wildcard host for exactly one label', () => {
    const ings = [routed('w', { rules: [{ host: '*.example.com', http: { paths: [path('/', 'Prefix', 'wild')] } }] })];
    expect(route(ings, 'a.example.com', '/')).toBe('wild');
    expect(route(ings, 'a.b.example.com', '/')).toBeUndefined();
    expect(route(ings, 'example.com', '/')).toBeUndefined();
  });

  it('prefers an exact host over a wildcard, even where the exact host has no matching path', () => {
    const ings = [
      routed('w', { rules: [{ host: '*.example.com', http: { paths: [path('/', 'Prefix', 'wild')] } }] }),
      routed('e', { rules: [{ host: 'a.example.com', http: { paths: [path('/app', 'Prefix', 'exact')] } }] }),
    ];
    expect(route(ings, 'a.example.com', '/app/1')).toBe('exact');
    expect(route(ings, 'a.example.com', '/other')).toBe('404');
    expect(route(ings, 'b.example.com', '/other')).toBe('wild');
  });
});

describe('precedence and fallbacks', () => {
  const paths = routed('paths', {
    rules: [{
      host: 'p.example.com',
      http: { paths: [path('/', 'Prefix', 'root'), path('/foo', 'Prefix', 'prefix'), path('/foo', 'Exact', 'exact'), path('/foo/bar', 'ImplementationSpecific', 'impl')] },
    }],
  });

  it('takes the longest path, then Exact over Prefix', () => {
    expect(route([paths], 'p.example.com', '/foo')).toBe('exact');
    expect(route([paths], 'p.example.com', '/foo/')).toBe('prefix');
    expect(route([paths], 'p.example.com', '/foo/baz')).toBe('prefix');
    expect(route([paths], 'p.example.com', '/foo/bar/baz')).toBe('impl');
    expect(route([paths], 'p.example.com', '/foobar')).toBe('root');
  });

  it('counts a Prefix path without its trailing slash', () => {
    const ing = routed('slash', { rules: [{ host: 'p.example.com', http: { paths: [path('/foo/', 'Prefix', 'prefix'), path('/foo', 'Exact', 'exact')] } }] });
    expect(route([ing], 'p.example.com', '/foo')).toBe('exact');
  });

  it('merges the rules of every Ingress for a host; the oldest Ingress wins a tie', () => {
    const older = routed('older', { rules: [{ host: 'm.example.com', http: { paths: [path('/a', 'Prefix', 'first')] } }] }, '2024-01-01T00:00:00Z');
    const newer = routed('newer', { rules: [{ host: 'm.example.com', http: { paths: [path('/a', 'Prefix', 'second'), path('/b', 'Prefix', 'b')] } }] }, '2024-02-01T00:00:00Z');
    for (const order of [[older, newer], [newer, older]]) {
      expect(route(order, 'm.example.com', '/a')).toBe('first');
      expect(route(order, 'm.example.com', '/b/1')).toBe('b');
    }
  });

  it("falls back to the host's Ingress defaultBackend, else the default backend's 404", () => {
    const withDefault = routed('d', { defaultBackend: svc('fallback'), rules: [{ host: 'd.example.com', http: { paths: [path('/only', 'Exact', 'only')] } }] });
    const without = routed('n', { rules: [{ host: 'n.example.com', http: { paths: [path('/only', 'Exact', 'only')] } }] });
    expect(route([withDefault, without], 'd.example.com', '/only')).toBe('only');
    expect(route([withDefault, without], 'd.example.com', '/other')).toBe('fallback');
    expect(route([withDefault, without], 'n.example.com', '/other')).toBe('404');
    expect(matchIngress([withDefault], 'd.example.com', '/other')).toMatchObject({ namespace: 'default', ingress: 'd' });
  });

  it('serves rules without a host and a catch-all defaultBackend for any other host', () => {
    const hostless = routed('h', { rules: [{ http: { paths: [path('/shop', 'Prefix', 'shop')] } }] });
    const catchAll = routed('c', { defaultBackend: svc('catch', 'http') });
    expect(route([hostless, catchAll], 'anything.example.org', '/shop/cart')).toBe('shop');
    expect(route([hostless, catchAll], 'anything.example.org', '/elsewhere')).toBe('catch');
    expect(route([hostless], 'anything.example.org', '/elsewhere')).toBeUndefined();
    expect(route([], 'anything.example.org', '/')).toBeUndefined();
    // A host named by a rule never falls to the rules without one.
    const named = routed('x', { rules: [{ host: 'x.example.com', http: { paths: [path('/x', 'Exact', 'x')] } }] });
    expect(route([named, hostless, catchAll], 'x.example.com', '/shop')).toBe('404');
  });

  it('keeps the API paths for the API', () => {
    for (const p of ['/api', '/api/v1/pods', '/apis', '/openapi/v3', '/version', '/healthz', '/livez', '/readyz', '/metrics', '/cacerts', '/skiff/v1/join', '/.well-known/openid-configuration']) {
      expect(isApiPath(p), p).toBe(true);
    }
    for (const p of ['/', '/shop', '/apiary', '/versions', '/static/api']) expect(isApiPath(p), p).toBe(false);
  });
});

describe('Ingress and IngressClass kinds', () => {
  const validIngress = () => ({
    metadata: { name: 'web', namespace: 'default' },
    spec: { rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: svc('web') }] } }] },
  });
  const causesOf = (obj: any, old?: any) => {
    ingress.defaults!(obj);
    return ingress.validate!(obj, old);
  };

  it('accepts a valid Ingress and fills the empty status', () => {
    const obj = validIngress() as any;
    expect(causesOf(obj)).toEqual([]);
    expect(obj.status).toEqual({ loadBalancer: {} });
  });

  it('refuses what kube-apiserver refuses, in its words', () => {
    const obj = {
      metadata: { name: 'bad' },
      spec: {
        ingressClassName: 'Bad Class',
        rules: [
          { host: '1.2.3.4', http: { paths: [{ path: 'foo', pathType: 'Prefix', backend: svc('web') }] } },
          { host: '*.*.example.com', http: { paths: [{ path: '/a', backend: svc('web') }] } },
          { host: 'Bad_Host', http: { paths: [{ path: '/a/../b', pathType: 'Regex', backend: { service: { name: 'web' } } }] } },
          { http: { paths: [{ path: '/x', pathType: 'Exact', backend: { service: { name: 'Web', port: { name: 'http', number: 80 } }, resource: { kind: 'Bucket', name: 'b' } } }] } },
          { http: { paths: [] } },
        ],
        tls: [{ hosts: ['*.example.com', 'BAD'], secretName: 'tls' }],
      },
    };
    expect(causesOf(obj).map((c) => `${c.field}: ${c.message}`)).toEqual([
      'spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address',
      'spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path',
      expect.stringMatching(/^spec\.rules\[1\]\.host: Invalid value: "\*\.\*\.example\.com": a wildcard DNS-1123 subdomain must start with '\*\.'/),
      'spec.rules[1].http.paths[0].pathType: Required value: pathType must be specified',
      expect.stringMatching(/^spec\.rules\[2\]\.host: Invalid value: "Bad_Host": a lowercase RFC 1123 subdomain/),
      'spec.rules[2].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"',
      'spec.rules[2].http.paths[0].backend: Required value: port name or number is required',
      'spec.rules[3].http.paths[0].backend: Invalid value: "": cannot set both resource and service backends',
      'spec.rules[4].http.paths: Required value',
      expect.stringMatching(/^spec\.tls\[0\]\.hosts\[1\]: Invalid value: "BAD": a lowercase RFC 1123 subdomain/),
      expect.stringMatching(/^spec\.ingressClassName: Invalid value: "Bad Class": a lowercase RFC 1123 subdomain/),
    ]);
  });

  it('wants rules or a defaultBackend, and a backend with a Service port', () => {
    expect(causesOf({ metadata: { name: 'x' }, spec: {} }).map((c) => c.message)).toEqual([
      'Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified',
    ]);
    expect(causesOf({ metadata: { name: 'x' }, spec: { defaultBackend: { service: { name: 'web', port: { number: 70000 } } } } })).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.defaultBackend.service.port.number', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive' },
    ]);
    expect(causesOf({ metadata: { name: 'x' }, spec: { defaultBackend: {} } })).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.defaultBackend', message: 'Invalid value: "": resource or service backend is required' },
    ]);
  });

  it('prints NAME CLASS HOSTS ADDRESS PORTS AGE as kubectl does', () => {
    const now = new Date('2024-01-01T01:00:00Z');
    const obj = {
      metadata: { name: 'web', creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: {
        ingressClassName: 'skiff',
        rules: ['a.example.com', '', 'b.example.com', 'c.example.com', 'd.example.com'].map((host) => ({ host })),
        tls: [{ hosts: ['a.example.com'] }],
      },
      status: { loadBalancer: { ingress: [{ ip: '10.0.0.2' }, { hostname: 'lb.example.com' }, { ip: '10.0.0.1' }] } },
    };
    expect(ingress.columns.map((c) => c.name)).toEqual(['Name', 'Class', 'Hosts', 'Address', 'Ports', 'Age']);
    expect(ingress.row(obj, now)).toEqual(['web', 'skiff', 'a.example.com,b.example.com,c.example.com + 2 more...', '10.0.0.1,10.0.0.2,lb.example.com', '80, 443', '60m']);
    expect(ingress.row({ metadata: { name: 'x' }, spec: { defaultBackend: svc('w') } }, now)).toEqual(['x', '<none>', '*', '', '80', '<unknown>']);
  });

  it('validates IngressClasses: a domain-prefixed controller, immutable; parameters and their scope', () => {
    const ic = (spec: any) => {
      const obj = { metadata: { name: 'c' }, spec };
      ingressClass.defaults!(obj);
      return obj;
    };
    expect(ingressClass.validate!(ic({ controller: 'skiff.dev/ingress' }))).toEqual([]);
    expect(ingressClass.validate!(ic({}))).toEqual([{ reason: 'FieldValueRequired', field: 'spec.controller', message: 'Required value' }]);
    expect(ingressClass.validate!(ic({ controller: 'nginx' }))[0].message).toBe('Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")');
    const withParams = ic({ controller: 'example.com/x', parameters: { kind: 'Config', name: 'p' } });
    expect(withParams.spec.parameters.scope).toBe('Cluster');
    expect(ingressClass.validate!(withParams)).toEqual([]);
    expect(ingressClass.validate!(ic({ controller: 'example.com/x', parameters: { kind: 'Config', name: 'p', scope: 'Namespace' } }))).toEqual([
      { reason: 'FieldValueRequired', field: 'spec.parameters.namespace', message: "Required value: `parameters.scope` is set to 'Namespace'" },
    ]);
    const old = ic({ controller: 'example.com/x' });
    expect(ingressClass.validate!(ic({ controller: 'example.com/y' }), old)).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.controller', message: 'Invalid value: "example.com/y": field is immutable' },
    ]);
    const now = new Date('2024-01-01T00:00:10Z');
    expect(ingressClass.row({ metadata: { name: 'c', creationTimestamp: '2024-01-01T00:00:00Z' }, spec: { controller: 'example.com/x', parameters: { apiGroup: 'k8s.example.com', kind: 'Config', name: 'p' } } }, now))
      .toEqual(['c', 'example.com/x', 'Config.k8s.example.com/p', '10s']);
  });

  it('publishes an IP or a hostname as the load balancer address', () => {
    expect(loadBalancerIngress('')).toEqual([]);
    expect(loadBalancerIngress('203.0.113.7')).toEqual([{ ip: '203.0.113.7' }]);
    expect(loadBalancerIngress('2001:db8::1')).toEqual([{ ip: '2001:db8::1' }]);
    expect(loadBalancerIngress('edge.example.com')).toEqual([{ hostname: 'edge.example.com' }]);
  });
});

// The metrics registry's text exposition (HELP/TYPE, labels escaped, histograms cumulative) and the
// request labels as kube-apiserver reports them.
import { describe, expect, it } from 'vitest';
import { Registry } from '../../src/api/metrics-registry.js';
import { requestLabels } from '../../src/api/server-metrics.js';

describe('Registry', () => {
  it('writes HELP and TYPE, escapes label values and help, and sums histogram buckets', () => {
    const r = new Registry();
    r.counter('b_total', 'A "counter"\\ with\nlines.', ['path']).inc({ path: 'a"b\\c\nd' }, 2);
    const h = r.histogram('a_seconds', 'Latency.', ['verb'], [0.1, 1]);
    h.observe({ verb: 'GET' }, 0.05);
    h.observe({ verb: 'GET' }, 0.5, 2);
    r.gauge('c', 'No labels.');
    expect(r.expose()).toBe(
      [
        '# HELP a_seconds Latency.',
        '# TYPE a_seconds histogram',
        'a_seconds_bucket{verb="GET",le="0.1"} 1',
        'a_seconds_bucket{verb="GET",le="1"} 3',
        'a_seconds_bucket{verb="GET",le="+Inf"} 3',
        'a_seconds_sum{verb="GET"} 1.05',
        'a_seconds_count{verb="GET"} 3',
        '# HELP b_total A "counter"\\\\ with\\nlines.',
        '# TYPE b_total counter',
        'b_total{path="a\\"b\\\\c\\nd"} 2',
        '# HELP c No labels.',
        '# TYPE c gauge',
        'c 0',
        '',
      ].join('\n'),
    );
  });
});

describe('requestLabels', () => {
  const verb = (method: string, path: string, contentType?: string) => requestLabels(method, new URL(`https://x${path}`), contentType);
  it('names verbs and scopes as kube-apiserver does', () => {
    expect(verb('GET', '/api/v1/namespaces/d/pods')).toMatchObject({ verb: 'LIST', resource: 'pods', scope: 'namespace', group: '', version: 'v1' });
    expect(verb('GET', '/api/v1/pods?watch=true')).toMatchObject({ verb: 'WATCH', scope: 'cluster' });
    expect(verb('GET', '/apis/apps/v1/namespaces/d/deployments/w/scale')).toMatchObject({ verb: 'GET', group: 'apps', resource: 'deployments', subresource: 'scale', scope: 'resource' });
    expect(verb('PATCH', '/api/v1/namespaces/d/configmaps/c', 'application/apply-patch+yaml')).toMatchObject({ verb: 'APPLY' });
    expect(verb('PATCH', '/api/v1/namespaces/d/configmaps/c', 'application/merge-patch+json')).toMatchObject({ verb: 'PATCH' });
    expect(verb('DELETE', '/api/v1/namespaces/d/pods')).toMatchObject({ verb: 'DELETECOLLECTION' });
    expect(verb('POST', '/api/v1/namespaces/d/pods/p/exec')).toMatchObject({ verb: 'CONNECT', subresource: 'exec' });
    expect(verb('POST', '/api/v1/namespaces/d/pods?dryRun=All')).toMatchObject({ verb: 'POST', scope: 'resource', dry_run: 'All' });
    expect(verb('GET', '/metrics')).toMatchObject({ verb: 'GET', resource: '', subresource: '/metrics', scope: '' });
    expect(verb('GET', '/api/v1/namespaces/d/nothings')).toMatchObject({ subresource: 'other' });
  });
});

// Pods' resolver settings as kubelet forms them (GetPodDNS): dnsPolicy, dnsConfig merged, the API's limits.
import { describe, expect, it } from 'vitest';
import { formatResolvConf, parseResolvConf, podDNSConfig, type PodDNSSettings } from '../../src/agent/dns/resolv-conf.js';

const host = parseResolvConf(['# the node', 'nameserver 192.0.2.53', 'nameserver 192.0.2.54', 'search corp.example. lab.example', 'options timeout:2 rotate', ''].join('\n'));
const settings: PodDNSSettings = { clusterDomain: 'cluster.local', clusterDNS: ['10.244.7.1'], host };
const pod = (spec: Record<string, unknown> = {}, namespace = 'demo') => ({ metadata: { name: 'p', namespace, uid: 'u-1' }, spec: { containers: [], ...spec } });

describe('parseResolvConf and formatResolvConf', () => {
  it('reads nameservers (accumulating), the last search and options lines, without trailing dots or comments', () => {
    expect(host).toEqual({ servers: ['192.0.2.53', '192.0.2.54'], searches: ['corp.example', 'lab.example'], options: ['timeout:2', 'rotate'] });
    expect(parseResolvConf('search a\nsearch b c\n; note\noptions x\noptions y\nnameserver\n')).toEqual({ servers: [], searches: ['b', 'c'], options: ['y'] });
  });

  it('writes search, nameservers, then options, as a CRI runtime does', () => {
    expect(formatResolvConf({ servers: ['10.0.0.1', '10.0.0.2'], searches: ['a.b', 'b'], options: ['ndots:5'] })).toBe(
      'search a.b b\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions ndots:5\n',
    );
    expect(formatResolvConf({ servers: [], searches: [], options: [] })).toBe('');
  });
});

describe('podDNSConfig (kubelet GetPodDNS)', () => {
  it('ClusterFirst (the default): the cluster DNS alone, the namespace search path then the node\'s, ndots:5', () => {
    const { config, warnings } = podDNSConfig(pod(), settings);
    expect(config).toEqual({
      servers: ['10.244.7.1'],
      searches: ['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'],
      options: ['ndots:5'],
    });
    expect(warnings).toEqual([]);
    expect(podDNSConfig(pod({ dnsPolicy: 'ClusterFirst' }, 'other'), settings).config.searches[0]).toBe('other.svc.cluster.local');
  });

  it('ClusterFirst on the host network falls back to the node\'s settings; ClusterFirstWithHostNet does not', () => {
    expect(podDNSConfig(pod({ hostNetwork: true }), settings).config).toEqual(host);
    expect(podDNSConfig(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), settings).config.servers).toEqual(['10.244.7.1']);
    // Without the host network, ClusterFirstWithHostNet is ClusterFirst.
    expect(podDNSConfig(pod({ dnsPolicy: 'ClusterFirstWithHostNet' }), settings).config.options).toEqual(['ndots:5']);
  });

  it('Default: the node\'s resolv.conf as it is', () => {
    expect(podDNSConfig(pod({ dnsPolicy: 'Default' }), settings).config).toEqual(host);
  });

  it('None: only the pod\'s dnsConfig', () => {
    const { config } = podDNSConfig(
      pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'], searches: ['ns1.svc.cluster-domain.example', 'my.dns.search.suffix'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }),
      settings,
    );
    expect(config).toEqual({ servers: ['1.2.3.4'], searches: ['ns1.svc.cluster-domain.example', 'my.dns.search.suffix'], options: ['ndots:2', 'edns0'] });
    expect(podDNSConfig(pod({ dnsPolicy: 'None' }), settings).config).toEqual({ servers: [], searches: [], options: [] });
  });

  it('merges dnsConfig: nameservers and searches appended without duplicates, an option given again takes the pod\'s value', () => {
    const { config } = podDNSConfig(
      pod({ dnsConfig: { nameservers: ['10.244.7.1', '192.0.2.99'], searches: ['cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }] } }),
      settings,
    );
    expect(config.servers).toEqual(['10.244.7.1', '192.0.2.99']);
    expect(config.searches).toEqual(['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example']);
    expect(config.options).toEqual(['ndots:1', 'single-request']);
  });

  it('keeps to 3 nameservers, 32 search domains and 2048 characters, saying so as kubelet\'s DNSConfigForming event', () => {
    const many = podDNSConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'] } }), settings);
    expect(many.config.servers).toEqual(['1.1.1.1', '2.2.2.2', '3.3.3.3']);
    expect(many.warnings).toEqual([
      { reason: 'DNSConfigForming', message: 'Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3' },
    ]);

    const searches = Array.from({ length: 40 }, (_, i) => `s${i}.example`);
    const long = podDNSConfig(pod({ dnsConfig: { searches } }), settings);
    expect(long.config.searches).toHaveLength(32);
    expect(long.config.searches.slice(0, 3)).toEqual(['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
    expect(long.warnings[0]!.message).toMatch(/^Search Line limits were exceeded, some search paths have been omitted, the applied search line is: demo\.svc\.cluster\.local /);

    const wide = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}.${'x'.repeat(120)}.example`);
    const chars = podDNSConfig(pod({ dnsPolicy: 'None', dnsConfig: { searches: wide } }), settings);
    expect(chars.config.searches.join(' ').length).toBeLessThanOrEqual(2048);
    expect(chars.config.searches).toEqual(wide.slice(0, chars.config.searches.length));
    expect(chars.warnings).toHaveLength(1);

    const tooLong = `${'a'.repeat(250)}.example`;
    const dropped = podDNSConfig(pod({ dnsPolicy: 'None', dnsConfig: { searches: ['ok.example', tooLong] } }), settings);
    expect(dropped.config.searches).toEqual(['ok.example']);
    expect(dropped.warnings).toHaveLength(1);
  });

  it('without a cluster DNS, ClusterFirst falls back to Default with kubelet\'s MissingClusterDNS event', () => {
    const { config, warnings } = podDNSConfig(pod(), { ...settings, clusterDNS: [] });
    expect(config).toEqual(host);
    expect(warnings).toEqual([
      {
        reason: 'MissingClusterDNS',
        message: 'pod: "p_demo(u-1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
      },
    ]);
  });

  it('several cluster DNS servers are all listed; an empty cluster domain adds no search domains', () => {
    const { config } = podDNSConfig(pod(), { ...settings, clusterDNS: ['10.0.0.10', '10.0.0.11'], clusterDomain: '' });
    expect(config).toEqual({ servers: ['10.0.0.10', '10.0.0.11'], searches: ['corp.example', 'lab.example'], options: ['ndots:5'] });
  });
});

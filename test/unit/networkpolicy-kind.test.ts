// networking.k8s.io/v1 NetworkPolicy without a server: defaults (policyTypes, port protocols),
// validation with kube-apiserver's messages (ports, endPort, peers, ipBlock cidr/except, selectors,
// policyTypes), the table row, and the CIDR arithmetic ipBlocks need.
import { describe, expect, it } from 'vitest';
import { networkPolicy } from '../../src/kinds/networkpolicy.js';
import { cidrContains, formatCidr, parseCidr, parseIP, subtractCidrs } from '../../src/kinds/networkpolicy-cidr.js';
import { kindForResource } from '../../src/kinds/registry.js';

function defaulted(spec: any): any {
  const np = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'demo' }, spec };
  networkPolicy.defaults!(np);
  return np;
}

const errors = (spec: any, old?: any) => networkPolicy.validate!(defaulted(spec), old && defaulted(old)).map((c) => `${c.field}: ${c.message}`);

describe('NetworkPolicy defaults', () => {
  it('is served as networking.k8s.io/v1 networkpolicies, short name netpol', () => {
    const k = kindForResource('networking.k8s.io', 'v1', 'networkpolicies');
    expect(k).toMatchObject({ kind: 'NetworkPolicy', namespaced: true, shortNames: ['netpol'] });
  });

  it('defaults policyTypes from the egress rules, as SetDefaults_NetworkPolicy', () => {
    expect(defaulted({}).spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    expect(defaulted({ podSelector: {}, egress: [{}] }).spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(defaulted({ podSelector: {}, egress: [] }).spec.policyTypes).toEqual(['Ingress']);
    expect(defaulted({ podSelector: {}, ingress: [{}], policyTypes: ['Egress'] }).spec.policyTypes).toEqual(['Egress']);
  });

  it('defaults port protocols to TCP', () => {
    const np = defaulted({ ingress: [{ ports: [{ port: 80 }, { protocol: 'UDP', port: 53 }] }], egress: [{ ports: [{}] }] });
    expect(np.spec.ingress[0].ports).toEqual([{ port: 80, protocol: 'TCP' }, { protocol: 'UDP', port: 53 }]);
    expect(np.spec.egress[0].ports).toEqual([{ protocol: 'TCP' }]);
  });
});

describe('NetworkPolicy validation', () => {
  it('accepts the API reference example', () => {
    expect(errors({
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{
        from: [
          { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
          { namespaceSelector: { matchLabels: { project: 'myproject' } } },
          { podSelector: { matchLabels: { role: 'frontend' } } },
        ],
        ports: [{ protocol: 'TCP', port: 6379 }],
      }],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }, { port: 32000, endPort: 32768 }] }],
    })).toEqual([]);
    expect(errors({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { a: 'b' } } }], ports: [{ port: 'http' }] }] })).toEqual([]);
  });

  it('checks ports: protocol, number, name, endPort', () => {
    expect(errors({ ingress: [{ ports: [{ protocol: 'ICMP', port: 0 }] }] })).toEqual([
      'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
      'spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
    ]);
    expect(errors({ egress: [{ ports: [{ port: 100, endPort: 99 }, { port: 1, endPort: 70000 }] }] })).toEqual([
      'spec.egress[0].ports[0].endPort: Invalid value: 99: must be greater than or equal to `port`',
      'spec.egress[0].ports[1].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    ]);
    expect(errors({ ingress: [{ ports: [{ port: 'web', endPort: 90 }, { endPort: 90 }, { port: 'Web_1' }] }] })).toEqual([
      'spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric',
      'spec.ingress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` is not specified',
      'spec.ingress[0].ports[2].port: Invalid value: "Web_1": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
    ]);
  });

  it('checks peers: at least one, ipBlock alone, selectors valid', () => {
    expect(errors({ ingress: [{ from: [{}] }] })).toEqual(['spec.ingress[0].from[0]: Required value: must specify a peer']);
    expect(errors({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] })).toEqual([
      'spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer',
    ]);
    expect(errors({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'bad key!': 'x' } } }] }] })).toEqual([
      "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
      expect.stringMatching(/^spec\.ingress\[0\]\.from\[0\]\.namespaceSelector\.matchLabels: Invalid value: "bad key!": name part must consist of/),
    ]);
  });

  it('checks ipBlocks: cidr required and valid, excepts strictly inside', () => {
    const cidr = (block: any) => errors({ ingress: [{ from: [{ ipBlock: block }] }] });
    expect(cidr({ cidr: '' })).toEqual(['spec.ingress[0].from[0].ipBlock.cidr: Required value']);
    expect(cidr({ cidr: '10.0.0.0/33' })).toEqual([
      'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    ]);
    expect(cidr({ cidr: '10.0.0.0/16', except: ['10.0.1.0/24', '10.1.0.0/24', '10.0.0.0/16', '10.0.0.0/8', 'x', 'fd00::/64'] })).toEqual([
      'spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`',
      'spec.ingress[0].from[0].ipBlock.except[2]: Invalid value: "10.0.0.0/16": must be a strict subset of `cidr`',
      'spec.ingress[0].from[0].ipBlock.except[3]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
      'spec.ingress[0].from[0].ipBlock.except[4]: Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
      'spec.ingress[0].from[0].ipBlock.except[5]: Invalid value: "fd00::/64": must be a strict subset of `cidr`',
    ]);
    // Legacy forms pass as ParseCIDRSloppy reads them; IPv6 too.
    expect(cidr({ cidr: '10.0.0.1/24', except: ['010.0.0.128/25'] })).toEqual([]);
    expect(cidr({ cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] })).toEqual([]);
    // An update keeps a CIDR the stored policy already had, invalid or not.
    const old = { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/99' } }] }] };
    expect(errors(old, old)).toEqual([]);
  });

  it('checks policyTypes', () => {
    expect(errors({ policyTypes: ['Ingress', 'Outbound'] })).toEqual(['spec.policyTypes[1]: Unsupported value: "Outbound": supported values: "Ingress", "Egress"']);
    expect(errors({ policyTypes: ['Ingress', 'Egress', 'Ingress'] })).toEqual([
      'spec.policyTypes: Invalid value: []networking.PolicyType{"Ingress", "Egress", "Ingress"}: may not specify more than two policyTypes',
    ]);
  });

  it('prints NAME POD-SELECTOR AGE', () => {
    expect(networkPolicy.columns.map((c) => c.name)).toEqual(['Name', 'Pod-Selector', 'Age']);
    const now = new Date('2024-01-01T00:10:00Z');
    const row = (spec: any) => networkPolicy.row({ metadata: { name: 'p', creationTimestamp: '2024-01-01T00:00:00Z' }, spec }, now);
    expect(row({ podSelector: {} })).toEqual(['p', '<none>', '10m']);
    expect(row({ podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['b', 'a'] }] } })).toEqual(['p', 'app=web,tier notin (a,b)', '10m']);
  });
});

describe('ipBlock arithmetic', () => {
  const sub = (cidr: string, except: string[]) => subtractCidrs(parseCidr(cidr)!, except.map((e) => parseCidr(e)!)).map(formatCidr);

  it('parses as ParseCIDRSloppy and tests containment by family', () => {
    expect(formatCidr(parseCidr('10.1.2.3/8')!)).toBe('10.0.0.0/8');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0')).toBeUndefined();
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseIP('10.200.0.1')!)).toBe(true);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseIP('11.0.0.1')!)).toBe(false);
    expect(cidrContains(parseCidr('::/0')!, parseIP('10.0.0.1')!)).toBe(false);
    expect(cidrContains(parseCidr('2001:db8::/32')!, parseIP('2001:db8::ffff:1.2.3.4')!)).toBe(true);
  });

  it('turns a block minus its excepts into plain blocks', () => {
    expect(sub('10.0.0.0/8', [])).toEqual(['10.0.0.0/8']);
    expect(sub('10.0.0.0/24', ['10.0.0.0/25'])).toEqual(['10.0.0.128/25']);
    expect(sub('10.0.0.0/24', ['10.0.0.64/26', '10.0.0.200/32'])).toEqual([
      '10.0.0.0/26', '10.0.0.128/26', '10.0.0.192/29', '10.0.0.201/32', '10.0.0.202/31', '10.0.0.204/30', '10.0.0.208/28', '10.0.0.224/27',
    ]);
    expect(sub('0.0.0.0/0', ['0.0.0.0/0'])).toEqual([]);
    expect(sub('0.0.0.0/0', ['10.0.0.0/8'])).toHaveLength(8);
  });
});

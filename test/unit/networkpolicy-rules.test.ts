// What the agent computes from NetworkPolicies, pods and namespaces, without a host: the allowed peers
// and ports of each isolated pod of a node, one connection's verdict (the relay's question), and the
// iptables-restore text the rules become.
import { describe, expect, it } from 'vitest';
import {
  allowsRelayed, computePodRules, connectionAllowed, policyObject, policyPod, registerPolicyState, type PolicyState,
} from '../../src/agent/network-policy.js';
import { chainNames, renderRules } from '../../src/agent/network-policy-iptables.js';
import { networkPolicy } from '../../src/kinds/networkpolicy.js';

interface PodOpts { ns?: string; labels?: Record<string, string>; node?: string; ports?: any[]; hostNetwork?: boolean; phase?: string }

function pod(name: string, ip: string | undefined, o: PodOpts = {}): any {
  return {
    metadata: { name, namespace: o.ns ?? 'demo', uid: `uid-${name}`, labels: o.labels ?? {} },
    spec: { nodeName: o.node ?? 'n1', hostNetwork: o.hostNetwork, containers: [{ name: 'c', ports: o.ports ?? [] }] },
    status: { phase: o.phase ?? 'Running', podIP: ip },
  };
}

function policy(name: string, spec: any, ns = 'demo'): any {
  const np = { metadata: { name, namespace: ns }, spec: structuredClone(spec) };
  networkPolicy.defaults!(np);
  return np;
}

function state(policies: any[], pods: any[], namespaces: Record<string, Record<string, string>> = {}): PolicyState {
  return {
    policies: policies.map(policyObject),
    pods: pods.map(policyPod),
    namespaces: new Map(Object.entries<Record<string, string>>({ demo: {}, prod: { env: 'prod' }, ...namespaces })),
  };
}

const web = pod('web', '10.1.0.2', { labels: { app: 'web' }, ports: [{ name: 'http', containerPort: 8080 }] });
const client = pod('client', '10.1.0.3', { labels: { app: 'client' } });
const other = pod('other', '10.1.0.4', { labels: { app: 'other' } });
const remote = pod('remote', '10.2.0.5', { labels: { app: 'client' }, node: 'n2' });
const prodClient = pod('pc', '10.2.0.6', { ns: 'prod', labels: { app: 'client' }, node: 'n2' });
const PODS = [web, client, other, remote, prodClient];

const onN1 = (p: { nodeName?: string }) => p.nodeName === 'n1';
const rulesOf = (s: PolicyState) => Object.fromEntries(computePodRules(s, onN1).map((r) => [r.pod.name, { ingress: r.ingress, egress: r.egress }]));

describe('which pods are isolated, and for what', () => {
  it('isolates nothing without policies', () => {
    expect(computePodRules(state([], PODS), onN1)).toEqual([]);
  });

  it('default-deny ingress: every pod of the namespace, nothing allowed in', () => {
    const s = state([policy('deny', { podSelector: {} })], PODS);
    expect(rulesOf(s)).toEqual({
      web: { ingress: [], egress: undefined },
      client: { ingress: [], egress: undefined },
      other: { ingress: [], egress: undefined },
    });
  });

  it('default-deny egress: policyTypes Egress without rules', () => {
    const s = state([policy('deny-out', { podSelector: {}, policyTypes: ['Egress'] })], PODS);
    expect(rulesOf(s).client).toEqual({ ingress: undefined, egress: [] });
  });

  it('leaves out pods of other nodes, hostNetwork pods and pods without an address', () => {
    const host = pod('host', '192.168.1.10', { labels: { app: 'web' }, hostNetwork: true });
    const fresh = pod('fresh', undefined, { labels: { app: 'web' } });
    const s = state([policy('deny', { podSelector: {} })], [web, host, fresh, remote]);
    expect(Object.keys(rulesOf(s))).toEqual(['web']);
  });
});

describe('ingress rules', () => {
  it('allows app=client (same namespace) on a port, on this node and others', () => {
    const s = state([policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }] })], PODS);
    expect(rulesOf(s)).toEqual({
      web: {
        ingress: [
          { cidr: '10.1.0.3/32', protocol: 'TCP', port: 8080 },
          { cidr: '10.2.0.5/32', protocol: 'TCP', port: 8080 },
        ],
        egress: undefined,
      },
    });
  });

  it('reads namespaceSelector (with the namespace name label) and namespaceSelector + podSelector', () => {
    const byName = policy('ns', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } } }] }] });
    expect(rulesOf(state([byName], PODS)).web.ingress).toEqual([{ cidr: '10.2.0.6/32' }]);
    const both = policy('both', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'client' } } }] }],
    });
    expect(rulesOf(state([both], PODS)).web.ingress).toEqual([{ cidr: '10.1.0.3/32' }, { cidr: '10.2.0.5/32' }, { cidr: '10.2.0.6/32' }]);
    const labelled = policy('env', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }] });
    expect(rulesOf(state([labelled], PODS)).other.ingress).toEqual([{ cidr: '10.2.0.6/32' }]);
  });

  it('turns ipBlocks with excepts into CIDRs, and port ranges and named ports into ports', () => {
    const s = state([policy('p', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [
        { from: [{ ipBlock: { cidr: '192.168.0.0/24', except: ['192.168.0.0/25'] } }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 5000, endPort: 5010 }, { port: 'nope' }] },
      ],
    })], PODS);
    expect(rulesOf(s).web.ingress).toEqual([
      { cidr: '192.168.0.128/25', protocol: 'TCP', port: 8080 },
      { cidr: '192.168.0.128/25', protocol: 'UDP', port: 5000, endPort: 5010 },
    ]);
  });

  it('adds up the rules of every policy selecting the pod; an open rule allows everything', () => {
    const a = policy('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] });
    const b = policy('b', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'other' } } }], ports: [{ port: 9090 }] }] });
    expect(rulesOf(state([a, b], PODS)).web.ingress).toEqual([{ cidr: '10.1.0.3/32' }, { cidr: '10.1.0.4/32', protocol: 'TCP', port: 9090 }, { cidr: '10.2.0.5/32' }]);
    const open = policy('open', { podSelector: {}, ingress: [{}] });
    expect(rulesOf(state([a, b, open], PODS)).web.ingress).toEqual([{}]);
  });

  it('never counts finished or hostNetwork pods as peers', () => {
    const done = pod('done', '10.1.0.9', { labels: { app: 'client' }, phase: 'Succeeded' });
    const host = pod('hostc', '192.168.1.10', { labels: { app: 'client' }, hostNetwork: true });
    const s = state([policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] })], [web, done, host]);
    expect(rulesOf(s).web.ingress).toEqual([]);
  });
});

describe('egress rules', () => {
  it('allows destinations by selector and ipBlock, named ports resolved on each destination', () => {
    const db = pod('db', '10.2.0.7', { labels: { app: 'db' }, node: 'n2', ports: [{ name: 'sql', containerPort: 5432 }] });
    const db2 = pod('db2', '10.2.0.8', { labels: { app: 'db' }, node: 'n2', ports: [{ name: 'sql', containerPort: 3306 }] });
    const s = state([policy('out', {
      podSelector: { matchLabels: { app: 'client' } },
      policyTypes: ['Egress'],
      egress: [
        { to: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ port: 'sql' }] },
        { to: [{ ipBlock: { cidr: '8.8.8.8/32' } }], ports: [{ protocol: 'UDP', port: 53 }] },
      ],
    })], [client, db, db2]);
    expect(rulesOf(s).client).toEqual({
      ingress: undefined,
      egress: [
        { cidr: '10.2.0.7/32', protocol: 'TCP', port: 5432 },
        { cidr: '10.2.0.8/32', protocol: 'TCP', port: 3306 },
        { cidr: '8.8.8.8/32', protocol: 'UDP', port: 53 },
      ],
    });
  });

  it('reads an empty `to` as anywhere, and a named port there as the pods that have it', () => {
    const s = state([policy('out', { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 53, protocol: 'UDP' }, { port: 'http' }] }] })], PODS);
    expect(rulesOf(s).client.egress).toEqual([{ protocol: 'UDP', port: 53 }, { cidr: '10.1.0.2/32', protocol: 'TCP', port: 8080 }]);
  });
});

describe('one connection (the relay)', () => {
  const s = state([
    policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }] }),
    policy('deny-out', { podSelector: { matchLabels: { app: 'other' } }, policyTypes: ['Egress'] }),
  ], PODS);
  const to = { podIP: '10.1.0.2', port: 8080 };

  it('lets a selected peer in on an allowed port, keeps others out', () => {
    expect(connectionAllowed(s, { from: { namespace: 'demo', podName: 'remote' }, to })).toBe(true);
    expect(connectionAllowed(s, { from: { podIP: '10.1.0.3' }, to })).toBe(true);
    expect(connectionAllowed(s, { from: { podIP: '10.1.0.3' }, to: { ...to, port: 8081 } })).toBe(false);
    expect(connectionAllowed(s, { from: { podIP: '10.1.0.3' }, to: { ...to, protocol: 'UDP' } })).toBe(false);
    expect(connectionAllowed(s, { from: { namespace: 'prod', podName: 'pc' }, to })).toBe(false);
    expect(connectionAllowed(s, { from: { podIP: '203.0.113.9' }, to })).toBe(false);
    // Labels the caller knows count (a pod this view has not seen yet).
    expect(connectionAllowed(s, { from: { namespace: 'demo', podName: 'new', podIP: '10.3.0.1', labels: { app: 'client' } }, to })).toBe(true);
  });

  it('checks the egress of the source, and lets a pod reach itself and unisolated pods', () => {
    expect(connectionAllowed(s, { from: { podIP: '10.1.0.4' }, to: { podIP: '10.1.0.3', port: 80 } })).toBe(false);
    expect(connectionAllowed(s, { from: { podIP: '10.1.0.3' }, to: { podIP: '10.1.0.4', port: 80 } })).toBe(true);
    expect(connectionAllowed(s, { from: { podIP: '10.1.0.2' }, to: { podIP: '10.1.0.2', port: 9999 } })).toBe(true);
  });

  it('answers allowsRelayed from the registered view: open without one, closed before the first list', () => {
    expect(allowsRelayed({ from: { podIP: '10.1.0.4' }, to })).toBe(true);
    let view: PolicyState | undefined;
    const undo = registerPolicyState(() => view);
    try {
      expect(allowsRelayed({ from: { podIP: '10.1.0.3' }, to })).toBe(false);
      view = s;
      expect(allowsRelayed({ from: { podIP: '10.1.0.3' }, to })).toBe(true);
      expect(allowsRelayed({ from: { podIP: '10.1.0.4' }, to })).toBe(false);
    } finally {
      undo();
    }
  });
});

describe('iptables rules', () => {
  it('writes one dispatch chain and a chain per isolated pod and direction, and deletes stale ones', () => {
    const s = state([
      policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }] }),
      policy('deny-out', { podSelector: { matchLabels: { app: 'other' } }, policyTypes: ['Egress'] }),
    ], PODS);
    const names = chainNames('skiff0a010000');
    expect(names).toEqual({ main: 'SKIFF-POL-0a010000', ingress: 'SKIFF-PI-0a010000-', egress: 'SKIFF-PE-0a010000-', comment: 'skiff skiff0a010000 netpol' });
    const text = renderRules('skiff0a010000', computePodRules(s, onN1), { gateway: '10.1.0.1', existing: ['SKIFF-POL-0a010000', 'SKIFF-PI-0a010000-0a010009'] });
    expect(text.split('\n')).toEqual([
      '*filter',
      ':SKIFF-POL-0a010000 - [0:0]',
      ':SKIFF-PI-0a010000-0a010002 - [0:0]',
      ':SKIFF-PE-0a010000-0a010004 - [0:0]',
      ':SKIFF-PI-0a010000-0a010009 - [0:0]',
      '-A SKIFF-POL-0a010000 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-A SKIFF-POL-0a010000 -d 10.1.0.2/32 -m comment --comment "demo/web ingress" -j SKIFF-PI-0a010000-0a010002',
      '-A SKIFF-POL-0a010000 -s 10.1.0.4/32 -m comment --comment "demo/other egress" -j SKIFF-PE-0a010000-0a010004',
      '-A SKIFF-PI-0a010000-0a010002 -s 10.1.0.2/32 -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -s 10.1.0.1/32 -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -s 10.1.0.3/32 -p tcp -m tcp --dport 8080 -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -s 10.2.0.5/32 -p tcp -m tcp --dport 8080 -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -m comment --comment "demo/web ingress not allowed" -j DROP',
      '-A SKIFF-PE-0a010000-0a010004 -d 10.1.0.4/32 -j RETURN',
      '-A SKIFF-PE-0a010000-0a010004 -m comment --comment "demo/other egress not allowed" -j DROP',
      '-X SKIFF-PI-0a010000-0a010009',
      'COMMIT',
      '',
    ]);
    for (const line of text.split('\n').filter((l) => l.startsWith(':'))) expect(line.slice(1).split(' ')[0]!.length).toBeLessThanOrEqual(28);
  });

  it('writes open rules, ranges and protocols without ports', () => {
    const s = state([policy('p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 7000, endPort: 7100, protocol: 'SCTP' }, { protocol: 'UDP' }] }, { from: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }] })], [web]);
    const lines = renderRules('skiff0a010000', computePodRules(s, onN1)).split('\n').filter((l) => l.includes('RETURN') && l.startsWith('-A SKIFF-PI'));
    expect(lines).toEqual([
      '-A SKIFF-PI-0a010000-0a010002 -s 10.1.0.2/32 -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -p sctp -m sctp --dport 7000:7100 -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -p udp -j RETURN',
      '-A SKIFF-PI-0a010000-0a010002 -s 0.0.0.0/0 -j RETURN',
    ]);
    expect(renderRules('skiff0a010000', computePodRules(s, onN1), { noSctp: true })).not.toContain('sctp');
  });
});

// The Service proxy's rule generation (iptables-restore text, as kube-proxy's iptables mode writes
// it) and the catalog's views of Services and EndpointSlices: pure functions, no iptables needed.
import { describe, expect, it } from 'vitest';
import { serviceView, sliceEndpoints, type EndpointView, type ServiceView } from '../../src/agent/cluster-catalog.js';
import {
  backends,
  chainNames,
  deleteText,
  hooks,
  isOwnChain,
  markBit,
  ownedIn,
  renderRules,
  restoreText,
  specText,
  type ProxyConfig,
} from '../../src/agent/service-rules.js';

const BRIDGE = 'skiff0af40300';
const cfg: ProxyConfig = { bridge: BRIDGE, podCIDR: '10.244.3.0/24', nodeName: 'n1', bridgeNetfilter: true };

function svc(over: Partial<ServiceView> = {}): ServiceView {
  return {
    namespace: 'demo',
    name: 'web',
    uid: 'u1',
    type: 'ClusterIP',
    clusterIPs: ['10.96.0.10'],
    headless: false,
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    sessionAffinity: 'None',
    affinityTimeoutSeconds: 10800,
    publishNotReadyAddresses: false,
    ...over,
  };
}

function ep(ip: string, over: Partial<EndpointView> = {}): EndpointView {
  return { ip, ready: true, serving: true, terminating: false, nodeName: 'n1', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], ...over };
}

const nat = (entries: Parameters<typeof renderRules>[1], c: ProxyConfig = cfg) => renderRules(c, entries).nat.rules;
const filter = (entries: Parameters<typeof renderRules>[1], c: ProxyConfig = cfg) => renderRules(c, entries).filter.rules;

describe('chain names and marks', () => {
  it('are the bridge\'s own, at most 28 characters, and recognised as its own only', () => {
    const n = chainNames(BRIDGE);
    expect(n.sfx).toBe('0af40300');
    expect(n.natServices).toBe('SKIFF-SVC-0af40300');
    const rules = renderRules(cfg, [{ service: svc({ type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }] }), endpoints: [ep('10.244.3.2')] }]);
    for (const c of [...rules.nat.chains, ...rules.filter.chains]) {
      expect(c.length).toBeLessThanOrEqual(28);
      expect(isOwnChain(BRIDGE, c)).toBe(true);
      expect(isOwnChain('skiff0af40400', c)).toBe(false);
    }
    expect(isOwnChain(BRIDGE, 'KUBE-SVC-0af40300')).toBe(false);
    // The agent's NetworkPolicy and cross-node chains share the prefix and the suffix, not the kinds.
    expect(isOwnChain(BRIDGE, 'SKIFF-POL-0af40300')).toBe(false);
    expect(isOwnChain(BRIDGE, 'SKIFF-PI-0af40300-0af40302')).toBe(false);
    expect(isOwnChain(BRIDGE, `SKIFF-RELAY-${BRIDGE}`)).toBe(false);
    expect(isOwnChain(BRIDGE, 'DOCKER')).toBe(false);
  });

  it('uses one mark bit per bridge, never kube-proxy\'s 0x4000 or 0x8000', () => {
    for (const b of ['skiff0af40300', 'skiff0af40400', 'skiff0a000000', 'skiff0']) {
      const bit = markBit(b);
      expect([0x4000, 0x8000]).not.toContain(bit);
      expect(bit & (bit - 1)).toBe(0);
      expect(bit).toBeGreaterThanOrEqual(0x10000);
    }
  });
});

describe('endpoint selection (kube-proxy CategorizeEndpoints)', () => {
  const port = svc().ports[0]!;

  it('takes the ready endpoints, by the Service port\'s name and protocol, each address:port once', () => {
    const b = backends(port, [ep('10.244.3.3'), ep('10.244.3.2'), ep('10.244.3.4', { ready: false, serving: false }), ep('10.244.3.2'), ep('10.244.3.9', { ports: [{ name: 'other', protocol: 'TCP', port: 1 }] })], 'n1');
    expect(b.cluster.map((x) => `${x.ip}:${x.port}`)).toEqual(['10.244.3.2:8080', '10.244.3.3:8080']);
  });

  it('falls back to serving and terminating endpoints when none is ready', () => {
    const b = backends(port, [ep('10.244.3.2', { ready: false, serving: true, terminating: true }), ep('10.244.3.3', { ready: false, serving: false, terminating: true })], 'n1');
    expect(b.cluster.map((x) => x.ip)).toEqual(['10.244.3.2']);
    expect(backends(port, [ep('10.244.3.2', { ready: false, serving: false })], 'n1')).toEqual({ cluster: [], local: [] });
  });

  it('takes each slice\'s own port number for a named target port', () => {
    const b = backends(port, [ep('10.244.3.2'), ep('10.244.4.2', { nodeName: 'n2', ports: [{ name: 'http', protocol: 'TCP', port: 9090 }] })], 'n1');
    expect(b.cluster.map((x) => `${x.ip}:${x.port}`)).toEqual(['10.244.3.2:8080', '10.244.4.2:9090']);
    expect(b.local.map((x) => x.ip)).toEqual(['10.244.3.2']);
  });
});

describe('the rules of a ClusterIP Service', () => {
  it('jump from the services chain to a chain spreading over the endpoints with kube-proxy\'s probabilities', () => {
    const rules = nat([{ service: svc(), endpoints: [ep('10.244.3.2'), ep('10.244.3.3'), ep('10.244.3.4')] }]);
    const n = chainNames(BRIDGE);
    const dispatch = rules.filter((r) => r.startsWith(`-A ${n.natServices} `));
    expect(dispatch).toHaveLength(1);
    expect(dispatch[0]).toMatch(new RegExp(`^-A SKIFF-SVC-0af40300 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "skiff ${BRIDGE} demo/web:http cluster IP" -j SKIFF-C-0af40300-[A-Z2-7]{11}$`));
    const svcChain = dispatch[0]!.split(' -j ')[1]!;
    const own = rules.filter((r) => r.startsWith(`-A ${svcChain} `));
    // Traffic from off this node's pods is masqueraded first, then spread: 1/3, 1/2, the rest.
    expect(own[0]).toContain(`! -s 10.244.3.0/24 -d 10.96.0.10/32 -p tcp -m tcp --dport 80`);
    expect(own[0]).toContain(`-j ${n.mark}`);
    expect(own.slice(1).map((r) => /--probability (\S+)/.exec(r)?.[1] ?? 'rest')).toEqual(['0.3333333333', '0.5000000000', 'rest']);
    // Each endpoint chain: hairpin masquerade, then DNAT.
    const endpointChains = own.slice(1).map((r) => r.split(' -j ')[1]!);
    const first = rules.filter((r) => r.startsWith(`-A ${endpointChains[0]} `));
    expect(first[0]).toMatch(/^-A \S+ -s 10.244.3.2\/32 .* -j SKIFF-MARK-0af40300$/);
    expect(first[1]).toMatch(/-p tcp .* -m tcp -j DNAT --to-destination 10.244.3.2:8080$/);
  });

  it('checks and records the client\'s address with the recent match for sessionAffinity ClientIP', () => {
    const rules = nat([{ service: svc({ sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 600 }), endpoints: [ep('10.244.3.2'), ep('10.244.3.3')] }]);
    const svcChain = rules.find((r) => r.startsWith('-A SKIFF-SVC-'))!.split(' -j ')[1]!;
    const own = rules.filter((r) => r.startsWith(`-A ${svcChain} `)).slice(1);
    // The affinity checks come before the random spread, one per endpoint, each named after its endpoint chain.
    expect(own).toHaveLength(4);
    for (const r of own.slice(0, 2)) {
      const target = r.split(' -j ')[1]!;
      expect(r).toContain(`-m recent --rcheck --seconds 600 --reap --name ${target} --mask 255.255.255.255 --rsource`);
      const dnat = rules.find((x) => x.startsWith(`-A ${target} `) && x.includes('DNAT'))!;
      expect(dnat).toContain(`-m recent --set --name ${target} --mask 255.255.255.255 --rsource`);
    }
    expect(own[2]).toContain('--probability 0.5000000000');
  });

  it('rejects connections to a Service without endpoints in the filter table, and drops them for Local without local ones', () => {
    const r = renderRules(cfg, [
      { service: svc(), endpoints: [] },
      { service: svc({ name: 'loc', clusterIPs: ['10.96.0.11'], internalTrafficPolicy: 'Local' }), endpoints: [ep('10.244.4.2', { nodeName: 'n2' })] },
    ]);
    expect(r.nat.rules.some((x) => x.includes('10.96.0.10') || x.includes('10.96.0.11'))).toBe(false);
    expect(r.filter.rules).toContain(`-A SKIFF-SVC-0af40300 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "skiff ${BRIDGE} demo/web:http has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
    expect(r.filter.rules.find((x) => x.includes('10.96.0.11'))).toMatch(/has no local endpoints" -j DROP$/);
  });

  it('sends internalTrafficPolicy Local only to the node\'s endpoints', () => {
    const rules = nat([{ service: svc({ internalTrafficPolicy: 'Local' }), endpoints: [ep('10.244.3.2'), ep('10.244.4.2', { nodeName: 'n2' })] }]);
    expect(rules.find((r) => r.startsWith('-A SKIFF-SVC-'))).toMatch(/-j SKIFF-L-/);
    expect(rules.some((r) => r.includes('10.244.4.2'))).toBe(false);
    expect(rules.some((r) => r.includes('DNAT --to-destination 10.244.3.2:8080'))).toBe(true);
  });

  it('masquerades traffic between pods of the bridge when bridged traffic skips iptables (no br_netfilter)', () => {
    const rules = nat([{ service: svc(), endpoints: [ep('10.244.3.2'), ep('10.244.4.2', { nodeName: 'n2' })] }], { ...cfg, bridgeNetfilter: false });
    const hairpins = rules.filter((r) => r.includes('-j SKIFF-MARK-') && / -s \S+ -m comment --comment "skiff \S+ demo\/web:http" /.test(r));
    expect(hairpins.map((r) => / -s (\S+) /.exec(r)![1])).toEqual(['10.244.3.0/24', '10.244.4.2/32']);
  });

  it('sends a connection for an endpoint reached only through the relay to its local listener', () => {
    const relay = (ip: string, port: number, protocol: string) =>
      protocol !== 'TCP' || port !== 8080 ? undefined : ip === '10.244.9.2' ? '10.244.3.1:40001' : ip === '10.244.9.3' ? null : undefined;
    const rules = renderRules(cfg, [{ service: svc(), endpoints: [ep('10.244.3.2'), ep('10.244.9.2', { nodeName: 'far' }), ep('10.244.9.3', { nodeName: 'far' })] }], relay).nat.rules;
    const dnat = rules.filter((r) => r.includes('DNAT')).map((r) => r.split('--to-destination ')[1]);
    // The one without a listener yet is left out until it has one.
    expect(dnat).toEqual(['10.244.3.2:8080', '10.244.3.1:40001']);
  });

  it('leaves out headless, ExternalName and IPv6-only Services, and IPv6 endpoints', () => {
    const r = renderRules(cfg, [
      { service: svc({ clusterIPs: ['None'], headless: true }), endpoints: [ep('10.244.3.2')] },
      { service: svc({ name: 'ext', type: 'ExternalName', clusterIPs: [], externalName: 'example.com' }), endpoints: [] },
      { service: svc({ name: 'v6', clusterIPs: ['fd00::10'] }), endpoints: [ep('fd00::2')] },
      { service: svc({ name: 'dual', clusterIPs: ['fd00::11', '10.96.0.12'] }), endpoints: [ep('fd00::3'), ep('10.244.3.5')] },
    ]);
    const text = [...r.nat.rules, ...r.filter.rules].join('\n');
    expect(text).not.toContain('demo/web:');
    expect(text).not.toContain('demo/ext');
    expect(text).not.toContain('demo/v6');
    expect(text).toContain('-d 10.96.0.12/32');
    expect(text).toContain('--to-destination 10.244.3.5:8080');
    expect(text).not.toContain('fd00');
  });
});

describe('the rules of a NodePort Service', () => {
  const nodePortSvc = (over: Partial<ServiceView> = {}) => svc({ type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }], ...over });

  it('dispatch the node port to a chain that masquerades and goes on to the cluster endpoints', () => {
    const rules = nat([{ service: nodePortSvc(), endpoints: [ep('10.244.3.2'), ep('10.244.4.2', { nodeName: 'n2' })] }]);
    const np = rules.filter((r) => r.startsWith('-A SKIFF-NP-0af40300 '));
    expect(np).toHaveLength(1);
    expect(np[0]).toMatch(/^-A SKIFF-NP-0af40300 -p tcp -m tcp --dport 30080 .* -j SKIFF-X-0af40300-/);
    const ext = np[0]!.split(' -j ')[1]!;
    const own = rules.filter((r) => r.startsWith(`-A ${ext} `));
    expect(own.map((r) => r.split(' -j ')[1]!.replace(/-[A-Z2-7]{11}$/, ''))).toEqual(['SKIFF-MARK-0af40300', 'SKIFF-C-0af40300']);
  });

  it('rejects a node port without usable endpoints on the node\'s addresses', () => {
    const f = filter([{ service: nodePortSvc(), endpoints: [ep('10.244.3.2', { ready: false, serving: false })] }]);
    expect(f).toContain(`-A SKIFF-EXT-0af40300 -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -m comment --comment "skiff ${BRIDGE} demo/web:http has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
  });

  it('keeps the client\'s address and the node\'s own endpoints for externalTrafficPolicy Local, as kube-proxy', () => {
    const rules = nat([{ service: nodePortSvc({ externalTrafficPolicy: 'Local' }), endpoints: [ep('10.244.3.2'), ep('10.244.4.2', { nodeName: 'n2' })] }]);
    const ext = rules.find((r) => r.startsWith('-A SKIFF-NP-'))!.split(' -j ')[1]!;
    const own = rules.filter((r) => r.startsWith(`-A ${ext} `));
    expect(own[0]).toMatch(/ -s 10.244.3.0\/24 .* -j SKIFF-C-/); // pods: all endpoints
    expect(own[1]).toMatch(/--src-type LOCAL .* -j SKIFF-MARK-/); // the node itself: masqueraded, all endpoints
    expect(own[2]).toMatch(/--src-type LOCAL .* -j SKIFF-C-/);
    expect(own[3]).toMatch(/-j SKIFF-L-/); // from outside: this node's endpoints only, unmasqueraded
    expect(own.some((r) => /-m comment --comment "[^"]*masquerade external traffic"/.test(r))).toBe(false);
    const none = renderRules(cfg, [{ service: nodePortSvc({ externalTrafficPolicy: 'Local' }), endpoints: [ep('10.244.4.2', { nodeName: 'n2' })] }]);
    expect(none.filter.rules.find((r) => r.includes('--dport 30080'))).toMatch(/has no local endpoints" -j DROP$/);
  });
});

describe('iptables-restore text', () => {
  it('declares (so flushes) the node\'s chains, writes their rules and deletes stale chains, a table at a time', () => {
    const rules = renderRules(cfg, [{ service: svc(), endpoints: [ep('10.244.3.2')] }]);
    const text = restoreText(rules, { nat: ['SKIFF-E-0af40300-AAAAAAAAAAA', 'SKIFF-SVC-0af40300'], filter: [] });
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('*filter');
    expect(lines.filter((l) => l === 'COMMIT')).toHaveLength(2);
    const natStart = lines.indexOf('*nat');
    expect(lines.slice(natStart)).toContain(':SKIFF-E-0af40300-AAAAAAAAAAA - [0:0]');
    // A chain still in use is never deleted; the stale one goes after the rules that stopped jumping to it.
    expect(lines).not.toContain('-X SKIFF-SVC-0af40300');
    expect(lines.at(-2)).toBe('-X SKIFF-E-0af40300-AAAAAAAAAAA');
    // Nothing outside its own chains.
    for (const l of lines.filter((l) => l.startsWith('-A ') || l.startsWith(':'))) expect(isOwnChain(BRIDGE, l.slice(l.startsWith(':') ? 1 : 3).split(' ')[0]!)).toBe(true);
    expect(deleteText({ nat: ['SKIFF-SVC-0af40300'], filter: [] })).toBe('*nat\n:SKIFF-SVC-0af40300 - [0:0]\n-X SKIFF-SVC-0af40300\nCOMMIT\n');
    expect(deleteText({ nat: [], filter: [] })).toBe('');
  });

  it('hooks the chains in from the built-in chains, ClusterIPs only for traffic from the node\'s own bridge', () => {
    const h = hooks(BRIDGE).map((x) => `${x.table} ${x.chain} ${specText(x.spec)}`);
    expect(h).toContain(`nat PREROUTING -i ${BRIDGE} -m comment --comment "skiff ${BRIDGE}" -j SKIFF-SVC-0af40300`);
    expect(h).toContain(`nat PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "skiff ${BRIDGE}" -j SKIFF-NP-0af40300`);
    expect(h).toContain(`nat OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "skiff ${BRIDGE}" -j SKIFF-NP-0af40300`);
    expect(h).toContain(`nat POSTROUTING -m comment --comment "skiff ${BRIDGE}" -j SKIFF-POST-0af40300`);
    expect(hooks(BRIDGE).find((x) => x.chain === 'FORWARD' && x.spec.at(-1) === 'SKIFF-FWD-0af40300')?.position).toBe('append');
  });

  it('finds the node\'s chains and jumps in iptables-save output, and nothing of others\'', () => {
    const saved = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':DOCKER - [0:0]',
      ':SKIFF-SVC-0af40300 - [0:0]',
      ':SKIFF-C-0af40300-ABCDEFGHIJK - [0:0]',
      ':SKIFF-SVC-0af40400 - [0:0]',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
      `-A PREROUTING -i ${BRIDGE} -m comment --comment "skiff ${BRIDGE}" -j SKIFF-SVC-0af40300`,
      '-A PREROUTING -i skiff0af40400 -m comment --comment "skiff skiff0af40400" -j SKIFF-SVC-0af40400',
      `-A POSTROUTING -s 10.244.3.0/24 ! -o ${BRIDGE} -m comment --comment "skiff ${BRIDGE}" -j MASQUERADE`,
      '-A SKIFF-SVC-0af40300 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j SKIFF-C-0af40300-ABCDEFGHIJK',
      'COMMIT',
    ].join('\n');
    expect(ownedIn(BRIDGE, saved)).toEqual({
      chains: ['SKIFF-SVC-0af40300', 'SKIFF-C-0af40300-ABCDEFGHIJK'],
      hooks: [{ chain: 'PREROUTING', spec: `-i ${BRIDGE} -m comment --comment "skiff ${BRIDGE}" -j SKIFF-SVC-0af40300` }],
    });
  });
});

describe('the catalog\'s views', () => {
  it('of a Service: defaults as the API has them', () => {
    const v = serviceView({
      metadata: { namespace: 'demo', name: 'web', uid: 'u' },
      spec: { clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 'http', name: 'http' }, { port: 53, protocol: 'UDP' }], sessionAffinity: 'ClientIP' },
    });
    expect(v).toMatchObject({ type: 'ClusterIP', clusterIPs: ['10.96.0.10'], headless: false, sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 10800 });
    expect(v.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' },
      { name: '', protocol: 'UDP', port: 53, targetPort: 53 },
    ]);
    expect(serviceView({ metadata: { namespace: 'd', name: 'h' }, spec: { clusterIP: 'None', clusterIPs: ['None'] } }).headless).toBe(true);
  });

  it('of an EndpointSlice: one view per address, a missing ready condition meaning ready', () => {
    const eps = sliceEndpoints({
      metadata: { namespace: 'demo', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['10.244.3.2'], nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'demo', name: 'web-1', uid: 'p1' } },
        { addresses: ['10.244.3.3'], conditions: { ready: false, serving: true, terminating: true }, hostname: 'web-2' },
      ],
    });
    expect(eps).toEqual([
      { ip: '10.244.3.2', ready: true, serving: true, terminating: false, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'demo', name: 'web-1', uid: 'p1' }, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] },
      { ip: '10.244.3.3', ready: false, serving: true, terminating: true, hostname: 'web-2', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] },
    ]);
  });
});

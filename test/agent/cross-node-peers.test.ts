// Where another node is, from this machine's addresses (cross-node.ts), and the rules the agent
// writes for it (cross-node-rules.ts).
import { describe, expect, it } from 'vitest';
import { gatewayOf, inCIDR, locatePeer, peerOf, type LocalAddress } from '../../src/agent/cross-node.js';
import { chains, jumps, restoreInput } from '../../src/agent/cross-node-rules.js';

const here: LocalAddress[] = [
  { name: 'lo', address: '127.0.0.1', cidr: '127.0.0.1/8', internal: true },
  { name: 'eth0', address: '192.168.1.10', cidr: '192.168.1.10/24', internal: false },
  { name: 'skiff0af40100', address: '10.244.1.1', cidr: '10.244.1.1/24', internal: false },
  { name: 'skiff0af40200', address: '10.244.2.1', cidr: '10.244.2.1/24', internal: false },
];

describe('locatePeer', () => {
  it('finds a node on this machine by its pod gateway or its address', () => {
    expect(locatePeer({ name: 'b', podCIDR: '10.244.2.0/24', internalIP: '192.168.1.10' }, here)).toBe('local');
    // Its bridge is not up yet, but its address is this machine's.
    expect(locatePeer({ name: 'c', podCIDR: '10.244.3.0/24', internalIP: '192.168.1.10' }, here)).toBe('local');
  });

  it('finds a node on a directly connected subnet, and not through a pod bridge or loopback', () => {
    expect(locatePeer({ name: 'd', podCIDR: '10.244.4.0/24', internalIP: '192.168.1.20' }, here)).toBe('subnet');
    expect(locatePeer({ name: 'e', podCIDR: '10.244.5.0/24', internalIP: '10.244.1.7' }, here)).toBe('remote');
    expect(locatePeer({ name: 'f', podCIDR: '10.244.6.0/24', internalIP: '127.0.0.1' }, here)).toBe('remote');
  });

  it('takes anything else (another site, behind NAT, no address) as remote', () => {
    expect(locatePeer({ name: 'g', podCIDR: '10.244.7.0/24', internalIP: '203.0.113.9' }, here)).toBe('remote');
    expect(locatePeer({ name: 'h', podCIDR: '10.244.8.0/24' }, here)).toBe('remote');
  });
});

describe('addresses', () => {
  it('tells membership of a CIDR', () => {
    expect(inCIDR('10.244.2.7', '10.244.2.0/24')).toBe(true);
    expect(inCIDR('10.244.3.7', '10.244.2.0/24')).toBe(false);
    expect(inCIDR('10.1.2.3', '0.0.0.0/0')).toBe(true);
    expect(inCIDR('10.1.2.3', '10.1.2.3/32')).toBe(true);
    expect(inCIDR('not-an-ip', '10.0.0.0/8')).toBe(false);
    expect(gatewayOf('10.244.9.0/24')).toBe('10.244.9.1');
  });

  it("reads a peer from its Node: spec.podCIDR and the InternalIP; IPv6 pod networks and nodes without a podCIDR are left out", () => {
    const node = (spec: any, addresses: any[] = []) => ({ metadata: { name: 'n' }, spec, status: { addresses } });
    expect(peerOf(node({ podCIDR: '10.244.2.0/24' }, [{ type: 'Hostname', address: 'n' }, { type: 'InternalIP', address: '192.168.1.20' }]))).toEqual({
      name: 'n',
      podCIDR: '10.244.2.0/24',
      internalIP: '192.168.1.20',
    });
    expect(peerOf(node({}))).toBeUndefined();
    expect(peerOf(node({ podCIDR: 'fd00::/64' }))).toBeUndefined();
  });
});

describe('the rules', () => {
  it("are three chains of the bridge's, jumped to from FORWARD, POSTROUTING (the node's pods) and PREROUTING (its bridge)", () => {
    const bridge = 'skiff0af40100';
    expect(chains(bridge)).toEqual({ forward: 'SKIFF-XNODE-skiff0af40100', nomasq: 'SKIFF-NOMASQ-skiff0af40100', relay: 'SKIFF-RELAY-skiff0af40100' });
    // iptables chain names are at most 28 characters, even for the longest bridge name (15).
    for (const name of Object.values(chains('x'.repeat(15)))) expect(name.length).toBeLessThanOrEqual(28);
    expect(jumps(bridge, '10.244.1.0/24')).toEqual([
      ['filter', ['FORWARD', '-m', 'comment', '--comment', 'skiff skiff0af40100 cross-node', '-j', 'SKIFF-XNODE-skiff0af40100']],
      ['nat', ['POSTROUTING', '-s', '10.244.1.0/24', '-m', 'comment', '--comment', 'skiff skiff0af40100 cross-node', '-j', 'SKIFF-NOMASQ-skiff0af40100']],
      ['nat', ['PREROUTING', '-i', 'skiff0af40100', '-m', 'comment', '--comment', 'skiff skiff0af40100 cross-node', '-j', 'SKIFF-RELAY-skiff0af40100']],
    ]);
  });

  it('accept forwarding to and from nodes reached through the kernel, keep their traffic unmasqueraded, and DNAT relayed endpoints', () => {
    const text = restoreInput({
      bridge: 'skiff0af40100',
      podCIDR: '10.244.1.0/24',
      forward: ['10.244.2.0/24'],
      routes: [{ cidr: '10.244.2.0/24', via: '192.168.1.20' }],
      dnat: [{ ip: '10.244.3.5', port: 8080, to: '10.244.1.1:40001' }],
    });
    expect(text.split('\n')).toEqual([
      '*filter',
      ':SKIFF-XNODE-skiff0af40100 - [0:0]',
      '-A SKIFF-XNODE-skiff0af40100 -i skiff0af40100 -d 10.244.2.0/24 -j ACCEPT',
      '-A SKIFF-XNODE-skiff0af40100 -o skiff0af40100 -s 10.244.2.0/24 -j ACCEPT',
      'COMMIT',
      '*nat',
      ':SKIFF-NOMASQ-skiff0af40100 - [0:0]',
      ':SKIFF-RELAY-skiff0af40100 - [0:0]',
      '-A SKIFF-NOMASQ-skiff0af40100 -d 10.244.2.0/24 -j ACCEPT',
      '-A SKIFF-RELAY-skiff0af40100 -d 10.244.3.5/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.1.1:40001',
      'COMMIT',
      '',
    ]);
  });
});
